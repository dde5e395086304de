"""A harmonic-plus-noise vocoder: a small network reads the mel and a source-filter model speaks it.

A ConvNeXt stack at the mel frame rate predicts, per frame, the fundamental frequency F0 and, per STFT
bin (n_fft 1024, hop 256, the mel's own grid), a harmonic gain and phase and a noise gain. A
band-limited pulse train at F0 (every harmonic up to `pulse_fmax` at unit amplitude) is taken to the
STFT domain, shaped by the harmonic gain and phase, joined by complex Gaussian noise shaped by the noise
gain, and inverted:

    S = STFT(pulses(F0)) * exp(harm_gain) * e^(i harm_phase) + Z * exp(noise_gain)

The pulse train gives every voiced frame coherent harmonics with the right spacing, which a network
that predicts phase directly must otherwise learn (GAN-free, it does not: recipes/vocoder/README.md).
F0 runs on through unvoiced stretches (the net predicts a continuous contour), and the harmonic gain
there is what silences the pulses: there is no voicing decision to get wrong. It learns by
multi-resolution STFT and F0 losses, then a short adversarial fine-tune (`recipes/harmonic_vocoder/`),
and decodes at RTF ~0.02 on 2 CPU threads. The noise is drawn from a generator seeded per call, so a mel always
decodes to the same wave.
"""
from __future__ import annotations

import copy
import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from jamflow.audio.mel import N_FFT, N_MELS
from jamflow.errors import UserError
from jamflow.timeline import HOP_LENGTH, SAMPLE_RATE
from jamflow.vocoder.fallback import checked_mel

BINS = N_FFT // 2 + 1
SHIPPED = "vocoder_harmonic"  # folder in jamflow/assets


@dataclass
class HarmonicConfig:
    dim: int = 256
    layers: int = 8
    kernel: int = 7
    ff_mult: int = 3
    f0_min: float = 50.0  # the F0 head's range (a sigmoid maps onto log F0 between these)
    f0_max: float = 800.0
    pulse_fmax: float = 11500.0  # the pulse train's harmonics stop here
    seed: int = 0  # the noise generator's seed for every decode

    @classmethod
    def from_dict(cls, d: dict) -> "HarmonicConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise UserError(f"vocoder: expected harmonic config keys {sorted(known)}, got unknown {unknown}")
        return cls(**d)


