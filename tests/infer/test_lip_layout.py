"""Dub's text layout from the given lips: vowels land where the mouth is open, lengths lean on the table."""
import numpy as np

from jamflow.infer.layout import lip_durations, segment_viterbi
from jamflow.model.durations import table_durations

TOKENS = list("bab ma")  # b a b (space) m a
IDS = [0, 1, 0, 2, 3, 1]
TABLE = {"frames_per_token": [7.5, 7.5, 1.0, 7.5], "lead_frames": 4.0, "trail_frames": 4.0}


def test_vowels_land_on_the_open_mouth_and_frames_add_up():
    aperture = np.array([0.0] * 5 + [0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0] + [0.0] * 5)  # [21]
    d = lip_durations(TOKENS, IDS, aperture, 84, TABLE)
    assert d is not None and d.sum() == 84 and len(d) == len(TOKENS) + 2
    starts = np.concatenate([[0], np.cumsum(d)]) * 21 / 84  # state start in motion frames
    first_a, second_a = starts[2], starts[6]  # states: lead, b, a, b, ' ', m, a, trail
    assert 6 <= first_a <= 8 and 11 <= second_a <= 13, d


def test_gives_up_when_the_phones_do_not_fit_or_nothing_moves():
    assert lip_durations(list("abcdefgh"), [0] * 8, np.linspace(0, 1, 5), 19, TABLE) is None
    assert lip_durations(list("ab"), [0, 1], np.zeros(20), 75, TABLE) is None


def test_segments_follow_strong_evidence_whatever_the_prior():
    truth = np.array([2, 0, 9, 3, 6])
    path = np.repeat(np.arange(5), truth)
    loglik = np.full((len(path), 5), -20.0)
    loglik[np.arange(len(path)), path] = 0.0
    skippable = np.array([True, True, False, False, True])
    assert segment_viterbi(loglik, np.full(5, 4.0), skippable).tolist() == truth.tolist()


def test_without_evidence_lengths_follow_the_expected_ones():
    expected = np.array([2.0, 10.0, 4.0, 14.0])
    counts = segment_viterbi(np.zeros((30, 4)), expected, np.array([True, False, False, True]))
    assert counts.sum() == 30 and (counts[1:3] >= 1).all()
    assert np.abs(counts - expected).max() <= 2, counts
    # the same layout with uninformative lips: the long token gets the long segment
    flat = segment_viterbi(np.zeros((30, 4)), expected[[0, 2, 1, 3]], np.array([True, False, False, True]))
    assert flat[1] < flat[2]


def test_predicted_durations_replace_the_table_as_the_prior():
    aperture = np.random.default_rng(0).uniform(0.4, 0.6, 21)  # lips that say little: the prior decides
    table_layout = lip_durations(TOKENS, IDS, aperture, 84, TABLE)
    weights = np.array([1.0, 1.0, 1.0, 0.0, 1.0, 12.0])  # the last vowel predicted long
    predicted = lip_durations(TOKENS, IDS, aperture, 84, TABLE, weights)
    assert predicted.sum() == 84 and predicted[6] > 2 * table_layout[6], (predicted, table_layout)


def test_a_tighter_prior_holds_the_segments_nearer_the_expected_lengths():
    expected = np.array([2.0, 10.0, 10.0, 2.0])
    loglik = np.zeros((24, 4))
    loglik[:16, 1] = 0.3  # the lips ask for a long first phone
    loglik[16:, 2] = 0.3
    skippable = np.array([True, False, False, True])
    loose = segment_viterbi(loglik, expected, skippable, sigma=0.8)
    tight = segment_viterbi(loglik, expected, skippable, sigma=0.1)
    assert loose[1] > tight[1] and abs(tight[1] - tight[2]) < abs(loose[1] - loose[2]), (loose, tight)


def test_boundaries_land_within_a_mel_frame_of_where_the_lips_change():
    # lips drawn from a known layout (open on /a/, shut on /b m/ and the silences), each motion frame
    # the mean over the mel frames it covers: a 25 fps layout rounds boundaries to 3.75 mel frames
    level = {"b": 0.0, "m": 0.0, "a": 1.0, " ": 0.0}
    for weights in ([5.0, 9.0, 3.0, 0.0, 7.0, 11.0], [3.0, 10.0, 5.0, 0.0, 6.0, 9.0]):
        for n in (84, 90, 101):
            truth = table_durations(IDS, n, TABLE, weights=np.array(weights))  # [8] mel frames
            per_mel = np.repeat([0.0] + [level[t] for t in TOKENS] + [0.0], truth)
            edges = np.linspace(0, n, round(n / 3.75) + 1).astype(int)
            aperture = np.array([per_mel[a:max(a + 1, b)].mean() for a, b in zip(edges[:-1], edges[1:])])
            d = lip_durations(TOKENS, IDS, aperture, n, TABLE, np.array(weights))
            assert d.sum() == n and np.abs(np.cumsum(d) - np.cumsum(truth)).max() <= 1, (n, d, truth)


def test_a_pause_inside_the_text_is_bounded_but_the_ends_are_not():
    loglik = np.full((40, 5), -1.0)
    loglik[:, 2] = 0.0  # everything asks for the middle pause
    skippable = np.array([True, False, True, False, True])
    longest = np.array([40, 0, 6, 0, 40])
    counts = segment_viterbi(loglik, np.full(5, 4.0), skippable, longest=longest)
    assert counts.sum() == 40 and counts[2] == 6 and counts[1] >= 1 and counts[3] >= 1, counts
    assert segment_viterbi(loglik, np.full(5, 4.0), skippable)[2] > 6
