"""Audio-DiT: the F5-TTS DiT, parameter-for-parameter (f5_weights.py maps and loads the released weights).

    x, cond [b, n, 100]  noisy mel / known-frame mel (0 where unknown)
    text    [b, nt]      token ids, -1 = batch padding
    text_index [b, n]    optional: token position shown at each frame, -1 none (model/durations.py)
    time    [b]          flow time in [0, 1]
    ->      [b, n, 100]  velocity
"""
from __future__ import annotations

import torch
from torch import nn

from jamflow.config import AudioDiTConfig
from jamflow.model.attention import padding_mask
from jamflow.model.blocks import AdaLayerNormFinal, DiTBlock, zero_init_stream
from jamflow.model.embeddings import ConvPositionEmbedding, TextEmbedding, TimestepEmbedding, zero_where
from jamflow.model.rope import RotaryEmbedding


class AudioDiT(nn.Module):
    def __init__(self, cfg: AudioDiTConfig):
        super().__init__()
        self.cfg = cfg
        self.time_embed = TimestepEmbedding(cfg.dim)
        self.text_embed = TextEmbedding(cfg.text_num_embeds, cfg.text_dim, cfg.conv_layers, cfg.text_mask_padding,
                                        cfg.text_embedding_average_upsampling, cfg.text_max_pos,
                                        cfg.text_pos_window, cfg.text_sentence_ends or ())
        self.input_proj = nn.Linear(cfg.mel_dim * 2 + cfg.text_dim, cfg.dim)
        self.conv_pos = ConvPositionEmbedding(cfg.dim, cfg.conv_pos_kernel, cfg.conv_pos_groups)
        self.rope = RotaryEmbedding(cfg.dim_head)
        self.blocks = nn.ModuleList(
            DiTBlock(cfg.dim, cfg.heads, cfg.dim_head, cfg.ff_mult, cfg.dropout, cfg.pe_attn_head) for _ in range(cfg.depth))
        self.norm_out = AdaLayerNormFinal(cfg.dim)
        self.proj_out = nn.Linear(cfg.dim, cfg.mel_dim)
        self.zero_init()

    def zero_init(self) -> None:
        """adaLN-zero: every block starts as identity and the output at 0 (F5 / DiT)."""
        zero_init_stream(self.blocks, self.norm_out, self.proj_out)

    # --- pieces the joint model reuses ----------------------------------------------------
    def embed(self, x, cond, text, time, valid=None, drop_audio_cond=False, drop_text=False, rope=None,
              text_index=None, text_h=None):
        """-> hidden [b, n, dim], time embedding [b, dim], RoPE Rotation of angles [n, dim_head] (`rope` if given).
        text_h: the text encoder's output [b, n, text_dim] when the caller already has it."""
        b, n, _ = x.shape
        if time.dim() == 0:
            time = time.repeat(b)
        t = self.time_embed(time)
        if text_h is None:
            text_h = self.text_embed(text, n, drop_text=drop_text, valid=valid, text_index=text_index)
        cond = zero_where(drop_audio_cond, cond)
        h = self.input_proj(torch.cat((x, cond, text_h), dim=-1))
        h = h + self.conv_pos(h, valid)
        if rope is None:
            rope = self.rope(torch.arange(n, device=x.device))
        return h, t, rope

    def final(self, h, t):
        return self.proj_out(self.norm_out(h, t))

    # --- F5-style call ---------------------------------------------------------------------
    def forward(self, x, cond, text, time, mask=None, drop_audio_cond=False, drop_text=False, text_index=None):
        h, t, rope = self.embed(x, cond, text, time, mask, drop_audio_cond, drop_text, text_index=text_index)
        attn_mask = padding_mask(mask)
        for block in self.blocks:
            h = block(h, t, rope, attn_mask)
        return self.final(h, t)
