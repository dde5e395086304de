"""W: warping module. Moves the source feature volume from source to driving keypoints.

(f_s [b, 32, 16, 64, 64], kp_source [b, 21, 3], kp_driving [b, 21, 3]) ->
  out [b, 256, 64, 64] (occlusion-weighted warped features), occlusion_map [b, 1, 64, 64],
  deformation [b, 16, 64, 64, 3] (a grid_sample field in [-1, 1] coordinates).
Keypoints live in the same normalised cube: x right, y down, z inward, each in [-1, 1].
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from jamflow.render.liveportrait.layers import Hourglass, SameBlock2d


@dataclass
class WarpingConfig:
    num_kp: int = 21
    block_expansion: int = 64
    max_features: int = 512
    num_down_blocks: int = 2
    reshape_channel: int = 32
    # dense motion network
    dm_block_expansion: int = 32
    dm_max_features: int = 1024
    dm_num_blocks: int = 5
    dm_reshape_depth: int = 16
    dm_compress: int = 4


def coordinate_grid(d: int, h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    """[d, h, w, 3] grid of (x, y, z) in [-1, 1] (align_corners=True spacing, as the checkpoint was trained)."""
    axes = [torch.linspace(-1, 1, n, dtype=like.dtype, device=like.device) for n in (d, h, w)]
    z, y, x = torch.meshgrid(*axes, indexing="ij")
    return torch.stack([x, y, z], -1)


def keypoint_gaussians(kp: torch.Tensor, grid: torch.Tensor, variance: float = 0.01) -> torch.Tensor:
    """kp [b, k, 3], grid [d, h, w, 3] -> heatmaps [b, k, d, h, w]."""
    diff = grid[None, None] - kp[:, :, None, None, None, :]
    return torch.exp(-0.5 * diff.pow(2).sum(-1) / variance)


class DenseMotionNetwork(nn.Module):
    def __init__(self, cfg: WarpingConfig):
        super().__init__()
        k, c = cfg.num_kp, cfg.dm_compress
        self.num_kp = k
        self.hourglass = Hourglass(cfg.dm_block_expansion, (k + 1) * (c + 1), cfg.dm_num_blocks, cfg.dm_max_features)
        out = self.hourglass.out_filters
        self.mask = nn.Conv3d(out, k + 1, 7, padding=3)
        self.compress = nn.Conv3d(cfg.reshape_channel, c, 1)
        self.norm = nn.BatchNorm3d(c)
        self.occlusion = nn.Conv2d(out * cfg.dm_reshape_depth, 1, 7, padding=3)

    def forward(self, feature, kp_driving, kp_source):
        feature = F.relu(self.norm(self.compress(feature)))  # [b, 4, d, h, w]
        b, c, d, h, w = feature.shape
        k = self.num_kp
        grid = coordinate_grid(d, h, w, feature)
        # candidate flows: identity (background) + one rigid shift per keypoint, driving -> source
        shifts = grid[None, None] - kp_driving.view(b, k, 1, 1, 1, 3) + kp_source.view(b, k, 1, 1, 1, 3)
        flows = torch.cat([grid.expand(b, 1, d, h, w, 3), shifts], 1)  # [b, k+1, d, h, w, 3]

        moved = F.grid_sample(
            feature.repeat_interleave(k + 1, 0), flows.reshape(b * (k + 1), d, h, w, 3), align_corners=False
        ).view(b, k + 1, c, d, h, w)
        heat = keypoint_gaussians(kp_driving, grid) - keypoint_gaussians(kp_source, grid)  # [b, k, d, h, w]
        heat = torch.cat([heat.new_zeros(b, 1, d, h, w), heat], 1)[:, :, None]
        x = torch.cat([heat, moved], 2).view(b, -1, d, h, w)  # [b, (k+1)*(c+1), d, h, w]

        pred = self.hourglass(x)
        weights = F.softmax(self.mask(pred), dim=1)  # [b, k+1, d, h, w]
        deformation = (flows * weights[..., None]).sum(1)  # [b, d, h, w, 3]
        occlusion = torch.sigmoid(self.occlusion(pred.reshape(b, -1, h, w)))  # [b, 1, h, w]
        return deformation, occlusion


class WarpingNetwork(nn.Module):
    def __init__(self, cfg: WarpingConfig = WarpingConfig()):
        super().__init__()
        self.cfg = cfg
        width = cfg.block_expansion * 2**cfg.num_down_blocks
        self.dense_motion_network = DenseMotionNetwork(cfg)
        self.third = SameBlock2d(cfg.max_features, width, lrelu=True)
        self.fourth = nn.Conv2d(width, width, 1)

    def forward(self, feature_3d, kp_driving, kp_source) -> dict[str, torch.Tensor]:
        deformation, occlusion = self.dense_motion_network(feature_3d, kp_driving, kp_source)
        warped = F.grid_sample(feature_3d, deformation, align_corners=False)  # [b, 32, 16, h, w]
        b, c, d, h, w = warped.shape
        out = self.fourth(self.third(warped.reshape(b, c * d, h, w)))
        return {"out": out * occlusion, "occlusion_map": occlusion, "deformation": deformation}
