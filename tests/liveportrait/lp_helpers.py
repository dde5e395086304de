"""Test helpers: random LivePortrait checkpoints written in the official key layout."""
from __future__ import annotations

import os

import torch

from jamflow.render.liveportrait.weights import FILES, official_keys


def random_state(shapes: dict, seed: int = 0, ddp: bool = False) -> dict:
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, shape in shapes.items():
        if k.endswith("num_batches_tracked"):
            v = torch.tensor(7)
        elif k.endswith("running_var"):
            v = torch.rand(shape, generator=g) + 0.5
        elif k.endswith(("weight_u", "weight_v")):
            v = torch.nn.functional.normalize(torch.randn(shape, generator=g), dim=0)
        else:
            v = torch.randn(shape, generator=g) * 0.05
        sd[("module." + k) if ddp else k] = v
    return sd


def write_checkpoints(root, nets: str = "FMWGS", ddp_s: bool = True) -> dict:
    """Write random official checkpoints under root/base_models, root/retargeting_models; return them."""
    written = {}
    for i, n in enumerate(nets):
        path = os.path.join(root, FILES[n])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if n == "S":
            sd = {g: random_state(s, seed=10 + j, ddp=ddp_s) for j, (g, s) in enumerate(official_keys("S").items())}
        else:
            sd = random_state(official_keys(n), seed=i)
        torch.save(sd, path)
        written[n] = sd
    return written
