"""The 21 implicit keypoints: our canonical layout and LivePortrait's composition
x = scale * (kp_canonical @ R + exp) + t, with t_z ignored."""
from __future__ import annotations

import math

import numpy as np
import torch

from jamflow.motion.spec import EXP, EYE_KEYPOINTS, LIP_KEYPOINTS, NUM_KEYPOINTS, POSE, SCALE, TRANSLATION

# ---------------------------------------------------------------- canonical keypoint layout

# Our own layout for the 21 implicit keypoints (x right, y down as in image/grid_sample coordinates,
# z towards the viewer; "left" = the image's left). Lip and eye indices agree with LivePortrait's
# LIP_KEYPOINTS (6, 12, 14, 17, 19, 20) and EYE_KEYPOINTS (11, 13, 15, 16, 18).
KEYPOINT_NAMES = (
    "chin", "brow_left", "brow_right", "cheek_left", "cheek_right", "nose_tip",
    "upper_lip_top", "jaw_left", "forehead", "nose_bridge", "jaw_right",
    "lid_upper_left", "mouth_corner_left", "lid_lower_left", "mouth_corner_right",
    "lid_upper_right", "lid_lower_right", "lower_lip_bottom", "gaze",
    "upper_lip_inner", "lower_lip_inner",
)
CANONICAL_KEYPOINTS = np.array([
    [0.00, 0.44, 0.05],    # 0 chin
    [-0.15, -0.21, 0.12],  # 1 brow left
    [0.15, -0.21, 0.12],   # 2 brow right
    [-0.24, 0.10, 0.04],   # 3 cheek left
    [0.24, 0.10, 0.04],    # 4 cheek right
    [0.00, 0.07, 0.24],    # 5 nose tip
    [0.00, 0.195, 0.15],   # 6 upper lip top (outer edge)
    [-0.22, 0.31, -0.02],  # 7 jaw left
    [0.00, -0.40, 0.06],   # 8 forehead
    [0.00, -0.09, 0.16],   # 9 nose bridge
    [0.22, 0.31, -0.02],   # 10 jaw right
    [-0.12, -0.125, 0.11], # 11 upper lid left
    [-0.095, 0.24, 0.11],  # 12 mouth corner left
    [-0.12, -0.075, 0.11], # 13 lower lid left
    [0.095, 0.24, 0.11],   # 14 mouth corner right
    [0.12, -0.125, 0.11],  # 15 upper lid right
    [0.12, -0.075, 0.11],  # 16 lower lid right
    [0.00, 0.285, 0.14],   # 17 lower lip bottom (outer edge)
    [0.00, -0.10, 0.12],   # 18 gaze: its exp x/y shifts both pupils
    [0.00, 0.24, 0.145],   # 19 upper lip inner edge
    [0.00, 0.24, 0.145],   # 20 lower lip inner edge (touches 19 at rest: lips closed)
], dtype=np.float32)
K = {name: i for i, name in enumerate(KEYPOINT_NAMES)}
assert set(LIP_KEYPOINTS) == {K["upper_lip_top"], K["mouth_corner_left"], K["mouth_corner_right"],
                              K["lower_lip_bottom"], K["upper_lip_inner"], K["lower_lip_inner"]}
assert set(EYE_KEYPOINTS) == {K["lid_upper_left"], K["lid_lower_left"], K["lid_upper_right"],
                              K["lid_lower_right"], K["gaze"]}


def exp_index(keypoint: int, axis: int) -> int:
    """Column of keypoint `keypoint`'s exp along `axis` (0 x, 1 y, 2 z) in the 70-channel motion."""
    return 3 * keypoint + axis


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
