"""SamplingProblem: what stays fixed over one sampler call, packed for the model once.

The known frames and their masks, the guidance strengths and the model's keyword arguments (text,
conditions, masks, the Layout of masks and RoPE angles, the text encoder's features) are built here
before the first step; every step only adds the current state and the flow time
(JAMModel.guided_velocity). With guidance the conditional batch and the null batch (text, audio and
motion conditions dropped) are packed into one batch of 2b.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from jamflow.errors import UserError
from jamflow.model.cfm import lens_to_mask


@dataclass
class SamplingProblem:
    batch: int  # b, items to generate
    device: torch.device
    mel_lens: torch.Tensor  # [b] long (CPU): frames to produce per item
    audio_valid: torch.Tensor  # [b, n] bool, frames < mel_lens
    audio_known: torch.Tensor  # [b, n] bool, known and valid
    audio_cond: torch.Tensor  # [b, n, 100] clean mel where known, 0 elsewhere
    motion_lens: torch.Tensor | None  # [b] long (CPU); the motion fields are None for audio only
    motion_valid: torch.Tensor | None  # [b, m] bool
    motion_known: torch.Tensor | None  # [b, m] bool
    motion_cond: torch.Tensor | None  # [b, m, dg] clean, normalised where known, 0 elsewhere
    cfg_audio: float  # guidance strength of the audio stream
    cfg_motion: float  # guidance strength of the motion stream
    cfg_until: float  # guide only the model calls at flow times t < cfg_until
    inputs: dict  # the model's keyword arguments for a packed call ([2b] guided, else [b])
    alone: dict | None  # the conditional half of `inputs` [b], for calls at t >= cfg_until

    @property
    def guided(self) -> bool:
        """Strengths of 0 skip the null branch."""
        return max(self.cfg_audio, self.cfg_motion) > 1e-5

    @property
    def packed_batch(self) -> int:
        return self.batch * 2 if self.guided else self.batch

    @property
    def with_motion(self) -> bool:
        return self.motion_cond is not None

    def pack(self, x: torch.Tensor | None) -> torch.Tensor | None:
        """[b, ...] -> [2b, ...] (the same input for the conditional and the null branch) when guided."""
        if x is None or not self.guided:
            return x
        return torch.cat([x] * 2)

    def start_noise(self, seed: int | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The ODE's start state -> (audio [b, n, 100], motion [b, m, dg] or None), 0 past each length;
        motion noise draws from seed + 1 so the two streams do not share noise."""
        n, mel_dim = self.audio_cond.shape[1:]
        y_a = initial_noise(self.mel_lens, n, mel_dim, seed).to(self.device)
        if not self.with_motion:
            return y_a, None
        m, dg = self.motion_cond.shape[1:]
        return y_a, initial_noise(self.motion_lens, m, dg, seed, generator_offset=1).to(self.device)

    def paste_known(self, y_a: torch.Tensor, y_m: torch.Tensor | None):
        """The end state with the known frames pasted back exactly and 0 past each length
        -> (mel [b, n, 100], motion [b, m, dg] or None)."""
        mel = torch.where(self.audio_known[..., None], self.audio_cond, y_a) * self.audio_valid[..., None]
        if not self.with_motion:
            return mel, None
        motion = torch.where(self.motion_known[..., None], self.motion_cond, y_m) * self.motion_valid[..., None]
        return mel, motion

    @classmethod
    def build(cls, model, text, mel_cond, mel_known, motion_cond=None, motion_known=None, motion_context=None,
              mel_lens=None, motion_lens=None, text_index=None, cfg_strength: float = 2.0,
              cfg_strength_motion: float | None = None, cfg_until: float = 1.0) -> SamplingProblem:
        """Check the inputs of `sampler.sample` (same names and shapes) and pack them for `model`.

        The motion stream takes part when motion_cond is given and the model has one; the motion
        stream's strength is cfg_strength_motion, default cfg_strength.
        """
        device = next(model.parameters()).device
        b, n, _ = mel_cond.shape
        _check_mask(mel_known, (b, n), "mel_known")
        mel_lens = _lengths(mel_lens, b, n, "mel_lens", "mel_cond")
        audio_valid = lens_to_mask(mel_lens, n).to(device)
        audio_known = mel_known.to(device) & audio_valid
        audio_cond = torch.where(audio_known[..., None], mel_cond.to(device), torch.zeros((), device=device))
        motion = (None,) * 4
        if motion_cond is not None and getattr(model, "motion", None) is not None:
            motion = _motion_fields(motion_cond, motion_known, motion_lens, b, device)
        if text_index is not None:
            _check_mask(text_index, (b, n), "text_index")
        cfg_motion = cfg_strength if cfg_strength_motion is None else cfg_strength_motion
        problem = cls(b, device, mel_lens, audio_valid, audio_known, audio_cond, *motion, cfg_strength, cfg_motion,
                      cfg_until, inputs={}, alone=None)
        context = motion_context.to(device) if problem.with_motion and motion_context is not None else None
        problem._pack_inputs(model, text.to(device), None if text_index is None else text_index.to(device), context)
        return problem

    def _pack_inputs(self, model, text, text_index, motion_context) -> None:
        """Fill `inputs` (and `alone`): masks and RoPE angles depend only on the lengths and the text
        encoder sees neither the state nor the time, so both are built here once, not at every call."""
        b, n = self.audio_valid.shape
        m = self.motion_cond.shape[1] if self.with_motion else None
        pack = self.pack
        drop = torch.tensor([False] * b + [True] * b if self.guided else [False] * b, device=self.device)
        fixed = dict(audio_cond=pack(self.audio_cond), text=pack(text), text_index=pack(text_index),
                     audio_mask=pack(self.audio_valid), drop_audio_cond=drop, drop_text=drop, drop_motion_cond=drop)
        if self.with_motion:
            fixed.update(motion_cond=pack(self.motion_cond), motion_context=pack(motion_context),
                         motion_mask=pack(self.motion_valid))
        fixed["layout"] = model.prepare(self.packed_batch, n, m, fixed["audio_mask"], fixed.get("motion_mask"),
                                        self.device)
        fixed["text_features"] = model.text_features(fixed["text"], fixed["layout"], drop, fixed["text_index"])
        self.inputs = fixed
        if self.guided and self.cfg_until < 1:  # late calls may run unguided: on the conditional half
            alone = {k: v[:b] if isinstance(v, torch.Tensor) else v for k, v in fixed.items() if k != "layout"}
            alone["layout"] = model.prepare(b, n, m, alone["audio_mask"], alone.get("motion_mask"), self.device)
            self.alone = alone


