"""Long inputs: motion windows, and joining pieces at seams (text chunks: `infer/layout`).

Everything is measured in motion frames (25 fps): a piece of m frames holds m * 960 audio samples
and floor(3.75 m + 1/2) mel frames, so audio and motion seams always fall at the same instant.

Joining: consecutive pieces overlap by `overlap` frames. Over the overlap the audio is
cross-faded (linear weights, with a gain that keeps the energy when the two renderings' phases
differ: `join_audio`) and the motion blended linearly with the same weights. The `Stitcher` keeps only the
overlap tail in memory and hands finished audio/motion out as soon as it is final, so a caller can
stream it to disk; cost is linear in length.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from jamflow.timeline import MOTION_FPS, SAMPLES_PER_MOTION
from jamflow.motion.smoothing import gaussian_smooth


def seconds_to_frames(seconds: float) -> int:
    return int(round(seconds * MOTION_FPS))


def plan_windows(total: int, window: int, overlap: int) -> list[tuple[int, int]]:
    """Cover [0, total) with windows of at most `window` frames; window k>0 starts `overlap` frames
    before the previous one ends. The last window is shifted left to be full length when possible
    (more known context), so it may overlap more than `overlap`.
    """
    if total <= 0:
        return []
    if total <= window:
        return [(0, total)]
    assert 0 <= overlap < window
    spans, start = [], 0
    while True:
        end = min(start + window, total)
        spans.append((start, end))
        if end == total:
            break
        start = end - overlap
    return spans


def crossfade_weights(n: int) -> np.ndarray:
    """Linear fade-in weights for the incoming piece, strictly inside (0, 1)."""
    return (np.arange(n, dtype=np.float32) + 1) / (n + 1)


def join_overlap(a: np.ndarray, b: np.ndarray, overlap: int) -> np.ndarray:
    """Join along axis 0: the last `overlap` rows of a are blended into the first `overlap` rows of b."""
    overlap = min(overlap, len(a), len(b))
    if overlap == 0:
        return np.concatenate([a, b])
    w = crossfade_weights(overlap).reshape((-1,) + (1,) * (a.ndim - 1))
    mid = a[len(a) - overlap:] * (1 - w) + b[:overlap] * w
    return np.concatenate([a[: len(a) - overlap], mid.astype(a.dtype), b[overlap:]])


def join_audio(a: np.ndarray, b: np.ndarray, overlap: int) -> np.ndarray:
    """`join_overlap` for audio, with a gain that keeps the energy over the cross-fade: both sides are
    renderings of the same mel, so with a deterministic vocoder (Vocos) they are nearly the same wave
    (correlation ~1: the plain linear fade), while Griffin-Lim draws new phases per call (correlation
    ~0: a linear fade would dip by up to 3 dB mid-seam; the gain makes it an equal-power fade)."""
    overlap = min(overlap, len(a), len(b))
    if overlap == 0:
        return np.concatenate([a, b])
    x, y = a[len(a) - overlap:].astype(np.float64), b[:overlap].astype(np.float64)
    rho = float(np.clip(np.dot(x, y) / (np.sqrt(np.dot(x, x) * np.dot(y, y)) + 1e-12), 0.0, 1.0))
    w = crossfade_weights(overlap).astype(np.float64)
    gain = 1.0 / np.sqrt((1 - w) ** 2 + w ** 2 + 2 * w * (1 - w) * rho)
    mid = (x * (1 - w) + y * w) * gain
    return np.concatenate([a[: len(a) - overlap], mid.astype(a.dtype), b[overlap:]])


@dataclass
class Piece:
    """Generated audio [frames * 960] and motion [frames, 70], aligned on motion frames: a span of a
    stream, or a task's whole output (then with how it was made)."""

    wav: np.ndarray | None  # [s]
    motion: np.ndarray | None  # [m, 70] denormalised
    chunks: int = 1  # sampler calls the task was split into
    seams: tuple[int, ...] = ()  # motion frames where joined pieces' blends ended
    motion_given: bool = False  # True: motion is the user's, returned unchanged (no post-processing)

    @property
    def frames(self) -> int:
        return len(self.wav) // SAMPLES_PER_MOTION


@dataclass
class Stitcher:
    """Joins pieces that overlap by whole motion frames; emits the part that can no longer change.

    add(piece, overlap) returns a Piece that is final; finish() returns the held tail.
    `seams` records (frame index in the output) where each joined piece's blend ended.
    """

    hold: int  # frames kept back for the next cross-fade
    smooth: int = 0  # motion seam smoothing radius in frames (capped at `hold`: emitted frames never change)
    _tail: Piece | None = None
    emitted_frames: int = 0
    seams: list[int] = field(default_factory=list)

    def add(self, piece: Piece, overlap: int) -> Piece | None:
        if self._tail is None:
            joined = piece
        else:
            ov = min(overlap, self._tail.frames, piece.frames)
            wav = join_audio(self._tail.wav, piece.wav, ov * SAMPLES_PER_MOTION)
            motion = None
            if piece.motion is not None and self._tail.motion is not None:
                motion = join_overlap(self._tail.motion, piece.motion, ov)
            if motion is not None and self.smooth > 0:
                motion = smooth_seams(motion, [self._tail.frames], min(self.smooth, self.hold))
            joined = Piece(wav, motion)
            self.seams.append(self.emitted_frames + self._tail.frames)
        keep = min(self.hold, joined.frames)
        cut = joined.frames - keep
        self._tail = _slice(joined, cut, joined.frames)
        if cut == 0:
            return None
        self.emitted_frames += cut
        return _slice(joined, 0, cut)

    def finish(self) -> Piece | None:
        tail, self._tail = self._tail, None
        if tail is not None:
            self.emitted_frames += tail.frames
        return tail


def _slice(piece: Piece, start: int, end: int) -> Piece:
    wav = piece.wav[start * SAMPLES_PER_MOTION: end * SAMPLES_PER_MOTION]
    motion = None if piece.motion is None else piece.motion[start:end]
    return Piece(wav, motion)


def concat_pieces(pieces: list[Piece]) -> Piece:
    pieces = [p for p in pieces if p is not None]
    wav = np.concatenate([p.wav for p in pieces]) if pieces else np.zeros(0, np.float32)
    motions = [p.motion for p in pieces if p.motion is not None]
    motion = np.concatenate(motions) if motions and len(motions) == len(pieces) else None
    return Piece(wav, motion)


# --------------------------------------------------------------------------------------------
# motion post-processing


def smooth_seams(motion: np.ndarray, seams: list[int], radius: int) -> np.ndarray:
    """Soften the motion around each seam: a Gaussian-smoothed copy is mixed in with a weight that
    is 1 at the seam and falls to 0 `radius` frames away, leaving the rest untouched."""
    if radius <= 0 or not seams or len(motion) < 3:
        return motion
    smooth = gaussian_smooth(motion, sigma=radius / 2)
    weight = np.zeros(len(motion), np.float32)
    t = np.arange(len(motion))
    for s in seams:
        weight = np.maximum(weight, np.clip(1 - np.abs(t - s) / radius, 0, 1))
    w = weight[:, None]
    return (motion * (1 - w) + smooth * w).astype(motion.dtype)
