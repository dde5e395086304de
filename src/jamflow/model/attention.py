"""Attention: per-stream projections, one SDPA call, the masks (padding + cross-modal window) and
the backends that run the joint layers.

Self-attention and joint attention share the same projections: a joint layer projects each stream
with its own to_q/to_k/to_v, rotates each with its own (time-aligned) RoPE, concatenates on the
sequence axis [audio; motion], attends once, and splits back (MM-DiT, as in SD3 / F5's MMDiT).
How the joint layers attend is an `AttentionBackend` chosen when the model is built: "sdpa"
(default) or "flex" (block-sparse FlexAttention for windowed joint layers). Both give the same
results.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from jamflow.errors import UserError
from jamflow.model.rope import apply_rope


class Attention(nn.Module):
    """Multi-head attention projections for one stream. dim -> heads * dim_head -> dim."""

    def __init__(self, dim: int, heads: int, dim_head: int, dropout: float = 0.0, rope_heads: int | None = None):
        super().__init__()
        inner = heads * dim_head
        self.heads, self.dim_head, self.rope_heads = heads, dim_head, rope_heads
        self.to_q = nn.Linear(dim, inner)
        self.to_k = nn.Linear(dim, inner)
        self.to_v = nn.Linear(dim, inner)
        self.to_out = nn.Linear(inner, dim)
        self.dropout = nn.Dropout(dropout)

    def project(self, x: torch.Tensor, rope: torch.Tensor | None):
        """x [b, n, dim] -> q, k, v [b, h, n, dh], q and k rotated by rope angles [n, dh]."""
        b, n, _ = x.shape
        q, k, v = (p(x).view(b, n, self.heads, self.dim_head).transpose(1, 2) for p in (self.to_q, self.to_k, self.to_v))
        if rope is not None:
            q, k = apply_rope(q, rope, self.rope_heads), apply_rope(k, rope, self.rope_heads)
        return q, k, v

    def output(self, o: torch.Tensor) -> torch.Tensor:
        """o [b, h, n, dh] -> [b, n, dim]."""
        return self.dropout(self.to_out(o.transpose(1, 2).flatten(2)))

    def forward(self, x: torch.Tensor, rope: torch.Tensor | None = None, mask: torch.Tensor | None = None):
        q, k, v = self.project(x, rope)
        return self.output(attend(q, k, v, mask))


def attend(q, k, v, mask) -> torch.Tensor:
    """q [b, h, nq, dh], k / v [b, h, nk, dh] -> [b, h, nq, dh] by SDPA.

    mask [b or 1, 1, nq, nk]: boolean (True = may attend) from self-attention layers (padding_mask),
    additive (0 / -inf, in q's dtype) from joint layers (Layout.joint_mask_for); None = no mask.
    """
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


class AttentionBackend:
    """SDPA joint layers: the joint mask is a dense [b or 1, 1, n+m, n+m] tensor (joint_mask)."""

    name = "sdpa"

    def joint_mask(self, audio_valid, motion_valid, b: int, n: int, m: int, mel_per_motion: float,
                   window_mel: float | None, device=None):
        return joint_mask(audio_valid, motion_valid, n, m, mel_per_motion, window_mel, device)

    def attend(self, q, k, v, mask) -> torch.Tensor:
        return attend(q, k, v, mask)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class FlexAttentionBackend(AttentionBackend):
    """Windowed joint layers as a FlexAttention BlockMask (flex_joint_mask), so blocks outside the
    window are skipped; compiled on CUDA, eager (forward only, slower) elsewhere. Without a window
    nothing is sparse and the joint layers run as with SDPA."""

    name = "flex"

    def joint_mask(self, audio_valid, motion_valid, b, n, m, mel_per_motion, window_mel, device=None):
        if window_mel is None:
            return super().joint_mask(audio_valid, motion_valid, b, n, m, mel_per_motion, window_mel, device)
        return flex_joint_mask(audio_valid, motion_valid, b, n, m, mel_per_motion, window_mel, device)

    def attend(self, q, k, v, mask) -> torch.Tensor:
        if mask is None or isinstance(mask, torch.Tensor):
            return attend(q, k, v, mask)
        return _flex_attention(q, k, v, block_mask=mask)


ATTENTION_BACKENDS = {"sdpa": AttentionBackend, "flex": FlexAttentionBackend}


def attention_backend(choice: str | AttentionBackend) -> AttentionBackend:
    """A backend by name ("sdpa", "flex"), or the given backend itself."""
    if isinstance(choice, AttentionBackend):
        return choice
    if choice not in ATTENTION_BACKENDS:
        raise UserError(f"attention: expected one of {sorted(ATTENTION_BACKENDS)}, got {choice!r}")
    return ATTENTION_BACKENDS[choice]()


_FLEX = {}  # the compiled kernel, shared by every model (compiling is slow)


def _flex_attention(q, k, v, block_mask):
    from torch.nn.attention.flex_attention import flex_attention

    if q.is_cuda:  # compiled kernel on CUDA; eager (reference speed, forward only) elsewhere
        if "compiled" not in _FLEX:
            _FLEX["compiled"] = torch.compile(flex_attention, dynamic=True)
        return _FLEX["compiled"](q, k, v, block_mask=block_mask)
    return flex_attention(q, k, v, block_mask=block_mask)


def flex_joint_mask(audio_valid, motion_valid, b: int, n: int, m: int, mel_per_motion: float,
                    window_mel: float | None, device=None):
    """The joint_mask rule as a FlexAttention BlockMask: blocks outside the window are skipped."""
    from torch.nn.attention.flex_attention import create_block_mask

    a_len = audio_valid.sum(1) if audio_valid is not None else torch.full((b,), n, device=device)
    m_len = motion_valid.sum(1) if motion_valid is not None else torch.full((b,), m, device=device)

    def rule(batch, head, qi, ki):
        q_audio, k_audio = qi < n, ki < n
        tq = torch.where(q_audio, qi.float(), (qi - n).float() * mel_per_motion)
        tk = torch.where(k_audio, ki.float(), (ki - n).float() * mel_per_motion)
        seen = q_audio == k_audio
        if window_mel is not None:
            seen = seen | ((tq - tk).abs() <= window_mel)
        else:
            seen = seen | (q_audio != k_audio)
        key_valid = torch.where(k_audio, ki < a_len[batch], (ki - n) < m_len[batch])
        return (seen & key_valid) | (qi == ki)

    return create_block_mask(rule, b, None, n + m, n + m, device=device)


def padding_mask(valid: torch.Tensor | None) -> torch.Tensor | None:
    """valid [b, n] bool -> key-padding mask [b, 1, 1, n]; None when every frame is valid.

    An item with no valid frame at all would leave its rows fully masked (NaN in some SDPA
    kernels, and NaN leaks through zero attention weights), so then each frame also sees itself.
    """
    if valid is None or bool(valid.all()):
        return None  # nothing to mask: SDPA without a mask gives the same values, a little faster
    if bool(valid.any(dim=1).all()):
        return valid[:, None, None, :]
    n = valid.shape[1]
    return (valid[:, None, :] | torch.eye(n, dtype=torch.bool, device=valid.device))[:, None]


def joint_mask(
    audio_valid: torch.Tensor | None,  # [b, n] bool or None (all valid)
    motion_valid: torch.Tensor | None,  # [b, m] bool or None
    n: int,
    m: int,
    mel_per_motion: float,
    window_mel: float | None,  # half-width of the cross-modal window in mel frames; None = global
    device=None,
) -> torch.Tensor | None:
    """Mask over the concatenated sequence [audio n; motion m] -> [b or 1, 1, n+m, n+m] bool.

    Within a stream: everything (minus padding). Across streams: mel frame i and motion frame k see
    each other iff |i - k * mel_per_motion| <= window_mel. Returns None when nothing is masked, so
    SDPA can take its mask-free path.
    """
    if window_mel is None and audio_valid is None and motion_valid is None:
        return None
    size = n + m
    if window_mel is None:
        allowed = torch.ones(1, 1, size, size, dtype=torch.bool, device=device)
    else:
        t_audio = torch.arange(n, device=device, dtype=torch.float32)
        t_motion = torch.arange(m, device=device, dtype=torch.float32) * mel_per_motion
        near = (t_audio[:, None] - t_motion[None, :]).abs() <= window_mel  # [n, m]
        allowed = torch.ones(size, size, dtype=torch.bool, device=device)
        allowed[:n, n:] = near
        allowed[n:, :n] = near.T
        allowed = allowed[None, None]
    if audio_valid is not None or motion_valid is not None:
        b = (audio_valid if audio_valid is not None else motion_valid).shape[0]
        a = audio_valid if audio_valid is not None else torch.ones(b, n, dtype=torch.bool, device=device)
        mv = motion_valid if motion_valid is not None else torch.ones(b, m, dtype=torch.bool, device=device)
        keys = torch.cat((a, mv), dim=1)  # [b, n+m]
        # a padded query always sees itself, so no row is fully masked (see padding_mask)
        allowed = (allowed & keys[:, None, None, :]) | torch.eye(size, dtype=torch.bool, device=keys.device)
    return allowed
