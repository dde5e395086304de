"""S: stitching and the lip / eye retargeting MLPs, and how their outputs are applied to keypoints."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class MLPConfig:
    input_size: int
    hidden_sizes: list[int]
    output_size: int


@dataclass
class StitchingConfig:
    stitching: MLPConfig = field(default_factory=lambda: MLPConfig(126, [128, 128, 64], 65))
    lip: MLPConfig = field(default_factory=lambda: MLPConfig(65, [128, 128, 64], 63))
    eye: MLPConfig = field(default_factory=lambda: MLPConfig(66, [256, 256, 128, 128, 64], 63))


class RetargetingMLP(nn.Module):
    """Linear+ReLU stack; keys mlp.0, mlp.2, ... (ReLUs sit at the odd indices)."""

    def __init__(self, cfg: MLPConfig):
        super().__init__()
        sizes = [cfg.input_size, *cfg.hidden_sizes]
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.mlp = nn.Sequential(*layers, nn.Linear(sizes[-1], cfg.output_size))

    def forward(self, x):
        return self.mlp(x)


class StitchingRetargeting(nn.Module):
    """The three MLPs of `stitching_retargeting_module.pth` (checkpoint groups in brackets):
    stitching [retarget_shoulder], lip [retarget_mouth], eye [retarget_eye]."""

    def __init__(self, cfg: StitchingConfig = StitchingConfig()):
        super().__init__()
        self.stitching = RetargetingMLP(cfg.stitching)
        self.lip = RetargetingMLP(cfg.lip)
        self.eye = RetargetingMLP(cfg.eye)

    def stitch(self, kp_source: torch.Tensor, kp_driving: torch.Tensor) -> torch.Tensor:
        """kp_source, kp_driving [b, k, 3] -> driving keypoints nudged so the crop border stays put."""
        b, k, _ = kp_source.shape
        delta = self.stitching(torch.cat([kp_source.reshape(b, -1), kp_driving.reshape(b, -1)], 1))
        out = kp_driving + delta[:, : 3 * k].view(b, k, 3)
        shift = torch.zeros_like(out)
        shift[..., :2] = delta[:, 3 * k : 3 * k + 2].view(b, 1, 2)  # one (t_x, t_y) for all keypoints
        return out + shift

    def retarget_lip(self, kp_source: torch.Tensor, lip_ratio: torch.Tensor) -> torch.Tensor:
        """kp_source [b, k, 3], lip_ratio [b, 2] (source, driving) -> keypoint delta [b, k, 3]."""
        b, k, _ = kp_source.shape
        return self.lip(torch.cat([kp_source.reshape(b, -1), lip_ratio], 1)).view(b, k, 3)

    def retarget_eye(self, kp_source: torch.Tensor, eye_ratio: torch.Tensor) -> torch.Tensor:
        """kp_source [b, k, 3], eye_ratio [b, 3] (source left, source right, driving) -> delta [b, k, 3]."""
        b, k, _ = kp_source.shape
        return self.eye(torch.cat([kp_source.reshape(b, -1), eye_ratio], 1)).view(b, k, 3)
