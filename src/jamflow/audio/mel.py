"""Log-mel spectrograms in pure torch, bit-compatible with F5-TTS's two mel front ends.

"vocos" (every released F5 v1 checkpoint, and the Vocos vocoder's own features):
    n_fft 1024, win 1024 (periodic Hann), hop 256, 100 bins, 0-12 kHz, HTK mel scale, no filter
    normalisation, magnitude (power 1), centred STFT with reflect padding, log(clamp(x, 1e-5)).
"bigvgan" (the older F5 v0 + BigVGAN variant):
    Slaney mel scale with Slaney area normalisation, manual reflect padding of (n_fft - hop) / 2,
    STFT with center=False, magnitude sqrt(re^2 + im^2 + 1e-9), same log.

Frames: "vocos" gives 1 + samples // 256 (93.75 frames/s at 24 kHz); "bigvgan" gives samples // 256
(its padding is 384 per side, not 512, and it does not centre), exactly as F5 computes them.
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch

from jamflow.errors import UserError
from jamflow.timeline import HOP_LENGTH, SAMPLE_RATE

N_FFT = 1024
WIN_LENGTH = 1024
N_MELS = 100
LOG_FLOOR = 1e-5
MEL_KINDS = ("vocos", "bigvgan")


def num_frames(samples: int, kind: str = "vocos") -> int:
    """Mel frames for a clip of `samples` samples."""
    return 1 + samples // HOP_LENGTH if kind == "vocos" else samples // HOP_LENGTH


# ---------------------------------------------------------------------------------------------
# Mel filterbanks (written out rather than borrowed: torchaudio has no CPU build here and
# librosa is only a test dependency)

def _hz_to_mel_htk(f):
    return 2595.0 * torch.log10(1.0 + f / 700.0)


def _mel_to_hz_htk(m):
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


# Slaney's auditory toolbox scale: linear below 1 kHz, logarithmic above.
_SLANEY_F_SP = 200.0 / 3
_SLANEY_MIN_LOG_HZ = 1000.0
_SLANEY_MIN_LOG_MEL = _SLANEY_MIN_LOG_HZ / _SLANEY_F_SP
_SLANEY_LOGSTEP = math.log(6.4) / 27.0


def _hz_to_mel_slaney(f):
    linear = f / _SLANEY_F_SP
    log = _SLANEY_MIN_LOG_MEL + torch.log(torch.clamp(f, min=1e-10) / _SLANEY_MIN_LOG_HZ) / _SLANEY_LOGSTEP
    return torch.where(f >= _SLANEY_MIN_LOG_HZ, log, linear)


def _mel_to_hz_slaney(m):
    linear = _SLANEY_F_SP * m
    log = _SLANEY_MIN_LOG_HZ * torch.exp(_SLANEY_LOGSTEP * (m - _SLANEY_MIN_LOG_MEL))
    return torch.where(m >= _SLANEY_MIN_LOG_MEL, log, linear)


def mel_filterbank(
    sample_rate: int = SAMPLE_RATE,
    n_fft: int = N_FFT,
    n_mels: int = N_MELS,
    f_min: float = 0.0,
    f_max: float | None = None,
    scale: str = "htk",
) -> torch.Tensor:
    """Triangular mel filters, [n_fft // 2 + 1, n_mels] (float64).

    scale "htk": HTK mel scale, unnormalised peaks of 1 (torchaudio's default, used by Vocos/F5).
    scale "slaney": Slaney mel scale with area normalisation 2 / bandwidth (librosa's default).
    """
    if scale not in ("htk", "slaney"):
        raise UserError(f"scale: expected 'htk' or 'slaney', got {scale!r}")
    f_max = sample_rate / 2 if f_max is None else f_max
    to_mel, to_hz = (_hz_to_mel_htk, _mel_to_hz_htk) if scale == "htk" else (_hz_to_mel_slaney, _mel_to_hz_slaney)
    fft_freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    m = torch.linspace(float(to_mel(torch.tensor(f_min, dtype=torch.float64))),
                       float(to_mel(torch.tensor(f_max, dtype=torch.float64))), n_mels + 2, dtype=torch.float64)
    edges = to_hz(m)  # [n_mels + 2] band edges in Hz
    widths = edges[1:] - edges[:-1]  # [n_mels + 1]
    ramps = edges[None, :] - fft_freqs[:, None]  # [n_freqs, n_mels + 2]
    rising = -ramps[:, :-2] / widths[:-1]
    falling = ramps[:, 2:] / widths[1:]
    fb = torch.clamp(torch.minimum(rising, falling), min=0.0)  # [n_freqs, n_mels]
    if scale == "slaney":
        fb = fb * (2.0 / (edges[2:] - edges[:-2]))[None, :]
    return fb


@lru_cache(maxsize=16)
def _cached_tensors(kind: str, device: str, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    fb = mel_filterbank(scale="htk" if kind == "vocos" else "slaney")
    window = torch.hann_window(WIN_LENGTH, periodic=True, dtype=torch.float64)
    return fb.to(device=device, dtype=dtype), window.to(device=device, dtype=dtype)


# ---------------------------------------------------------------------------------------------

def mel_spectrogram(wav: torch.Tensor, kind: str = "vocos") -> torch.Tensor:
    """24 kHz waveform [b, s] or [s] -> log-mel [b, 100, num_frames(s, kind)] on wav's device.

    Accepts numpy arrays too. Runs on whatever device `wav` is on.
    """
    if kind not in MEL_KINDS:
        raise UserError(f"kind: expected one of {MEL_KINDS}, got {kind!r}")
    if not torch.is_tensor(wav):
        wav = torch.as_tensor(wav)
    if wav.dim() == 1:
        wav = wav[None]
    if wav.dim() == 3 and wav.shape[1] == 1:  # [b, 1, s], as F5's MelSpec accepts
        wav = wav[:, 0]
    if wav.dim() != 2:
        raise UserError(f"wav: expected shape [b, samples] or [samples], got {tuple(wav.shape)}")
    if not wav.is_floating_point():
        raise UserError(f"wav: expected a floating-point waveform, got dtype {wav.dtype}")
    if wav.dtype not in (torch.float32, torch.float64):
        wav = wav.float()
    pad = (N_FFT - HOP_LENGTH) // 2 if kind == "bigvgan" else N_FFT // 2
    if wav.shape[-1] <= pad:
        raise UserError(f"wav: expected more than {pad} samples for reflect padding, got {wav.shape[-1]}")

    fb, window = _cached_tensors(kind, str(wav.device), wav.dtype)
    # Padding by hand + center=False is the same as torch's centred STFT (reflect) but ~3x faster on CPU.
    padded = torch.nn.functional.pad(wav[:, None], (pad, pad), mode="reflect")[:, 0]
    spec = torch.stft(padded, N_FFT, HOP_LENGTH, WIN_LENGTH, window, center=False,
                      normalized=False, onesided=True, return_complex=True)  # [b, 513, frames]
    power = spec.real.pow(2) + spec.imag.pow(2)
    # 1e-20 keeps the gradient finite at exact zeros; it is 1e-10 in magnitude, far under the 1e-5 floor
    mag = torch.sqrt(power.clamp_min(1e-20)) if kind == "vocos" else torch.sqrt(power + 1e-9)
    mel = torch.matmul(fb.T, mag)  # [100, 513] @ [b, 513, frames] -> [b, 100, frames]
    return torch.log(torch.clamp(mel, min=LOG_FLOOR))


QUANTIZATION_STEP = 1 / 32768  # one step of a 16-bit recording


@lru_cache(maxsize=4)
def recording_floor(kind: str = "vocos") -> torch.Tensor:
    """[100] the mean log-mel of +-1-step triangular dither: where a 16-bit recording's silent bands sit
    (-8.8 at the lowest band, -5.8 at 12 kHz)."""
    gen = torch.Generator().manual_seed(0)
    n = 4 * SAMPLE_RATE
    noise = (torch.rand(n, generator=gen, dtype=torch.float64)
             - torch.rand(n, generator=gen, dtype=torch.float64)) * QUANTIZATION_STEP
    return mel_spectrogram(noise, kind)[0].mean(1).float()


def recording_mel(wav: torch.Tensor, kind: str = "vocos") -> torch.Tensor:
    """`mel_spectrogram` of audio a user gives the model (a voice to clone, speech to animate or edit), with
    every band held at or above `recording_floor`: [b, s] or [s] -> [b, 100, n].

    The model learned from 16-bit files, whose empty bands carry quantisation noise. A recording made at
    16 kHz and resampled to 24 kHz has exact zeros above 8 kHz instead (log-mel -11.5), which it never saw:
    read that way, a LibriVox prompt's training loss is 5.0 instead of 1.2 (docs/inference.md).
    """
    mel = mel_spectrogram(wav, kind)
    return torch.maximum(mel, recording_floor(kind).to(mel)[:, None])


SPEECH_RANGE = 3.0  # frames whose mean log-mel is within this of the loudest frame's count as speech (~26 dB)


def speech_frames(mel: torch.Tensor) -> torch.Tensor:
    """Log-mel [n, d] -> its speech frames [k, d] (silence and pauses left out); an empty mel stays empty."""
    if mel.shape[0] == 0:
        return mel
    energy = mel.mean(1)
    return mel[energy > energy.max() - SPEECH_RANGE]
