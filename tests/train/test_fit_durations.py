"""`jamflow fit-durations`: fit the duration predictor on an aligned cache and store it in a checkpoint."""
import json
import shutil

import numpy as np
import pytest
import torch

from jamflow.config import get_preset
from jamflow.model.jam import JAMModel

TABLE = {"frames_per_token": list(np.linspace(2, 8, 256)), "lead_frames": 10.0, "trail_frames": 12.0}


@pytest.fixture(scope="module")
def aligned(cache, tmp_path_factory):
    from jamflow.data.align import align_cache

    work = tmp_path_factory.mktemp("aligned") / "cache"
    shutil.copytree(cache, work)
    align_cache(work, iterations=2)
    return work


def _export(folder, table=TABLE):
    """A tiny inference checkpoint stored in fp16, as the shipped model is."""
    torch.manual_seed(0)
    model = JAMModel(get_preset("tiny", audio=dict(text_num_embeds=256, text_durations=table)))
    for p in model.parameters():
        p.data = p.data.half()
    model.save_pretrained(folder, motion_stats={"mean": [0.0] * 69 + [1.5], "std": [0.02] * 70})
    return folder


def test_fit_durations_writes_a_checkpoint_that_lays_text_out_by_prediction(aligned, tmp_path, helpers):
    from safetensors.torch import load_file

    src = _export(tmp_path / "export")
    out = tmp_path / "with_durations"
    res = helpers.run_jamflow(["fit-durations", "--cache", str(aligned), "--checkpoint", str(src), "--out", str(out),
                               "--epochs", "3", "--dim", "16", "--conv_layers", "1"])
    assert res.returncode == 0, res.stderr
    assert "mean-duration table" in res.stdout and "duration predictor" in res.stdout
    config = json.loads((out / "config.json").read_text())["config"]
    assert config["duration_predictor"] == {"dim": 16, "conv_layers": 1, "kernel": 5, "dropout": 0.2, "voice": True}
    before, after = load_file(str(src / "model.safetensors")), load_file(str(out / "model.safetensors"))
    new = sorted(set(after) - set(before))
    assert new and all(k.startswith("duration_predictor.") for k in new)
    assert all(torch.equal(before[k], after[k]) for k in before)  # the DiT is untouched
    assert after["duration_predictor.out.weight"].dtype == torch.float16  # the checkpoint's storage dtype
    assert after["duration_predictor.voice_mean"].dtype == torch.float32  # statistics stay fp32
    model = JAMModel.from_pretrained(out)
    assert model.duration_predictor is not None
    # the cache's phone aligner travels with the model, so that animate can align its transcript
    assert (aligned / "aligner.safetensors").is_file() and (out / "aligner.safetensors").is_file()
    assert model.phone_aligner is not None and model.phone_aligner.vocab_size <= 256
    frames = model.duration_predictor.frames([40, 41, 42], torch.zeros(200))
    assert frames.shape == (3,) and (frames >= 0).all()

    # a training run may start from it: the predictor is dropped (it is refitted after training)
    from jamflow.train.config import load_config
    from jamflow.train.model_init import build_model_config, load_init_weights

    cfg = load_config(helpers.write_config(tmp_path / "c.yaml", aligned, tmp_path / "run",
                                           model={"preset": "tiny", "init_from": str(out),
                                                  "overrides": {"audio": {"text_num_embeds": 256}}}))
    fresh = JAMModel(build_model_config(cfg))
    load_init_weights(fresh, cfg)
    assert fresh.duration_predictor is None
    assert torch.equal(fresh.audio.proj_out.weight, model.audio.proj_out.weight.float())


def test_fit_durations_refuses_bad_input_and_writes_nothing(aligned, cache, tmp_path, helpers):
    src = _export(tmp_path / "export")
    out = tmp_path / "out"
    no_align = helpers.run_jamflow(["fit-durations", "--cache", str(cache), "--checkpoint", str(src), "--out", str(out)])
    assert no_align.returncode == 2 and "jamflow align" in no_align.stderr
    plain = tmp_path / "plain"
    JAMModel(get_preset("tiny", audio=dict(text_num_embeds=256))).save_pretrained(plain)
    no_table = helpers.run_jamflow(["fit-durations", "--cache", str(aligned), "--checkpoint", str(plain), "--out", str(out)])
    assert no_table.returncode == 2 and "--checkpoint: expected a model that lays text out by durations" in no_table.stderr
    odd = helpers.run_jamflow(["fit-durations", "--cache", str(aligned), "--checkpoint", str(src), "--out", str(out),
                               "--dim", "15"])
    assert odd.returncode == 2 and "--dim" in odd.stderr
    assert not out.exists()


def test_training_refuses_a_predictor_in_the_model_overrides(aligned, tmp_path, helpers):
    from jamflow.errors import UserError
    from jamflow.train.config import load_config
    from jamflow.train.model_init import build_model_config

    cfg = load_config(helpers.write_config(tmp_path / "c.yaml", aligned, tmp_path / "run",
                                           model={"preset": "tiny", "overrides": {"duration_predictor": {"dim": 8}}}))
    with pytest.raises(UserError, match="model.overrides.duration_predictor"):
        build_model_config(cfg)
