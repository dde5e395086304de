import numpy as np

from jamflow.data.timing_transfer import dtw_path, transfer_phones

SR = 24000
PITCHES = {"a": 180.0, "b": 420.0, "c": 260.0, "d": 650.0}


def _utterance(durations: dict[str, float], order="abcd", gap=0.0):
    """Segments of distinct harmonic sounds ("phones") with known boundaries; gap: leading silence."""
    parts, phones, t = [np.zeros(int(gap * SR), np.float32)], [("sil", 0.0, gap)] if gap else [], gap
    for p in order:
        n = int(durations[p] * SR)
        k = np.arange(n) / SR
        parts.append(sum(np.sin(2 * np.pi * PITCHES[p] * h * k) / h for h in (1, 2, 3)).astype(np.float32) * 0.1)
        phones.append((p, t, t + n / SR))
        t += n / SR
    return np.concatenate(parts), phones


def test_dtw_path_is_monotonic_and_spans_both_sequences():
    a = np.random.default_rng(0).normal(size=(30, 4))
    b = np.repeat(a, 2, axis=0)  # b is a at half speed
    path = dtw_path(a, b)
    assert tuple(path[0]) == (0, 0) and tuple(path[-1]) == (29, 59)
    assert (np.diff(path, axis=0) >= 0).all() and (np.diff(path, axis=0).sum(1) >= 1).all()
    assert np.abs(path[:, 1] // 2 - path[:, 0]).max() <= 1


def test_timings_follow_a_differently_paced_utterance():
    ref, ref_phones = _utterance({"a": 0.3, "b": 0.2, "c": 0.4, "d": 0.25}, gap=0.1)
    target, truth = _utterance({"a": 0.2, "b": 0.45, "c": 0.25, "d": 0.3}, gap=0.35)
    out = transfer_phones(ref, ref_phones, target)
    assert [p for p, _, _ in out] == [p for p, _, _ in truth]
    assert out[0][1] == 0.0 and abs(out[-1][2] - len(target) / SR) < 1e-9
    assert all(s1 == e0 for (_, _, e0), (_, s1, _) in zip(out, out[1:]))  # contiguous
    errors = [abs(o[1] - t[1]) for o, t in zip(out[1:], truth[1:])]
    assert max(errors) < 0.03  # within a 25 fps motion frame


def test_transfer_onto_itself_is_exact_to_a_mel_frame():
    wav, phones = _utterance({"a": 0.2, "b": 0.3, "c": 0.2, "d": 0.2})
    out = transfer_phones(wav, phones, wav)
    assert max(abs(o[1] - p[1]) for o, p in zip(out, phones)) <= 1 / 93.75 + 1e-9
