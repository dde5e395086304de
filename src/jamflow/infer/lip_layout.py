"""Dub: lay the new text out over the given lip motion instead of the mean-duration table.

A model that lays its text out by durations follows that layout, so dub must take its phoneme
timing from the mouth it is given. The mouth aperture (eval.sync.mouth_aperture, scaled so that closed ~ -1 and open ~ +1) is
force-aligned at 25 fps to the text's chain silence - tokens - silence with the same Viterbi as
`jamflow align`: vowels expect an open mouth, /p b m/ a closed one, silences a closed one, other
phones anything in between; marks and punctuation may take no frames.
"""
from __future__ import annotations

import numpy as np

from jamflow.data.align import is_phone, viterbi

VOWELS = set("iyɨʉɯuɪʏʊeøɘɵɤoəɛœɜɞʌɔæɐaɶɑɒɚɝᵻ")
CLOSED = set("pbmɸβ")
TARGET = {"vowel": 1.0, "closed": -1.2, "other": 0.0, "silence": -1.0}


def lip_durations(tokens: list[str], aperture: np.ndarray, mel_frames: int) -> np.ndarray | None:
    """-> durations [nt + 2] in mel frames summing to mel_frames, or None when the phones do not fit.

    tokens: the new text's token strings; aperture [T] per motion frame (T * 3.75 ~ mel_frames).
    """
    a = np.asarray(aperture, dtype=np.float64)
    lo, hi = np.percentile(a, [5, 95]) if len(a) else (0.0, 0.0)
    if len(a) < 2 or hi - lo < 1e-9:
        return None
    z = 2 * (a - lo) / (hi - lo) - 1  # closed ~ -1, open ~ +1
    kinds = ["silence"] + [_kind(t) for t in tokens] + ["silence"]
    target = np.array([TARGET[k] if k != "mark" else 0.0 for k in kinds])
    skippable = np.array([k in ("silence", "mark") for k in kinds])
    if (~skippable).sum() > len(z):
        return None
    loglik = -0.5 * (z[:, None] - target[None, :]) ** 2
    path = viterbi(loglik, skippable)
    motion_counts = np.bincount(path, minlength=len(kinds))
    # motion-frame boundaries -> mel-frame boundaries, the remainder to the trailing silence
    edges = np.round(np.cumsum(motion_counts) * mel_frames / len(z)).astype(np.int64)
    edges[-1] = mel_frames
    return np.diff(np.concatenate([[0], edges]))


def _kind(token: str) -> str:
    if not is_phone(token):
        return "mark"
    if token in VOWELS:
        return "vowel"
    return "closed" if token in CLOSED else "other"
