"""jamflow: joint speech + talking-face motion generation with flow matching (JAM-Flow).

Public names are imported lazily so that `import jamflow` stays light:
    JAMFlow      inference API (from_pretrained + task methods)      jamflow.infer.api
    JAMModel     the joint MM-DiT network                            jamflow.model.jam
    AudioDiT     the F5-TTS-compatible audio stream                  jamflow.model.audio_dit
    JAMConfig, get_preset, PRESETS                                   jamflow.config
    Limits       input limits the API enforces (raise them per call)  jamflow.limits
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "JAMFlow": "jamflow.infer.api",
    "JAMModel": "jamflow.model.jam",
    "AudioDiT": "jamflow.model.audio_dit",
    "JAMConfig": "jamflow.config",
    "get_preset": "jamflow.config",
    "PRESETS": "jamflow.config",
    "Limits": "jamflow.limits",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'jamflow' has no attribute {name!r}")
