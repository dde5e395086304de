"""motion.life: causal, seeded face life that follows the speech."""
import numpy as np
import pytest

from jamflow.motion.keypoints import K, exp_index
from jamflow.motion.life import FaceLife, life_channels
from jamflow.motion.visemes import eye_opening

SPF = 960


def speech_like(seconds: float, seed: int = 0) -> np.ndarray:
    """Syllable-rate bursts (4 Hz) in 2 s phrases separated by 1 s pauses, RMS ~0.1 while speaking."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 25) * SPF) / 24000
    phrase = (t % 3.0) < 2.0
    envelope = phrase * (0.55 + 0.45 * np.sin(2 * np.pi * 4 * t)) ** 2
    return (0.2 * envelope * rng.standard_normal(len(t))).astype(np.float32)


def blinks(motion) -> np.ndarray:
    closed = eye_opening(motion) < 0.03
    return np.nonzero(closed[1:] & ~closed[:-1])[0] + 1


def test_pieces_of_a_stream_give_exactly_the_whole_clip():
    wav = speech_like(20)
    whole = FaceLife(5).step(wav)
    life = FaceLife(5)
    cuts = [0, 13, 14, 260, 261, 400, len(wav) // SPF]
    pieces = [life.step(wav[a * SPF: b * SPF]) for a, b in zip(cuts, cuts[1:])]
    assert np.array_equal(np.concatenate(pieces), whole)


def test_seeded_and_only_its_channels_move():
    wav = speech_like(10)
    a, b, c = FaceLife(1).step(wav), FaceLife(1).step(wav), FaceLife(2).step(wav)
    assert np.array_equal(a, b) and not np.allclose(a, c)
    moving = set(np.nonzero(np.abs(a).max(0) > 0)[0])
    assert moving <= set(life_channels()) and {63, 64, 65} <= moving


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_blink_rate_is_human_and_pauses_draw_blinks(seed):
    wav = speech_like(240, seed)
    motion = FaceLife(seed).step(wav)
    starts = blinks(motion)
    per_min = len(starts) / 4.0
    assert 8 <= per_min <= 30, per_min
    pause = ((np.arange(len(motion)) / 25) % 3.0) >= 2.0
    in_pause = pause[starts].mean()
    assert in_pause > pause.mean() + 0.1, (in_pause, pause.mean())  # pauses hold a third of the time


def test_head_moves_with_the_speech_and_calms_in_silence():
    from jamflow.eval.motion_metrics import head_speech_correlation

    talk = np.concatenate([speech_like(20), np.zeros(20 * 25 * SPF, np.float32)])
    motion = FaceLife(3).step(talk)
    speaking, silent = motion[:500], motion[600:]
    assert silent[:, 64].std() < 0.7 * speaking[:, 64].std()  # yaw sway calms down in silence
    # angular speed follows this voice's energy, not the same voice shifted by half a phrase
    matched = head_speech_correlation(motion[:500], talk[:500 * SPF])
    shifted = head_speech_correlation(motion[:500], np.roll(talk[:500 * SPF], 37 * SPF))
    assert matched > 0.2 and matched > shifted + 0.15, (matched, shifted)


def test_accents_nod_and_phrase_starts_turn_the_head():
    # one phrase: a level murmur with a loud syllable at 1.0 s, then silence, then a second phrase
    t = np.arange(100 * SPF) / 24000
    level = np.where((t > 0.2) & (t < 2.0), 0.04, 0.0) + np.where((t > 1.0) & (t < 1.15), 0.25, 0.0)
    level += np.where(t > 3.0, 0.04, 0.0)
    wav = (level * np.random.default_rng(0).standard_normal(len(t))).astype(np.float32)
    motion = FaceLife(4).step(wav)
    brow = -motion[:, exp_index(K["brow_left"], 1)]
    assert brow[5:15].max() > 0 and brow[16:25].max() == 0  # the phrase's onset, then nothing until ...
    assert 26 <= 20 + int(np.argmax(brow[20:50])) <= 33  # ... the loud syllable at frame 25
    assert motion[20:25, 63].max() > motion[25:35, 63].min() + 0.5  # the pitch dips: a nod
    life = FaceLife(4)
    life.step(wav[:30 * SPF])
    assert life.state.last_accent in (25, 26) and life.state.turn_start == 5
    life.step(wav[30 * SPF:])
    assert life.state.turn_start == 75  # the second phrase (speech from 3.0 s) turns the head again
    assert np.abs(motion[85, 63:66] - motion[74, 63:66]).max() > 1.5  # sway alone moves it ~0.5°


def test_brows_rise_only_on_emphasis():
    wav = speech_like(10)
    motion = FaceLife(0).step(wav)
    brow = motion[:, exp_index(K["brow_left"], 1)]
    assert brow.max() <= 0 and brow.min() < -0.005  # y points down: a raise is negative
    assert np.all(FaceLife(0).step(np.zeros(250 * SPF, np.float32))[:, exp_index(K["brow_left"], 1)] == 0)
