"""adaLN-zero DiT block (F5-TTS layout), split into before / after attention so that a joint layer
can run the attention of two streams in one call between the halves."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from jamflow.model.attention import Attention


class AdaLayerNorm(nn.Module):
    """LayerNorm (no affine) modulated by the time embedding; 6 chunks in F5's order:
    shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp."""

    def __init__(self, dim: int):
        super().__init__()
        self.linear = nn.Linear(dim, dim * 6)
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)

    def forward(self, x: torch.Tensor, t: torch.Tensor):
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = self.linear(F.silu(t)).chunk(6, dim=-1)
        h = self.norm(x) * (1 + scale_msa[:, None]) + shift_msa[:, None]
        return h, (gate_msa, shift_mlp, scale_mlp, gate_mlp)


class AdaLayerNormFinal(nn.Module):
    """Final modulation; 2 chunks in F5's order: scale, shift."""

    def __init__(self, dim: int):
        super().__init__()
        self.linear = nn.Linear(dim, dim * 2)
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        scale, shift = self.linear(F.silu(t)).chunk(2, dim=-1)
        return self.norm(x) * (1 + scale[:, None]) + shift[:, None]


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int, dropout: float):
        super().__init__()
        self.fc1 = nn.Linear(dim, dim * mult)
        self.fc2 = nn.Linear(dim * mult, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.dropout(F.gelu(self.fc1(x), approximate="tanh")))


class DiTBlock(nn.Module):
    """x [b, n, dim], t [b, dim] -> [b, n, dim]. Pre-norm adaLN-zero: attention then FFN, both gated."""

    def __init__(self, dim: int, heads: int, dim_head: int, ff_mult: int, dropout: float, rope_heads: int | None = None):
        super().__init__()
        self.adaln = AdaLayerNorm(dim)
        self.attn = Attention(dim, heads, dim_head, dropout, rope_heads)
        self.ff_norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ff = FeedForward(dim, ff_mult, dropout)

    def before_attention(self, x: torch.Tensor, t: torch.Tensor):
        return self.adaln(x, t)  # (normalised input of the attention, modulation for the rest)

    def after_attention(self, x: torch.Tensor, attn_out: torch.Tensor, mod) -> torch.Tensor:
        gate_msa, shift_mlp, scale_mlp, gate_mlp = mod
        x = x + gate_msa[:, None] * attn_out
        h = self.ff_norm(x) * (1 + scale_mlp[:, None]) + shift_mlp[:, None]
        return x + gate_mlp[:, None] * self.ff(h)

    def forward(self, x, t, rope=None, mask=None):
        h, mod = self.before_attention(x, t)
        return self.after_attention(x, self.attn(h, rope, mask), mod)

    def zero_init(self) -> None:
        nn.init.zeros_(self.adaln.linear.weight)
        nn.init.zeros_(self.adaln.linear.bias)


def zero_init_stream(blocks, norm_out: AdaLayerNormFinal, proj_out: nn.Linear) -> None:
    """adaLN-zero for a whole stream: every block starts as identity and the output at 0 (F5 / DiT)."""
    for block in blocks:
        block.zero_init()
    for p in (*norm_out.linear.parameters(), *proj_out.parameters()):
        nn.init.zeros_(p)
