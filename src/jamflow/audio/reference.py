"""Reference (prompt) audio + transcript preparation, as F5-TTS does it, with the transcript kept honest.

F5 clips a long reference to ~12 s on silences but keeps the whole transcript, so the model is told
words that are not in the audio and repeats or swallows them. Here the transcript is cut at the text
boundary (punctuation first, else a word gap) whose share of the letters best matches the share of
speech time kept. Without a forced aligner this is an estimate; it is exact when the cut silence is a
sentence/clause pause that the punctuation marks, which is the case the silence search looks for.

Limits: references over `limit_seconds` (30 s, F5's whole-generation budget) are refused; between
`max_seconds` (12 s) and the limit they are clipped automatically.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np

from jamflow.audio.io import TARGET_RMS, normalize_loudness, silences, trim_silence
from jamflow.errors import UserError
from jamflow.timeline import SAMPLE_RATE

_PUNCT_BOUNDARY = re.compile(r"([.!?;:,\u3002\uff0c\uff01\uff1f]+[\"')\]]*)\s+")
_WORD_BOUNDARY = re.compile(r"\s+")
_LETTER = re.compile(r"\w")


@dataclass
class Reference:
    wav: np.ndarray  # [samples] float32, loudness-normalised, at SAMPLE_RATE
    text: str  # transcript of exactly `wav`, ending in ". " as F5 expects
    rms: float  # loudness of the original, to restore on the output
    clipped: bool  # True when audio (and text) were shortened


def ensure_sentence_end(text: str) -> str:
    """F5 appends ". " to the reference transcript so generated text starts a new sentence."""
    text = text.rstrip()
    if text.endswith("\u3002"):
        return text
    return text + " " if text.endswith((".", "!", "?")) else text + ". "


def _letters_before(text: str) -> np.ndarray:
    """Cumulative count of letters/digits before each character index, [len(text) + 1]."""
    flags = np.array([1 if _LETTER.match(c) else 0 for c in text], dtype=np.int64)
    return np.concatenate([[0], np.cumsum(flags)])


def _text_cuts(text: str) -> list[tuple[int, bool]]:
    """Candidate text cut positions (index after the boundary, is_punctuation)."""
    cuts = [(m.end(1), True) for m in _PUNCT_BOUNDARY.finditer(text)]
    punct_positions = {p for p, _ in cuts}
    cuts += [(m.start(), False) for m in _WORD_BOUNDARY.finditer(text) if m.start() not in punct_positions]
    return sorted(c for c in cuts if 0 < c[0] < len(text.rstrip()))


def clip_reference(wav: np.ndarray, text: str, sample_rate: int = SAMPLE_RATE, max_seconds: float = 12.0,
                   min_seconds: float = 3.0) -> tuple[np.ndarray, str]:
    """Shorten a reference to <= max_seconds on a silence, cutting its transcript consistently.

    wav [s] (leading/trailing silence already trimmed) -> (wav [s'], text'). Returns the inputs
    unchanged when they already fit.
    """
    max_len = int(max_seconds * sample_rate)
    if len(wav) <= max_len:
        return wav, text
    letters = _letters_before(text)
    total_letters = max(int(letters[-1]), 1)
    text_cuts = _text_cuts(text)

    # Speech time = duration minus pauses; letters track speech time far better than wall time.
    gaps = silences(wav, sample_rate, min_silence_ms=100, threshold_db=-40)
    pause = np.zeros(len(wav) + 1, dtype=np.int64)
    for s, e in gaps:
        pause[s + 1:e + 1] += 1
    pause_before = np.cumsum(pause)
    speech_total = max(len(wav) - int(pause_before[-1]), 1)

    best = None  # (cost, -cut_sample, cut_sample, text_pos)
    for s, e in gaps:
        cut = (s + e) // 2
        if not min_seconds * sample_rate <= cut <= max_len:
            continue
        speech_share = (cut - int(pause_before[cut])) / speech_total
        pause_ms = (e - s) * 1000 / sample_rate
        for pos, is_punct in text_cuts:
            text_share = letters[pos] / total_letters
            # long pauses belong to punctuation; a word gap costs a little extra
            cost = abs(speech_share - text_share) + (0.0 if is_punct or pause_ms < 250 else 0.03)
            cost += 0.0 if is_punct else 0.02
            key = (round(cost, 2), -cut, cut, pos)
            if best is None or key < best:
                best = key
    if best is not None and best[0] <= 0.08:
        cut, pos = best[2], best[3]
        return wav[:cut], text[:pos].rstrip()

    # No usable pause: hard cut at the quietest 10 ms in the last third of the window.
    warnings.warn(f"reference audio: no pause found to clip at; cutting at {max_seconds:.0f} s and "
                  "estimating the transcript cut from the letter count - check the transcript", stacklevel=2)
    lo = int(max_len * 2 / 3)
    frame = sample_rate // 100
    energies = [float(np.mean(wav[i:i + frame] ** 2)) for i in range(lo, max_len - frame, frame)]
    cut = lo + frame * int(np.argmin(energies)) if energies else max_len
    share = cut / len(wav)
    if text_cuts:
        pos = min(text_cuts, key=lambda c: abs(letters[c[0]] / total_letters - share))[0]
        text = text[:pos]
    return wav[:cut], text.rstrip()


def prepare_reference(wav: np.ndarray, text: str, sample_rate: int = SAMPLE_RATE, max_seconds: float = 12.0,
                      limit_seconds: float = 30.0, target_rms: float = TARGET_RMS) -> Reference:
    """Trim, clip (<= max_seconds, transcript too), pad 50 ms, normalise loudness. F5's recipe."""
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim != 1 or wav.size == 0:
        raise UserError(f"ref_audio: expected a non-empty mono waveform, got shape {wav.shape}")
    if not np.isfinite(wav).all():
        raise UserError("ref_audio: expected finite samples, got NaN/inf")
    if not isinstance(text, str) or not text.strip():
        raise UserError("ref_text: expected the transcript of the reference audio, got empty text")
    seconds = len(wav) / sample_rate
    if seconds > limit_seconds:
        raise UserError(f"ref_audio: expected at most {limit_seconds:.0f} s of reference audio, got {seconds:.1f} s "
                        f"(references over {max_seconds:.0f} s are clipped automatically; trim it below "
                        f"{limit_seconds:.0f} s first)")
    wav = trim_silence(wav, sample_rate)
    clipped_wav, clipped_text = clip_reference(wav, text.strip(), sample_rate, max_seconds)
    clipped = len(clipped_wav) < len(wav)
    if not clipped_text.strip():
        raise UserError("ref_text: clipping the reference left no transcript; give a shorter reference")
    padded = np.concatenate([clipped_wav, np.zeros(int(0.05 * sample_rate), dtype=np.float32)])
    norm, level = normalize_loudness(padded, target_rms)
    return Reference(wav=norm, text=ensure_sentence_end(clipped_text), rms=level, clipped=clipped)
