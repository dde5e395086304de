"""Every task is one masked-inpainting problem on a shared timeline: a `Job` says what is known.

A job is a timeline of m motion frames (n = timeline.mel_frames_for(m) mel frames) with, per stream,
what is known (condition) and what is to be generated:

    task       audio known               motion known                         constructor
    tts/talk   reference prefix          reference prefix (if any)            Job.continuing
    animate    everything                carried-over window prefix (if any)  Job.for_window
    dub        reference or tail prefix  given motion (+ tail prefix)         Job.for_dub
    edit       outside the chosen spans  outside the chosen spans             Job.for_edit

Motion is normalised (`MotionCodec`): generated channels [m, dg], context channels [m, dc]. A model
without a motion stream gets jobs without motion (`dims` = (0, 0)).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from jamflow.timeline import mel_frames_for


@dataclass
class Job:
    text: str  # transcript of the whole timeline (prompt text + new text); "" = no text
    frames: int  # m motion frames
    mel: torch.Tensor  # [n, 100] known log-mel (zeros where unknown)
    audio_known: torch.Tensor  # [n] bool
    motion: torch.Tensor | None  # [m, dg] normalised known motion (zeros where unknown)
    motion_known: torch.Tensor | None  # [m] bool
    context: torch.Tensor | None  # [m, dc] normalised context channels
    # (text, mel frames) of consecutive parts of the timeline, e.g. the prompt then the new text: a
    # model that lays text out by durations places each part's phonemes in its own frames.
    # None = the whole text over the whole timeline.
    parts: tuple[tuple[str, int], ...] | None = None
    # durations [nt + 2] (lead silence, per token, trail silence; mel frames) of the last part, when
    # known from elsewhere (dub: the given lips), instead of the model's own layout
    last_durations: np.ndarray | None = None

    @property
    def mel_len(self) -> int:
        return mel_frames_for(self.frames)

    @classmethod
    def continuing(cls, prompt, text: str, gen_frames: int, context: torch.Tensor | None,
                   dims: tuple[int, int]) -> "Job":
        """tts/talk: the prompt (known audio, and motion if any) followed by `gen_frames` to generate;
        `context` [gen_frames, dc] for the generated frames (None: neutral)."""
        gen_dim, context_dim = dims
        if gen_dim and context is None:
            context = torch.zeros(gen_frames, context_dim)
        sep = " " if prompt.text and not prompt.text.endswith(" ") else ""
        known = prompt.frames > 0
        return build(
            prompt.text + sep + text, prompt.frames + gen_frames,
            mel=prompt.mel if known else None,
            audio_known=torch.ones(mel_frames_for(prompt.frames), dtype=torch.bool) if known else None,
            motion=prompt.motion,
            motion_known=torch.ones(prompt.frames, dtype=torch.bool) if prompt.motion is not None else None,
            context=torch.cat([prompt.context, context]) if gen_dim and known else context,
            dims=dims, prompt=(prompt.text, prompt.frames))

    @classmethod
    def for_dub(cls, prompt, text: str, gen_frames: int, motion: torch.Tensor, context: torch.Tensor,
                given: int) -> "Job":
        """dub: the prompt's voice, then `gen_frames` of speech over normalised motion [gen_frames, dg]
        (+ context [gen_frames, dc]) of which the first `given` frames are the user's. A prompt with
        motion (a dub window's tail of the window before: the given lips under its audio) has it known;
        the reference's motion is generated."""
        total = prompt.frames + gen_frames
        motion_known = torch.zeros(total, dtype=torch.bool)
        motion_known[prompt.frames: prompt.frames + given] = True
        pre_motion = torch.zeros(prompt.frames, motion.shape[1])
        if prompt.motion is not None:
            pre_motion, motion_known[: prompt.frames] = prompt.motion, True
        pre_context = prompt.context if prompt.frames else torch.zeros(0, context.shape[1])
        return build(
            (prompt.text + " " if prompt.text else "") + text, total,
            mel=prompt.mel if prompt.frames else None,
            audio_known=torch.ones(mel_frames_for(prompt.frames), dtype=torch.bool) if prompt.frames else None,
            motion=torch.cat([pre_motion, motion]), motion_known=motion_known,
            context=torch.cat([pre_context, context]), dims=(motion.shape[1], context.shape[1]),
            prompt=(prompt.text, prompt.frames))

    @classmethod
    def for_edit(cls, text: str, frames: int, mel: torch.Tensor, audio_known: torch.Tensor,
                 motion: torch.Tensor | None = None, motion_known: torch.Tensor | None = None,
                 context: torch.Tensor | None = None, dims: tuple[int, int] = (0, 0)) -> "Job":
        """edit: the whole timeline given (mel [n, 100], motion [frames, dg]) except where `*_known` is False."""
        return build(text, frames, mel=mel, audio_known=audio_known, motion=motion, motion_known=motion_known,
                     context=context, dims=dims)

    @classmethod
    def for_window(cls, text: str, mel: torch.Tensor, motion: torch.Tensor, known: int,
                   context: torch.Tensor) -> "Job":
        """animate: one window's audio given whole (mel [n, 100]); its first `known` motion frames
        [frames, dg] are carried over from the previous window."""
        frames = len(motion)
        motion_known = torch.zeros(frames, dtype=torch.bool)
        motion_known[:known] = True
        n = mel_frames_for(frames)
        return build(text, frames, mel=mel[:n], audio_known=torch.ones(n, dtype=torch.bool), motion=motion,
                     motion_known=motion_known, context=context, dims=(motion.shape[1], context.shape[1]))


def build(text: str, frames: int, *, mel=None, audio_known=None, motion=None, motion_known=None,
          context=None, dims: tuple[int, int] = (0, 0), prompt: tuple[str, int] | None = None) -> Job:
    """Fill the parts a task does not give: unknown audio/motion (zeros), neutral context (zeros =
    the dataset mean after normalisation). prompt: (its text, its motion frames) when `text` is that
    text followed by the new one."""
    gen_dim, context_dim = dims
    n = mel_frames_for(frames)
    parts = None
    if prompt is not None and prompt[1] and prompt[0]:
        p_text, p_frames = prompt
        rest = text[len(p_text):].strip()
        if not text.startswith(p_text) or not rest:
            raise ValueError("Job: the text must be the prompt's text followed by new text")
        parts = ((p_text, mel_frames_for(p_frames)), (rest, n - mel_frames_for(p_frames)))
    if mel is None:
        mel = torch.zeros(n, 100)
        audio_known = torch.zeros(n, dtype=torch.bool)
    mel = fit(mel, n)
    audio_known = fit(audio_known, n)
    if gen_dim:
        if motion is None:
            motion = torch.zeros(frames, gen_dim)
            motion_known = torch.zeros(frames, dtype=torch.bool)
        motion, motion_known = fit(motion, frames), fit(motion_known, frames)
        context = torch.zeros(frames, context_dim) if context is None else fit(context, frames)
    else:
        motion = motion_known = context = None
    return Job(text, frames, mel, audio_known, motion, motion_known, context, parts)


def fit(x: torch.Tensor, length: int) -> torch.Tensor:
    """Cut or zero-pad (False-pad for masks) along time to `length`."""
    x = torch.as_tensor(x)
    if len(x) >= length:
        return x[:length]
    pad = x.new_zeros((length - len(x),) + tuple(x.shape[1:]))
    return torch.cat([x, pad])
