"""Streaming plumbing: a producer thread that samples ahead of a consumer, and streaming motion post-processing.

    for item in pipeline(sample_chunks, finish_chunk):   # sample_chunks() runs in a worker thread
        ...                                              # finish_chunk(x) runs here, in the caller's thread

The first chunk is sampled and finished in the caller's thread, alone: that output sets the time to
first audio, and there it runs on the OpenMP pool that thread already has, at full speed (a second
thread running torch ops slows small ops ~3x: infer/compute_thread.py). From the
first output on, a producer thread samples chunk k+1 while the consumer vocodes, renders and
encodes chunk k; it hands its items over a bounded queue (`depth` items, default 1), so it never
runs more than `depth` chunks ahead (memory stays flat). The producer runs in a copy of the caller's
`contextvars` context, so a `jamflow.progress.watch` callback set by the caller still sees every
step (called from the producer thread); a `Cancelled` it raises reaches the caller. When the
consumer stops early (the generator is closed, or raises), the producer is told to stop at its next
progress step and joined before the generator returns: no thread outlives the iteration.
"""
from __future__ import annotations

import contextvars
import queue
import threading
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

from jamflow.timeline import SAMPLES_PER_MOTION
from jamflow.motion.life import FaceLife
from jamflow.progress import Cancelled, listener, watch

_DONE = object()
FIRST_PIECE_FRAMES = 5  # the first piece a stream gives out (0.2 s): rendered in a few ms, so output starts soon


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


class _Stopped(Cancelled):
    """Raised inside the producer when the consumer has gone."""


