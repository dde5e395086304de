"""Motion in and out of the model: normalisation with the checkpoint's stats, context, post-processing.

The model sees only the spec's generated channels, normalised per channel `(x - mean) / std` with
the stats saved in the checkpoint's config.json. Context channels (the rest of the 70) come from a
given motion (looped over the timeline) or, by default, from the *neutral* pose = the stats' mean,
which is 0 after normalisation. The renderer always receives the full denormalised [T, 70] motion.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from jamflow.errors import UserError
from jamflow.motion.life import FaceLife, life_channels
from jamflow.motion.smoothing import gaussian_smooth
from jamflow.motion.io import load_motion
from jamflow.motion.spec import EXP, MOTION_DIM, POSE, SCALE, TRANSLATION, MotionSpec
from jamflow.timeline import MOTION_FPS, SAMPLES_PER_MOTION


# what `head_smoothing` smooths: yaw, roll, sideways / depth translation and scale, whose motion in the
# corpus is slow turns (over 90% of its speed below 2 Hz) where a generated head's trembles (15-25% at
# 6-13 Hz). Pitch and vertical translation carry the nods (2-4 Hz) and are left alone.
TURNING_HEAD = (POSE.start + 1, POSE.start + 2, TRANSLATION.start, TRANSLATION.start + 2, SCALE.start)


@dataclass
class MotionCodec:
    spec: MotionSpec
    mean: np.ndarray  # [70]
    std: np.ndarray  # [70]

    @classmethod
    def create(cls, spec: MotionSpec, stats: dict | None) -> "MotionCodec":
        if stats is None:  # a checkpoint without stats: identity normalisation
            return cls(spec, np.zeros(MOTION_DIM, np.float32), np.ones(MOTION_DIM, np.float32))
        mean = np.asarray(stats["mean"], np.float32).reshape(MOTION_DIM)
        std = np.maximum(np.asarray(stats["std"], np.float32).reshape(MOTION_DIM), 1e-5)
        return cls(spec, mean, std)

    @property
    def generates_turns(self) -> bool:
        """Whether the spec generates any channel `head_smoothing` smooths."""
        return not set(TURNING_HEAD).isdisjoint(self.spec.generate)

    @property
    def neutral(self) -> np.ndarray:
        """The neutral frame [70] (dataset mean) used where no motion is given."""
        return self.mean.copy()

    def normalize(self, motion: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Denormalised motion [T, 70] -> (generated [T, dg], context [T, dc]) normalised."""
        x = (np.asarray(motion, np.float32) - self.mean) / self.std
        gen, ctx = self.spec.split(x)
        return torch.from_numpy(np.ascontiguousarray(gen)), torch.from_numpy(np.ascontiguousarray(ctx))

    def denormalize(self, gen: torch.Tensor, ctx: torch.Tensor) -> np.ndarray:
        """(generated [T, dg], context [T, dc]) normalised -> motion [T, 70]."""
        x = self.spec.merge(gen.float().cpu().numpy(), ctx.float().cpu().numpy())
        return (x * self.std + self.mean).astype(np.float32)

    def context_for(self, motion: np.ndarray | None, frames: int, start: int = 0) -> torch.Tensor:
        """Normalised context channels [frames, dc] for output frames [start, start+frames): taken
        from `motion` [T, 70] (looped back and forth so it never jumps) or neutral if None."""
        if motion is None:
            return torch.zeros(frames, self.spec.context_dim)
        idx = pingpong_indices(len(motion), start, frames)
        return self.normalize(motion[idx])[1]

    def postprocess(self, motion: np.ndarray, sigma: float, head_scale: float, expression_scale: float,
                    head_sigma: float = 0.0) -> np.ndarray:
        """Smooth the generated channels (sigma), then a generated head's turns again (head_sigma), and
        scale head motion / expression around the mean."""
        out = motion.copy()
        gen = list(self.spec.generate)
        if sigma > 0:
            out[:, gen] = gaussian_smooth(out[:, gen], sigma)
        gen_set = set(gen)
        head = [c for c in TURNING_HEAD if c in gen_set]
        if head_sigma > 0 and head:
            out[:, head] = gaussian_smooth(out[:, head], head_sigma)
        for region, scale in ((EXP, expression_scale), (POSE, head_scale), (TRANSLATION, head_scale)):
            cols = [c for c in range(region.start, region.stop) if c in gen_set]
            if cols and scale != 1.0:
                out[:, cols] = self.mean[cols] + (out[:, cols] - self.mean[cols]) * scale
        return out


    def add_life(self, motion: np.ndarray, wav: np.ndarray, life: FaceLife, strength: float = 1.0,
                 head_scale: float = 1.0, expression_scale: float = 1.0) -> np.ndarray:
        """Motion [T, 70] whose eyes, brows and head, where the spec does not generate them, follow the
        speech `wav` [T * 960] (motion.life) around the neutral face instead of holding it still. `life`
        goes on from its last call, so a stream's pieces given in order get the whole clip's motion."""
        cols = [c for c in life_channels() if c not in set(self.spec.generate)]
        if not cols or strength <= 0 or len(motion) == 0:
            return motion
        n = len(motion) * SAMPLES_PER_MOTION
        offsets = life.step(np.pad(np.asarray(wav[:n], np.float32), (0, max(0, n - len(wav)))))
        offsets[:, EXP] *= expression_scale
        offsets[:, POSE] *= head_scale
        offsets[:, TRANSLATION] *= head_scale
        out = motion.copy()
        out[:, cols] = self.mean[cols] + strength * offsets[:, cols]
        return out


def pingpong_indices(length: int, start: int, frames: int) -> np.ndarray:
    """Indices start..start+frames-1 folded into [0, length) by reflection (0,1,2,1,0,1,...)."""
    t = np.arange(start, start + frames)
    if length == 1:
        return np.zeros(frames, dtype=np.int64)
    period = 2 * (length - 1)
    t = t % period
    return np.where(t < length, t, period - t).astype(np.int64)


def load_motion_file(path, name: str = "motion") -> np.ndarray:
    """A .npy [T, 70] at 25 fps or a LivePortrait template .pkl -> checked motion [T, 70]."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{name}: expected an existing .npy or .pkl motion file, got {str(path)!r}")
    if path.suffix.lower() not in (".npy", ".pkl"):
        raise UserError(f"{name}: expected a .npy or .pkl motion file, got {path.suffix or 'no extension'!r}")
    motion, fps = load_motion(path, name)  # checked [T, 70] float32
    if abs(fps - MOTION_FPS) > 1e-3:
        raise UserError(f"{name}: expected motion at {MOTION_FPS:g} fps, got {fps} fps (resample it first)")
    return motion
