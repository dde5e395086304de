"""The few-step student: adapters, the distill stage, export and sampling with a student."""
import pytest
import torch

from jamflow.errors import UserError
from jamflow.model.lora import LoRALinear, adapters_off, add_lora, lora_state, merge, unwrap_lora
from jamflow.train.config import load_config
from jamflow.train.distill import DistillConfig, student_grid, teacher_segments
from jamflow.train.trainer import Trainer


def _train(cfg_path, *overrides):
    trainer = Trainer(load_config(cfg_path, list(overrides)), progress=False)
    trainer.fit()
    return trainer


@pytest.fixture(scope="module")
def teacher(cache, tmp_path_factory, helpers):
    """A tiny model trained a few updates (so its velocity is not the zero of a fresh adaLN-zero model), exported."""
    from jamflow.train.checkpoints import export

    root = tmp_path_factory.mktemp("teacher")
    cfg = helpers.write_config(root / "c.yaml", cache, root / "run", optim={"lr": 3e-3, "warmup_updates": 2,
                               "total_updates": 8}, checkpoint={"every": 100})
    _train(cfg)
    return export(root / "run", root / "export")


@pytest.fixture(scope="module")
def student_run(teacher, cache, tmp_path_factory, helpers):
    root = tmp_path_factory.mktemp("student")
    cfg = helpers.write_config(root / "c.yaml", cache, root / "run", stage="distill",
                               model={"preset": "tiny", "overrides": {"audio": {"text_num_embeds": 256}},
                                      "init_from": str(teacher)},
                               optim={"lr": 3e-3, "warmup_updates": 2, "total_updates": 24},
                               distill={"lora_rank": 4}, checkpoint={"every": 100})
    trainer = _train(cfg)
    return root / "run", trainer


def test_student_grid_lies_on_the_teachers():
    cfg = DistillConfig()
    segments = teacher_segments(cfg)
    assert len(segments) == cfg.steps
    grid = student_grid(cfg)
    for i, seg in enumerate(segments):
        assert float(seg[0]) == pytest.approx(float(grid[i])) and float(seg[-1]) == pytest.approx(float(grid[i + 1]))
    assert sum(len(s) - 1 for s in segments) == cfg.teacher_nfe  # every teacher step belongs to one segment
    with pytest.raises(UserError, match="distill.steps"):
        teacher_segments(DistillConfig(steps=3))


def test_adapters_start_as_the_teacher_and_merge_exactly(jam):
    import copy

    model = copy.deepcopy(jam.model).float()
    b, n = 2, 30
    args = (torch.randn(b, n, 100), torch.randn(b, n, 100), torch.randint(0, 50, (b, 8)), torch.rand(b))
    with torch.no_grad():
        before = model(*args)[0]
        add_lora(model, rank=4)
        assert torch.equal(model(*args)[0], before)  # B = 0 at the start
        for name, p in model.named_parameters():
            if name.endswith("lora_b"):
                p.normal_(0, 0.05)
        adapted = model(*args)[0]
        with adapters_off(model):
            assert torch.equal(model(*args)[0], before)
        assert not torch.allclose(adapted, before, atol=1e-4)
        merge(model)
        assert not lora_state(model)
        torch.testing.assert_close(model(*args)[0], adapted, rtol=1e-4, atol=1e-5)


def test_unwrapped_adapters_leave_the_base_linears_on_their_own_tensors(jam):
    import copy

    model = copy.deepcopy(jam.model).float()
    weights = {k: v for k, v in model.state_dict().items()}
    add_lora(model, rank=4)
    for name, p in model.named_parameters():
        if name.endswith("lora_b"):
            p.data.normal_(0, 0.05)
    unwrap_lora(model)
    assert not lora_state(model)
    assert not any(isinstance(m, LoRALinear) for m in model.modules())
    state = model.state_dict()
    assert state.keys() == weights.keys()
    assert all(state[k].data_ptr() == v.data_ptr() and torch.equal(state[k], v) for k, v in weights.items())


