"""Timbre match: the generated frames' average spectrum moves towards the known audio's, nothing else."""
import numpy as np
import pytest
import torch

from jamflow.errors import UserError
from jamflow.infer.settings import make_settings
from jamflow.infer.timbre import match_known_spectrum


def _mel(n_known=60, n_gen=80, seed=0):
    g = torch.Generator().manual_seed(seed)
    ref = torch.randn(n_known, 100, generator=g) * 0.3 + torch.linspace(-2, -6, 100)  # bright voice
    gen = torch.randn(n_gen, 100, generator=g) * 0.3 + torch.linspace(-4, -5, 100)  # duller one
    known = torch.cat([torch.ones(n_known, dtype=torch.bool), torch.zeros(n_gen, dtype=torch.bool)])
    return torch.cat([ref, gen]), known


def test_full_match_gives_the_generated_frames_the_known_average_spectrum():
    mel, known = _mel()
    out = match_known_spectrum(mel, known, 1.0)
    assert torch.equal(out[known], mel[known])
    assert torch.allclose(out[~known].mean(0), mel[known].mean(0), atol=1e-4)
    diff = out[~known] - mel[~known]
    assert torch.allclose(diff, diff[:1].expand_as(diff))  # one shift per band: the frames keep their detail
    half = match_known_spectrum(mel, known, 0.5)
    assert torch.allclose(half[~known] - mel[~known], 0.5 * diff, atol=1e-5)


def test_nothing_moves_without_enough_of_both_or_at_strength_zero():
    mel, known = _mel()
    assert torch.equal(match_known_spectrum(mel, known, 0.0), mel)
    assert torch.equal(match_known_spectrum(mel, torch.ones_like(known), 1.0), mel)  # animate: all known
    assert torch.equal(match_known_spectrum(mel, torch.zeros_like(known), 1.0), mel)  # no reference
    short, k = _mel(n_known=5)
    assert torch.equal(match_known_spectrum(short, k, 1.0), short)


def test_silence_does_not_count_in_the_averages():
    mel, known = _mel()
    padded = torch.cat([torch.full((40, 100), -11.5), mel])  # the reference starts with 0.4 s of silence
    k = torch.cat([torch.ones(40, dtype=torch.bool), known])
    assert torch.allclose(match_known_spectrum(padded, k, 1.0)[40:], match_known_spectrum(mel, known, 1.0), atol=1e-5)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_setting_is_checked(bad):
    with pytest.raises(UserError, match="timbre_match: expected a number in 0..1"):
        make_settings(timbre_match=bad)


def test_tts_applies_it_to_the_new_speech_only(jam, tmp_path):
    import soundfile as sf

    rng = np.random.default_rng(0)  # a steady, broadband reference: most of its frames count as speech
    t = np.arange(int(1.6 * 24000)) / 24000
    wav = rng.normal(0, 0.05, len(t)) * (0.8 + 0.2 * np.sin(2 * np.pi * 3 * t))
    path = tmp_path / "ref.wav"
    sf.write(path, wav.astype(np.float32), 24000)
    plain = jam.tts("Hello there, friend.", path, "A reference sentence.", nfe_step=2, seed=3, timbre_match=0.0)
    matched = jam.tts("Hello there, friend.", path, "A reference sentence.", nfe_step=2, seed=3, timbre_match=1.0)
    assert len(plain.wav) == len(matched.wav)
    assert not np.allclose(plain.wav, matched.wav)
