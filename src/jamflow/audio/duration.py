"""How many mel frames to generate: F5-TTS's byte-ratio rule, a fixed-duration override, chunk budgets."""
from __future__ import annotations

import math

from jamflow.errors import UserError
from jamflow.timeline import MEL_FPS


def _text_bytes(text: str, name: str) -> int:
    if not isinstance(text, str) or not text.strip():
        raise UserError(f"{name}: expected non-empty text, got {text!r}")
    return len(text.encode("utf-8"))


def estimate_duration(ref_frames: int, ref_text: str, gen_text: str, speed: float = 1.0,
                      fix_duration: float | None = None) -> int:
    """Total mel frames (reference + generated) for one F5-style generation.

    F5: ref_frames + int(ref_frames / ref_bytes * gen_bytes / speed); texts under 10 bytes are spoken
    at speed 0.3 (short words otherwise come out clipped). `fix_duration` (seconds, reference
    included, as F5's --fix_duration) overrides the estimate.
    """
    if isinstance(ref_frames, bool) or int(ref_frames) != ref_frames or ref_frames < 0:
        raise UserError(f"ref_frames: expected a non-negative integer, got {ref_frames!r}")
    ref_frames = int(ref_frames)
    if fix_duration is not None:
        if not math.isfinite(fix_duration) or fix_duration <= 0:
            raise UserError(f"fix_duration: expected a positive number of seconds, got {fix_duration!r}")
        total = int(fix_duration * MEL_FPS)
        if total <= ref_frames:
            raise UserError(f"fix_duration: expected more than the reference's {ref_frames / MEL_FPS:.2f} s, "
                            f"got {fix_duration} s")
        return total
    if not math.isfinite(speed) or not 0.1 <= speed <= 10:
        raise UserError(f"speed: expected a number in [0.1, 10], got {speed!r}")
    gen_bytes = _text_bytes(gen_text, "gen_text")
    if ref_frames == 0:
        # no reference (unconditional TTS): about 15 bytes of English text a second
        return max(1, int(gen_bytes / 15.0 * MEL_FPS / speed))
    ref_bytes = _text_bytes(ref_text, "ref_text")
    if gen_bytes < 10:
        speed = 0.3
    return ref_frames + int(ref_frames / ref_bytes * gen_bytes / speed)


def chunk_budget(ref_text: str, ref_seconds: float, speed: float = 1.0, max_seconds: float = 22.0) -> int:
    """F5's long-text chunk size in UTF-8 bytes: what fits in (22 s - reference) at the reference's pace."""
    if not ref_seconds > 0 or ref_seconds >= max_seconds:
        raise UserError(f"ref_audio: expected a reference shorter than {max_seconds:.0f} s, got {ref_seconds:.1f} s")
    return max(1, int(_text_bytes(ref_text, "ref_text") / ref_seconds * (max_seconds - ref_seconds) * speed))
