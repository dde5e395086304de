"""Fitted voices (infer/voice_fit.py): adapters fitted to one clip, saved, put in use and taken out again."""
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from jamflow.errors import UserError
from jamflow.infer.voice_fit import VoiceFitConfig, fit_voice, load_voice, voice_fingerprint
from jamflow.model.lora import named_block_linears

TEXT = "A reference sentence."
FIT = dict(steps=3, seed=0, lr=0.05)  # a large step: 3 updates must change the speech visibly


@pytest.fixture(scope="module")
def own_jam(tiny_ckpt):
    """A model of its own: these tests put voices in use, which the session's `jam` must never see."""
    from jamflow.infer.api import JAMFlow
    from jamflow.vocoder.fallback import FallbackConfig, GriffinLimVocoder

    voc = GriffinLimVocoder(FallbackConfig(nnls_iters=2, gl_iters=2))
    return JAMFlow.from_pretrained(tiny_ckpt, device="cpu", dtype="float32", vocoder=voc, progress=False)


@pytest.fixture(scope="module")
def voice(own_jam, ref_wav):
    return own_jam.fit_voice(ref_wav[0], TEXT, **FIT)


@pytest.fixture(autouse=True)
def _base_model(own_jam):
    yield
    own_jam.use_voice(None)


def weights(jam) -> dict:
    return {k: v.clone() for k, v in jam.model.state_dict().items()}


def test_fit_trains_the_audio_stream_and_leaves_the_model_as_it_was(own_jam, ref_wav):
    before, rng = weights(own_jam), torch.get_rng_state()
    voice = own_jam.fit_voice(ref_wav[0], TEXT, **FIT)
    after = weights(own_jam)
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert torch.equal(rng, torch.get_rng_state())  # the caller's random state is untouched
    assert all(type(m) is torch.nn.Linear for _, m in named_block_linears(own_jam.model))  # no adapter left
    assert voice.adapters and all(name.startswith("audio.blocks.") for name in voice.adapters)
    assert all(b.abs().max() > 0 for _, b in voice.adapters.values())
    assert voice.fit["steps"] == 3 and np.isfinite(voice.fit["loss_first"]) and voice.strength == 0.5
    assert voice.fingerprint == voice_fingerprint(own_jam.model)


def test_fit_is_reproducible_by_its_seed(own_jam, ref_wav, voice):
    again = own_jam.fit_voice(ref_wav[0], TEXT, **FIT)
    other = own_jam.fit_voice(ref_wav[0], TEXT, **{**FIT, "seed": 1})
    assert all(torch.equal(voice.adapters[n][1], again.adapters[n][1]) for n in voice.adapters)
    assert not all(torch.equal(voice.adapters[n][1], other.adapters[n][1]) for n in voice.adapters)


def test_a_voice_in_use_changes_the_speech_and_none_restores_the_model_bit_for_bit(own_jam, voice, fast):
    base_weights = weights(own_jam)
    base = own_jam.tts("Hello there.", voice.wav, voice.text, **fast).wav
    own_jam.use_voice(voice)
    voiced = own_jam.tts("Hello there.", **fast).wav  # the voice's own clip is the reference
    own_jam.use_voice(None)
    assert own_jam.voice is None
    assert base.shape == voiced.shape and not np.allclose(base, voiced, atol=1e-4)
    np.testing.assert_array_equal(own_jam.tts("Hello there.", voice.wav, voice.text, **fast).wav, base)
    assert all(torch.equal(v, own_jam.model.state_dict()[k]) for k, v in base_weights.items())


