"""motion.prosody: the corpus's eyes, brows and head follow the speech in the speaker's style."""
import numpy as np
import pytest

from jamflow.data.speech_engines import Voice, synthesize
from jamflow.eval.motion_metrics import blink_count, head_pose_std, head_speech_correlation
from jamflow.motion.keypoints import K, exp_index
from jamflow.motion.prosody import TalkerStyle, accents, phrase_starts, talker_style
from jamflow.motion.visemes import phones_to_motion
from jamflow.timeline import MOTION_FPS, SAMPLE_RATE

SENTENCES = ["When the rain stopped, we walked down to the river, and the boats were gone.",
             "Please bring me the big blue cup, the one on the table.",
             "Nobody knew the answer, so the teacher waited, and then she smiled."]


@pytest.fixture(scope="module")
def speeches():
    return [synthesize(s, Voice("espeak", "en-us+m3")) for s in SENTENCES]


def test_style_is_the_speakers_own():
    a, b = talker_style("festival:slt_hts"), talker_style("festival:slt_hts")
    assert a == b and a != talker_style("espeak:en-us+m3") and talker_style(None) == TalkerStyle()
    styles = [talker_style(f"espeak:en-us+m{i}") for i in range(40)]
    gains = [s.head_gain for s in styles]
    assert 0.55 <= min(gains) < 0.8 and 1.3 < max(gains) <= 1.7  # the range is used, within its bounds
    assert all(11 <= s.blink_rate_per_min <= 24 for s in styles)


def test_accents_are_the_loud_long_vowels():
    wav = np.zeros(3 * SAMPLE_RATE, np.float32)
    vowels = [(0.2, 0.3), (0.6, 0.9), (1.2, 1.3), (1.6, 1.7), (2.0, 2.1)]
    rng = np.random.default_rng(0)
    for (s, e), amp in zip(vowels, (0.1, 0.1, 0.4, 0.1, 0.1)):
        a, b = int(s * SAMPLE_RATE), int(e * SAMPLE_RATE)
        wav[a:b] = amp * rng.standard_normal(b - a)
    picked = accents(vowels, wav, share=0.4)
    # the long one and the loud one, in time order, each 40% into its vowel
    assert [t for t, _ in picked] == pytest.approx([0.6 + 0.4 * 0.3, 1.2 + 0.4 * 0.1])
    assert max(p for _, p in picked) == 1.0 and all(0.5 <= p <= 1 for _, p in picked)
    assert len(accents(vowels, None, share=0.01)) == 1 and accents([], wav, 0.4) == []


def test_phrase_starts_follow_pauses():
    speaking = np.zeros(100, bool)
    speaking[0:20] = speaking[22:40] = speaking[60:80] = True  # a 2-frame gap is no pause, 20 frames is
    assert phrase_starts(speaking) == [0, 60]
    assert phrase_starts(np.zeros(10, bool)) == []


def test_head_moves_with_the_speech_and_rests_in_pauses(speeches):
    matched, mismatched, speed_on, speed_off = [], [], [], []
    for sp in speeches:
        padded = np.concatenate([np.zeros(SAMPLE_RATE, np.float32), sp.wav, np.zeros(SAMPLE_RATE, np.float32)])
        phones = [("sil", 0.0, 1.0)] + [(p, s + 1.0, e + 1.0) for p, s, e in sp.phones] + \
                 [("sil", 1.0 + len(sp.wav) / SAMPLE_RATE, len(padded) / SAMPLE_RATE)]
        for seed in range(4):
            m = phones_to_motion(phones, len(padded), wav=padded, seed=seed, speaker="espeak:en-us+m3")
            matched.append(head_speech_correlation(m, padded))
            mismatched.append(head_speech_correlation(m, np.roll(padded, len(padded) // 2)))
            speed = np.linalg.norm(np.diff(m[:, 63:66], axis=0), axis=1)
            talk = slice(int(1.3 * MOTION_FPS), int((0.7 + len(sp.wav) / SAMPLE_RATE) * MOTION_FPS))
            speed_on.append(speed[talk].mean())
            speed_off.append(speed[-int(0.6 * MOTION_FPS):].mean())
    assert np.mean(matched) > 0.2 and np.mean(matched) > np.mean(mismatched) + 0.15, (matched, mismatched)
    assert np.mean(speed_off) < 0.5 * np.mean(speed_on)


def test_nods_and_brow_raises_land_on_accents(speeches):
    sp = speeches[0]
    style = talker_style("espeak:en-us+m3")
    m = phones_to_motion(sp.phones, len(sp.wav), wav=sp.wav, seed=0, speaker="espeak:en-us+m3")
    from jamflow.motion.visemes import VOWELS

    vowels = [(s, e) for p, s, e in sp.phones if any(ch in VOWELS for ch in p)]
    frames = [int(round(t * MOTION_FPS)) for t, _ in accents(vowels, sp.wav, style.accent_share)]
    brow = -m[:, exp_index(K["brow_left"], 1)]
    near = np.zeros(len(m), bool)
    for f in frames:
        near[max(0, f - 8):f + 9] = True
    assert brow[near].mean() > 3 * brow[~near].mean() and brow.min() >= 0


def test_style_sets_how_much_the_head_moves(speeches):
    names = [f"espeak:en-us+m{i}" for i in range(40)]
    calm = min(names, key=lambda n: talker_style(n).head_gain)
    lively = max(names, key=lambda n: talker_style(n).head_gain)
    std = {n: np.mean([head_pose_std(phones_to_motion(sp.phones, len(sp.wav), wav=sp.wav, seed=s, speaker=n))
                       for sp in speeches for s in range(6)]) for n in (calm, lively)}
    assert std[lively] > 1.5 * std[calm], std


def test_blink_rate_follows_the_style():
    seconds = 300
    phones = [("sil", 0.0, float(seconds))]
    rates = {}
    for name in ("espeak:en-us+m1", "espeak:en-us+f2", "festival:kal_diphone"):
        m = phones_to_motion(phones, seconds * SAMPLE_RATE, seed=1, speaker=name)
        rates[name] = (blink_count(m) / (seconds / 60), talker_style(name).blink_rate_per_min)
    for measured, wanted in rates.values():
        assert abs(measured - wanted) < 0.35 * wanted, rates


def test_where_the_head_sits_is_not_drawn_per_clip(speeches):
    sp = speeches[1]
    clips = [phones_to_motion(sp.phones, len(sp.wav), wav=sp.wav, seed=s, speaker="espeak:en-us+m3") for s in range(8)]
    scale_means = [m[:, 69].mean() for m in clips]
    assert max(abs(v - 1.3) for v in scale_means) < 0.01  # no per-clip scale
    for m in clips:  # translation only follows the pose (the head turning), no offset of its own
        np.testing.assert_allclose(m[:, 66], 0.002 * m[:, 64], atol=1e-6)
        np.testing.assert_allclose(m[:, 67], -0.001 * m[:, 63], atol=1e-6)
