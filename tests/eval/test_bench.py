import json

import pytest
import torch

from jamflow.cli import main
from jamflow.eval import bench


def test_random_inputs_align_mel_and_motion_like_training():
    from types import SimpleNamespace

    from jamflow.config import get_preset

    model = SimpleNamespace(cfg=get_preset("tiny"))
    x = bench.random_inputs(model, 2, seconds=0.24, prompt_s=0.0, device="cpu")
    assert (x["m"], x["n"]) == (6, 23)  # 6 x 3.75 = 22.5 mel frames: half rounds up (round() gave 22)
    assert x["mel"].shape == (2, 23, 100) and x["motion"].shape[:2] == (2, 6)
    x = bench.random_inputs(model, 1, seconds=1.0, prompt_s=2.0, device="cpu")
    assert (x["m"], x["n"]) == (75, 281)
    assert int(x["motion_known"][0].sum()) == 50 and int(x["mel_known"][0].sum()) == 188  # 50 x 3.75 = 187.5


def test_flop_counter_counts_a_matmul():
    a, b = torch.randn(8, 16), torch.randn(16, 32)
    assert bench.count_flops(lambda: a @ b) == 2 * 8 * 16 * 32


def test_bench_cli_tiny_all_modes_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = main(["bench", "--preset", "tiny", "--mode", "all", "--seconds", "1", "--nfe", "2", "--batch", "1",
                 "--repeats", "1", "--warmup", "0", "--vocoder", "none", "--tasks", "talk,speech", "--device", "cpu",
                 "--json", str(out)])
    assert code == 0
    data = json.loads(out.read_text())
    rows = data["rows"]
    inf = [r for r in rows if r["mode"] == "inference"]
    assert {r["task"] for r in inf} == {"talk", "speech"}
    assert all(r["rtf"] > 0 and r["ttfc_s"] > 0 and r["cfg_until"] == 1.0 for r in inf)
    models = {r["model"] for r in rows if r["mode"] == "compare"}
    assert {"audio-dit (motion off)", "joint (audio + motion)", "upstream f5-tts DiT"} <= models
    train = [r for r in rows if r["mode"] == "training"]
    assert train and train[0]["frames_per_s"] > 0 and train[0]["tflops"] > 0
    assert data["environment"]["params"]["total"] > 0
    printed = capsys.readouterr().out
    assert "[inference]" in printed and "[training]" in printed and "rtf" in printed


@pytest.mark.parametrize("args, message", [
    (["--nfe", "0"], "nfe: expected"),
    (["--tasks", "sing"], "tasks: expected"),
    (["--seconds", "abc"], "seconds: expected"),
    (["--preset", "huge"], "preset: expected"),
    (["--cfg_until", "1.5"], "cfg_until: expected"),
    (["--dtype", "int8", "--mode", "training", "--preset", "tiny"], "dtype: expected int8 with --mode inference"),
    (["--mode", "stream", "--skip_teacher"], "--skip_teacher: expected --mode stream with --fast, got --mode stream without"),
])
def test_bench_bad_arguments(tmp_path, capsys, args, message):
    assert main(["bench", "--json", str(tmp_path / "b.json"), *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "b.json").exists()


def test_bench_int8_times_the_quantised_model_and_counts_the_float_parameters(tmp_path):
    from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear

    from jamflow.config import get_preset
    from jamflow.model.jam import JAMModel

    out = tmp_path / "bench.json"
    code = main(["bench", "--preset", "tiny", "--mode", "inference", "--seconds", "1", "--nfe", "2", "--batch", "1",
                 "--repeats", "1", "--warmup", "0", "--vocoder", "none", "--tasks", "talk", "--device", "cpu",
                 "--dtype", "int8", "--json", str(out)])
    assert code == 0
    data = json.loads(out.read_text())
    assert data["environment"]["dtype"] == "int8"
    assert data["environment"]["params"] == JAMModel(get_preset("tiny")).num_params()
    assert data["rows"][0]["sample_s"] > 0
    setup = bench.load_setup("tiny", None, "cpu", "int8")
    assert setup.int8 and setup.dtype == torch.float32
    assert isinstance(setup.model.audio.blocks[0].ff.fc1, DynamicInt8Linear)


def test_bench_stream_mode_prints_first_audio_rtf_stages_and_memory(tmp_path, capsys, tiny_ckpt):
    out = tmp_path / "stream.json"
    code = main(["bench", "--mode", "stream", "--checkpoint", str(tiny_ckpt), "--seconds", "2,3", "--nfe", "2",
                 "--single_s", "2", "--vocoder", "griffinlim", "--device", "cpu", "--dtype", "fp32", "--json", str(out)])
    assert code == 0
    data = json.loads(out.read_text())
    streams = [r for r in data["rows"] if r["mode"] == "stream"]
    assert [r["text_s"] for r in streams] == [2.0, 3.0]
    for r in streams:
        assert 0 < r["first_audio_s"] <= r["first_frame_s"] <= r["wall_s"]
        assert r["audio_s"] > 0 and r["rtf"] > 0 and r["peak_rss_mb"] > 0
        assert all(r[k] > 0 for k in ("sample_s", "vocoder_s", "render_s", "encode_s"))
        assert r["cpu_s"] > r["encode_s"]  # the encoder's CPU time is part of the call's
        assert r["vocoder"] == "Griffin-Lim"  # each row names what decoded it (a student on a CPU may differ)
    assert any(r["mode"] == "single call" and r["chunks"] == 1 for r in data["rows"])
    assert data["summary"]["teacher"]["long_vs_single_rtf"] > 0
    printed = capsys.readouterr().out
    assert "[stream]" in printed and "first_audio_s" in printed and "cost per second of audio" in printed
