import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from jamflow.errors import UserError
from jamflow.train.config import load_config
from jamflow.train.trainer import Trainer


def _train(cfg_path, *overrides, resume=False):
    trainer = Trainer(load_config(cfg_path, list(overrides)), resume=resume, progress=False)
    trainer.fit()
    return trainer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_loss_falls(cache, tmp_path, helpers):
    cfg = helpers.write_config(tmp_path / "c.yaml", cache, tmp_path / "run",
                               optim={"lr": 3e-3, "warmup_updates": 3, "total_updates": 24},
                               checkpoint={"every": 100})
    _train(cfg)
    losses = list(helpers.read_metrics(tmp_path / "run").values())
    assert len(losses) == 24
    # the zero-initialised output starts at the "predict nothing" loss; a learning model goes well below
    assert sum(losses[-4:]) / 4 < 0.7 * losses[0], losses


@pytest.mark.multiprocess
@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_two_processes_equal_one_process_with_double_batch(cache, tmp_path, helpers, mode):
    cfg = helpers.write_config(tmp_path / "c.yaml", cache, tmp_path / "run", data={"cache": str(cache),
                               "max_frames": 800, "max_samples": 2}, optim={"lr": 3e-3, "total_updates": 4,
                               "warmup_updates": 1}, checkpoint={"every": 100})
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                          "--master_port", str(_free_port()), "-m", "jamflow.cli", "train", "--config", str(cfg),
                          "--no_progress", f"run_dir={tmp_path / 'two'}", f"fsdp={mode == 'fsdp'}"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert two.returncode == 0, two.stderr[-2000:]
    assert "2 process(es)" in two.stdout
    _train(cfg, f"run_dir={tmp_path / 'one'}", "optim.grad_accum=2")
    a, b = helpers.read_metrics(tmp_path / "two"), helpers.read_metrics(tmp_path / "one")
    assert list(a) == list(b) == [1, 2, 3, 4]
    for step in b:
        assert a[step] == pytest.approx(b[step], rel=1e-4, abs=1e-5)
    assert len(set(round(v, 3) for v in b.values())) == 4  # the weights did move between steps
    # the checkpoints (gathered from shards under FSDP) hold the same weights and optimizer moments
    for name in ("model", "ema", "optimizer"):
        wa = load_file(str(tmp_path / "two" / "checkpoints" / "step_00000004" / f"{name}.safetensors"))
        wb = load_file(str(tmp_path / "one" / "checkpoints" / "step_00000004" / f"{name}.safetensors"))
        if name == "optimizer":  # FSDP keys moments by parameter name, plain AdamW by index: map by group order
            import json

            groups = [json.loads((tmp_path / r / "checkpoints" / "step_00000004" / "state.json").read_text())
                      ["optimizer"]["param_groups"] for r in ("two", "one")]
            to_b = {str(ka): str(kb) for ga, gb in zip(*groups) for ka, kb in zip(ga["params"], gb["params"])}
            wa = {f"state/{to_b[k.split('/')[1]]}/{k.split('/')[2]}": v for k, v in wa.items()}
        assert wa.keys() == wb.keys()
        assert max(float((wa[k] - wb[k]).abs().max()) for k in wa) < 1e-5, name


