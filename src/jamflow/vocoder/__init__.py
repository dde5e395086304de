"""Mel -> waveform. `load_vocoder()` gives Vocos when its weights are found, else the offline fallback.

Both have `.decode(mel [b, 100, n]) -> wav [b, samples]` at 24 kHz.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

from jamflow.vocoder.fallback import FallbackConfig, GriffinLimVocoder
from jamflow.vocoder.vocos import WEIGHT_NAMES, Vocos, VocosConfig

__all__ = ["load_vocoder", "find_vocos", "Vocos", "VocosConfig", "GriffinLimVocoder", "FallbackConfig"]

ENV_VAR = "JAMFLOW_VOCOS"
HF_REPO_DIR = "models--charactr--vocos-mel-24khz"


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


def load_vocoder(path=None, device: str = "cpu"):
    """Vocos from `path` (a folder with config.yaml + pytorch_model.bin); with no path, Vocos from
    the usual places (find_vocos), else the Griffin-Lim fallback with a warning.
    path="griffinlim" (or "fallback") asks for the fallback explicitly."""
    if path in ("griffinlim", "fallback"):
        return GriffinLimVocoder(device=device)
    if path is not None:
        return Vocos.from_pretrained(path, device=device)
    found = find_vocos()
    if found is not None:
        return Vocos.from_pretrained(found, device=device)
    warnings.warn("vocoder: no Vocos weights found (set $JAMFLOW_VOCOS to a folder with config.yaml + "
                  "pytorch_model.bin from charactr/vocos-mel-24khz); using the Griffin-Lim fallback, "
                  "which is intelligible but robotic", stacklevel=2)
    return GriffinLimVocoder(device=device)
