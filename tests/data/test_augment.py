import numpy as np
import pytest

pytest.importorskip("pyworld")

from jamflow.data.augment import VoiceWarp, _warp_frequency, sample_warp, warp_phones, warp_voice  # noqa: E402
from jamflow.testing import voiced_clip  # noqa: E402

SR = 24000


def _median_f0(wav):
    import pyworld

    f0, _ = pyworld.harvest(wav.astype(np.float64), SR, frame_period=5.0)
    return float(np.median(f0[f0 > 0]))


def test_f0_scale_moves_the_pitch_and_keeps_length_and_peak():
    wav = voiced_clip(1.0)  # 140 Hz harmonics
    out = warp_voice(wav, VoiceWarp(f0_scale=0.8))
    assert out.shape == wav.shape and out.dtype == np.float32
    assert abs(_median_f0(out) / _median_f0(wav) - 0.8) < 0.03
    assert abs(np.abs(out).max() - np.abs(wav).max()) < 1e-6


def test_formant_warp_moves_envelope_peaks_by_the_factor():
    env = np.exp(-0.5 * ((np.arange(513) - 200) / 10.0) ** 2)[None].repeat(3, 0)  # one formant at bin 200
    assert int(_warp_frequency(env, 0.9)[0].argmax()) == 180
    assert int(_warp_frequency(env, 1.05)[0].argmax()) == 210
    np.testing.assert_array_equal(_warp_frequency(env, 1.0), env)


def test_rate_shortens_audio_and_phone_timings_together():
    warp = VoiceWarp(rate=1.25)
    wav = voiced_clip(1.0)
    assert len(warp_voice(wav, warp)) == round(len(wav) / 1.25)
    phones = [("sil", 0.0, 0.2), ("a", 0.2, 1.0)]
    assert warp_phones(phones, warp) == [("sil", 0.0, 0.16), ("a", 0.16, 0.8)]


def test_room_colouring_is_seeded_and_changes_the_sound():
    wav = voiced_clip(0.6)
    a = warp_voice(wav, VoiceWarp(reverb=0.2, tilt_db=-2.0, seed=1))
    b = warp_voice(wav, VoiceWarp(reverb=0.2, tilt_db=-2.0, seed=1))
    c = warp_voice(wav, VoiceWarp(reverb=0.2, tilt_db=-2.0, seed=2))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-4


def test_sampled_warps_mostly_lower_and_stay_in_range():
    rng = np.random.default_rng(0)
    warps = [sample_warp(rng) for _ in range(400)]
    assert 0.65 < np.mean([w.f0_scale < 1 for w in warps]) < 0.85
    assert all(0.62 <= w.f0_scale <= 1.18 and 0.86 <= w.formant_scale <= 1.06 for w in warps)
    assert all(0.9 <= w.rate <= 1.1 and 0 <= w.reverb <= 0.12 for w in warps)
    assert len({w.seed for w in warps}) == len(warps)