def test_distill_loss_teaches_the_adapters(teacher, cache):
    """Adam on the adapters alone, one batch and one draw of tasks, noise and segment: the loss falls."""
    from jamflow.data.batching import CachedDataset, collate
    from jamflow.model.cfm import MaskConfig
    from jamflow.model.jam import JAMModel
    from jamflow.train.distill import distill_loss

    torch.manual_seed(0)
    model = JAMModel.from_pretrained(teacher)
    add_lora(model, rank=8)
    params = [p for n, p in model.named_parameters() if n.endswith(("lora_a", "lora_b"))]
    optimizer = torch.optim.Adam(params, lr=3e-3)
    dataset = CachedDataset(str(cache), "train", 800, 0, 0, model.cfg.spec)
    batch = collate([dataset[i] for i in range(4)])
    cfg = DistillConfig(lora_rank=8, cfg_strength=4.0)
    losses = []
    for _ in range(40):
        out = distill_loss(model, model, batch, MaskConfig(), cfg, torch.Generator().manual_seed(5))
        optimizer.zero_grad()
        out["loss"].backward()
        optimizer.step()
        losses.append(float(out["loss"].detach()))
    assert min(losses[-5:]) < 0.5 * losses[0], losses


def test_distill_stage_trains_only_the_adapters(student_run, teacher, helpers):
    from safetensors.torch import load_file

    run, trainer = student_run
    losses = list(helpers.read_metrics(run).values())
    assert len(losses) == 24 and all(v == v and v > 0 for v in losses)
    assert trainer.param_counts["trainable"] == sum(v.numel() for v in lora_state(trainer.bare).values())
    assert any(float(v.abs().max()) > 0 for k, v in lora_state(trainer.bare).items() if k.endswith("lora_b"))
    teacher_weights = load_file(str(teacher / "model.safetensors"))
    state = trainer.bare.state_dict()
    for name, value in teacher_weights.items():
        if name.startswith(("audio.", "motion.")):
            assert torch.equal(state[name], value.float()), name


def test_exported_student_samples_in_its_steps_without_guidance(student_run, teacher, tmp_path):
    from jamflow.infer.api import JAMFlow
    from jamflow.model.student import read_student
    from jamflow.train.checkpoints import export

    run, _ = student_run
    folder = export(run, tmp_path / "student", dtype="fp16")
    spec = read_student(folder)
    assert spec.steps == 4 and len(spec.time_grid) == 5
    jam = JAMFlow.from_pretrained(teacher, device="cpu", dtype="fp32", vocoder="griffinlim", progress=False,
                                  student=folder)
    batches = []
    hook = jam.model.register_forward_hook(lambda mod, args, kwargs, out: batches.append(kwargs["audio_x"].shape[0]),
                                           with_kwargs=True)
    result = jam.tts("hello world", seed=1)
    hook.remove()
    assert batches == [1] * 4  # four calls, each on the conditional batch alone
    assert result.wav is not None and result.wav.size > 0 and bool(torch.isfinite(torch.from_numpy(result.wav)).all())


def test_distill_run_trains_on_from_an_exported_student(student_run, teacher, cache, tmp_path, helpers):
    """distill.init_adapters: the run's adapters start as the student's; another rank is refused up front."""
    from safetensors.torch import load_file

    from jamflow.train.checkpoints import export

    folder = export(student_run[0], tmp_path / "student", dtype="fp32")
    common = dict(stage="distill", model={"preset": "tiny", "overrides": {"audio": {"text_num_embeds": 256}},
                                          "init_from": str(teacher)},
                  optim={"lr": 3e-3, "warmup_updates": 2, "total_updates": 4}, checkpoint={"every": 100})
    cfg = helpers.write_config(tmp_path / "c.yaml", cache, tmp_path / "run",
                               distill={"lora_rank": 4, "init_adapters": str(folder)}, **common)
    trainer = Trainer(load_config(cfg), progress=False)
    adapter = load_file(str(folder / "adapter.safetensors"))
    state = lora_state(trainer.bare)
    assert set(state) == set(adapter) and any(float(v.abs().max()) > 0 for v in adapter.values())
    for name, value in adapter.items():
        assert torch.equal(state[name], value), name
    bad = helpers.write_config(tmp_path / "bad.yaml", cache, tmp_path / "run2",
                               distill={"lora_rank": 8, "init_adapters": str(folder)}, **common)
    with pytest.raises(UserError, match=r"distill.init_adapters: expected a student with lora_rank 8"):
        load_config(bad)
    missing = helpers.write_config(tmp_path / "missing.yaml", cache, tmp_path / "run3",
                                   distill={"lora_rank": 4, "init_adapters": str(tmp_path / "nowhere")}, **common)
    with pytest.raises(UserError, match=r"distill.init_adapters: expected .*student.json"):
        load_config(missing)