def test_strength_scales_the_update_folded_into_the_weights(own_jam, voice):
    name, (a, b) = next(iter(voice.adapters.items()))
    linear = dict(named_block_linears(own_jam.model))[name]
    base = linear.weight.detach().clone()
    deltas = {}
    for strength in (0.25, 1.0):
        own_jam.use_voice(voice, strength)  # a second use replaces the first, not adds to it
        deltas[strength] = linear.weight.detach() - base
    torch.testing.assert_close(deltas[1.0], b @ a, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(deltas[0.25], 0.25 * (b @ a), atol=1e-6, rtol=1e-5)


def test_a_saved_voice_loads_as_it_was_fitted(own_jam, voice, tmp_path, fast):
    path = voice.save(tmp_path / "me.safetensors")
    loaded = load_voice(path)
    assert loaded.text == voice.text and loaded.strength == voice.strength and loaded.fit == voice.fit
    np.testing.assert_array_equal(loaded.wav, voice.wav)
    assert loaded.adapters.keys() == voice.adapters.keys()
    assert all(torch.equal(loaded.adapters[n][0], voice.adapters[n][0]) for n in voice.adapters)
    own_jam.use_voice(voice)
    in_memory = own_jam.tts("Hello there.", **fast).wav
    own_jam.use_voice(path)
    np.testing.assert_array_equal(own_jam.tts("Hello there.", **fast).wav, in_memory)


def test_fit_voice_writes_its_output_and_refits_on_the_base_model(own_jam, voice, ref_wav, tmp_path):
    own_jam.use_voice(voice, 1.0)
    voiced = weights(own_jam)
    refit = own_jam.fit_voice(ref_wav[0], TEXT, output=tmp_path / "v.safetensors", **FIT)
    assert all(torch.equal(v, own_jam.model.state_dict()[k]) for k, v in voiced.items())
    assert own_jam.voice is voice and own_jam.voice_strength == 1.0  # still in use afterwards, as it was
    assert refit.fingerprint == voice.fingerprint  # fitted to the base model, not the voiced one
    assert (tmp_path / "v.safetensors").is_file()


def test_a_voice_of_another_model_is_refused(own_jam, voice):
    name = next(iter(voice.adapters))
    linear = dict(named_block_linears(own_jam.model))[name]
    with torch.no_grad():
        linear.weight[0, 0] += 1.0
    try:
        with pytest.raises(UserError, match="voice: expected the model it was fitted to"):
            own_jam.use_voice(voice)
    finally:
        with torch.no_grad():
            linear.weight[0, 0] -= 1.0
    assert own_jam.voice is None


def test_a_reference_with_a_voice_in_use_is_refused(own_jam, voice, ref_wav, fast):
    own_jam.use_voice(voice)
    with pytest.raises(UserError, match="ref_audio: expected none while a fitted voice is in use"):
        own_jam.tts("Hello.", ref_wav[0], TEXT, **fast)


@pytest.mark.parametrize("kwargs,match", [
    (dict(steps=0), "voice_steps"), (dict(strength=0.0), "voice_strength"), (dict(strength=1.5), "voice_strength"),
    (dict(rank=0), "voice_rank"), (dict(lr=-1.0), "voice_lr"), (dict(output="me.wav"), "output: .*safetensors"),
])
def test_bad_fit_arguments_are_refused_before_any_work(own_jam, ref_wav, kwargs, match):
    with pytest.raises(UserError, match=match):
        own_jam.fit_voice(ref_wav[0], TEXT, **kwargs)


def test_files_that_are_not_voices_are_refused(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file")
    weights_only = tmp_path / "weights.safetensors"
    save_file({"w": torch.zeros(2)}, str(weights_only), metadata={"format": "pt"})
    for path, match in ((tmp_path / "missing.safetensors", "missing path"), (junk, "unreadable"),
                        (weights_only, "format 'pt'")):
        with pytest.raises(UserError, match="voice: expected a voice file .*" + match):
            load_voice(path)


def test_the_fit_batch_is_the_reference_clip_repeated(own_jam, ref_wav):
    from jamflow.infer.voice_fit import reference_batch

    batch, text = reference_batch(own_jam.engine, ref_wav[0], "hello there", 3)
    assert "hello there" in text.lower()
    n = batch["mel"].shape[1]
    assert batch["mel"].shape == (3, n, 100) and batch["mel_lens"].tolist() == [n] * 3
    assert (batch["mel"][0] == batch["mel"][2]).all() and batch["text"].shape[0] == 3
    assert "text_index" not in batch  # the tiny model pads its text as F5 does, without a layout


def test_a_layers_pattern_that_matches_nothing_is_refused(own_jam, ref_wav):
    before = weights(own_jam)
    with pytest.raises(UserError, match="voice_layers: expected a pattern matching"):
        fit_voice(own_jam.engine, ref_wav[0], TEXT, VoiceFitConfig(steps=1, layers="no_such_layer"),
                  show_progress=False)
    assert all(torch.equal(v, own_jam.model.state_dict()[k]) for k, v in before.items())
    assert not any(hasattr(m, "lora_a") for m in own_jam.model.modules())


def test_batch_jobs_speak_with_their_voice_files_and_give_the_model_back(own_jam, voice, tmp_path, fast):
    import json

    import soundfile as sf

    from jamflow.infer.batch import read_jobs, run_batch

    voice.save(tmp_path / "me.safetensors")
    motion = tmp_path / "lips.npy"
    np.save(motion, np.tile(own_jam.codec.mean, (30, 1)).astype(np.float32))
    lines = [{"gen_text": "Hello there.", "voice": "me.safetensors", "output": "voiced", **fast},
             {"gen_text": "Hello there.", "output": "plain", **fast},
             {"task": "dub", "gen_text": "Hello there.", "motion": "lips.npy", "voice": "me.safetensors",
              "output": "dubbed", **fast}]
    (tmp_path / "jobs.jsonl").write_text("\n".join(json.dumps(x) for x in lines))
    before = weights(own_jam)
    run_batch(own_jam, read_jobs(tmp_path / "jobs.jsonl"), tmp_path / "out")
    assert own_jam.voice is None and all(torch.equal(v, own_jam.model.state_dict()[k]) for k, v in before.items())
    assert (tmp_path / "out" / "dubbed.wav").is_file()
    own_jam.use_voice(voice)
    alone = own_jam.tts("Hello there.", **fast).wav
    np.testing.assert_allclose(sf.read(tmp_path / "out" / "voiced.wav", dtype="float32")[0], alone, atol=1e-4)
    (tmp_path / "bad.jsonl").write_text(json.dumps({"gen_text": "Hi.", "voice": "me.safetensors",
                                                    "ref_audio": "x.wav"}))
    with pytest.raises(UserError, match="jobs line 1: voice: comes with its own reference clip"):
        read_jobs(tmp_path / "bad.jsonl")
    (tmp_path / "missing.jsonl").write_text(json.dumps({"gen_text": "Hi.", "voice": "nobody.safetensors"}))
    with pytest.raises(UserError, match="jobs line 1: voice: expected a voice file"):
        read_jobs(tmp_path / "missing.jsonl")
