"""Smoothing of motion over time, shared by inference (post-processing, seams) and face cropping."""
from __future__ import annotations

import math

import numpy as np


def gaussian_smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Smooth [T, c] along time with a Gaussian (edge-padded so the ends do not sag)."""
    if sigma <= 0 or len(x) < 2:
        return x
    radius = max(1, int(math.ceil(3 * sigma)))
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    k /= k.sum()
    padded = np.pad(x, ((radius, radius), (0, 0)), mode="edge")
    out = np.stack([np.convolve(padded[:, c], k, mode="valid") for c in range(x.shape[1])], axis=1)
    return out.astype(x.dtype)