def initial_noise(lens, length: int, dim: int, seed: int | None, generator_offset: int = 0) -> torch.Tensor:
    """[b, length, dim] N(0, 1) for the first lens[i] frames of each item, 0 after.

    With a seed every item draws from its own generator seeded with `seed` (as F5 does), so an
    item gets the same start noise alone or in any batch.
    """
    out = torch.zeros(len(lens), length, dim)
    for i, n_i in enumerate(lens.tolist()):
        g = None
        if seed is not None:
            g = torch.Generator().manual_seed(int(seed) + generator_offset)
        out[i, :n_i] = torch.randn(n_i, dim, generator=g)
    return out


def _lengths(lens, b: int, length: int, name: str, of: str) -> torch.Tensor:
    """lens [b] (None = all `length`) -> long CPU tensor, checked against the padded length."""
    lens = torch.full((b,), length, dtype=torch.long) if lens is None else lens.long().cpu()
    if int(lens.max()) > length:
        raise UserError(f"{name}: expected <= {length} frames ({of} length), got {int(lens.max())}")
    return lens


def _check_mask(mask: torch.Tensor, shape: tuple, name: str) -> None:
    if mask.shape != shape:
        raise UserError(f"{name}: expected shape {shape}, got {tuple(mask.shape)}")


def _motion_fields(motion_cond, motion_known, motion_lens, b: int, device):
    """-> (motion_lens, motion_valid, motion_known, motion_cond) as SamplingProblem holds them."""
    m = motion_cond.shape[1]
    if motion_known is None:
        motion_known = torch.zeros(b, m, dtype=torch.bool)
    _check_mask(motion_known, (b, m), "motion_known")
    motion_lens = _lengths(motion_lens, b, m, "motion_lens", "motion_cond")
    valid = lens_to_mask(motion_lens, m).to(device)
    known = motion_known.to(device) & valid
    cond = torch.where(known[..., None], motion_cond.to(device), torch.zeros((), device=device))
    return motion_lens, valid, known, cond
