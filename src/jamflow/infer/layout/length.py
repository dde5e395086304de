"""How long a text is spoken, and how a long text splits into chunks, in motion frames on the 4-frame grid.

The length of new speech follows F5-TTS's byte-ratio rule (`estimate_duration`): the reference's mel
frames per UTF-8 byte of its transcript, times the new text's bytes, over `speed`. `fix_duration`
(seconds, reference + generated, as in F5-TTS) replaces the estimate and is shared out over the chunks
in proportion to their bytes. A long text is split at sentences into chunks of about `max_chunk_s`
seconds at the reference's rate (`chunk_char_budget`, `split_text`).
"""
from __future__ import annotations

import math

import numpy as np

from jamflow.errors import UserError
from jamflow.infer.prompt import Prompt, grid
from jamflow.limits import MAX_CHARS_PER_S, MIN_CHARS_PER_S  # speaking rates outside this are refused
from jamflow.timeline import MEL_FPS, MEL_PER_MOTION, MOTION_FPS, mel_frames_for

UNPROMPTED_BYTES_PER_S = 15.0  # plain English read aloud, when no reference gives the rate


def _text_bytes(text: str, name: str) -> int:
    if not isinstance(text, str) or not text.strip():
        raise UserError(f"{name}: expected non-empty text, got {text!r}")
    return len(text.encode("utf-8"))


def estimate_duration(ref_frames: int, ref_text: str, gen_text: str, speed: float = 1.0) -> int:
    """Total mel frames (reference + generated) for one F5-style generation.

    F5: ref_frames + int(ref_frames / ref_bytes * gen_bytes / speed); texts under 10 bytes are spoken
    at speed 0.3 (short words otherwise come out clipped).
    """
    if isinstance(ref_frames, bool) or int(ref_frames) != ref_frames or ref_frames < 0:
        raise UserError(f"ref_frames: expected a non-negative integer, got {ref_frames!r}")
    ref_frames = int(ref_frames)
    if not math.isfinite(speed) or not 0.1 <= speed <= 10:
        raise UserError(f"speed: expected a number in [0.1, 10], got {speed!r}")
    gen_bytes = _text_bytes(gen_text, "gen_text")
    if ref_frames == 0:
        return max(1, int(gen_bytes / UNPROMPTED_BYTES_PER_S * MEL_FPS / speed))
    ref_bytes = _text_bytes(ref_text, "ref_text")
    if gen_bytes < 10:
        speed = 0.3
    return ref_frames + int(ref_frames / ref_bytes * gen_bytes / speed)


def text_frames(prompt: Prompt, text: str, speed: float) -> int:
    """Generated motion frames for `text` at the prompt's speaking rate (`estimate_duration`)."""
    ref_mel = mel_frames_for(prompt.frames) if prompt.frames and prompt.text else 0
    total = estimate_duration(ref_mel, prompt.text if ref_mel else "", text, speed)
    return grid((total - ref_mel) / MEL_PER_MOTION)


def chunk_frames(prompt: Prompt, chunks: list[str], speed: float, fix_duration: float | None) -> list[int]:
    """Generated frames per chunk; with fix_duration the total is split in proportion to the text."""
    if fix_duration is None:
        return [text_frames(prompt, c, speed) for c in chunks]
    gen_s = fix_duration - prompt.frames / MOTION_FPS
    if gen_s < 0.2:
        raise UserError(f"fix_duration: expected more than the reference's {prompt.frames / MOTION_FPS:.2f} s "
                        f"(it counts reference + generated, as in F5-TTS), got {fix_duration} s")
    sizes = np.array([len(c.encode("utf-8")) for c in chunks], np.float64)
    return [grid(gen_s * MOTION_FPS * w) for w in sizes / sizes.sum()]


def check_rate(text: str, frames: int, name: str):
    """Refuse a length the model cannot speak `text` in (limits.MIN/MAX_CHARS_PER_S)."""
    rate = len(text) / (frames / MOTION_FPS)
    if not MIN_CHARS_PER_S <= rate <= MAX_CHARS_PER_S:
        seconds = frames / MOTION_FPS
        raise UserError(f"{name}: expected a duration the model can speak {len(text)} characters in "
                        f"({len(text) / MAX_CHARS_PER_S:.1f}-{len(text) / MIN_CHARS_PER_S:.0f} s), got {seconds:.1f} s")


def chunk_char_budget(ref_text: str, ref_frames: int, max_chunk_s: float, speed: float) -> int:
    """How many characters of text fit in `max_chunk_s` seconds, at the reference's speaking rate.

    Without a usable reference, ~15 characters per second (plain English read aloud) is assumed.
    """
    chars_per_s = UNPROMPTED_BYTES_PER_S
    if ref_text and ref_frames >= MOTION_FPS:  # at least one second of reference
        chars_per_s = max(5.0, min(40.0, len(ref_text.encode("utf-8")) / (ref_frames / MOTION_FPS)))
    return max(20, int(chars_per_s * max_chunk_s * speed))


def split_text(text: str, budget: int, first_budget: int = 0) -> list[str]:
    """Whole-sentence chunks of at most `budget` bytes (`audio.text.chunk_text`); with `first_budget`,
    the first chunk is instead the text's first clause (or words) within `first_budget` bytes, so a
    stream has its first audio after a short sampler call."""
    from jamflow.audio.text import chunk_text

    head = []
    if first_budget and len(text.encode("utf-8")) > first_budget:
        words, first = text.split(), chunk_text(text, first_budget)[0].split()
        if words[: len(first)] == first and len(first) < len(words):
            head, text = [" ".join(first)], " ".join(words[len(first):])
    return head + (chunk_text(text, budget) if len(text.encode("utf-8")) > budget else [text])
