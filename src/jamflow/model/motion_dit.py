"""Motion-DiT: a DiT stream over motion frames (25 fps), sharing attention heads with the Audio-DiT.

    x       [b, m, dg]  noisy generated channels (normalised)
    cond    [b, m, dg]  known frames of the generated channels, 0 elsewhere
    context [b, m, dc]  per-frame channels the model only receives (dc may be 0)
    time    [b]         flow time (the same t as the audio stream)
    ->      [b, m, dg]  velocity

It has its own time embedding (the audio one is F5's, and may be frozen or loaded separately),
own adaLN-zero blocks and a zero-initialised output. Its RoPE positions are k * mel_fps / motion_fps.
"""
from __future__ import annotations

import torch
from torch import nn

from jamflow.config import MotionDiTConfig
from jamflow.model.blocks import AdaLayerNormFinal, DiTBlock, zero_init_stream
from jamflow.model.embeddings import ConvPositionEmbedding, TimestepEmbedding, zero_where
from jamflow.model.rope import RotaryEmbedding


class MotionDiT(nn.Module):
    def __init__(self, cfg: MotionDiTConfig, gen_dim: int, context_dim: int, mel_per_motion: float):
        super().__init__()
        self.cfg, self.gen_dim, self.context_dim, self.mel_per_motion = cfg, gen_dim, context_dim, mel_per_motion
        self.time_embed = TimestepEmbedding(cfg.dim)
        self.input_proj = nn.Linear(gen_dim * 2 + context_dim, cfg.dim)
        self.conv_pos = ConvPositionEmbedding(cfg.dim, cfg.conv_pos_kernel, cfg.conv_pos_groups)
        self.rope = RotaryEmbedding(cfg.dim_head)
        self.blocks = nn.ModuleList(
            DiTBlock(cfg.dim, cfg.heads, cfg.dim_head, cfg.ff_mult, cfg.dropout) for _ in range(cfg.depth))
        self.norm_out = AdaLayerNormFinal(cfg.dim)
        self.proj_out = nn.Linear(cfg.dim, gen_dim)
        zero_init_stream(self.blocks, self.norm_out, self.proj_out)

    def positions(self, m: int, device=None) -> torch.Tensor:
        """Aligned RoPE positions of m motion frames, in mel-frame units: k * mel_per_motion."""
        return torch.arange(m, device=device, dtype=torch.float32) * self.mel_per_motion

    def embed(self, x, cond, context, time, valid=None, drop_motion_cond=False):
        """-> hidden [b, m, dim], time embedding [b, dim]. The RoPE angles come from the joint model's
        Layout (rope(positions(m)))."""
        b, m, _ = x.shape
        if time.dim() == 0:
            time = time.repeat(b)
        if context is None:
            context = x.new_zeros(b, m, self.context_dim)
        cond = zero_where(drop_motion_cond, cond)
        h = self.input_proj(torch.cat((x, cond, context), dim=-1))
        h = h + self.conv_pos(h, valid)
        return h, self.time_embed(time)

    def final(self, h, t):
        return self.proj_out(self.norm_out(h, t))
