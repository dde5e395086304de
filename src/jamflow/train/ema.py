"""Exponential moving average of the weights; inference checkpoints are exported from it.

Same schedule as ema_pytorch (which F5-TTS trains with): copy the weights for the first
`update_after_step` updates, then every `update_every` updates move towards them with decay
min(beta, 1 - (1 + k / inv_gamma) ** -power), k = updates since the copying stopped.
"""
from __future__ import annotations

import torch

from jamflow.train.config import EMAConfig


class EMA:
    def __init__(self, model: torch.nn.Module, cfg: EMAConfig):
        self.cfg = cfg
        self.step = 0
        # fp32 shadow of every parameter, frozen ones included, so the export is a complete model
        self.shadow = {name: p.detach().float().clone() for name, p in model.named_parameters()}

    def decay(self) -> float:
        k = max(self.step - self.cfg.update_after_step - 1, 0)
        value = 1 - (1 + k / self.cfg.inv_gamma) ** -self.cfg.power
        return min(max(value, 0.0), self.cfg.beta)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.step += 1
        params = dict(model.named_parameters())
        if self.step <= self.cfg.update_after_step:
            for name, value in self.shadow.items():
                value.copy_(params[name].detach())
            return
        if self.step % self.cfg.update_every:
            return
        weight = 1 - self.decay()
        for name, value in self.shadow.items():
            value.lerp_(params[name].detach().float(), weight)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.shadow)

    def load_state_dict(self, tensors: dict[str, torch.Tensor], step: int) -> None:
        missing = sorted(set(self.shadow) - set(tensors))
        if missing:
            raise KeyError(f"EMA state lacks {missing[:3]}")
        for name, value in self.shadow.items():
            value.copy_(tensors[name])
        self.step = int(step)

    @torch.no_grad()
    def copy_to(self, model: torch.nn.Module) -> None:
        """Write the averaged weights into `model` (for sampling or export)."""
        for name, p in model.named_parameters():
            p.copy_(self.shadow[name])
