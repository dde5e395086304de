"""Motion layout and motion specs: which channels the model generates and which it only receives.

A motion frame is a 70-dim float vector at 25 fps, LivePortrait-compatible:

    [0:63]   exp, 21 keypoints x 3 (row-major: kp0.x, kp0.y, kp0.z, kp1.x, ...)
    [63:66]  pitch, yaw, roll in degrees
    [66:69]  t (translation; t_z is carried but ignored when composing keypoints)
    [69]     scale

A `MotionSpec` picks channel indices into that vector. The paper generates the mouth only
(`lips`: the exp of LivePortrait's lip keypoints); `full` generates all 70 channels (head motion and
blinks too, as JoyVASA/KDTalker do).

Channels not generated are either per-frame *context* (the model receives them) or *passthrough*
(the model never sees them; outputs take them from the neutral pose). `lips` gives the model only
channels that do not move with speech: head pose, translation, scale and the eye keypoints. The other
non-lip exp channels (chin, jaw, cheeks) move with the mouth -- in the procedural corpus they are a
linear function of the lips (R^2 = 1.0), and in real video the chin follows the jaw -- so feeding them
time-aligned from the training clip lets the model copy the answer instead of listening to the audio;
at inference no such channels exist (the context is neutral or a looped reference), and generated
lips fell back to the mean. A spec without an explicit context uses every non-generated channel.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jamflow.errors import UserError

MOTION_DIM = 70
NUM_KEYPOINTS = 21
EXP = slice(0, 63)
POSE = slice(63, 66)  # pitch, yaw, roll (degrees)
TRANSLATION = slice(66, 69)
SCALE = slice(69, 70)
LIP_KEYPOINTS = (6, 12, 14, 17, 19, 20)
EYE_KEYPOINTS = (11, 13, 15, 16, 18)


def exp_channels(keypoints: tuple[int, ...]) -> list[int]:
    return [3 * k + c for k in keypoints for c in range(3)]


@dataclass(frozen=True)
class MotionSpec:
    name: str
    generate: tuple[int, ...]  # indices into the 70-dim frame, in order
    context_channels: tuple[int, ...] | None = None  # None: every channel not generated

    def __post_init__(self):
        if self.context_channels is not None and set(self.context_channels) & set(self.generate):
            raise UserError(f"motion spec {self.name!r}: expected context channels disjoint from the generated "
                            f"ones, got both in {sorted(set(self.context_channels) & set(self.generate))}")

    @property
    def context(self) -> tuple[int, ...]:
        if self.context_channels is not None:
            return self.context_channels
        chosen = set(self.generate)
        return tuple(i for i in range(MOTION_DIM) if i not in chosen)

    @property
    def passthrough(self) -> tuple[int, ...]:
        """Channels the model neither generates nor receives."""
        seen = set(self.generate) | set(self.context)
        return tuple(i for i in range(MOTION_DIM) if i not in seen)

    @property
    def gen_dim(self) -> int:
        return len(self.generate)

    @property
    def context_dim(self) -> int:
        return len(self.context)

    def split(self, motion):
        """motion [..., 70] -> (generated [..., gen_dim], context [..., context_dim]); numpy or torch."""
        if motion.shape[-1] != MOTION_DIM:
            raise UserError(f"motion: expected {MOTION_DIM} channels per frame, got {motion.shape[-1]}")
        return motion[..., list(self.generate)], motion[..., list(self.context)]

    def merge(self, generated, context):
        """Inverse of split: (generated, context) -> motion [..., 70]; passthrough channels are 0
        (the neutral pose once denormalised)."""
        if isinstance(generated, np.ndarray):
            out = np.zeros(generated.shape[:-1] + (MOTION_DIM,), dtype=generated.dtype)
        else:
            out = generated.new_zeros(generated.shape[:-1] + (MOTION_DIM,))
        out[..., list(self.generate)] = generated
        if self.context_dim:
            out[..., list(self.context)] = context
        return out

    def to_dict(self) -> dict:
        d = {"name": self.name, "generate": list(self.generate)}
        if self.context_channels is not None:
            d["context"] = list(self.context_channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "MotionSpec":
        ctx = d.get("context")
        return cls(name=d["name"], generate=tuple(int(i) for i in d["generate"]),
                   context_channels=None if ctx is None else tuple(int(i) for i in ctx))


_SPEECH_FREE = tuple(exp_channels(EYE_KEYPOINTS)) + tuple(range(POSE.start, SCALE.stop))  # eyes, pose, t, scale

SPECS = {
    # the paper: mouth keypoints' exp (18); context = eyes + head pose (20), chin/jaw/cheeks pass through
    "lips": MotionSpec("lips", tuple(exp_channels(LIP_KEYPOINTS)), _SPEECH_FREE),
    "full": MotionSpec("full", tuple(range(MOTION_DIM))),  # exp + pose + t + scale (70)
}


def get_spec(name_or_dict) -> MotionSpec:
    if isinstance(name_or_dict, MotionSpec):
        return name_or_dict
    if isinstance(name_or_dict, dict):
        return MotionSpec.from_dict(name_or_dict)
    if name_or_dict not in SPECS:
        raise UserError(f"motion spec: expected one of {sorted(SPECS)}, got {name_or_dict!r}")
    return SPECS[name_or_dict]