@pytest.mark.multiprocess
def test_kill_mid_run_then_resume_is_exact(cache, tmp_path, helpers):
    cfg = helpers.write_config(tmp_path / "c.yaml", cache, tmp_path / "run",
                               optim={"lr": 3e-3, "warmup_updates": 3, "total_updates": 24},
                               checkpoint={"every": 4, "keep_last": 2})
    proc = subprocess.Popen([sys.executable, "-m", "jamflow.cli", "train", "--config", str(cfg), "--no_progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    latest = tmp_path / "run" / "checkpoints" / "latest"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if latest.is_file() and int(latest.read_text().strip().split("_")[1]) >= 8:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "training ended before the test could kill it"
    killed_at = max(helpers.read_metrics(tmp_path / "run"))
    assert killed_at < 24
    _train(cfg, resume=True)  # continues from the latest checkpoint, appends to metrics.jsonl
    _train(cfg, f"run_dir={tmp_path / 'straight'}")
    resumed, straight = helpers.read_metrics(tmp_path / "run"), helpers.read_metrics(tmp_path / "straight")
    assert list(resumed) == list(range(1, 25))
    for step in straight:  # read_metrics also checked that steps run twice agree
        assert resumed[step] == pytest.approx(straight[step], abs=1e-5), step
    a = load_file(str(tmp_path / "run" / "checkpoints" / "step_00000024" / "ema.safetensors"))
    b = load_file(str(tmp_path / "straight" / "checkpoints" / "step_00000024" / "ema.safetensors"))
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 2e-5, max(float((a[k] - b[k]).abs().max()) for k in a)
    assert len(list((tmp_path / "run" / "checkpoints").glob("step_*"))) == 2  # keep_last


def test_motion_stage_trains_only_motion(cache, tmp_path, helpers):
    cfg = helpers.write_config(tmp_path / "c.yaml", cache, tmp_path / "run", stage="motion",
                               optim={"lr": 3e-3, "total_updates": 3, "warmup_updates": 1})
    trainer = Trainer(load_config(cfg), progress=False)
    model = trainer.acc.unwrap_model(trainer.model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer.fit()
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("motion.") for k in changed)
    assert any(k.startswith("motion.blocks.") for k in changed)
    metrics = helpers.read_metrics(tmp_path / "run")
    assert len(metrics) == 3
    last = [line for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all('"loss_audio": 0.0' in line for line in last)  # audio -> motion masks: audio always known
    # `unfreeze: [joint]` opens the audio half of the joint layers, and nothing else of the audio stream
    t2 = Trainer(load_config(cfg, [f"run_dir={tmp_path / 'run2'}", "unfreeze=[joint]"]), progress=False)
    m2 = t2.acc.unwrap_model(t2.model)
    joint_audio = {a for a, _ in m2.cfg.joint_layers}
    for name, p in m2.named_parameters():
        if name.startswith("audio."):
            opened = name.startswith("audio.blocks.") and int(name.split(".")[2]) in joint_audio
            assert p.requires_grad == opened, name


def test_export_and_init_from(cache, tmp_path, helpers):
    from jamflow.model.jam import JAMModel

    cfg = helpers.write_config(tmp_path / "c.yaml", cache, tmp_path / "run",
                               optim={"lr": 3e-3, "total_updates": 5, "warmup_updates": 1})
    _train(cfg)
    r = helpers.run_jamflow(["export", "--checkpoint", str(tmp_path / "run"), "--out", str(tmp_path / "export")])
    assert r.returncode == 0, r.stderr
    model = JAMModel.from_pretrained(tmp_path / "export")
    ema = load_file(str(tmp_path / "run" / "checkpoints" / "step_00000005" / "ema.safetensors"))
    online = load_file(str(tmp_path / "run" / "checkpoints" / "step_00000005" / "model.safetensors"))
    state = model.state_dict()
    assert all(torch.equal(state[k], ema[k]) for k in ema)
    assert any(not torch.equal(ema[k], online[k]) for k in ema)  # it really is the EMA, not the online weights
    assert len(model.motion_stats["mean"]) == 70
    # a new run initialised from the export starts from exactly those weights
    cfg2 = helpers.write_config(tmp_path / "c2.yaml", cache, tmp_path / "run2",
                                model={"preset": "tiny", "overrides": {"audio": {"text_num_embeds": 256}},
                                       "init_from": str(tmp_path / "export")})
    t2 = Trainer(load_config(cfg2), progress=False)
    s2 = t2.acc.unwrap_model(t2.model).state_dict()
    assert all(torch.equal(s2[k], state[k]) for k in state)


def test_export_fp16_is_half_the_size_and_loads_as_fp32(cache, tmp_path, helpers):
    from jamflow.model.jam import JAMModel

    cfg = helpers.write_config(tmp_path / "c.yaml", cache, tmp_path / "run",
                               optim={"lr": 3e-3, "total_updates": 4, "warmup_updates": 1})
    _train(cfg)
    for dtype in ("fp32", "fp16"):
        r = helpers.run_jamflow(["export", "--checkpoint", str(tmp_path / "run"), "--out", str(tmp_path / dtype),
                                 "--dtype", dtype])
        assert r.returncode == 0, r.stderr
    full, half = (load_file(str(tmp_path / d / "model.safetensors")) for d in ("fp32", "fp16"))
    params = {k for k, _ in JAMModel.from_pretrained(tmp_path / "fp32").named_parameters()}
    assert all(half[k].dtype == torch.float16 for k in params)
    assert all(half[k].dtype == torch.float32 and torch.equal(half[k], full[k]) for k in half if k not in params)
    assert all(torch.equal(half[k].float(), full[k].half().float()) for k in params)  # plain rounding
    ratio = (tmp_path / "fp16" / "model.safetensors").stat().st_size / (tmp_path / "fp32" / "model.safetensors").stat().st_size
    assert 0.45 < ratio < 0.55, ratio

    m32, m16 = JAMModel.from_pretrained(tmp_path / "fp32"), JAMModel.from_pretrained(tmp_path / "fp16")
    assert all(p.dtype == torch.float32 for p in m16.state_dict().values())
    assert m16.motion_stats == m32.motion_stats
    g = torch.Generator().manual_seed(0)
    c = m32.cfg
    x = dict(audio_x=torch.randn(2, 48, 100, generator=g), audio_cond=torch.randn(2, 48, 100, generator=g),
             text=torch.randint(0, 200, (2, 12), generator=g), time=torch.rand(2, generator=g),
             motion_x=torch.randn(2, 13, c.motion_gen_dim, generator=g),
             motion_cond=torch.randn(2, 13, c.motion_gen_dim, generator=g),
             motion_context=torch.randn(2, 13, c.motion_context_dim, generator=g))
    with torch.no_grad():
        for a, b in zip(m32(**x), m16(**x)):  # v_audio [2, 48, 100], v_motion [2, 13, dg]
            scale = float(a.abs().max())
            assert scale > 1e-3  # the trained output layers are no longer zero
            assert float((a - b).abs().max()) < 1e-2 * scale
            assert not torch.equal(a, b)  # the rounding is really there


def test_init_audio_from_f5_checkpoint(cache, tmp_path, helpers):
    from safetensors.torch import save_file

    from jamflow.config import get_preset
    from jamflow.model.audio_dit import AudioDiT
    from jamflow.model.f5_weights import export_f5_state

    acfg = get_preset("tiny", audio={"text_num_embeds": 256}).audio
    torch.manual_seed(123)
    f5 = AudioDiT(acfg)
    for p in f5.parameters():  # the zero-initialised layers too, so every key is checked
        torch.nn.init.normal_(p, std=0.02)
    save_file(export_f5_state(f5), str(tmp_path / "f5.safetensors"))
    cfg = helpers.write_config(tmp_path / "c.yaml", cache, tmp_path / "run")
    t = Trainer(load_config(cfg, [f"model.init_f5={tmp_path / 'f5.safetensors'}"]), progress=False)
    audio = t.acc.unwrap_model(t.model).audio.state_dict()
    ref = f5.state_dict()
    assert all(torch.equal(audio[k], ref[k]) for k in ref)


def test_bad_configs_fail_before_work(cache, tmp_path, helpers):
    cfg = helpers.write_config(tmp_path / "c.yaml", cache, tmp_path / "run")
    cases = [
        (["optim.lr_max=1"], "optim.lr_max: expected one of"),
        (["stage=audio_motion"], "stage: expected one of"),
        (["optim.total_updates=many"], "optim.total_updates: expected int"),
        ([f"data.cache={tmp_path / 'nowhere'}"], "data.cache: expected a folder"),
        ([f"model.init_f5={tmp_path / 'f5.pt'}"], "model.init_f5: expected an existing checkpoint"),
        (["optim.grad_accum=0"], "optim.grad_accum: expected a positive number"),
        (["optim"], "override: expected key.path=value"),
    ]
    for overrides, message in cases:
        with pytest.raises(UserError, match=message):
            load_config(cfg, overrides)
    with pytest.raises(UserError, match="model.overrides"):
        Trainer(load_config(cfg, ["model.overrides.audio.depht=3"]), progress=False)
    with pytest.raises(UserError, match="tokenized with 'char'"):
        Trainer(load_config(cfg, ["model.overrides.tokenizer=char"]), progress=False)
    with pytest.raises(UserError, match="text_num_embeds"):
        Trainer(load_config(cfg, ["model.overrides.audio.text_num_embeds=64"]), progress=False)
    with pytest.raises(UserError, match="masks: expected MaskConfig"):
        Trainer(load_config(cfg, ["masks.p_everything=1"]), progress=False)
    assert not (tmp_path / "run").exists()  # nothing was written by the failed starts
    r = helpers.run_jamflow(["train", "--config", str(tmp_path / "missing.yaml")])
    assert r.returncode == 2 and "--config: expected an existing YAML file" in r.stderr
    (tmp_path / "broken.yaml").write_text("data: [unclosed\n")
    r = helpers.run_jamflow(["train", "--config", str(tmp_path / "broken.yaml")])
    assert r.returncode == 2 and "expected valid YAML" in r.stderr


def test_samples_are_written(cache, tmp_path, helpers):
    from jamflow.render.video import probe

    cfg = helpers.write_config(tmp_path / "c.yaml", cache, tmp_path / "run",
                               optim={"total_updates": 1}, log={"every": 1, "tensorboard": True, "sample_every": 1,
                                                                "sample_nfe": 2, "sample_size": 64})
    _train(cfg)  # samples are vocoded as inference vocodes them (Vocos, the shipped HiFi-GAN, Griffin-Lim)
    samples = tmp_path / "run" / "samples"
    from jamflow.data.batching import CachedDataset

    frames = CachedDataset(cache).items[0]["motion_frames"]  # the clip samples are drawn from
    info = probe(samples / "step_00000001.mp4")
    assert int(info["video"]["nb_read_frames"]) == frames and info["audio"] is not None
    import soundfile as sf

    wav, sr = sf.read(samples / "step_00000001.wav")
    assert sr == 24000 and len(wav) > 0.5 * 24000 and (samples / "ground_truth.mp4").stat().st_size > 1000
    assert list((tmp_path / "run" / "tb").glob("events.out.tfevents.*"))


def test_init_from_a_speech_only_model(cache, tmp_path, helpers):
    from jamflow.config import get_preset
    from jamflow.model.jam import JAMModel

    torch.manual_seed(7)
    speech = JAMModel(get_preset("tiny", audio={"text_num_embeds": 256}, motion=None))
    for p in speech.parameters():
        torch.nn.init.normal_(p, std=0.02)
    speech.save_pretrained(tmp_path / "speech")
    cfg = helpers.write_config(tmp_path / "c.yaml", cache, tmp_path / "run", stage="motion",
                               model={"preset": "tiny", "overrides": {"audio": {"text_num_embeds": 256}},
                                      "init_from": str(tmp_path / "speech")})
    t = Trainer(load_config(cfg), progress=False)
    model = t.acc.unwrap_model(t.model)
    ref = speech.audio.state_dict()
    assert all(torch.equal(model.audio.state_dict()[k], ref[k]) for k in ref)
    assert model.motion is not None
    # ... whatever motion spec the new run has: a speech-only checkpoint has no motion layers to widen
    full = Trainer(load_config(cfg, ["model.overrides.motion_spec=full", f"run_dir={tmp_path / 'r_full'}"]),
                   progress=False)
    proj = full.acc.unwrap_model(full.model).motion.input_proj.weight
    assert proj.shape[1] == 2 * 70 and torch.all(proj.abs().sum(0) > 0)  # fresh init, no widened zeros
    # a checkpoint whose audio stream does not fit is refused with the key names
    small = JAMModel(get_preset("tiny", audio={"text_num_embeds": 256, "depth": 2}, motion=None))
    small.save_pretrained(tmp_path / "other")
    with pytest.raises(UserError, match="weights do not fit"):
        Trainer(load_config(cfg, [f"model.init_from={tmp_path / 'other'}", f"run_dir={tmp_path / 'r2'}"]),
                progress=False)


def test_init_from_a_lips_model_into_the_full_spec(cache, tmp_path, helpers):
    """A lips-spec checkpoint starts a full-spec run: the mouth predicts what it did, the context channels
    become known-motion inputs, and the new channels start at zero velocity."""
    from jamflow.config import get_preset
    from jamflow.model.jam import JAMModel

    torch.manual_seed(3)
    lips = JAMModel(get_preset("tiny", audio={"text_num_embeds": 256}))
    for p in lips.parameters():
        torch.nn.init.normal_(p, std=0.05)
    lips.save_pretrained(tmp_path / "lips")
    cfg = helpers.write_config(tmp_path / "c.yaml", cache, tmp_path / "run",
                               model={"preset": "tiny", "overrides": {"audio": {"text_num_embeds": 256},
                                                                      "motion_spec": "full"},
                                      "init_from": str(tmp_path / "lips")})
    full = Trainer(load_config(cfg), progress=False)
    full = full.acc.unwrap_model(full.model).eval()
    old, new = lips.cfg.spec, full.cfg.spec
    assert old.name == "lips" and new.name == "full"
    b, n, m = 1, 30, 8
    g = torch.Generator().manual_seed(0)
    audio = dict(audio_x=torch.randn(b, n, 100, generator=g), audio_cond=torch.randn(b, n, 100, generator=g),
                 text=torch.randint(0, 50, (b, 6), generator=g), time=torch.tensor([0.4]))
    motion = torch.randn(b, m, 70, generator=g)  # every channel known: the context's values
    noisy = torch.randn(b, m, 70, generator=g)
    with torch.no_grad():
        _, v_lips = lips.eval()(**audio, motion_x=noisy[..., list(old.generate)],
                                motion_cond=motion[..., list(old.generate)],
                                motion_context=motion[..., list(old.context)])
        cond = motion.clone()
        cond[..., [c for c in range(70) if c not in old.generate and c not in old.context]] = 0
        _, v_full = full(**audio, motion_x=noisy, motion_cond=cond)
    assert torch.allclose(v_full[..., list(old.generate)], v_lips, atol=1e-5)
    others = [c for c in range(70) if c not in old.generate]
    assert torch.all(v_full[..., others] == 0) and v_lips.abs().max() > 1e-3
