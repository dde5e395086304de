"""Rotary position embedding, F5-TTS / x-transformers (>= 1.30) layout.

Adjacent channel pairs (2i, 2i+1) rotate together by angle pos * inv_freq[i], inv_freq[i] =
base^(-2i/dim_head). Positions may be fractional: the motion stream uses k * mel_fps / motion_fps
so a motion frame and the mel frame at the same instant get the same rotation ("aligned RoPE").
"""
from __future__ import annotations

import torch
from torch import nn


class RotaryEmbedding(nn.Module):
    def __init__(self, dim_head: int, base: float = 10000.0):
        super().__init__()
        inv_freq = 1.0 / (base ** (torch.arange(0, dim_head, 2).float() / dim_head))
        # persistent: F5 checkpoints carry it as `rotary_embed.inv_freq` [32]
        self.register_buffer("inv_freq", inv_freq)

    def forward(self, positions: torch.Tensor) -> torch.Tensor:
        """positions [n] (float) -> angles [n, dim_head], each frequency repeated for its pair."""
        angles = positions.to(self.inv_freq.dtype)[:, None] * self.inv_freq[None, :]  # [n, d/2]
        return angles.repeat_interleave(2, dim=-1)  # f0, f0, f1, f1, ...


def rotate_pairs(x: torch.Tensor) -> torch.Tensor:
    """(x0, x1, x2, x3, ...) -> (-x1, x0, -x3, x2, ...)."""
    pairs = x.unflatten(-1, (-1, 2))
    return torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)


def apply_rope(x: torch.Tensor, angles: torch.Tensor, num_heads: int | None = None) -> torch.Tensor:
    """x [b, h, n, d], angles [n, d_rot] -> x with the first d_rot channels rotated.

    num_heads: rotate only heads [:num_heads] (F5 v0 rotates head 0 only); None = all heads.
    """
    rot = angles.shape[-1]
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)

    def rotate(t):
        t_rot, t_pass = t[..., :rot], t[..., rot:]
        return torch.cat((t_rot * cos + rotate_pairs(t_rot) * sin, t_pass), dim=-1)

    if num_heads is None:
        return rotate(x)
    return torch.cat((rotate(x[:, :num_heads]), x[:, num_heads:]), dim=1)
