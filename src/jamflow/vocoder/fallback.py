"""Offline vocoder used when no Vocos weights are present: mel inversion + fast Griffin-Lim.

1. Magnitude: exp(log-mel) -> linear STFT magnitude by non-negative least squares against the mel
   filterbank (multiplicative updates, which keep every bin >= 0 and converge in a few dozen steps),
   starting from each filter's mean level spread back over the bins it covers.
2. Phase: fast Griffin-Lim (Perraudin, Balazs & Sondergaard 2013: Griffin-Lim with momentum 0.99),
   64 iterations on the mel's own STFT grid (n_fft 1024, hop 256). A finer phase-search hop (the
   magnitudes interpolated in time) is available (`hop_divisor`) but scored no better in our
   pocketsphinx test and costs 2-4x: see docs/frontend.md.

It is intelligible but robotic: use it to look at results offline, not to judge voice quality.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from jamflow.audio.mel import N_FFT, N_MELS, mel_filterbank
from jamflow.errors import UserError
from jamflow.timeline import HOP_LENGTH, SAMPLE_RATE


@dataclass
class FallbackConfig:
    nnls_iters: int = 40
    gl_iters: int = 64
    momentum: float = 0.99
    hop_divisor: int = 1  # phase search on hop 256 / hop_divisor
    seed: int = 0  # the initial phase; fixed so the output is deterministic


def checked_mel(mel: torch.Tensor) -> tuple[torch.Tensor, int]:
    """A log-mel [b, 100, n] or [100, n] a vocoder may decode -> (mel [b, 100, n], output samples (n - 1) * 256)."""
    if mel.dim() == 2:
        mel = mel[None]
    if mel.dim() != 3 or mel.shape[1] != N_MELS:
        raise UserError(f"mel: expected shape [b, {N_MELS}, frames], got {tuple(mel.shape)}")
    if not torch.isfinite(mel).all():
        raise UserError("mel: expected finite values, got NaN/inf")
    length = (mel.shape[-1] - 1) * HOP_LENGTH
    if length <= 0:
        raise UserError(f"mel: expected at least 2 frames, got {mel.shape[-1]}")
    return mel, length


class MelInverse:
    """log-mel [b, 100, n] -> linear STFT magnitude [b, 513, n] >= 0: non-negative least squares against
    the mel filterbank, which the HiFi-GAN bridge shares."""

    def __init__(self, iters: int = FallbackConfig.nnls_iters, device: str = "cpu"):
        self.iters = iters
        fb = mel_filterbank(scale="htk").float()  # [513, 100]
        self.bands = FilterbankBands(fb, device)
        # start: a flat spectrum under each filter, bins averaging the filters that cover them
        area = fb.sum(0).clamp_min(1e-8)  # [100]
        self.spread = (fb / area / fb.sum(1, keepdim=True).clamp_min(1e-8)).to(device)  # [513, 100]

    def __call__(self, log_mel: torch.Tensor) -> torch.Tensor:
        mel = torch.exp(log_mel)  # [b, 100, n]
        mag = (self.spread @ mel).clamp_min(1e-6)  # [b, 513, n]
        target = self.bands.to_bins(mel)  # fb M, fixed
        for _ in range(self.iters):  # Lee-Seung update for min ||fb^T S - M||^2, S >= 0
            mag = mag * target / (self.bands.to_bins(self.bands.to_bands(mag)) + 1e-9)
        return mag


class FilterbankBands:
    """Products with the triangular mel filterbank fb [513, 100], which has at most two filters over any
    bin: fb @ x and fb^T @ s as two gathers / two index-adds over those pairs (1008 non-zero weights of
    51300), 6x faster than the dense matmuls on a CPU, equal to them up to float rounding."""

    def __init__(self, fb: torch.Tensor, device="cpu"):
        order = torch.argsort((fb > 0).int(), dim=1, descending=True, stable=True)[:, :2]  # [513, 2]
        if int((fb > 0).sum(1).max()) > 2:
            raise ValueError("FilterbankBands: expected at most two filters over a bin")
        self.index = order.to(device)  # the (up to) two filters over each bin
        self.weight = fb.gather(1, order).to(device)  # [513, 2], zero where a bin has fewer filters
        self.bands = fb.shape[1]

    def to_bins(self, x: torch.Tensor) -> torch.Tensor:
        """x [b, 100, n] -> fb @ x [b, 513, n]."""
        w = self.weight
        return x[:, self.index[:, 0]] * w[:, :1] + x[:, self.index[:, 1]] * w[:, 1:]

    def to_bands(self, s: torch.Tensor) -> torch.Tensor:
        """s [b, 513, n] -> fb^T @ s [b, 100, n]."""
        out = s.new_zeros(s.shape[0], self.bands, s.shape[2])
        for k in range(2):
            out.index_add_(1, self.index[:, k], s * self.weight[:, k:k + 1])
        return out


def stft_frames(wav: torch.Tensor, hop: int, window: torch.Tensor) -> torch.Tensor:
    """`torch.stft(wav, N_FFT, hop, N_FFT, window, center=True, return_complex=True)` laid out frame-major:
    wav [b, s] -> spec [b, n, 513]. Griffin-Lim keeps this layout, in which every elementwise step runs on
    contiguous memory."""
    padded = F.pad(wav[:, None], (N_FFT // 2, N_FFT // 2), mode="reflect")[:, 0]  # center=True
    return torch.fft.rfft(padded.unfold(-1, N_FFT, hop) * window)


def istft_frames(spec: torch.Tensor, hop: int, window: torch.Tensor, length: int,
                 inverse_envelope: torch.Tensor | None = None) -> torch.Tensor:
    """`torch.istft` of `spec.transpose(1, 2)` (center=True): spec [b, n, 513] -> wav [b, length]. For a hop
    that divides N_FFT the overlap-add is N_FFT / hop shifted sums of the frames cut into hop-long parts,
    several times faster than torch's general one. `inverse_envelope` (`overlap_add_normaliser`) may be
    passed in when the same shape is inverted many times."""
    if N_FFT % hop:
        return torch.istft(spec.transpose(1, 2), N_FFT, hop, N_FFT, window, center=True, length=length)
    frames = torch.fft.irfft(spec, n=N_FFT) * window  # [b, n, N_FFT]
    b, n, _ = frames.shape
    if inverse_envelope is None:
        inverse_envelope = overlap_add_normaliser(window, hop, n, length)
    start = N_FFT // 2  # center=True padded the signal by half a frame
    out = _shifted_sum(frames.reshape(b, n, N_FFT // hop, hop))[:, start:start + length]  # [b, <= length]
    out = out * inverse_envelope[: out.shape[1]]
    return F.pad(out, (0, length - out.shape[1]))  # zeros past the last frame, as torch.istft gives


def overlap_add_normaliser(window: torch.Tensor, hop: int, n: int, length: int) -> torch.Tensor:
    """1 / the sum of the squared, shifted windows (1 where that sum is ~0), over the `length` samples an
    inverse STFT of n frames keeps -> [<= length]."""
    envelope = _shifted_sum((window ** 2).reshape(1, 1, -1, hop).expand(1, n, -1, -1))[0]
    envelope = envelope[N_FFT // 2: N_FFT // 2 + length]
    return 1 / torch.where(envelope > 1e-11, envelope, torch.ones_like(envelope))


def _shifted_sum(parts: torch.Tensor) -> torch.Tensor:
    """[b, n, k, hop] -> [b, (n + k - 1) * hop]: part j of frame i lands at position i + j."""
    b, n, k, hop = parts.shape
    out = parts.new_zeros(b, n + k - 1, hop)
    for j in range(k):
        out[:, j:j + n] += parts[:, :, j]
    return out.reshape(b, -1)


class GriffinLimVocoder:
    """`decode(log-mel [b, 100, n]) -> wav [b, (n - 1) * 256]` without any learned weights."""

    sample_rate = SAMPLE_RATE

    def __init__(self, cfg: FallbackConfig | None = None, device: str = "cpu"):
        self.cfg = cfg or FallbackConfig()
        self.device = torch.device(device)
        self.inverse = MelInverse(self.cfg.nnls_iters, device)

    def to(self, device):
        return GriffinLimVocoder(self.cfg, device)

    def mel_to_magnitude(self, log_mel: torch.Tensor) -> torch.Tensor:
        """log-mel [b, 100, n] -> linear magnitude [b, 513, n] >= 0 (NNLS against the filterbank)."""
        return self.inverse(log_mel)

    @torch.inference_mode()
    def decode(self, mel: torch.Tensor) -> torch.Tensor:
        mel, length = checked_mel(mel)
        mel = mel.to(self.device, torch.float32)
        mag = self.mel_to_magnitude(mel)  # [b, 513, n]
        hop = HOP_LENGTH // self.cfg.hop_divisor
        fine = 1 + length // hop
        mag = F.interpolate(mag, size=fine, mode="linear", align_corners=True)  # same instants, finer grid
        window = torch.hann_window(N_FFT, device=self.device)
        gen = torch.Generator(device="cpu").manual_seed(self.cfg.seed)
        phase = torch.rand(mag.shape, generator=gen).to(self.device) * 2 * torch.pi
        mag = mag.transpose(1, 2).contiguous()  # [b, n, 513]: frame-major, as stft_frames gives
        spec = torch.polar(mag, phase.transpose(1, 2))
        prev = torch.zeros_like(spec)
        normaliser = overlap_add_normaliser(window, hop, spec.shape[1], length) if N_FFT % hop == 0 else None
        for _ in range(self.cfg.gl_iters):
            proj = stft_frames(istft_frames(spec, hop, window, length, normaliser), hop, window)
            # proj + momentum (proj - prev), the "fast" in fast Griffin-Lim, as one float op on the real views
            accel = torch.view_as_complex(torch.lerp(torch.view_as_real(prev), torch.view_as_real(proj),
                                                     1 + self.cfg.momentum))
            prev = proj
            re, im = torch.view_as_real(accel).unbind(-1)
            # |accel|^2 from real products: cheaper than abs(), and unlike a complex product it rounds the
            # same whatever the thread count (64 momentum steps would amplify a last-bit difference)
            power = re * re + im * im
            spec = accel * (mag * torch.rsqrt(power.clamp_min(1e-24)))  # keep the phase, impose the magnitude
        return istft_frames(spec, hop, window, length, normaliser)
