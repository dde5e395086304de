"""The user's reference (audio, its transcript, optional motion) as the known prefix of a job.

Lengths are counted in motion frames rounded to multiples of `GRID` (4 frames = 0.16 s = 15 mel
frames = 3840 samples), so every prompt/chunk boundary is exact in all three clocks.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from jamflow.errors import UserError
from jamflow.infer.jobs import fit
from jamflow.timeline import SAMPLES_PER_MOTION, mel_frames_for

GRID = 4  # motion frames; 4 * 3.75 = 15 mel frames exactly


def grid(frames: float) -> int:
    return max(GRID, int(math.ceil(frames / GRID)) * GRID)


@dataclass
class Prompt:
    text: str
    frames: int
    mel: torch.Tensor | None  # [n, 100]
    motion: torch.Tensor | None  # [frames, dg] normalised
    context: torch.Tensor | None  # [frames, dc] normalised
    rms: float | None = None  # loudness of the reference (to restore on output)


def clean_text(text, name: str) -> str:
    from jamflow.audio.text import normalize_text

    if not isinstance(text, str) or not text.strip():
        raise UserError(f"{name}: expected non-empty text, got {text!r}")
    text = normalize_text(text)
    if not text:
        raise UserError(f"{name}: expected text with speakable words, got nothing after normalisation")
    return text


def reference_prompt(engine, ref_wav: np.ndarray | None, ref_text, ref_motion) -> Prompt:
    """The reference voice `ref_wav` [s] at 24 kHz (checked and loaded by the API) + its transcript (+ its
    motion [T, 70]) as a known prefix; no reference = empty prompt."""
    try:
        return _reference_prompt(engine, ref_wav, ref_text, ref_motion)
    except UserError as e:  # the audio helpers call their input "wav": here it is the user's ref_audio
        message = str(e)
        if message.startswith("wav:"):
            raise UserError("ref_audio:" + message[len("wav:"):]) from None
        raise


def _reference_prompt(engine, wav, ref_text, ref_motion) -> Prompt:
    sr, spm = engine.timeline.sample_rate, engine.timeline.samples_per_motion
    if wav is None:
        if ref_text:
            raise UserError("ref_text: given without --ref_audio; pass the reference audio too, or drop ref_text")
        if ref_motion is not None:
            raise UserError("ref_motion: given without --ref_audio; the reference motion must come with its audio")
        return Prompt("", 0, None, None, None)
    if ref_text is not None and str(ref_text).strip() and str(ref_text).strip().lower() != "auto":
        from jamflow.audio.io import trim_silence
        from jamflow.validate import transcript_fits

        # 400 characters for 1.6 s would make "Hello." 0.16 s long; "Hi." for 15 s of speech, minutes long
        transcript_fits(str(ref_text), len(wav) / sr, speech_s=len(trim_silence(wav)) / sr)
    if ref_text is None or not str(ref_text).strip():
        raise UserError(
            "ref_text: expected the transcript of --ref_audio, got none. jamflow needs the words of the "
            "reference; pass --ref_text \"...\", or --ref_text auto to transcribe it with the optional offline "
            "ASR (pip install pocketsphinx, or jamflow[eval])")
    if str(ref_text).strip().lower() == "auto":
        try:
            from jamflow.audio.asr import transcribe

            ref_text = transcribe(wav, sr)
        except ImportError as e:
            raise UserError(f"ref_text: 'auto' needs the optional ASR (pip install pocketsphinx): {e}") from None
        if not ref_text.strip():
            raise UserError("ref_text: the ASR heard no words in --ref_audio; pass --ref_text \"...\"")
    from jamflow.audio.reference import Reference, ensure_sentence_end, prepare_reference

    if ref_motion is None:
        ref = prepare_reference(wav, clean_text(str(ref_text), "ref_text"))  # trim, clip to 12 s, loudness
    else:  # the motion is frame-aligned with the audio as given: no trimming or clipping
        from jamflow.audio.io import normalize_loudness

        if len(wav) / sr > 30:
            raise UserError(f"ref_audio: expected at most 30 s with --ref_motion, got {len(wav) / sr:.1f} s")
        if abs(len(ref_motion) - len(wav) / spm) > 2:
            raise UserError(f"ref_motion: expected {len(wav) // spm} frames to match ref_audio's "
                            f"{len(wav) / sr:.2f} s at 25 fps, got {len(ref_motion)}")
        norm, level = normalize_loudness(wav)
        ref = Reference(norm, ensure_sentence_end(clean_text(str(ref_text), "ref_text")), level, False)
    if len(ref.wav) < 0.1 * sr:
        raise UserError(f"ref_audio: expected at least 0.1 s of speech, got {len(ref.wav) / sr:.2f} s")
    frames = grid(len(ref.wav) / spm)  # pad with silence up to the grid: no word is cut
    mel, _ = ref_to_mel(np.pad(ref.wav, (0, frames * spm - len(ref.wav))))
    motion = context = None
    if engine.has_motion:
        if ref_motion is not None:
            if len(ref_motion) < frames:  # hold the last frame over trimmed silence / padding
                ref_motion = np.concatenate([ref_motion, np.repeat(ref_motion[-1:], frames - len(ref_motion), 0)])
            motion, context = engine.codec.normalize(ref_motion[:frames])
        else:
            context = torch.zeros(frames, engine.codec.spec.context_dim)
    return Prompt(ref.text, frames, mel, motion, context, rms=ref.rms)


def ref_to_mel(wav: np.ndarray) -> tuple[torch.Tensor, int]:
    """wav [s] at 24 kHz -> (log-mel [n, 100], m motion frames), cut to whole motion frames."""
    from jamflow.audio.mel import recording_mel

    m = len(wav) // SAMPLES_PER_MOTION
    if m < 1:
        raise UserError(f"ref_audio: expected at least 40 ms of audio, got {len(wav)} samples")
    wav = torch.as_tensor(np.ascontiguousarray(wav[: m * SAMPLES_PER_MOTION]), dtype=torch.float32)
    mel = recording_mel(wav[None])[0].transpose(0, 1)  # [n', 100]
    return fit(mel, mel_frames_for(m)), m
