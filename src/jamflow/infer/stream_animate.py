"""Audio -> motion of any length in overlapping windows, streamed: a worker thread samples window k+1
while the caller renders the final frames of window k.

Window k (`longform.plan_windows`) starts `window_overlap_s` before window k-1 ends; those frames are
known (window k-1's output), the rest are generated, so the generated spans cover every frame
exactly once. The seams (where a window's generated frames begin) are softened with
`longform.smooth_seams` (radius SEAM_RADIUS). A frame is final once no later seam reaches it and its
smoothing neighbourhood is generated: `HOLD` frames before the end of the latest window. Only
that tail and the [frames, dg] motion are kept; the result equals smoothing the whole motion at once.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from tqdm import tqdm

from jamflow.errors import UserError
from jamflow.infer.jobs import Job
from jamflow.infer.layout import aligned_durations
from jamflow.infer.longform import Piece, plan_windows, smooth_seams
from jamflow.infer.prompt import clean_text, grid
from jamflow.infer.settings import InferSettings
from jamflow.timeline import MOTION_FPS
from jamflow.progress import report

SEAM_RADIUS = 4  # frames either side of a seam that are softened
HOLD = SEAM_RADIUS + int(math.ceil(3 * SEAM_RADIUS / 2))  # + the Gaussian's reach (sigma = radius / 2)


def window_spans(total: int, s: InferSettings) -> list[tuple[int, int]]:
    """[(start, end)] motion-frame windows over a grid-padded timeline of `total` frames."""
    window = grid(s.window_s * MOTION_FPS)
    overlap = min(grid(s.window_overlap_s * MOTION_FPS), window // 2) if s.window_overlap_s > 0 else 0
    return plan_windows(grid(total), window, overlap)


def generated_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The frames each window generates (the rest of it is carried over from the previous window)."""
    return [(a if k == 0 else max(a, spans[k - 1][1]), b) for k, (a, b) in enumerate(spans)]


class AnimateStream:
    """Iterate final Pieces (the input audio's slice, motion [k, 70]) of an animate job; `seams` once done."""

    def __init__(self, engine, wav: np.ndarray, text: str | None, context_motion: np.ndarray | None,
                 s: InferSettings):
        self.spm = engine.timeline.samples_per_motion
        self.total = int(math.ceil(len(wav) / self.spm))  # frames = audio seconds * motion fps
        if self.total < 1:
            raise UserError("audio: expected at least 40 ms of audio, got less")
        self.engine, self.wav, self.s = engine, wav.astype(np.float32), s
        self.text = clean_text(text, "text") if text else ""
        self.spans = window_spans(self.total, s)
        self.chunks = len(self.spans)
        self.seams: list[int] = []
        self.context = engine.codec.context_for(context_motion, grid(self.total))  # [grid(total), dc] normalised

    def __iter__(self):
        from jamflow.infer.stream import pipeline

        self._buffer, self._buffer_start, self._emitted = np.zeros((0, 70), np.float32), 0, 0
        return pipeline(self.sample, self.finish)

    def sample(self):
        """Sampling side: per window (index, first generated frame, end, generated motion [f, dg])."""
        from jamflow.audio.mel import recording_mel

        engine, s, spans = self.engine, self.s, self.spans
        padded = np.pad(self.wav, (0, grid(self.total) * self.spm - len(self.wav)))
        gen = torch.zeros(grid(self.total), engine.codec.spec.gen_dim)
        for k, (a, b) in enumerate(tqdm(spans, desc="windows", unit="win", disable=not engine.progress or len(spans) < 2)):
            seg = torch.as_tensor(padded[a * self.spm: b * self.spm])
            mel = recording_mel(seg[None])[0].T  # [n', 100]
            known = 0 if k == 0 else spans[k - 1][1] - a  # frames carried over from the previous window
            job = self.window_job(self.text if len(spans) == 1 else "", mel, gen[a:b].clone(), known, self.context[a:b])
            res = engine.sample([job], s)[0]
            gen[a + known: b] = res.motion[known:]
            report("windows", k + 1, len(spans))
            yield k, a + known, b, res.motion[known:].clone()

    def window_job(self, text: str, mel: torch.Tensor, motion: torch.Tensor, known: int, context: torch.Tensor) -> Job:
        """A window's job: its transcript laid out where the audio speaks it (the model's phone aligner).
        A model that lays text out by durations but cannot place it here animates from the audio alone:
        a guessed layout moves the lips off the voice (docs/inference.md)."""
        job = Job.for_window(text, mel, motion, known, context)
        model = self.engine.model
        if not text or model.cfg.audio.text_durations is None:
            return job
        job.last_durations = aligned_durations(model, self.engine.tokenizer.encode(text), job.mel)
        if job.last_durations is None:
            job = Job.for_window("", mel, motion, known, context)
        return job

    def finish(self, window):
        """Output side: denormalise, soften the seams, and yield the frames no later window can change."""
        k, a, b, motion = window
        last = k == len(self.spans) - 1
        if k > 0:
            self.seams.append(a)
        end = self.total if last else min(b, self.total)
        fresh = self.engine.codec.denormalize(motion, self.context[a:b])[: max(0, end - a)]
        self._buffer = np.concatenate([self._buffer, fresh])
        final = end if last else max(self._emitted, b - HOLD)
        if final <= self._emitted:
            return
        lo = self._buffer_start
        seams = [x - lo for x in self.seams]
        smoothed = smooth_seams(self._buffer, seams, radius=SEAM_RADIUS)
        out = smoothed[self._emitted - lo: final - lo]
        wav_end = len(self.wav) if last else final * self.spm
        piece = Piece(self.wav[self._emitted * self.spm: wav_end], out)
        keep_from = max(lo, final - HOLD)  # context for the smoothing of the frames still to come
        self._buffer, self._buffer_start, self._emitted = self._buffer[keep_from - lo:], keep_from, final
        yield piece
