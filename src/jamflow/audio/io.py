"""Audio files in and out: decode, mix to mono, resample, loudness, silence.

Everything here works on numpy float32 mono waveforms `[samples]` in [-1, 1].
Decoding tries soundfile first (wav/flac/ogg, and mp3 with libsndfile >= 1.1) and falls back to
ffmpeg for everything else (m4a, webm, mp4 audio tracks, ...).
"""
from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf

from jamflow.audio.resample import kaiser_lowpass, resample_poly
from jamflow.errors import UserError
from jamflow.ffmpeg import decode_audio
from jamflow.fileio import atomic_path
from jamflow.timeline import SAMPLE_RATE

TARGET_RMS = 0.1  # F5-TTS's reference loudness
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1000, 768000  # what a file may declare
MIN_TARGET_RATE, MAX_TARGET_RATE = 8000, 192000  # what a caller may ask for


def _check_target_rate(sample_rate, name: str = "sample_rate") -> int:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or not (
            MIN_TARGET_RATE <= int(sample_rate) <= MAX_TARGET_RATE):
        raise UserError(f"{name}: expected an integer in [{MIN_TARGET_RATE}, {MAX_TARGET_RATE}] Hz, got {sample_rate!r}")
    return int(sample_rate)


def load_audio(path, sample_rate: int = SAMPLE_RATE, name: str = "path",
               max_seconds: float | None = None) -> np.ndarray:
    """Read an audio file -> mono float32 [samples] at `sample_rate`.

    Raises UserError for missing, empty, corrupt, NaN-containing or unsupported files, and for
    absurd sample rates, naming the file and the limit; `name` is the argument the messages name
    (`--ref_audio` on the command line, `ref_audio` in the API); `max_seconds` refuses longer audio
    (compressed streams are decoded only that far).
    """
    sample_rate = _check_target_rate(sample_rate)
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{name}: expected an existing audio file, got {str(path)!r}")
    if path.stat().st_size == 0:
        raise UserError(f"{name}: expected a non-empty audio file, got an empty file {path.name}")
    try:
        data, file_rate = sf.read(str(path), dtype="float32", always_2d=True)  # [s, channels]
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        wav = decode_audio(path, sample_rate, f"{name}: expected a readable audio file, got {path.name}", max_seconds)
    else:
        if not MIN_SAMPLE_RATE <= file_rate <= MAX_SAMPLE_RATE:
            raise UserError(f"{name}: expected a sample rate in [{MIN_SAMPLE_RATE}, {MAX_SAMPLE_RATE}] Hz, "
                            f"got {file_rate} Hz in {path.name}")
        wav = resample(data.mean(axis=1), file_rate, sample_rate)
    if max_seconds is not None and wav.size > max_seconds * sample_rate:
        raise UserError(f"{name}: expected at most {max_seconds:g} s of audio, got more in {path.name}")
    if wav.size == 0:
        raise UserError(f"{name}: expected audio samples, got a zero-length recording in {path.name}")
    if not np.isfinite(wav).all():
        raise UserError(f"{name}: expected finite samples, got NaN/inf in {path.name}")
    return wav.astype(np.float32, copy=False)


@lru_cache(maxsize=8)
def _lowpass(up: int, down: int) -> np.ndarray:
    # scipy's default filter starts rolling off far below the new Nyquist and lets tones just above it
    # alias at -18 dB. This one passes 94 % of the band and is ~80 dB down at the new Nyquist.
    factor = max(up, down)
    taps = 160 * factor + 1
    return kaiser_lowpass(taps, 0.94 / factor, beta=8.0)  # resample_poly scales by up itself


