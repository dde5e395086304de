"""Phone timings for a voice that reports none, carried over from one that does.

    phones = transfer_phones(ref.wav, ref.phones, target_wav)   # ref: festival / espeak Speech of the same text

Two voices saying the same text pass through the same phones in the same order, at different speeds.
Dynamic time warping between their log-mel frames (each band normalised over the utterance, so voice
and level matter less than what changes over time) gives the monotonic map between their time axes;
each reference phone boundary is carried through it. The result covers the target exactly, as
`speech_engines.tidy_phones` requires. Accuracy against true timings: `benchmarks/bench_augment.py
--transfer` (docs/corpus.md).
"""
from __future__ import annotations

import numpy as np
import torch

from jamflow.audio.mel import mel_spectrogram
from jamflow.timeline import MEL_FPS, SAMPLE_RATE

DELTA_WEIGHT = 1.0  # frame-to-frame change counts as much as the spectrum itself


def features(wav: np.ndarray) -> np.ndarray:
    """24 kHz float32 [samples] -> [frames, 200]: normalised log-mel and its time difference."""
    mel = mel_spectrogram(torch.from_numpy(np.asarray(wav, np.float32))[None])[0].T.numpy()  # [frames, 100]
    mel = (mel - mel.mean(0)) / (mel.std(0) + 1e-3)
    delta = np.gradient(mel, axis=0)
    return np.concatenate([mel, DELTA_WEIGHT * delta], axis=1)


def dtw_path(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Frames a [n, d] and b [m, d] -> path [k, 2] of (i, j) pairs from (0, 0) to (n-1, m-1), steps
    (1,0) (0,1) (1,1), minimising the summed Euclidean distance."""
    n, m = len(a), len(b)
    cost = np.sqrt(np.maximum(((a ** 2).sum(1)[:, None] + (b ** 2).sum(1)[None] - 2 * a @ b.T), 0))  # [n, m]
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):  # one row at a time; the within-row dependency is a running minimum
        diag_up = np.minimum(acc[i - 1, :-1], acc[i - 1, 1:]) + cost[i - 1]  # from (i-1, j-1) or (i-1, j)
        row = acc[i]
        for j in range(1, m + 1):
            row[j] = min(diag_up[j - 1], row[j - 1] + cost[i - 1, j - 1])
    return _backtrack(acc)


def _backtrack(acc: np.ndarray) -> np.ndarray:
    i, j = acc.shape[0] - 1, acc.shape[1] - 1
    path = [(i - 1, j - 1)]
    while (i, j) != (1, 1):
        steps = [(acc[i - 1, j - 1], i - 1, j - 1), (acc[i - 1, j], i - 1, j), (acc[i, j - 1], i, j - 1)]
        _, i, j = min((s for s in steps if s[1] >= 1 and s[2] >= 1), key=lambda s: s[0])
        path.append((i - 1, j - 1))
    return np.array(path[::-1])


def transfer_phones(ref_wav: np.ndarray, ref_phones: list[tuple[str, float, float]],
                    target_wav: np.ndarray) -> list[tuple[str, float, float]]:
    """Reference timings (phone, start_s, end_s) -> the same phones timed on target_wav (24 kHz)."""
    path = dtw_path(features(ref_wav), features(target_wav))
    ref_t, target_t = path[:, 0] / MEL_FPS, path[:, 1] / MEL_FPS
    duration = len(target_wav) / SAMPLE_RATE
    # average the target times that a reference instant maps to (a flat stretch of the path)
    uniq, first = np.unique(ref_t, return_index=True)
    mean_target = np.add.reduceat(target_t, first) / np.diff(np.append(first, len(target_t)))
    bounds = [start for _, start, _ in ref_phones[1:]]
    mapped = np.clip(np.interp(bounds, uniq, mean_target), 0, duration)
    mapped = np.maximum.accumulate(mapped)
    starts = np.concatenate([[0.0], mapped])
    ends = np.concatenate([mapped, [duration]])
    return [(p, float(s), float(e)) for (p, _, _), s, e in zip(ref_phones, starts, ends)]
