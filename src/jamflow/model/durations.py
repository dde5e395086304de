"""Text layout by durations: which token each mel frame shows.

A text index [b, n] holds, for every mel frame, the position of the token it shows in the text
[b, nt], or -1 (silence, padding: no token, zero text features). TextEmbedding gathers its token
features with it. Training takes the durations `jamflow align` found; inference spreads a text over
its frames in proportion to the per-token mean durations (the table stored in the model config as
`audio.text_durations`) or, when the model has one, to the durations its predictor gives those tokens
in their context (jamflow.model.duration_predictor), after a leading and trailing silence of the
table's mean length.
"""
from __future__ import annotations

import numpy as np
import torch

from jamflow.errors import UserError

TABLE_KEYS = ("frames_per_token", "lead_frames", "trail_frames")


def check_table(table, vocab: int, mask_padding: bool) -> None:
    if not isinstance(table, dict) or any(k not in table for k in TABLE_KEYS):
        raise UserError(f"audio.text_durations: expected a dict with keys {list(TABLE_KEYS)}, got {table!r:.80}")
    per = table["frames_per_token"]
    if not isinstance(per, list) or not 0 < len(per) <= vocab or any(not (isinstance(x, (int, float)) and x > 0) for x in per):
        raise UserError(f"audio.text_durations.frames_per_token: expected up to {vocab} positive numbers (one per token id)")
    if not mask_padding:
        raise UserError("audio.text_durations: requires text_mask_padding=True (token-level text encoder)")


def index_from_durations(durations, n: int) -> torch.Tensor:
    """durations [nt + 2] (lead silence, one per token, trail silence) -> text index [n] (-1 = none).

    Frames past the durations' sum are -1; durations longer than n are cut.
    """
    d = torch.as_tensor(np.asarray(durations), dtype=torch.long)
    tokens = torch.arange(-1, len(d) - 1)
    tokens[-1] = -1  # trail silence
    index = torch.repeat_interleave(tokens, d.clamp(min=0))[:n]
    return torch.cat([index, index.new_full((n - len(index),), -1)])


def even_index(nt: int, n: int) -> torch.Tensor:
    """Average upsampling as an index [n]: token j of nt covers n // nt frames, the last n % nt one more."""
    if nt == 0:
        return torch.full((n,), -1, dtype=torch.long)
    base, extra = divmod(n, nt)
    repeats = torch.full((nt,), base, dtype=torch.long)
    if extra:
        repeats[nt - extra:] += 1
    return torch.repeat_interleave(torch.arange(nt), repeats)


def spread(weights: np.ndarray, frames: int) -> np.ndarray:
    """Integer frames in proportion to weights, summing to `frames` (cumulative rounding)."""
    if frames <= 0 or len(weights) == 0:
        return np.zeros(len(weights), dtype=np.int64)
    edges = np.round(np.cumsum(weights) / weights.sum() * frames).astype(np.int64)
    return np.diff(np.concatenate([[0], edges]))


def table_durations(tokens, frames: int, table: dict, lead: bool = True, trail: bool = True,
                    weights=None) -> np.ndarray:
    """Durations [nt + 2] for token ids spoken over `frames` mel frames, from the mean-duration table.

    Silences take the table's mean lead/trail frames (at most a quarter of `frames` together); the
    rest goes to the tokens in proportion to their mean durations, or to `weights` [nt] (predicted
    frames per token) when given.
    """
    per = np.asarray(table["frames_per_token"], dtype=np.float64)
    ids = np.asarray(tokens, dtype=np.int64)
    if len(ids) and (ids.min() < 0 or ids.max() >= len(per)):
        raise UserError(f"text: expected token ids in [0, {len(per)}), got {int(ids.min())}..{int(ids.max())}")
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != ids.shape or not np.isfinite(weights).all() or weights.sum() <= 0:
            weights = None  # nothing usable predicted: the table decides
    per_token = per[ids] if weights is None else weights
    sil = np.array([table["lead_frames"] if lead else 0.0, table["trail_frames"] if trail else 0.0])
    if sil.sum() > frames / 4:
        sil = sil * (frames / 4) / sil.sum()
    sil = np.floor(sil).astype(np.int64)
    speech = frames - int(sil.sum())
    if len(ids) == 0:
        return np.array([frames, 0], dtype=np.int64)
    return np.concatenate([[sil[0]], spread(per_token, speech), [sil[1]]])


def text_index_for(table: dict, parts: list[tuple], n: int) -> torch.Tensor:
    """Text index [n] for a text in consecutive parts (reference text, then the new text, ...).

    parts: (token ids of the part, mel frames the part spans, leading silence?, trailing silence?[,
    durations[, weights]]); a part's durations [nt + 2] (known from elsewhere, e.g. dub's lips) replace
    the table's; its weights [nt] (predicted frames per token) replace the table's per-token means.
    Token positions run on over the parts, as in the concatenated token sequence. Frames after the
    last part are -1.
    """
    pieces, offset = [], 0
    for ids, frames, lead, trail, *extra in parts:
        given, weights = (list(extra) + [None, None])[:2]
        d = given if given is not None else table_durations(ids, frames, table, lead, trail, weights)
        local = index_from_durations(d, int(d.sum()))
        pieces.append(torch.where(local >= 0, local + offset, local))
        offset += len(ids)
    index = torch.cat(pieces) if pieces else torch.zeros(0, dtype=torch.long)
    index = index[:n]
    return torch.cat([index, index.new_full((n - len(index),), -1)])