def test_student_refuses_another_teacher(student_run, tiny_ckpt, tmp_path):
    from jamflow.infer.api import JAMFlow
    from jamflow.train.checkpoints import export

    folder = export(student_run[0], tmp_path / "student")
    with pytest.raises(UserError, match="student: expected the teacher"):
        JAMFlow.from_pretrained(tiny_ckpt, device="cpu", dtype="fp32", vocoder="griffinlim", student=folder)


def test_fast_flag_runs_the_student_and_refuses_the_flags_it_fixes(student_run, teacher, tmp_path, helpers):
    from jamflow.train.checkpoints import export

    folder = export(student_run[0], tmp_path / "student", dtype="fp16")
    base = ["tts", "--ckpt", str(teacher), "-t", "hello world", "--vocoder", "griffinlim", "--device", "cpu",
            "--dtype", "fp32", "--quiet", "--seed", "1", "--output_dir", str(tmp_path / "out")]
    done = helpers.run_jamflow(base + ["--fast", str(folder)], timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "with the 4-step student" in done.stdout and "nfe_step=" not in done.stdout and (tmp_path / "out").is_dir()
    assert done.stdout.count("seed=") == 1  # the settings line names the seed once
    refused = helpers.run_jamflow(base + ["--fast", str(folder), "--nfe_step", "8", "--output_file", "x"], timeout=300)
    assert refused.returncode == 2 and "--nfe_step: expected no sampler setting with --fast" in refused.stderr
    missing = helpers.run_jamflow(base + ["--fast", str(tmp_path / "nothing")], timeout=300)
    assert missing.returncode == 2 and "--fast: expected" in missing.stderr
    shipped = helpers.run_jamflow(base + ["--fast"], timeout=300)  # the shipped student fits the shipped lips model only
    assert shipped.returncode == 2 and "--fast: expected the shipped lips model" in shipped.stderr


def test_bench_stream_runs_teacher_and_student(student_run, teacher, tmp_path):
    import json

    from jamflow.cli import main
    from jamflow.train.checkpoints import export

    folder = export(student_run[0], tmp_path / "student")
    out = tmp_path / "bench.json"
    code = main(["bench", "--mode", "stream", "--checkpoint", str(teacher), "--fast", str(folder), "--seconds", "2",
                 "--nfe", "2", "--single_s", "2", "--vocoder", "griffinlim", "--device", "cpu", "--dtype", "fp32",
                 "--json", str(out)])
    assert code == 0
    data = json.loads(out.read_text())
    calls = {(r["model"], r["mode"]): r["nfe"] for r in data["rows"]}
    assert calls == {("teacher", "stream"): 4, ("teacher", "single call"): 4, ("student", "stream"): 4,
                     ("student", "single call"): 4}
    assert set(data["summary"]) == {"teacher", "student"}
    alone = main(["bench", "--mode", "stream", "--checkpoint", str(teacher), "--fast", str(folder), "--skip_teacher",
                  "--seconds", "2", "--single_s", "2", "--vocoder", "griffinlim", "--device", "cpu", "--dtype", "fp32",
                  "--json", str(out)])
    assert alone == 0
    assert {r["model"] for r in json.loads(out.read_text())["rows"]} == {"student"}
