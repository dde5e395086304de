"""Speech responses as bytes: wav (16-bit PCM), pcm (raw s16le mono 24 kHz, as OpenAI's `pcm`), flac.

Every format starts from the same 16-bit samples (`to_pcm16`), so a streamed response carries
exactly the samples of the non-streamed one. A streamed wav starts with a header whose RIFF and data
sizes are 0xFFFFFFFF ("unknown length", which players and ffmpeg read up to the end of the stream).
"""
from __future__ import annotations

import io
import struct

import numpy as np

from jamflow.timeline import SAMPLE_RATE

MEDIA_TYPES = {"wav": "audio/wav", "pcm": "audio/pcm", "flac": "audio/flac"}
FORMATS = tuple(MEDIA_TYPES)
STREAM_FORMATS = ("wav", "pcm")  # flac's header holds totals known only at the end
UNKNOWN_SIZE = 0xFFFFFFFF


def to_pcm16(wav: np.ndarray) -> bytes:
    """float32 [samples] in [-1, 1] -> signed 16-bit little-endian bytes (clipped, rounded)."""
    samples = np.rint(np.clip(np.asarray(wav, np.float32), -1.0, 1.0) * 32767.0).astype("<i2")
    return samples.tobytes()


def wav_header(data_bytes: int | None, sample_rate: int = SAMPLE_RATE) -> bytes:
    """The 44-byte header of a mono 16-bit PCM wav; data_bytes None = unknown length (streaming)."""
    riff = UNKNOWN_SIZE if data_bytes is None else 36 + data_bytes
    data = UNKNOWN_SIZE if data_bytes is None else data_bytes
    return (b"RIFF" + struct.pack("<I", riff) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
            + b"data" + struct.pack("<I", data))


def encode(wav: np.ndarray, fmt: str, sample_rate: int = SAMPLE_RATE) -> bytes:
    """A whole response body in `fmt` (one of FORMATS)."""
    pcm = to_pcm16(wav)
    if fmt == "pcm":
        return pcm
    if fmt == "wav":
        return wav_header(len(pcm), sample_rate) + pcm
    if fmt == "flac":
        import soundfile as sf

        buf = io.BytesIO()
        sf.write(buf, np.frombuffer(pcm, "<i2"), sample_rate, format="FLAC", subtype="PCM_16")
        return buf.getvalue()
    raise ValueError(f"response_format: expected one of {FORMATS}, got {fmt!r}")


def stream_start(fmt: str, sample_rate: int = SAMPLE_RATE) -> bytes:
    """Bytes sent before the first audio piece of a stream."""
    return wav_header(None, sample_rate) if fmt == "wav" else b""
