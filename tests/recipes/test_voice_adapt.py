"""recipes/voices_model/adapt.py: adapters fitted to one reference clip, reset to the base model."""
import numpy as np
import pytest
import torch


@pytest.fixture
def own_jam(tiny_ckpt):
    """A model of the test's own: the adapters change the modules of the model they are added to."""
    from jamflow.infer.api import JAMFlow
    from jamflow.vocoder.fallback import FallbackConfig, GriffinLimVocoder

    voc = GriffinLimVocoder(FallbackConfig(nnls_iters=2, gl_iters=2))
    return JAMFlow.from_pretrained(tiny_ckpt, device="cpu", dtype="float32", vocoder=voc, progress=False)


def test_fit_moves_the_voice_and_reset_restores_the_base_model(voice_adapt, own_jam, ref_wav, fast):
    wav, _ = ref_wav
    text, ref_text = "A new sentence.", "hello there"
    adapter = voice_adapt.VoiceAdapter(own_jam, rank=2, lr=1e-2, batch=2, seed=0)
    base = own_jam.tts(text, wav, ref_text, **fast).wav  # B = 0: the adapters are a no-op

    losses = adapter.fit(wav, ref_text, steps=3)
    assert len(losses) == 3 and np.isfinite(losses).all()
    adapted = own_jam.tts(text, wav, ref_text, **fast).wav
    assert len(adapted) == len(base) and not np.allclose(adapted, base, atol=1e-5)

    assert adapter.fit(wav, ref_text, steps=3) == losses  # seeded: the same prompt fits the same way
    adapter.reset()
    np.testing.assert_allclose(own_jam.tts(text, wav, ref_text, **fast).wav, base, atol=1e-6)
    assert adapter.fit(wav, ref_text, steps=0) == []


def test_reference_batch_is_the_clip_repeated(voice_adapt, own_jam, ref_wav):
    wav, _ = ref_wav
    batch = voice_adapt.VoiceAdapter(own_jam, rank=2, batch=3).reference_batch(wav, "hello there")
    n = batch["mel"].shape[1]
    assert batch["mel"].shape == (3, n, 100) and batch["mel_lens"].tolist() == [n] * 3
    assert (batch["mel"][0] == batch["mel"][2]).all() and batch["text"].shape[0] == 3
    assert "text_index" not in batch  # the tiny model pads its text as F5 does, without a layout


def test_bad_flags_exit_2(voice_adapt, capsys):
    with pytest.raises(SystemExit) as e:
        voice_adapt.main(["ref.jsonl", "out", "--steps", "-1"])
    assert e.value.code == 2 and "--steps" in capsys.readouterr().err


def test_layers_pattern_picks_the_adapters_that_train(voice_adapt, own_jam, ref_wav):
    wav, _ = ref_wav
    adapter = voice_adapt.VoiceAdapter(own_jam, rank=2, lr=1e-2, batch=2, layers=r"audio\.blocks\.\d+\.ff\.")
    names = {name for name, m in own_jam.model.named_modules() if any(m is layer for layer in adapter.layers)}
    assert names and all(".ff." in n and n.startswith("audio.") for n in names)
    adapter.fit(wav, "hello there", steps=2)
    others = [m for m in own_jam.model.modules() if hasattr(m, "lora_b") and all(m is not x for x in adapter.layers)]
    assert others and all((m.lora_b == 0).all() for m in others)  # the rest stay no-ops
    assert any((layer.lora_b != 0).any() for layer in adapter.layers)


def test_a_pattern_that_matches_nothing_is_refused(voice_adapt, own_jam):
    with pytest.raises(ValueError, match="layers"):
        voice_adapt.VoiceAdapter(own_jam, rank=2, layers="no_such_layer")


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


def test_strength_applies_part_of_the_fitted_update(voice_adapt, own_jam, ref_wav, fast):
    wav, _ = ref_wav
    text, ref_text = "A new sentence.", "hello there"
    full = voice_adapt.VoiceAdapter(own_jam, rank=2, lr=1e-2, batch=2, seed=0)
    full.fit(wav, ref_text, steps=3)
    layer = full.layers[0]
    delta = (layer.lora_b @ layer.lora_a) * layer.scale
    full.strength = 0.5
    full.fit(wav, ref_text, steps=3)  # the same fit (seeded), applied at half strength
    assert torch.allclose((layer.lora_b @ layer.lora_a) * layer.scale, delta / 2, atol=1e-7)
    half_out = own_jam.tts(text, wav, ref_text, **fast).wav
    full.set_strength(1.0)
    assert not np.allclose(own_jam.tts(text, wav, ref_text, **fast).wav, half_out, atol=1e-5)


def test_strength_out_of_range_exits_2(voice_adapt, capsys):
    with pytest.raises(SystemExit) as e:
        voice_adapt.main(["ref.jsonl", "out", "--strength", "1.5"])
    assert e.value.code == 2 and "--strength" in capsys.readouterr().err