def pipeline(produce: Callable[[], Iterable], finish: Callable[[object], Iterable], depth: int = 1) -> Iterator:
    """Yield from finish(item) for each item of produce(). The first item is produced here, in the
    caller's thread; from its first output on, a worker thread produces the rest one item ahead."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    ctx = contextvars.copy_context()
    caller = ctx.run(listener)
    source = iter(produce())

    def on_step(stage: str, done: int, total: int):
        if stop.is_set():
            raise _Stopped("consumer stopped")
        if caller is not None:
            caller(stage, done, total)

    def put(item) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def run():
        try:
            with watch(on_step):
                for item in source:
                    if not put(item):
                        return
            put(_DONE)
        except _Stopped:
            pass
        except BaseException as e:  # handed to the consumer, raised there
            put(_Failed(e))

    worker = threading.Thread(target=ctx.run, args=(run,), name="jamflow-sampler", daemon=True)

    def start_worker():
        if worker.ident is None:
            worker.start()

    try:
        first = next(source, _DONE)
        if first is _DONE:
            return
        for out in finish(first):
            start_worker()  # the first output is out: the next item may be sampled beside the rest
            yield out
        start_worker()
        while True:
            item = items.get()
            if item is _DONE:
                break
            if isinstance(item, _Failed):
                raise item.error
            yield from finish(item)
    finally:
        stop.set()
        while worker.is_alive():  # free a producer blocked on a full queue, then wait for it
            try:
                items.get(timeout=0.05)
            except queue.Empty:
                pass
        if worker.ident is not None:
            worker.join()
        closing(source)  # a producer stopped at a yield (or never started) is closed here, not when collected


def closing(iterator) -> None:
    """Close a generator now (stopping its pipeline's thread), rather than whenever it is collected."""
    close = getattr(iterator, "close", None)
    if close is not None:
        close()


def as_tuples(pieces) -> Iterator[tuple]:
    """Pieces -> (wav, motion) tuples; closing this closes the stream under it."""
    source = iter(pieces)
    try:
        for piece in source:
            yield piece.wav, piece.motion
    finally:
        closing(source)


@dataclass
class StreamPiece:
    """A final span of a streamed result, aligned on motion frames (25 fps)."""

    start: int  # index of its first motion frame in the whole result
    wav: np.ndarray | None  # [frames * 960] float32 at 24 kHz
    motion: np.ndarray | None  # [frames, 70] denormalised (post-processed for talk/animate)
    frames: list[np.ndarray] | None = None  # rendered video frames, each uint8 [H, W, 3]

    @property
    def length(self) -> int:
        if self.motion is not None:
            return len(self.motion)
        return 0 if self.wav is None else len(self.wav) // SAMPLES_PER_MOTION


class StreamingPostprocess:
    """`MotionCodec.postprocess` applied to motion that arrives in pieces, with the same result as on the
    whole: the Gaussian smoothings (edge-padded at both ends, one after the other) hold back the sum of
    their radii of frames until the frames after them are known; scaling is per frame."""

    def __init__(self, codec, sigma: float, head_scale: float, expression_scale: float, head_sigma: float = 0.0):
        import math

        # a head the spec does not generate is not smoothed: nothing to hold back for it
        self.codec, self.sigmas = codec, (sigma, head_sigma if codec.generates_turns else 0.0)
        self.scales = (head_scale, expression_scale)
        self.radius = sum(max(1, int(math.ceil(3 * s))) for s in self.sigmas if s > 0)
        self._raw: np.ndarray | None = None  # received frames not yet emitted, plus `radius` frames before them
        self._lead = 0  # how many of _raw's first rows are already-emitted context

    def add(self, motion: np.ndarray) -> np.ndarray:
        """Frames that are final now (possibly none) [k, 70]."""
        if self.radius == 0:
            return self._scale(motion)
        self._raw = motion if self._raw is None else np.concatenate([self._raw, motion])
        return self._emit(len(self._raw) - self.radius)

    def finish(self) -> np.ndarray:
        if self._raw is None:
            return np.zeros((0, 70), np.float32)
        return self._emit(len(self._raw), at_end=True)

    def _emit(self, end: int, at_end: bool = False) -> np.ndarray:
        raw, lead, r = self._raw, self._lead, self.radius
        if end <= lead:
            return raw[:0]
        # raw starts either at the true start (edge padding as on the whole) or `radius` frames before
        # the first frame to emit, so no emitted frame sees padding the whole sequence would not have
        out = self._process(raw if at_end else raw[: end + r])[lead:end]
        keep = max(0, end - r)
        self._raw, self._lead = raw[keep:], end - keep
        return out

    def _process(self, motion: np.ndarray) -> np.ndarray:
        head, expression = self.scales
        sigma, head_sigma = self.sigmas
        return self.codec.postprocess(motion, sigma, head, expression, head_sigma)

    def _scale(self, motion: np.ndarray) -> np.ndarray:
        head, expression = self.scales
        return self.codec.postprocess(motion, 0.0, head, expression)


def finish_pieces(engine, pieces, s, renderer=None, piece_frames: int = 25, face_life: bool = False,
                  first_piece_frames: int = FIRST_PIECE_FRAMES) -> Iterator[StreamPiece]:
    """Pieces (wav, motion) of a stream -> StreamPieces of at most `piece_frames` frames (the very first of
    at most `first_piece_frames`, so that it is rendered and out soon), the motion post-processed as the
    non-streamed call does it (face life included when `face_life`), and rendered when a renderer is given."""
    from jamflow.render.stream_video import render_piece

    post = StreamingPostprocess(engine.codec, s.motion_smoothing, s.head_scale, s.expression_scale, s.head_smoothing)
    life = FaceLife(s.seed) if face_life and s.face_life > 0 else None
    wav_buf, start, anchor = np.zeros(0, np.float32), 0, None

    def split(motion: np.ndarray, last: bool):
        nonlocal wav_buf, start, anchor
        i = 0
        while i < len(motion):
            size = first_piece_frames if start == 0 else piece_frames
            part = motion[i: i + size]
            i += size
            end_of_all = last and i >= len(motion)
            n_wav = len(wav_buf) if end_of_all else len(part) * SAMPLES_PER_MOTION
            wav, wav_buf = wav_buf[:n_wav], wav_buf[n_wav:]
            if life is not None:
                part = engine.codec.add_life(part, wav, life, s.face_life, s.head_scale, s.expression_scale)
            anchor = part[0] if anchor is None else anchor
            frames = render_piece(renderer, part, anchor) if renderer is not None else None
            yield StreamPiece(start, wav, part, frames)
            start += len(part)

    source = iter(pieces)
    try:
        for piece in source:
            wav_buf = np.concatenate([wav_buf, piece.wav])
            yield from split(post.add(piece.motion), last=False)
    finally:
        closing(source)
    rest = post.finish()
    if len(rest) or len(wav_buf):
        tail = StreamPiece(start, wav_buf, rest[:0], [] if renderer is not None else None)  # audio past the last frame
        yield from split(rest, last=True) if len(rest) else iter([tail])