class ConvNeXtBlock(nn.Module):
    def __init__(self, dim: int, kernel: int, ff_mult: int):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, dim * ff_mult), nn.GELU(), nn.Linear(dim * ff_mult, dim))
        self.scale = nn.Parameter(torch.full((dim,), 0.1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [b, dim, n]
        h = self.ff(self.norm(self.dwconv(x).transpose(1, 2)))
        return x + (h * self.scale).transpose(1, 2)


class HarmonicNoiseNet(nn.Module):
    """log-mel [b, 100, n] -> the source-filter parameters of every frame (`forward`'s dict)."""

    def __init__(self, cfg: HarmonicConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Conv1d(N_MELS, cfg.dim, 7, padding=3)
        self.blocks = nn.ModuleList(ConvNeXtBlock(cfg.dim, cfg.kernel, cfg.ff_mult) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, 2 + 3 * BINS)  # log F0, voicing logit, harmonic gain, phase, noise gain
        with torch.no_grad():  # start quiet: small gains, the noise under the harmonics
            self.head.weight.mul_(0.1)
            self.head.bias.zero_()
            self.head.bias[2: 2 + BINS] = -3.0
            self.head.bias[2 + 2 * BINS:] = -5.0

    def forward(self, mel: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.embed(mel)
        for block in self.blocks:
            x = block(x)
        h = self.head(self.norm(x.transpose(1, 2))).float()  # [b, n, 2 + 3 * 513]
        lo, hi = math.log(self.cfg.f0_min), math.log(self.cfg.f0_max)
        return {
            "log_f0": lo + (hi - lo) * torch.sigmoid(h[..., 0]),  # [b, n]
            "voiced_logit": h[..., 1],  # [b, n]: trained as an auxiliary target, not used to gate
            "harm_gain": h[..., 2: 2 + BINS],  # [b, n, 513] log
            "harm_phase": math.pi * torch.tanh(h[..., 2 + BINS: 2 + 2 * BINS]),  # [b, n, 513] radians
            "noise_gain": h[..., 2 + 2 * BINS:],  # [b, n, 513] log
        }


def frames_to_samples(x: torch.Tensor, length: int) -> torch.Tensor:
    """A value per mel frame [b, n] (frame k centred on sample k * 256) -> per sample [b, length], linearly
    interpolated between frame centres and held after the last."""
    n = x.shape[1]
    per_sample = F.interpolate(x[:, None], size=(n - 1) * HOP_LENGTH + 1, mode="linear", align_corners=True)[:, 0]
    return F.pad(per_sample, (0, max(0, length - per_sample.shape[1])), mode="replicate")[:, :length]


def pulse_train(f0: torch.Tensor, length: int, fmax: float) -> torch.Tensor:
    """F0 [b, n] in Hz at the mel frames -> [b, length] pulses: the sum of every harmonic below fmax at unit
    amplitude, sum_h cos(h phi) = sin((H + 1/2) phi) / (2 sin(phi / 2)) - 1/2."""
    f = frames_to_samples(f0.double(), length)
    phase = torch.remainder(torch.cumsum(f / SAMPLE_RATE, dim=1), 1.0) * (2 * math.pi)  # float64: no drift
    harmonics = torch.floor(fmax / f)
    half = torch.sin(phase / 2)
    at_pulse = half.abs() < 1e-4  # the quotient's limit there is H
    ratio = torch.sin((harmonics + 0.5) * phase) / torch.where(at_pulse, torch.ones_like(half), 2 * half)
    return (torch.where(at_pulse, harmonics, ratio) - 0.5).float()


def synthesize(parts: dict[str, torch.Tensor], f0: torch.Tensor, length: int, fmax: float,
               generator: torch.Generator | None = None, voiced: torch.Tensor | None = None) -> torch.Tensor:
    """The source-filter model: parts of `HarmonicNoiseNet` ([b, n, 513] each) and F0 [b, n] -> wave [b, length].
    `voiced` [b, n] bool silences the pulses in unvoiced frames (a training stage; decoding leaves them on)."""
    window = torch.hann_window(N_FFT, device=f0.device)
    unit = 2.0 / window.sum()  # a unit-amplitude cosine then peaks at 1 in the STFT
    pulses = pulse_train(f0, length, fmax) * unit
    if voiced is not None:
        pulses = pulses * frames_to_samples(voiced.float(), length)
    source = torch.stft(pulses, N_FFT, HOP_LENGTH, N_FFT, window, center=True,
                        return_complex=True)[..., : f0.shape[1]]  # [b, 513, n]
    harmonic = torch.polar(torch.exp(parts["harm_gain"].clamp(max=6.0)), parts["harm_phase"]).transpose(1, 2)
    noise_gain = torch.exp(parts["noise_gain"].clamp(max=6.0)).transpose(1, 2)
    shape = noise_gain.shape
    noise = torch.complex(torch.randn(shape, generator=generator), torch.randn(shape, generator=generator))
    spec = source * harmonic + noise.to(f0.device) * (noise_gain * 0.5 ** 0.5)  # E|noise|^2 = gain^2
    return torch.istft(spec, N_FFT, HOP_LENGTH, N_FFT, window, center=True, length=length)


class HarmonicVocoder:
    """`decode(log-mel [b, 100, n]) -> wav [b, (n - 1) * 256]` at 24 kHz."""

    sample_rate = SAMPLE_RATE

    def __init__(self, net: HarmonicNoiseNet, device: str = "cpu", folder: Path | None = None):
        self.device = torch.device(device)
        self.net = net.eval().to(self.device)
        self.folder = folder

    @classmethod
    def from_pretrained(cls, folder, device: str = "cpu") -> "HarmonicVocoder":
        """A folder with config.json ({"harmonic": HarmonicConfig fields}) and model.safetensors."""
        from safetensors.torch import load_file

        folder = Path(folder)
        try:
            cfg = HarmonicConfig.from_dict(json.loads((folder / "config.json").read_text())["harmonic"])
            state = load_file(str(folder / "model.safetensors"))
        except (OSError, ValueError, KeyError, TypeError) as e:
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise UserError(f"vocoder: expected a harmonic vocoder (config.json + model.safetensors) in {folder}, "
                            f"got {reason}") from e
        net = HarmonicNoiseNet(cfg)
        net.load_state_dict({k: v.float() for k, v in state.items()})
        return cls(net, device, folder)

    @classmethod
    def shipped(cls, device: str = "cpu") -> "HarmonicVocoder":
        from importlib.resources import files

        return cls.from_pretrained(Path(str(files("jamflow.assets") / SHIPPED)), device)

    def save_pretrained(self, folder, dtype: torch.dtype = torch.float16) -> Path:
        from safetensors.torch import save_file

        from jamflow.fileio import atomic_path

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().to("cpu", dtype).contiguous() for k, v in self.net.state_dict().items()}
        with atomic_path(folder / "model.safetensors") as tmp:
            save_file(state, str(tmp))
        with atomic_path(folder / "config.json") as tmp:
            Path(tmp).write_text(json.dumps({"format": "jamflow-vocoder", "harmonic": asdict(self.net.cfg)}, indent=1))
        return folder

    def to(self, device):
        return HarmonicVocoder(copy.deepcopy(self.net), device, self.folder)  # this one keeps its own

    @torch.inference_mode()
    def decode(self, mel: torch.Tensor) -> torch.Tensor:
        mel, length = checked_mel(mel)
        parts = self.net(mel.to(self.device, torch.float32))
        generator = torch.Generator().manual_seed(self.net.cfg.seed)
        return synthesize(parts, torch.exp(parts["log_f0"]), length, self.net.cfg.pulse_fmax, generator)
