import shutil

import numpy as np
import pytest

from jamflow.data.speech_engines import Voice, synthesize
from jamflow.motion.spec import MOTION_DIM
from jamflow.motion.visemes import CANONICAL_KEYPOINTS, K, eye_opening, frame_energy, lip_aperture, phones_to_motion
from jamflow.timeline import MOTION_FPS

SENTENCES = ["Please bring me a big cup of warm milk.", "The boy put the map on the table before noon.",
             "We will meet by the old mill at five.", "My father always told me to open the window at night.",
             "Nobody knows how far the river goes, but we walked there anyway."]
VOICES = [Voice("espeak", "en-us+m3")]
if shutil.which("festival"):
    VOICES += [Voice("festival", "slt_hts", pitch=0), Voice("festival", "kal_diphone")]


@pytest.fixture(scope="module")
def clips():
    out = []
    for v in VOICES:
        for i, s in enumerate(SENTENCES):
            sp = synthesize(s, v)
            out.append((sp, phones_to_motion(sp.phones, len(sp.wav), wav=sp.wav, seed=i)))
    return out


def _times(motion):
    return np.arange(len(motion)) / MOTION_FPS


def test_shape_and_frame_count(clips):
    for sp, m in clips:
        assert m.shape == (round(len(sp.wav) / 960), MOTION_DIM) and m.dtype == np.float32
        assert np.isfinite(m).all()


def test_lips_rest_in_silence_and_close_on_bilabials(clips):
    for sp, m in clips:
        ap, t = lip_aperture(m), _times(m)
        peak = ap.max()
        assert peak > 0.02  # the mouth does open while speaking
        for phone, s, e in sp.phones:
            inside = (t > s + 0.12) & (t < e - 0.12)
            if phone == "sil" and inside.any():
                assert ap[inside].max() < 0.05 * peak, (phone, s, e)
            if phone in ("p", "b", "m"):
                near = (t >= s - 0.02) & (t <= e + 0.02)
                assert near.any() and ap[near].min() < 0.25 * peak, (phone, s, e, ap[near])


def test_aperture_follows_audio_envelope_at_lag_zero(clips):
    lags = np.arange(-6, 7)
    total = np.zeros(len(lags))
    for sp, m in clips:
        ap = lip_aperture(m)
        env = frame_energy(sp.wav, len(m))
        a, b = (ap - ap.mean()) / ap.std(), (env - env.mean()) / env.std()
        total += [np.mean(a[max(0, l):len(a) + min(0, l)] * b[max(0, -l):len(b) - max(0, l)]) for l in lags]
    total /= len(clips)
    assert lags[np.argmax(total)] == 0, dict(zip(lags.tolist(), total.round(2).tolist()))
    assert total[lags == 0][0] > 0.25


def _steady(phone, seconds=0.6):
    return [("sil", 0.0, 0.3), (phone, 0.3, 0.3 + seconds), ("sil", 0.3 + seconds, 1.2 + seconds)]


def _at_middle(phone, seconds=0.6):
    phones = _steady(phone, seconds)
    m = phones_to_motion(phones, int((1.2 + seconds) * 24000), seed=0)
    return m[int((0.3 + seconds / 2) * MOTION_FPS)], m


def _mouth_width(frame):
    exp = frame[:63].reshape(21, 3) + CANONICAL_KEYPOINTS
    return exp[K["mouth_corner_right"], 0] - exp[K["mouth_corner_left"], 0]


def test_rounding_stretch_and_jaw():
    rest = _mouth_width(np.zeros(MOTION_DIM, np.float32))
    u, _ = _at_middle("u")
    i, _ = _at_middle("i")
    a, _ = _at_middle("ɑ")
    m, _ = _at_middle("m")
    assert _mouth_width(u) < rest - 0.02 < rest + 0.01 < _mouth_width(i)  # /u/ rounds, /i/ stretches
    assert u[3 * K["lower_lip_inner"] + 2] > 0.01  # rounding protrudes the lips
    chin = lambda f: f[3 * K["chin"] + 1]
    assert chin(a) > chin(i) > chin(m) + 0.005  # jaw opens with the vowel, not on /m/
    assert lip_aperture(a[None])[0] > 2 * lip_aperture(i[None])[0] > 0


def test_coarticulation_anticipates_and_blends():
    # the lips start to open before an isolated vowel starts (anticipation) ...
    _, m = _at_middle("ɑ")
    ap = lip_aperture(m)
    onset = int(0.3 * MOTION_FPS)
    assert 0.1 * ap.max() < ap[onset - 1] < ap[onset + 3]
    # ... and /b/ between rounded vowels stays rounded, but closes
    phones = [("sil", 0, 0.2), ("u", 0.2, 0.4), ("b", 0.4, 0.48), ("u", 0.48, 0.7), ("sil", 0.7, 1.2)]
    m = phones_to_motion(phones, 24000 * 6 // 5, seed=0)
    k = int(round(0.44 * MOTION_FPS))
    assert _mouth_width(m[k]) < _mouth_width(np.zeros(MOTION_DIM, np.float32)) - 0.01
    assert lip_aperture(m)[k] < 0.3 * lip_aperture(m).max()


def test_blinks_rate_and_shape():
    seconds = 120
    phones = [("sil", 0.0, float(seconds))]
    m = phones_to_motion(phones, seconds * 24000, seed=3)
    eyes = eye_opening(m)
    assert eyes.max() == pytest.approx(0.05, abs=0.005)
    closed = eyes < 0.02
    blinks = int(np.sum(closed[1:] & ~closed[:-1]) + closed[0])
    assert 8 <= blinks / (seconds / 60) <= 30  # people blink ~10-20 times a minute
    assert closed.mean() < 0.1  # a blink is brief


def test_head_motion_ranges_and_determinism(clips):
    sp, m = clips[0]
    again = phones_to_motion(sp.phones, len(sp.wav), wav=sp.wav, seed=0)
    other = phones_to_motion(sp.phones, len(sp.wav), wav=sp.wav, seed=1)
    assert np.array_equal(m, again)
    assert not np.array_equal(m[:, 63:], other[:, 63:])  # seeds vary head motion and blinks
    assert np.allclose(lip_aperture(m), lip_aperture(other))  # ... not the speech articulation
    for _, m in clips:
        assert np.abs(m[:, :63]).max() < 0.1
        assert np.abs(m[:, 63:66]).max() < 15
        assert 1.0 < m[:, 69].min() and m[:, 69].max() < 1.6
        assert m[:, 63:66].std(0).min() > 0.1  # the head does move


def test_lips_context_does_not_reveal_the_lips(clips):
    # The model receives the `lips` spec's context time-aligned in training but only a neutral or looped
    # context at inference: a context channel that the lips predict would let training copy the answer.
    from jamflow.motion.spec import get_spec

    spec = get_spec("lips")
    x = np.concatenate([m for _, m in clips]).astype(np.float64)
    x -= x.mean(0)
    lips = x[:, list(spec.generate)]
    lips = lips[:, lips.std(0) > 1e-9]
    assert lips.shape[1] >= 6  # the lips do move
    r2 = {}
    for ch in spec.context:
        y = x[:, ch]
        if y.std() > 1e-9:
            coef = np.linalg.lstsq(lips, y, rcond=None)[0]
            r2[ch] = 1 - np.mean((y - lips @ coef) ** 2) / y.var()
    assert r2 and max(r2.values()) < 0.3, r2
    # the channels it leaves out do move with the mouth (which is why they are left out)
    jaw = [ch for ch in spec.passthrough if x[:, ch].std() > 1e-9]
    assert jaw
