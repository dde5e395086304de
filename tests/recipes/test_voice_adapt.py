"""recipes/voices_model/adapt.py: the package's fitted voice, refitted per prompt and folded into the model."""
import numpy as np
import pytest
import torch

from jamflow.infer.voice_fit import VoiceFitConfig

CFG = VoiceFitConfig(steps=3, rank=2, lr=1e-2, batch=2, seed=0, strength=1.0)


@pytest.fixture
def own_jam(tiny_ckpt):
    """A model of the test's own: a fitted voice is folded into the weights of the model it is put on."""
    from jamflow.infer.api import JAMFlow
    from jamflow.vocoder.fallback import FallbackConfig, GriffinLimVocoder

    voc = GriffinLimVocoder(FallbackConfig(nnls_iters=2, gl_iters=2))
    return JAMFlow.from_pretrained(tiny_ckpt, device="cpu", dtype="float32", vocoder=voc, progress=False)


def test_fit_moves_the_voice_and_reset_restores_the_base_model(voice_adapt, own_jam, ref_wav, fast):
    wav, _ = ref_wav
    text, ref_text = "A new sentence.", "hello there"
    voice = voice_adapt.PromptVoice(own_jam, CFG)
    base = own_jam.tts(text, wav, ref_text, **fast).wav

    record = voice.fit(wav, ref_text)
    assert record["steps"] == 3 and np.isfinite(record["loss_last"])
    adapted = own_jam.tts(text, wav, ref_text, **fast).wav
    assert len(adapted) == len(base) and not np.allclose(adapted, base, atol=1e-5)

    voice.fit(wav, ref_text)  # a refit starts from the base model, not from the last fit
    np.testing.assert_array_equal(own_jam.tts(text, wav, ref_text, **fast).wav, adapted)
    voice.reset()
    np.testing.assert_array_equal(own_jam.tts(text, wav, ref_text, **fast).wav, base)


def test_strength_applies_part_of_the_fitted_update_without_refitting(voice_adapt, own_jam, ref_wav, fast):
    wav, _ = ref_wav
    text, ref_text = "A new sentence.", "hello there"
    voice = voice_adapt.PromptVoice(own_jam, CFG)
    base_weights = {k: v.clone() for k, v in own_jam.model.state_dict().items()}
    voice.fit(wav, ref_text)
    full = {k: v.clone() for k, v in own_jam.model.state_dict().items()}
    full_out = own_jam.tts(text, wav, ref_text, **fast).wav
    voice.set_strength(0.5)
    half = own_jam.model.state_dict()
    changed = [k for k in full if not torch.equal(full[k], base_weights[k])]
    assert changed and all(torch.allclose(half[k] - base_weights[k], (full[k] - base_weights[k]) / 2, atol=1e-7)
                           for k in changed)
    assert not np.allclose(own_jam.tts(text, wav, ref_text, **fast).wav, full_out, atol=1e-5)


def test_layers_pattern_picks_the_adapters_that_train(voice_adapt, own_jam, ref_wav):
    voice = voice_adapt.PromptVoice(own_jam, VoiceFitConfig(**{**CFG.__dict__, "layers": r"audio\.blocks\.\d+\.ff\."}))
    voice.fit(ref_wav[0], "hello there")
    names = set(voice.voice.adapters)
    assert names and all(".ff." in n and n.startswith("audio.") for n in names)


def test_run_fits_once_per_prompt_and_writes_the_evals_manifest(voice_adapt, tiny_ckpt, ref_wav, tmp_path, capsys):
    from jamflow.data.manifest import read_manifest, write_manifest

    _, path = ref_wav  # 1.6 s: no clip in the 3-5 s range, so each clip is prompted by the next one of its voice
    rows = [{"id": f"c{i}", "audio": str(path), "text": "hello there", "speaker": "v", "duration": 1.6,
             "motion": None, "alignment": None, "split": "test"} for i in range(3)]
    ref = write_manifest(tmp_path / "ref" / "manifest.jsonl", rows)
    out = voice_adapt.run(str(ref), str(tmp_path / "out"), str(tiny_ckpt), steps=2, rank=2, lr=1e-2, batch=1,
                          samples=1, seed=0, prompt_seconds=(3.0, 5.0))
    assert [r["id"] for r in read_manifest(out)] == ["c0", "c1", "c2"]
    fits = [line for line in capsys.readouterr().out.splitlines() if "2 updates in" in line]
    assert len(fits) == 1  # every clip's prompt is the same file: one fit serves all three


@pytest.mark.parametrize("argv, flag", [(["--steps", "-1"], "--steps"), (["--strength", "1.5"], "--strength")])
def test_bad_flags_exit_2(voice_adapt, capsys, argv, flag):
    with pytest.raises(SystemExit) as e:
        voice_adapt.main(["ref.jsonl", "out", *argv])
    assert e.value.code == 2 and flag in capsys.readouterr().err
