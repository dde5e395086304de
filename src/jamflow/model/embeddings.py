"""Embeddings shared by both streams: time, text (F5's ConvNeXt-V2 text encoder), conv positions.

`valid` masks ([b, n] bool, True = real frame) are optional everywhere: with None the code is
exactly F5's batch-of-one computation; with a mask, padded frames are kept out of every
cross-frame operation (convolutions, GRN statistics) so a padded batch gives the same numbers on
its valid frames as each item alone.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from jamflow.errors import UserError


# --------------------------------------------------------------------------------------- time

def sinusoidal_time(t: torch.Tensor, dim: int = 256, scale: float = 1000.0) -> torch.Tensor:
    """t [b] in [0, 1] -> [b, dim], [sin, cos] order, frequencies exp(-k ln(1e4) / (half - 1)) (F5)."""
    half = dim // 2
    dtype = torch.float64 if t.dtype == torch.float64 else torch.float32  # F5 computes in t's precision
    freqs = torch.exp(torch.arange(half, device=t.device, dtype=dtype) * -(math.log(10000.0) / (half - 1)))
    args = scale * t.to(dtype)[:, None] * freqs[None, :]
    return torch.cat((args.sin(), args.cos()), dim=-1)


class TimestepEmbedding(nn.Module):
    """t [b] -> [b, dim]: sinusoid(256) -> Linear -> SiLU -> Linear."""

    def __init__(self, dim: int, freq_dim: int = 256):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(sinusoidal_time(t, self.freq_dim).to(self.mlp[0].weight.dtype))


# --------------------------------------------------------------------------------------- text

def text_position_table(dim: int, max_pos: int, theta: float = 10000.0) -> torch.Tensor:
    """[max_pos, dim] = [cos(p f_j) | sin(p f_j)], f_j = theta^(-2j/dim) (F5's precompute_freqs_cis)."""
    freqs = 1.0 / (theta ** (torch.arange(0, dim, 2)[: dim // 2].float() / dim))
    angles = torch.outer(torch.arange(max_pos).float(), freqs)
    return torch.cat((angles.cos(), angles.sin()), dim=-1)


class GRN(nn.Module):
    """Global response normalisation over the sequence axis (ConvNeXt-V2), [b, n, d]."""

    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        xs = x if valid is None else x * valid[..., None]
        gx = torch.norm(xs, p=2, dim=1, keepdim=True)  # [b, 1, d]
        nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * nx) + self.beta + x


class ConvNeXtV2Block(nn.Module):
    def __init__(self, dim: int, hidden: int, kernel: int = 7):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, hidden)
        self.grn = GRN(hidden)
        self.pwconv2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """x [b, n, d] -> [b, n, d]."""
        h = self.dwconv(x.transpose(1, 2)).transpose(1, 2)
        h = F.gelu(self.pwconv1(self.norm(h)))
        h = self.pwconv2(self.grn(h, valid))
        return x + h


class TextEmbedding(nn.Module):
    """text ids [b, nt] (-1 = batch padding) -> frame-aligned text features [b, n, text_dim].

    F5 semantics: ids shift by +1 so padding becomes the filler row 0; the sequence is cut or
    filler-padded to the mel length n; a fixed sinusoid table is added; ConvNeXt-V2 blocks follow.
    mask_padding (v1) zeroes filler positions before and after every block. average_upsampling
    (ZipVoice-style, after the encoder, as F5 does it) spreads the real tokens evenly over the mel
    frames: token j of T covers n // T frames, the last n % T tokens one frame more. A text index
    [b, n] (jamflow.model.durations: the token position each frame shows, -1 none) replaces the even
    spread when given.
    """

    def __init__(self, vocab: int, dim: int, conv_layers: int, mask_padding: bool, average_upsampling: bool,
                 max_pos: int = 8192, pos_window: int = 0, sentence_ends=()):
        super().__init__()
        self.embed = nn.Embedding(vocab + 1, dim)
        self.mask_padding, self.average_upsampling, self.max_pos = mask_padding, average_upsampling, max_pos
        self.pos_window = pos_window
        self.register_buffer("sentence_ends", torch.tensor(sorted(sentence_ends), dtype=torch.long) + 1,
                             persistent=False)  # in the shifted ids (filler 0)
        self.blocks = nn.ModuleList(ConvNeXtV2Block(dim, dim * 2) for _ in range(conv_layers))
        if conv_layers:
            self.register_buffer("pos_table", text_position_table(dim, max_pos), persistent=False)

    def forward(self, text: torch.Tensor, n: int, drop_text=False, valid: torch.Tensor | None = None,
                text_index: torch.Tensor | None = None) -> torch.Tensor:
        b = text.shape[0]
        ids = (text + 1)[:, :n]
        ids = F.pad(ids, (0, n - ids.shape[1]), value=0)  # [b, n]
        if valid is not None:
            ids = ids.masked_fill(~valid, 0)  # tokens beyond an item's mel length are cut, as alone
        filler = ids == 0  # taken before dropping: the dropped branch still sees where text was (F5)
        ids = _where_batch(drop_text, torch.zeros_like(ids), ids)
        x = self.embed(ids)  # [b, n, d]
        if self.blocks:
            if self.pos_window:
                pos = windowed_positions(ids, self.sentence_ends, self.pos_window).clamp(max=self.max_pos - 1)
            else:
                pos = torch.arange(n, device=x.device).clamp(max=self.max_pos - 1)
            x = x + self.pos_table[pos]
            hide = filler if self.mask_padding else None
            if valid is not None:
                hide = ~valid if hide is None else hide | ~valid
            if hide is not None:
                x = x.masked_fill(hide[..., None], 0.0)
            for block in self.blocks:
                x = block(x, valid)
                if hide is not None:
                    x = x.masked_fill(hide[..., None], 0.0)
        if text_index is not None:
            if text_index.shape != (b, n):
                raise UserError(f"text_index: expected [{b}, {n}] (one token position per mel frame), got {list(text_index.shape)}")
            x = torch.gather(x, 1, text_index.clamp(0, n - 1)[..., None].expand(-1, -1, x.shape[-1]))
            x = x.masked_fill((text_index < 0)[..., None], 0.0)
            if valid is not None:
                x = x.masked_fill(~valid[..., None], 0.0)
        elif self.average_upsampling:
            x = average_upsample(x, ~filler, valid.sum(1) if valid is not None else torch.full((b,), n))
        return x


def windowed_positions(ids: torch.Tensor, sentence_ends: torch.Tensor, window: int) -> torch.Tensor:
    """ids [b, n] -> token positions [b, n] that run on across sentences and restart at 0 at the start of
    a sentence that would take the run past `window` tokens (a sentence longer than the window runs on).
    A sentence starts after a token in `sentence_ends`."""
    b, n = ids.shape
    out = torch.empty(b, n, dtype=torch.long)
    for row, row_ids in zip(out, ids.cpu()):
        bounds = [0] + [i + 1 for i in torch.nonzero(torch.isin(row_ids, sentence_ends.cpu())).flatten().tolist()
                        if i + 1 < n] + [n]
        run = 0
        for start, end in zip(bounds[:-1], bounds[1:]):
            if run and run + end - start > window:
                run = 0
            row[start:end] = torch.arange(run, run + end - start)
            run += end - start
    return out.to(ids.device)


def average_upsample(x: torch.Tensor, token_valid: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """x [b, n, d] with real tokens where token_valid -> [b, n, d], tokens spread over frames[i]."""
    from jamflow.model.durations import even_index

    out = torch.zeros_like(x)
    for i in range(x.shape[0]):
        tokens = x[i, token_valid[i]]  # [T, d]
        T, n_i = tokens.shape[0], int(frames[i])
        if T == 0 or n_i == 0:
            continue
        out[i, :n_i] = tokens[even_index(T, n_i).to(x.device)]
    return out


def _where_batch(flag, if_true: torch.Tensor, if_false: torch.Tensor) -> torch.Tensor:
    """Per-sample select: flag is a bool or a bool tensor [b]."""
    if isinstance(flag, bool):
        return if_true if flag else if_false
    shape = (-1,) + (1,) * (if_true.dim() - 1)
    return torch.where(flag.to(if_true.device).view(shape), if_true, if_false)


def zero_where(flag, x: torch.Tensor) -> torch.Tensor:
    """Zero the samples whose flag is set (condition dropout); flag bool or bool [b]."""
    if isinstance(flag, bool):
        return torch.zeros_like(x) if flag else x
    return _where_batch(flag, torch.zeros_like(x), x)


# --------------------------------------------------------------------------------------- positions

class ConvPositionEmbedding(nn.Module):
    """Two grouped Conv1d + Mish over [b, n, d]; padded frames zeroed between layers when valid is given."""

    def __init__(self, dim: int, kernel: int = 31, groups: int = 16):
        super().__init__()
        self.conv1 = nn.Conv1d(dim, dim, kernel, groups=groups, padding=kernel // 2)
        self.conv2 = nn.Conv1d(dim, dim, kernel, groups=groups, padding=kernel // 2)

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        keep = None if valid is None else valid[:, None, :].to(x.dtype)
        h = x.transpose(1, 2)
        if keep is not None:
            h = h * keep
        h = F.mish(self.conv1(h))
        if keep is not None:
            h = h * keep
        h = F.mish(self.conv2(h))
        if keep is not None:
            h = h * keep
        return h.transpose(1, 2)
