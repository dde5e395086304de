"""Rotary position embedding, F5-TTS / x-transformers (>= 1.30) layout.

Adjacent channel pairs (2i, 2i+1) rotate together by angle pos * inv_freq[i], inv_freq[i] =
base^(-2i/dim_head). Positions may be fractional: the motion stream uses k * mel_fps / motion_fps
so a motion frame and the mel frame at the same instant get the same rotation ("aligned RoPE").
"""
from __future__ import annotations

import torch
from torch import nn


class Rotation:
    """The RoPE angles of one layout [n, d_rot] and their cos / sin tables. Every block's q and k rotate by
    the same angles, so the tables are made once per dtype instead of at each of those calls."""

    def __init__(self, angles: torch.Tensor):
        self.angles = angles  # [n, d_rot], each frequency repeated for its pair
        self._tables: dict[torch.dtype, tuple[torch.Tensor, torch.Tensor]] = {}

    def tables(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """-> cos [n, d_rot], and sin with the sign of rotate_pairs folded in: (-sin f0, sin f0, -sin f1, ...),
        so x * cos + swap_pairs(x) * signed_sin == x * cos + rotate_pairs(x) * sin bit for bit."""
        if dtype not in self._tables:
            sign = torch.tensor([-1.0, 1.0], device=self.angles.device).repeat(self.angles.shape[-1] // 2)
            self._tables[dtype] = self.angles.cos().to(dtype), (self.angles.sin() * sign).to(dtype)
        return self._tables[dtype]


class RotaryEmbedding(nn.Module):
    def __init__(self, dim_head: int, base: float = 10000.0):
        super().__init__()
        inv_freq = 1.0 / (base ** (torch.arange(0, dim_head, 2).float() / dim_head))
        # persistent: F5 checkpoints carry it as `rotary_embed.inv_freq` [32]
        self.register_buffer("inv_freq", inv_freq)

    def forward(self, positions: torch.Tensor) -> Rotation:
        """positions [n] (float) -> the Rotation of angles [n, dim_head], each frequency repeated for its pair."""
        angles = positions.to(self.inv_freq.dtype)[:, None] * self.inv_freq[None, :]  # [n, d/2]
        return Rotation(angles.repeat_interleave(2, dim=-1))  # f0, f0, f1, f1, ...


def rotate_pairs(x: torch.Tensor) -> torch.Tensor:
    """(x0, x1, x2, x3, ...) -> (-x1, x0, -x3, x2, ...)."""
    pairs = x.unflatten(-1, (-1, 2))
    return torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)


def swap_pairs(x: torch.Tensor) -> torch.Tensor:
    """(x0, x1, x2, x3, ...) -> (x1, x0, x3, x2, ...)."""
    return x.unflatten(-1, (-1, 2)).flip(-1).flatten(-2)


def apply_rope(x: torch.Tensor, rope: Rotation | torch.Tensor, num_heads: int | None = None) -> torch.Tensor:
    """x [b, h, n, d], rope: a Rotation (or its angles [n, d_rot]) -> x with the first d_rot channels rotated.

    num_heads: rotate only heads [:num_heads] (F5 v0 rotates head 0 only); None = all heads.
    """
    rope = rope if isinstance(rope, Rotation) else Rotation(rope)
    cos, signed_sin = rope.tables(x.dtype)
    rot = cos.shape[-1]

    def rotate(t):
        if rot == t.shape[-1]:
            return t * cos + swap_pairs(t) * signed_sin
        t_rot, t_pass = t[..., :rot], t[..., rot:]
        return torch.cat((t_rot * cos + swap_pairs(t_rot) * signed_sin, t_pass), dim=-1)

    if num_heads is None:
        return rotate(x)
    return torch.cat((rotate(x[:, :num_heads]), x[:, num_heads:]), dim=1)
