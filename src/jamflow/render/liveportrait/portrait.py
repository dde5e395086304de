"""LivePortrait's inference steps on top of the networks: image in, motion out; keypoints in, image out.

    crops uint8 [b, S, S, 3] --to_input--> [b, 3, 256, 256] --M--> motion [b, 70] + canonical kp [b, 21, 3]
    source crop --F--> feature volume [b, 32, 16, 64, 64]
    (volume, x_s, x_d) --W, G--> image [b, 3, 512, 512]

Driving (LivePortrait's relative mode, `live_portrait_pipeline.py`): with a reference driving frame
d0, R = R_d R_d0^T R_s, exp = exp_s + exp_d - exp_d0, scale = s_s s_d / s_d0, t = t_s + t_d - t_d0
(t_z = 0). Generated lips are absolute mouth shapes, so by default the lip keypoints take the
driving exp as is (JoyVASA does the same); otherwise a source with an open mouth never closes it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from jamflow.motion.keypoints import compose_keypoints, rotation_matrix
from jamflow.motion.spec import EXP, LIP_KEYPOINTS, POSE, SCALE, TRANSLATION
from jamflow.render.liveportrait.motion_extractor import kp_info, to_motion70
from jamflow.render.liveportrait.weights import LivePortraitNets

INPUT_SIZE = 256


def to_input(crops, device="cpu", dtype=torch.float32, size: int = INPUT_SIZE) -> torch.Tensor:
    """uint8 [b, H, W, 3] (or [H, W, 3]) -> [b, 3, size, size] in [0, 1]."""
    x = torch.as_tensor(np.ascontiguousarray(crops))
    x = x[None] if x.ndim == 3 else x
    x = x.to(device).permute(0, 3, 1, 2).float() / 255
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x.clamp(0, 1).to(dtype)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[b, 3, H, W] in [0, 1] -> uint8 [b, H, W, 3]."""
    return (images.float().clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def _dtype(module) -> torch.dtype:
    return next(module.parameters()).dtype


@torch.no_grad()
def extract_motion(nets: LivePortraitNets, crops) -> tuple[torch.Tensor, torch.Tensor]:
    """Face crops uint8 [b, S, S, 3] -> (motion [b, 70], canonical keypoints [b, 21, 3]), fp32."""
    p = next(nets.M.parameters())
    info = kp_info(nets.M(to_input(crops, p.device, p.dtype, nets.input_size)))
    return to_motion70(info), info["kp"]


@torch.no_grad()
def appearance(nets: LivePortraitNets, crops) -> torch.Tensor:
    p = next(nets.F.parameters())
    return nets.F(to_input(crops, p.device, p.dtype, nets.input_size))  # [b, 32, 16, 64, 64]


def compose_relative(kp_c: torch.Tensor, src: torch.Tensor, drv: torch.Tensor, ref: torch.Tensor,
                     lips_absolute: bool = True) -> torch.Tensor:
    """Relative driving. kp_c [21, 3] and src [70] of the source, drv [T, 70], ref [70] -> x_d [T, 21, 3]."""
    drv, src, ref = drv.float(), src.float(), ref.float()
    t = drv.shape[0]
    r_src = rotation_matrix(*src[POSE].view(3, 1))
    r_ref = rotation_matrix(*ref[POSE].view(3, 1))
    r_drv = rotation_matrix(*drv[:, POSE].T)
    rot = r_drv @ r_ref.transpose(1, 2) @ r_src  # [T, 3, 3]
    exp = (src[EXP] + drv[:, EXP] - ref[EXP]).view(t, 21, 3)
    if lips_absolute:
        lips = list(LIP_KEYPOINTS)
        exp[:, lips] = drv[:, EXP].view(t, 21, 3)[:, lips]
    scale = src[SCALE] * drv[:, SCALE] / ref[SCALE]  # [T, 1]
    trans = src[TRANSLATION] + drv[:, TRANSLATION] - ref[TRANSLATION]
    trans[:, 2] = 0
    return scale[:, :, None] * (kp_c.float()[None] @ rot + exp) + trans[:, None, :]


@torch.no_grad()
def warp_decode(nets: LivePortraitNets, volume: torch.Tensor, x_s: torch.Tensor, x_d: torch.Tensor,
                stitch: bool = True) -> torch.Tensor:
    """volume [b, 32, 16, 64, 64], x_s, x_d [b, 21, 3] -> images [b, 3, 512, 512] in [0, 1] (fp32)."""
    if stitch and nets.S is not None:
        x_d = nets.S.stitch(x_s.float(), x_d.float())
    dt = _dtype(nets.W)
    out = nets.W(volume.to(dt), x_d.to(dt), x_s.to(dt))["out"]
    return nets.G(out.to(_dtype(nets.G)).contiguous(memory_format=torch.channels_last)).float()


@dataclass
class Source:
    """One source frame, ready to animate."""

    crop: np.ndarray  # uint8 [512, 512, 3]
    o2c: np.ndarray  # 3x3 original -> crop
    volume: torch.Tensor  # [1, 32, 16, 64, 64]
    motion: torch.Tensor  # [70]
    kp: torch.Tensor  # [21, 3] canonical keypoints

    @property
    def x_s(self) -> torch.Tensor:  # [1, 21, 3]
        return compose_keypoints(self.kp, self.motion[None])


def prepare_sources(nets: LivePortraitNets, crops: np.ndarray, o2cs: list[np.ndarray]) -> list[Source]:
    """crops uint8 [b, 512, 512, 3] -> one Source per crop (F and M run batched)."""
    volume = appearance(nets, crops)
    motion, kp = extract_motion(nets, crops)
    return [Source(crops[i], o2cs[i], volume[i : i + 1], motion[i], kp[i]) for i in range(len(crops))]
