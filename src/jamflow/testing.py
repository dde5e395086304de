"""Tiny models and inputs for tests and benchmarks: one factory instead of a copy per test folder.

    folder = save_tiny_checkpoint(tmp / "tiny")   # a random tiny JAM model in the official layout
    wav = voiced_clip()                           # [38400] 1.6 s of a voiced-like signal at 24 kHz
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from jamflow.config import get_preset
from jamflow.model.jam import JAMModel
from jamflow.timeline import SAMPLE_RATE


def tiny_model(seed: int = 0, motion_spec: str = "lips") -> JAMModel:
    """The `tiny` preset with random weights, byte vocabulary (256)."""
    torch.manual_seed(seed)
    model = JAMModel(get_preset("tiny", audio=dict(text_num_embeds=256), motion_spec=motion_spec))
    # zero-init output layers would make every velocity 0; randomise so outputs depend on inputs
    with torch.no_grad():
        for p in model.parameters():
            if p.abs().sum() == 0 and p.dim() >= 1:
                p.normal_(0, 0.02)
    return model


def tiny_motion_stats() -> dict:
    """LivePortrait-like stats (exp offsets ~0.02, pose ~5 degrees, scale ~1.5), not identity: the
    (de)normalisation must be exercised, and the avatar needs a plausible face to draw."""
    rng = np.random.default_rng(0)
    mean = np.concatenate([rng.normal(0, 0.01, 63), [0, 0, 0], rng.normal(0, 0.01, 3), [1.5]])
    std = np.concatenate([rng.uniform(0.01, 0.03, 63), [5, 5, 3], [0.02] * 3, [0.05]])
    return {"mean": mean.tolist(), "std": std.tolist()}


def save_tiny_checkpoint(folder: Path, seed: int = 0, motion_spec: str = "lips") -> Path:
    """A tiny random checkpoint folder (config.json + model.safetensors) with motion stats."""
    tiny_model(seed, motion_spec).save_pretrained(folder, motion_stats=tiny_motion_stats())
    return Path(folder)


def voiced_clip(seconds: float = 1.6) -> np.ndarray:
    """[seconds * SAMPLE_RATE] float32: five harmonics of 140 Hz under a 3 Hz envelope, peak 0.1."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    wav = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 6)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    return (0.1 * wav / np.abs(wav).max()).astype(np.float32)
