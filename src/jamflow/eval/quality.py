"""Perceptual quality (DNSMOS, optional) and timing (duration error, silence at the edges).

DNSMOS (Microsoft's P.835 / P.808 predictors) comes from the `speechmos` package, which ships the ONNX
models, and needs `onnxruntime`. Both are optional: without them the quality columns read "n/a" and
`dnsmos_status()` says what to install.
"""
from __future__ import annotations

import functools

import numpy as np

from jamflow.audio.asr import resample

DNSMOS_INSTALL = "pip install speechmos onnxruntime librosa"


@functools.lru_cache(maxsize=1)
def dnsmos_status() -> str | None:
    """None when DNSMOS can run, else a one-line reason."""
    try:
        import onnxruntime  # noqa: F401
        from speechmos import dnsmos  # noqa: F401
    except Exception as e:  # ImportError, or a broken onnxruntime build
        return f"DNSMOS unavailable ({type(e).__name__}: {e}); install with `{DNSMOS_INSTALL}`"
    return None


def dnsmos(wav, sample_rate: int) -> dict | None:
    """Mono waveform -> {"ovrl", "sig", "bak", "p808"} MOS estimates (1..5), or None without speechmos."""
    if dnsmos_status() is not None:
        return None
    from speechmos import dnsmos as _dnsmos

    wav = resample(np.asarray(wav, np.float32).reshape(-1), sample_rate, 16000)
    peak = float(np.abs(wav).max()) if wav.size else 0.0
    if peak > 1.0:  # speechmos rejects samples outside [-1, 1]
        wav = wav / peak
    out = _dnsmos.run(wav.astype(np.float32), sr=16000)
    return {"ovrl": float(out["ovrl_mos"]), "sig": float(out["sig_mos"]), "bak": float(out["bak_mos"]),
            "p808": float(out["p808_mos"])}


def frame_energy_db(wav, sample_rate: int, frame_s: float = 0.02) -> np.ndarray:
    """RMS level per non-overlapping frame, in dB relative to the clip's loudest frame. [frames]"""
    wav = np.asarray(wav, np.float64).reshape(-1)
    hop = max(1, int(round(frame_s * sample_rate)))
    n = max(1, len(wav) // hop)
    frames = np.pad(wav, (0, max(0, n * hop - len(wav))))[: n * hop].reshape(n, hop)
    rms = np.sqrt((frames**2).mean(1) + 1e-20)
    return 20 * np.log10(rms / (rms.max() + 1e-20) + 1e-10)


def edge_silence(wav, sample_rate: int, threshold_db: float = -40.0, frame_s: float = 0.02) -> tuple[float, float]:
    """Seconds of silence (frames below `threshold_db` re. the loudest frame) at the start and the end."""
    level = frame_energy_db(wav, sample_rate, frame_s)
    voiced = np.flatnonzero(level > threshold_db)
    if voiced.size == 0:
        total = len(np.asarray(wav).reshape(-1)) / sample_rate
        return total, total
    return float(voiced[0] * frame_s), float((len(level) - 1 - voiced[-1]) * frame_s)


def timing_metrics(wav, sample_rate: int, target_duration: float | None = None) -> dict:
    """Duration, its error against a target (seconds, signed, and relative) and the edge silences."""
    duration = len(np.asarray(wav).reshape(-1)) / sample_rate
    lead, trail = edge_silence(wav, sample_rate)
    out = {"duration_s": duration, "lead_silence_s": lead, "trail_silence_s": trail}
    if target_duration:
        out["duration_err_s"] = duration - target_duration
        out["duration_rel_err"] = abs(duration - target_duration) / target_duration
    return out
