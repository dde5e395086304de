"""Offline speech recognition: mono speech -> English text.

The default recogniser is pocketsphinx: its wheel ships an English acoustic model, a language model
and the CMU dictionary, so it runs on any machine with no download. A Whisper model (faster-whisper or
openai-whisper) is used instead when the caller passes the path of local weights. Both are optional
packages, imported when a transcription runs. `--ref_text auto` and the intelligibility metric
(`eval.asr`) use it.
"""
from __future__ import annotations

import functools
import os
from math import gcd

import numpy as np
from scipy.signal import resample_poly

from jamflow.errors import UserError

ASR_SAMPLE_RATE = 16000


def resample(wav: np.ndarray, sample_rate: int, target: int) -> np.ndarray:
    """Polyphase resampling (anti-aliased); float32 in and out."""
    if sample_rate == target:
        return np.asarray(wav, dtype=np.float32)
    g = gcd(int(sample_rate), int(target))
    return resample_poly(np.asarray(wav, dtype=np.float64), target // g, sample_rate // g).astype(np.float32)


def _check_wav(wav, sample_rate) -> np.ndarray:
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim == 2 and 1 in wav.shape:
        wav = wav.reshape(-1)
    if wav.ndim != 1:
        raise UserError(f"wav: expected a mono waveform [samples], got shape {tuple(wav.shape)}")
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise UserError(f"sample_rate: expected a positive integer, got {sample_rate!r}")
    if not np.isfinite(wav).all():
        raise UserError("wav: expected finite samples, got NaN or inf")
    return wav


@functools.lru_cache(maxsize=1)
def _sphinx_decoder():
    from pocketsphinx import Decoder

    return Decoder(samprate=ASR_SAMPLE_RATE, loglevel="FATAL")


def _to_int16(wav16k: np.ndarray) -> bytes:
    # Recognisers expect speech at a normal level: bring the peak to -3 dBFS, then 16-bit PCM.
    peak = float(np.abs(wav16k).max()) if wav16k.size else 0.0
    if peak > 0:
        wav16k = wav16k * (0.7 / peak)
    return (np.clip(wav16k, -1, 1) * 32767).astype("<i2").tobytes()


def transcribe_pocketsphinx(wav: np.ndarray, sample_rate: int) -> str:
    wav = resample(_check_wav(wav, sample_rate), sample_rate, ASR_SAMPLE_RATE)
    # Pad with 0.3 s of silence each side: the decoder's endpointing clips words touching the edges.
    pad = np.zeros(int(0.3 * ASR_SAMPLE_RATE), np.float32)
    decoder = _sphinx_decoder()
    decoder.start_utt()
    decoder.process_raw(_to_int16(np.concatenate([pad, wav, pad])), full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return hyp.hypstr if hyp is not None else ""


@functools.lru_cache(maxsize=2)
def _whisper_model(model_path: str):
    try:
        from faster_whisper import WhisperModel

        return "faster", WhisperModel(model_path, device="cpu", compute_type="int8")
    except ImportError:
        pass
    try:
        import whisper
    except ImportError:
        raise UserError("asr_model: a Whisper path needs `pip install faster-whisper` or `openai-whisper`") from None
    return "openai", whisper.load_model(model_path, device="cpu")


def transcribe_whisper(wav: np.ndarray, sample_rate: int, model_path: str) -> str:
    if not os.path.exists(model_path):
        raise UserError(f"asr_model: expected a local Whisper model folder or file, got {model_path!r} (not found)")
    wav = resample(_check_wav(wav, sample_rate), sample_rate, ASR_SAMPLE_RATE)
    kind, model = _whisper_model(model_path)
    if kind == "faster":
        segments, _ = model.transcribe(wav, language="en", beam_size=5)
        return " ".join(s.text.strip() for s in segments)
    return model.transcribe(wav, language="en", fp16=False)["text"].strip()


def transcribe(wav, sample_rate: int, model_path: str | None = None) -> str:
    """Mono float waveform [samples] at `sample_rate` -> recognised English text.

    pocketsphinx (bundled model) by default; a Whisper model when `model_path` points at local weights.
    """
    if model_path:
        return transcribe_whisper(wav, sample_rate, model_path)
    return transcribe_pocketsphinx(wav, sample_rate)


def asr_backend_name(model_path: str | None = None) -> str:
    return f"whisper:{model_path}" if model_path else "pocketsphinx-en-us"
