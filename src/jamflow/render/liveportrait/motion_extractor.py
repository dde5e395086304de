"""M: motion extractor, a ConvNeXt-V2-tiny regressing LivePortrait's implicit keypoint parameters.

Portrait [b, 3, 256, 256] in [0, 1] -> dict of raw outputs: kp [b, 63], exp [b, 63],
pitch/yaw/roll [b, 66] bin logits, t [b, 3], scale [b, 1]. `kp_info` turns them into degrees
and [b, 21, 3] keypoints, and `to_motion70` into our 70-dim motion frame.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class MotionExtractorConfig:
    num_kp: int = 21
    num_bins: int = 66
    depths: list[int] = field(default_factory=lambda: [3, 3, 9, 3])
    dims: list[int] = field(default_factory=lambda: [96, 192, 384, 768])


class ChannelsFirstLayerNorm(nn.Module):
    """LayerNorm over the channel axis of [b, c, h, w] (ConvNeXt's stem/downsampling norm)."""

    def __init__(self, c: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))
        self.eps = eps

    def forward(self, x):
        x = F.layer_norm(x.permute(0, 2, 3, 1), x.shape[1:2], self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class GRN(nn.Module):
    """ConvNeXt-V2 global response normalisation over the spatial axes of [b, h, w, c]."""

    def __init__(self, c: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, c))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, c))

    def forward(self, x):
        g = torch.linalg.vector_norm(x, dim=(1, 2), keepdim=True)
        n = g / (g.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * n) + self.beta + x


class ConvNeXtBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.grn = GRN(4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)

    def forward(self, x):  # [b, c, h, w]
        h = self.dwconv(x).permute(0, 2, 3, 1)
        h = self.pwconv2(self.grn(F.gelu(self.pwconv1(self.norm(h)))))
        return x + h.permute(0, 3, 1, 2)


class ConvNeXtV2(nn.Module):
    def __init__(self, cfg: MotionExtractorConfig):
        super().__init__()
        d = cfg.dims
        stem = nn.Sequential(nn.Conv2d(3, d[0], 4, stride=4), ChannelsFirstLayerNorm(d[0]))
        downs = [nn.Sequential(ChannelsFirstLayerNorm(d[i]), nn.Conv2d(d[i], d[i + 1], 2, stride=2)) for i in range(3)]
        self.downsample_layers = nn.ModuleList([stem, *downs])
        self.stages = nn.ModuleList(nn.Sequential(*(ConvNeXtBlock(d[i]) for _ in range(cfg.depths[i]))) for i in range(4))
        self.norm = nn.LayerNorm(d[-1], eps=1e-6)
        k, bins = cfg.num_kp, cfg.num_bins
        self.fc_kp = nn.Linear(d[-1], 3 * k)
        self.fc_scale = nn.Linear(d[-1], 1)
        self.fc_pitch = nn.Linear(d[-1], bins)
        self.fc_yaw = nn.Linear(d[-1], bins)
        self.fc_roll = nn.Linear(d[-1], bins)
        self.fc_t = nn.Linear(d[-1], 3)
        self.fc_exp = nn.Linear(d[-1], 3 * k)

    def forward(self, x) -> dict[str, torch.Tensor]:
        for down, stage in zip(self.downsample_layers, self.stages):
            x = stage(down(x))
        h = self.norm(x.mean(dim=(-2, -1)))  # global average pool -> [b, 768]
        heads = ("kp", "exp", "pitch", "yaw", "roll", "t", "scale")
        return {name: getattr(self, f"fc_{name}")(h) for name in heads}


class MotionExtractor(nn.Module):
    def __init__(self, cfg: MotionExtractorConfig = MotionExtractorConfig()):
        super().__init__()
        self.cfg = cfg
        self.detector = ConvNeXtV2(cfg)  # the checkpoint keys start with "detector."

    def forward(self, image):  # [b, 3, 256, 256] in [0, 1]
        return self.detector(image)


def bins_to_degrees(logits: torch.Tensor) -> torch.Tensor:
    """[b, 66] bin logits -> [b] degrees: expected bin index * 3 - 97.5."""
    idx = torch.arange(logits.shape[-1], device=logits.device, dtype=torch.float32)
    return (F.softmax(logits.float(), dim=-1) * idx).sum(-1) * 3 - 97.5


def kp_info(raw: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Raw M outputs -> kp, exp [b, 21, 3]; pitch, yaw, roll [b] degrees; t [b, 3]; scale [b, 1] (fp32)."""
    b = raw["kp"].shape[0]
    out = {k: raw[k].float() for k in ("t", "scale")}
    out["kp"] = raw["kp"].float().view(b, -1, 3)
    out["exp"] = raw["exp"].float().view(b, -1, 3)
    for k in ("pitch", "yaw", "roll"):
        out[k] = bins_to_degrees(raw[k])
    return out


def to_motion70(info: dict[str, torch.Tensor]) -> torch.Tensor:
    """kp_info -> motion frames [b, 70]: exp 63, pitch/yaw/roll, t 3, scale (jamflow.motion.spec layout)."""
    b = info["exp"].shape[0]
    pose = torch.stack([info["pitch"], info["yaw"], info["roll"]], -1)
    return torch.cat([info["exp"].reshape(b, 63), pose, info["t"], info["scale"].reshape(b, 1)], -1)
