"""Dub's text layout from the given lips: vowels land where the mouth is open."""
import numpy as np

from jamflow.infer.lip_layout import lip_durations


def test_vowels_land_on_the_open_mouth_and_frames_add_up():
    aperture = np.array([0.0] * 5 + [0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0] + [0.0] * 5)  # [21]
    tokens = list("bab ma")  # b a b (space) m a
    d = lip_durations(tokens, aperture, 84)
    assert d is not None and d.sum() == 84 and len(d) == len(tokens) + 2
    starts = np.concatenate([[0], np.cumsum(d)]) * 21 / 84  # state start in motion frames
    first_a, second_a = starts[2], starts[6]  # states: lead, b, a, b, ' ', m, a, trail
    assert 6 <= first_a <= 8 and 11 <= second_a <= 13, d


def test_gives_up_when_the_phones_do_not_fit_or_nothing_moves():
    assert lip_durations(list("abcdefgh"), np.linspace(0, 1, 5), 19) is None
    assert lip_durations(list("ab"), np.zeros(20), 75) is None