def resample(wav: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Band-limited polyphase resampling (Kaiser-windowed sinc, 94 % passband). [s] -> [s']."""
    wav = np.asarray(wav, dtype=np.float32)
    if orig_rate == target_rate:
        return wav
    if orig_rate <= 0 or target_rate <= 0:
        raise UserError(f"sample_rate: expected positive rates, got {orig_rate} -> {target_rate}")
    g = math.gcd(int(orig_rate), int(target_rate))
    up, down = int(target_rate) // g, int(orig_rate) // g
    return resample_poly(wav, up, down, _lowpass(up, down)).astype(np.float32)


def save_wav(path, wav, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write 16-bit PCM wav atomically (temp file in the same folder, then rename). Returns the path."""
    sample_rate = _check_target_rate(sample_rate)
    if hasattr(wav, "detach"):
        wav = wav.detach().cpu().float().numpy()
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim == 2 and 1 in wav.shape:
        wav = wav.reshape(-1)
    if wav.ndim != 1:
        raise UserError(f"wav: expected a mono waveform [samples], got shape {wav.shape}")
    if not np.isfinite(wav).all():
        raise UserError("wav: expected finite samples, got NaN/inf")
    path = Path(path)
    with atomic_path(path, suffix=".wav") as tmp:
        sf.write(tmp, np.clip(wav, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")
    return path


# ---------------------------------------------------------------------------------------------
# loudness

def rms(wav: np.ndarray) -> float:
    wav = np.asarray(wav, dtype=np.float64)
    return float(np.sqrt(np.mean(wav * wav))) if wav.size else 0.0


def normalize_loudness(wav: np.ndarray, target_rms: float = TARGET_RMS, only_raise: bool = True):
    """Scale to `target_rms` -> (wav, original_rms). F5 only raises quiet references (only_raise)."""
    level = rms(wav)
    if level <= 1e-8:
        raise UserError("wav: expected audible audio, got silence (RMS below 1e-8)")
    if only_raise and level >= target_rms:
        return np.asarray(wav, dtype=np.float32), level
    return (np.asarray(wav, dtype=np.float32) * (target_rms / level)).astype(np.float32), level


def restore_loudness(wav: np.ndarray, ref_rms: float, target_rms: float = TARGET_RMS, only_raise: bool = True):
    """Undo normalize_loudness on generated audio, so the output is as loud as the reference was."""
    if only_raise and ref_rms >= target_rms:
        return wav
    return wav * (ref_rms / target_rms)


# ---------------------------------------------------------------------------------------------
# silence

def frame_db(wav: np.ndarray, sample_rate: int = SAMPLE_RATE, frame_ms: float = 10.0) -> np.ndarray:
    """Level of consecutive `frame_ms` windows in dBFS (full scale = 1.0), [frames]."""
    n = max(1, int(sample_rate * frame_ms / 1000))
    frames = len(wav) // n
    if frames == 0:
        return np.array([20 * math.log10(max(rms(wav), 1e-10))])
    x = np.asarray(wav[: frames * n], dtype=np.float64).reshape(frames, n)
    return 20 * np.log10(np.maximum(np.sqrt((x * x).mean(axis=1)), 1e-10))


def _relative(threshold_db: float, levels: np.ndarray, headroom_db: float = 30.0) -> float:
    # F5's thresholds are absolute dBFS: a quiet recording (speech at -40 dBFS) would be "all silence".
    # Never put the threshold closer than `headroom_db` below the loudest 10 ms.
    return min(threshold_db, float(levels.max()) - headroom_db)


def trim_silence(wav: np.ndarray, sample_rate: int = SAMPLE_RATE, threshold_db: float = -42.0,
                 keep_ms: float = 20.0) -> np.ndarray:
    """Cut leading/trailing audio quieter than `threshold_db` dBFS (F5 uses -42; lowered for quiet
    recordings to 30 dB below their loudest 10 ms), keeping `keep_ms`."""
    frame_ms = 10.0
    levels = frame_db(wav, sample_rate, frame_ms)
    if levels.max() <= -90:
        raise UserError("wav: expected speech, got silence (below -90 dBFS throughout)")
    loud = np.flatnonzero(levels > _relative(threshold_db, levels))
    n = int(sample_rate * frame_ms / 1000)
    keep = int(sample_rate * keep_ms / 1000)
    start = max(0, loud[0] * n - keep)
    end = min(len(wav), (loud[-1] + 1) * n + keep)
    return wav[start:end]


def silences(wav: np.ndarray, sample_rate: int = SAMPLE_RATE, min_silence_ms: float = 100.0,
             threshold_db: float = -40.0) -> list[tuple[int, int]]:
    """Silent stretches at least `min_silence_ms` long, as (start, end) sample indices.
    Quiet recordings get a threshold 30 dB below their loudest 10 ms instead."""
    frame_ms = 10.0
    n = int(sample_rate * frame_ms / 1000)
    levels = frame_db(wav, sample_rate, frame_ms)
    quiet = levels <= _relative(threshold_db, levels)
    out, start = [], None
    for i, q in enumerate(np.append(quiet, False)):
        if q and start is None:
            start = i
        elif not q and start is not None:
            if (i - start) * frame_ms >= min_silence_ms:
                out.append((start * n, min(len(wav), i * n)))
            start = None
    return out
