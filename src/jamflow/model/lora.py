"""Low-rank adapters (LoRA, Hu et al. 2021) on the DiT blocks' linears, for the few-step student.

The student is the teacher plus W += (alpha / rank) B A on every linear of both streams' blocks
(attention q/k/v/out, feed-forward, adaLN modulation). Only A and B train, so the teacher is the same
module with the adapters switched off (`adapters_off`) and what ships is a few MB of A and B next to
the teacher, not a second model. At load time the adapters are folded into the weights (`merge`),
so the student costs exactly what the teacher does per call.
"""
from __future__ import annotations

import math
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from jamflow.errors import UserError

LORA_KEYS = ("lora_a", "lora_b")


class LoRALinear(nn.Linear):
    """nn.Linear with a low-rank update; its weight and bias keep the base layer's names (and tensors),
    so a state dict of the base model loads into it unchanged."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        # on "meta": the layer takes the base's own tensors, so its fresh init would be thrown away
        super().__init__(base.in_features, base.out_features, bias=base.bias is not None, device="meta")
        self.weight, self.bias = base.weight, base.bias
        self.rank, self.scale = rank, alpha / rank
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features, device=base.weight.device))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank, device=base.weight.device))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))  # B = 0: the student starts as the teacher
        self.enabled = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.linear(x, self.weight, self.bias)
        if not self.enabled:
            return out
        return out + F.linear(F.linear(x, self.lora_a.to(x.dtype)), self.lora_b.to(x.dtype)) * self.scale

    def merged(self) -> nn.Linear:
        """A plain nn.Linear with the update folded into the weight."""
        out = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None,
                        device=self.weight.device, dtype=self.weight.dtype)
        with torch.no_grad():
            out.weight.copy_(self.weight + (self.lora_b @ self.lora_a) * self.scale)
            if self.bias is not None:
                out.bias.copy_(self.bias)
        return out


def _block_linears(model: nn.Module):
    """(parent module, attribute name, linear) for every nn.Linear inside the blocks of both streams."""
    for stream in (model.audio, getattr(model, "motion", None)):
        if stream is None:
            continue
        for parent in stream.blocks.modules():
            for name, child in parent.named_children():
                if isinstance(child, nn.Linear):
                    yield parent, name, child


def named_block_linears(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    """(name in the model, linear) for every nn.Linear inside the blocks of both streams."""
    names = {id(m): n for n, m in model.named_modules()}
    return [(names[id(linear)], linear) for _, _, linear in _block_linears(model)]


def add_lora(model: nn.Module, rank: int, alpha: float | None = None) -> int:
    """Put adapters of `rank` on every block linear (in place); alpha defaults to rank (scale 1).
    -> the number of adapter parameters."""
    if rank < 1:
        raise UserError(f"lora_rank: expected >= 1, got {rank}")
    count = 0
    for parent, name, linear in list(_block_linears(model)):
        if isinstance(linear, LoRALinear):
            raise UserError("add_lora: the model already has adapters")
        adapted = LoRALinear(linear, rank, float(alpha if alpha is not None else rank))
        setattr(parent, name, adapted)
        count += adapted.lora_a.numel() + adapted.lora_b.numel()
    return count


def is_lora_param(name: str) -> bool:
    return name.rsplit(".", 1)[-1] in LORA_KEYS


def lora_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Only the adapter tensors, by their names in the model."""
    return {k: v.detach() for k, v in model.state_dict().items() if is_lora_param(k)}


@contextmanager
def adapters_off(model: nn.Module):
    """Run the base model (the teacher) inside the block; the adapters come back as they were after."""
    layers = [(m, m.enabled) for m in model.modules() if isinstance(m, LoRALinear)]
    for layer, _ in layers:
        layer.enabled = False
    try:
        yield
    finally:  # as they were: the blocks nest
        for layer, enabled in layers:
            layer.enabled = enabled


def unwrap_lora(model: nn.Module) -> nn.Module:
    """Drop every adapter (in place) -> the model with plain nn.Linear layers on the same, unchanged weights."""
    for parent, name, linear in list(_block_linears(model)):
        if isinstance(linear, LoRALinear):
            plain = nn.Linear(linear.in_features, linear.out_features, bias=linear.bias is not None, device="meta")
            plain.weight, plain.bias = linear.weight, linear.bias
            setattr(parent, name, plain)
    return model


def merge(model: nn.Module) -> nn.Module:
    """Fold every adapter into its linear (in place) -> the model, with plain nn.Linear layers again."""
    for parent, name, linear in list(_block_linears(model)):
        if isinstance(linear, LoRALinear):
            setattr(parent, name, linear.merged())
    return model
