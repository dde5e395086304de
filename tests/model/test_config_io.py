import json

import pytest
import torch

from jamflow.config import JAMConfig, default_joint_layers, get_preset
from jamflow.errors import UserError
from jamflow.model.jam import JAMModel


def _count(preset):
    with torch.device("meta"):
        return JAMModel(get_preset(preset)).num_params()


def test_preset_sizes():
    assert _count("tiny")["total"] < 2e6
    assert 10e6 <= _count("small")["total"] <= 30e6
    base = _count("base")
    # audio stream = F5TTS_v1_Base (337.1M with the 2545-token vocab), ~500M in all
    assert abs(base["audio"] - 337.1e6) < 0.2e6
    assert 450e6 < base["total"] < 550e6


def test_config_json_round_trip():
    cfg = get_preset("small", joint_window_s=None, motion_spec="full")
    again = JAMConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again.to_dict() == cfg.to_dict() and again.spec == cfg.spec
    assert again.joint_window_s is None and again.motion_gen_dim == 70 and again.motion_context_dim == 0


def test_config_json_spells_out_the_motion_spec():
    # a spec name may change meaning between versions (lips did): config.json keeps the channel lists
    d = json.loads(json.dumps(get_preset("small").to_dict()))
    assert isinstance(d["motion_spec"], dict) and len(d["motion_spec"]["context"]) == 22
    assert JAMConfig.from_dict(d).motion_context_dim == 22


def test_default_joint_layers_pair_every_other_audio_layer():
    assert default_joint_layers(22, 11) == [[2 * j + 1, j] for j in range(11)]
    assert get_preset("base").joint_layers == default_joint_layers(22, 11)


def test_partial_override_rederives_pairing():
    cfg = get_preset("tiny", audio={"depth": 6})
    assert cfg.audio.depth == 6 and cfg.audio.dim == 64
    assert cfg.joint_layers == default_joint_layers(6, 2)


@pytest.mark.parametrize("bad", [
    dict(joint_layers=[[5, 0]]),  # audio layer out of range (tiny depth 4)
    dict(joint_layers=[[2, 1], [1, 0]]),  # not increasing
    dict(motion={"heads": 4}),  # head layout must match the audio stream
    dict(tokenizer="words"),
    dict(joint_window_s=0.0),
    dict(motion_spec="eyebrows"),
    dict(audio={"text_pos_window": 40}),  # no sentence-end ids to restart at
    dict(audio={"text_pos_window": 40, "text_sentence_ends": [999]}),  # not a token id
    dict(audio={"text_pos_window": -1}),
])
def test_bad_configs_are_user_errors(bad):
    with pytest.raises(UserError):
        get_preset("tiny", **bad)


@pytest.mark.parametrize("section, bad, message", [
    ("audio", {"dim": 64, "foo": 1}, "config audio: unknown key 'foo'"),
    ("motion", {"depth": 2, "foo": 1, "bar": 2}, r"config motion: unknown keys \['bar', 'foo'\]"),
    ("audio", [64], "config audio: expected a dict of AudioDiTConfig fields, got list"),
])
def test_unknown_sub_config_keys_are_user_errors_naming_key_and_section(section, bad, message):
    d = get_preset("tiny").to_dict()
    d[section] = bad
    with pytest.raises(UserError, match=message):
        JAMConfig.from_dict(d)


def test_unknown_preset():
    with pytest.raises(UserError, match="preset"):
        get_preset("huge")


def test_save_load_round_trip(tmp_path, make_model):
    model = make_model("tiny")
    stats = {"mean": torch.arange(70.0), "std": torch.ones(70)}
    model.save_pretrained(tmp_path, motion_stats=stats)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    loaded = JAMModel.from_pretrained(tmp_path)
    assert loaded.cfg == model.cfg
    assert loaded.motion_stats["mean"] == list(range(70))
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b)


def test_load_rejects_mismatched_weights(tmp_path, make_model):
    make_model("tiny").save_pretrained(tmp_path)
    meta = json.loads((tmp_path / "config.json").read_text())
    meta["config"]["audio"]["ff_mult"] = 4  # weights no longer fit
    (tmp_path / "config.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="shape mismatch"):
        JAMModel.from_pretrained(tmp_path)


def test_load_missing_dir(tmp_path):
    with pytest.raises(UserError, match="model.safetensors"):
        JAMModel.from_pretrained(tmp_path / "nope")
