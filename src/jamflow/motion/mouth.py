"""Mouth aperture: how open the mouth is in each frame, read off the lip keypoints' expression offsets.

The value is in the head's own frame (exp only, so head pose and nods do not leak in): the mean exp-y
of the lower-lip keypoints (17, 20) minus that of the upper-lip keypoints (6, 19). y points down, so
it grows as the mouth opens. That is the procedural corpus's layout (`motion.visemes`) and
LivePortrait's own lip set; the mouth corners (12, 14) move with rounding/spreading rather than
opening and are left out. The lip-sync metric (`eval.sync`) and the dub text layout (`infer`) read it.
"""
from __future__ import annotations

import numpy as np

from jamflow.errors import UserError
from jamflow.motion.spec import MOTION_DIM

UPPER_LIP = (6, 19)
LOWER_LIP = (17, 20)


def mouth_aperture(motion) -> np.ndarray:
    """motion [T, 70] -> aperture [T] (lower-lip exp-y minus upper-lip exp-y; grows as the mouth opens)."""
    motion = np.asarray(motion, dtype=np.float64)
    if motion.ndim != 2 or motion.shape[1] != MOTION_DIM:
        raise UserError(f"motion: expected [frames, {MOTION_DIM}], got shape {tuple(motion.shape)}")
    y = motion[:, 0:63].reshape(-1, 21, 3)[:, :, 1]
    return y[:, list(LOWER_LIP)].mean(1) - y[:, list(UPPER_LIP)].mean(1)
