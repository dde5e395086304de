"""LivePortrait keypoint composition: x = scale * (kp_canonical @ R + exp) + t, with t_z ignored."""
from __future__ import annotations

import math

import torch

from jamflow.motion.spec import EXP, NUM_KEYPOINTS, POSE, SCALE, TRANSLATION


def rotation_matrix(pitch: torch.Tensor, yaw: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """Angles in degrees, [b] each -> R [b, 3, 3] = (Rz(roll) Ry(yaw) Rx(pitch))^T (row-vector form)."""
    p, y, r = (a.reshape(-1).float() * (math.pi / 180) for a in (pitch, yaw, roll))
    one, zero = torch.ones_like(p), torch.zeros_like(p)
    rx = torch.stack([one, zero, zero, zero, p.cos(), -p.sin(), zero, p.sin(), p.cos()], -1).view(-1, 3, 3)
    ry = torch.stack([y.cos(), zero, y.sin(), zero, one, zero, -y.sin(), zero, y.cos()], -1).view(-1, 3, 3)
    rz = torch.stack([r.cos(), -r.sin(), zero, r.sin(), r.cos(), zero, zero, zero, one], -1).view(-1, 3, 3)
    return (rz @ ry @ rx).transpose(1, 2)


def compose_keypoints(kp_canonical: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
    """kp_canonical [b, 21, 3] (or [21, 3]), motion [b, 70] -> driven keypoints [b, 21, 3]."""
    motion = motion.reshape(-1, motion.shape[-1]).float()
    b = motion.shape[0]
    kp = kp_canonical.float().reshape(-1, NUM_KEYPOINTS, 3).expand(b, -1, -1)
    exp = motion[:, EXP].view(b, NUM_KEYPOINTS, 3)
    pitch, yaw, roll = motion[:, POSE].unbind(-1)
    t = motion[:, TRANSLATION].clone()
    t[:, 2] = 0  # LivePortrait ignores t_z
    scale = motion[:, SCALE].view(b, 1, 1)
    return scale * (kp @ rotation_matrix(pitch, yaw, roll) + exp) + t[:, None, :]
