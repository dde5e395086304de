"""Sharded data parallel (PyTorch FSDP2, `fully_shard`) for models too big to replicate (base preset).

Parameters, gradients and AdamW moments are split over the processes; each block gathers its
weights for its own forward/backward. Sharding units: every block that JAMModel calls through its
forward (the per-stream layers), then the root, which holds the embeddings, the output layers and
the blocks of joint layers (those are driven through their methods, which FSDP's forward hooks would
not see, so their weights are gathered with the root's). Checkpoints stay in the same full,
unsharded format as DDP runs (gathered to the main process), keyed by parameter name.
"""
from __future__ import annotations

import torch
from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict,
                                                     get_optimizer_state_dict, set_model_state_dict,
                                                     set_optimizer_state_dict)

FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)
LOAD = StateDictOptions(full_state_dict=True)


def shard_model(model: torch.nn.Module, device: torch.device, world: int) -> torch.nn.Module:
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh(device.type, (world,))
    model.to(device)
    joint_audio = {a for a, _ in model.cfg.joint_layers}
    joint_motion = {j for _, j in model.cfg.joint_layers}
    for i, block in enumerate(model.audio.blocks):
        if i not in joint_audio:
            fully_shard(block, mesh=mesh)
    if model.motion is not None:
        for j, block in enumerate(model.motion.blocks):
            if j not in joint_motion:
                fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def full_tensor(t: torch.Tensor) -> torch.Tensor:
    """A DTensor gathered to a plain tensor (collective: every process must call it)."""
    return t.full_tensor() if hasattr(t, "full_tensor") else t


def shard_like(full: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    if hasattr(like, "device_mesh"):
        from torch.distributed.tensor import distribute_tensor

        return distribute_tensor(full.to(like.device, like.dtype), like.device_mesh, like.placements)
    return full.to(like.device, like.dtype)


def full_model_state(model) -> dict[str, torch.Tensor]:
    return get_model_state_dict(model, options=FULL)


def full_optimizer_state(model, optimizer) -> dict:
    return get_optimizer_state_dict(model, optimizer, options=FULL)


def load_model_state(model, state: dict) -> None:
    set_model_state_dict(model, state, options=LOAD)


def load_optimizer_state(model, optimizer, state: dict) -> None:
    set_optimizer_state_dict(model, optimizer, state, options=LOAD)
