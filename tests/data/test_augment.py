import numpy as np
import pytest

pytest.importorskip("pyworld")

from jamflow.data.augment import (  # noqa: E402
    F0_BOX,
    FORMANT_BOX,
    VoiceWarp,
    _warp_frequency,
    speaker_warps,
    warp_phones,
    warp_voice,
)
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


def test_speakers_of_a_voice_are_fixed_spread_and_inside_the_box():
    a, b = speaker_warps("festival:slt_hts", 8), speaker_warps("festival:slt_hts", 8)
    assert a == b and speaker_warps("festival:slt_hts", 3) == a[:3]  # more speakers only add
    assert speaker_warps("hibari:heart", 8) != a
    points = np.log([[w.f0_scale, w.formant_scale] for w in a])
    assert all(F0_BOX[0] <= w.f0_scale <= F0_BOX[1] and FORMANT_BOX[0] <= w.formant_scale <= FORMANT_BOX[1] for w in a)
    scale = np.log([F0_BOX[1] / F0_BOX[0], FORMANT_BOX[1] / FORMANT_BOX[0]])
    gaps = [np.linalg.norm((p - q) / scale) for i, p in enumerate(points) for q in points[i + 1:]]
    rng = np.random.default_rng(0)
    random_gaps = [min(np.linalg.norm(x - y) for i, x in enumerate(r) for y in r[i + 1:])
                   for r in (rng.random((8, 2)) for _ in range(200))]
    assert min(gaps) > np.median(random_gaps)  # more evenly spread than random draws
