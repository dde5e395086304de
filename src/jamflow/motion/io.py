"""Motion files: our `.npy` ([T, 70] float32 at 25 fps) and LivePortrait's driving template `.pkl`.

    motion, fps = load_motion("clip.pkl")          # either format -> [T, 70] float32
    save_motion("clip.pkl", motion, fps=25)        # format from the suffix, written atomically

A LivePortrait template is a dict {n_frames, output_fps, motion: [per-frame dict], c_eyes_lst,
c_lip_lst}; each frame holds float32 arrays scale [1,1], R [1,3,3] (already transposed), exp [1,21,3],
t [1,3], kp [1,21,3] (canonical keypoints) and x_s [1,21,3] (composed keypoints). Templates store R,
not angles, so pitch/yaw/roll are recovered from R (JoyVASA-style `pitch`/`yaw`/`roll` keys win when
present). Older templates name R `R_d` and the ratio lists `c_d_eyes_lst`/`c_d_lip_lst`.

Pickles are read with a restricted unpickler that admits only numpy arrays/scalars/dtypes and plain
containers; anything else (a class, a function, os.system) is refused before it can run.
"""
from __future__ import annotations

import io
import math
import pickle
from pathlib import Path

import numpy as np
import torch

from jamflow.errors import UserError
from jamflow.fileio import atomic_path
from jamflow.motion.keypoints import rotation_matrix
from jamflow.motion.spec import EXP, MOTION_DIM, NUM_KEYPOINTS, POSE, SCALE, TRANSLATION
from jamflow.timeline import MOTION_FPS

# ---------------------------------------------------------------- restricted unpickling

_ALLOWED = {
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("collections", "OrderedDict"),
    ("_codecs", "encode"),  # protocol-2 pickles spell bytes as _codecs.encode(str, "latin1")
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise UserError(f"motion pkl: expected only numpy arrays and plain containers, "
                            f"got a reference to {module}.{name} (refused)")
        if module.startswith("numpy.core."):  # numpy 1.x pickles; numpy 2 moved these to numpy._core
            module = "numpy._core." + module.split(".", 2)[2] if hasattr(np, "_core") else module
        return super().find_class(module, name)


def safe_load_pickle(path) -> object:
    """Unpickle a file that may only contain numpy data and plain containers."""
    data = Path(path).read_bytes()
    try:
        return _SafeUnpickler(io.BytesIO(data)).load()
    except UserError:
        raise
    except Exception as e:  # truncated or corrupt pickle
        raise UserError(f"motion pkl: expected a readable pickle, got {str(path)!r} ({type(e).__name__}: {e})") from e


# ---------------------------------------------------------------- rotations (angles -> R: motion.keypoints)

def angles_from_rotation(R: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """R [T, 3, 3] (transposed form) -> pitch, yaw, roll in degrees [T] each (|yaw| < 90)."""
    m = np.swapaxes(np.asarray(R, np.float64), -1, -2)
    pitch = np.arctan2(m[..., 2, 1], m[..., 2, 2])
    yaw = np.arctan2(-m[..., 2, 0], np.hypot(m[..., 2, 1], m[..., 2, 2]))
    roll = np.arctan2(m[..., 1, 0], m[..., 0, 0])
    return tuple(np.rad2deg(a) for a in (pitch, yaw, roll))


# ---------------------------------------------------------------- validation

MAX_MOTION_VALUE = 1e4  # no LivePortrait channel comes near this (pose is in degrees, the rest ~1)

def check_motion(motion, name: str = "motion") -> np.ndarray:
    """Validate a motion array -> a new float32 [T, 70] (never the caller's array); raises UserError."""
    arr = np.asarray(motion)
    if arr.ndim != 2 or arr.shape[1] != MOTION_DIM:
        raise UserError(f"{name}: expected an array [frames, {MOTION_DIM}], got shape {list(arr.shape)}")
    if arr.shape[0] == 0:
        raise UserError(f"{name}: expected at least one frame, got 0")
    if not np.issubdtype(arr.dtype, np.floating):
        raise UserError(f"{name}: expected floating-point values, got dtype {arr.dtype}")
    if not np.isfinite(arr).all():
        raise UserError(f"{name}: expected finite values, got NaN or inf")
    peak = float(np.abs(arr).max())
    if peak > MAX_MOTION_VALUE:  # float32 overflows to inf in rotations/keypoints long before this matters
        raise UserError(f"{name}: expected values within +-{MAX_MOTION_VALUE:g} (angles in degrees, keypoint "
                        f"offsets ~0.1), got {peak:.3g}")
    return arr.astype(np.float32)


# ---------------------------------------------------------------- template <-> motion

def _canonical(kp_canonical) -> np.ndarray:
    if kp_canonical is None:
        from jamflow.motion.visemes import CANONICAL_KEYPOINTS

        return CANONICAL_KEYPOINTS
    kp = np.asarray(kp_canonical, np.float32).reshape(-1)
    if kp.size != NUM_KEYPOINTS * 3:
        raise UserError(f"kp_canonical: expected {NUM_KEYPOINTS}x3 values, got {kp.size}")
    return kp.reshape(NUM_KEYPOINTS, 3)


def motion_to_template(motion, fps: float = MOTION_FPS, kp_canonical=None) -> dict:
    """[T, 70] -> LivePortrait driving template (kp defaults to the avatar's canonical layout).

    c_eyes_lst / c_lip_lst are approximations from our keypoints (lid gap / eye width, inner-lip gap /
    mouth width); LivePortrait computes them from 203 landmarks and only uses them for retargeting.
    """
    motion = check_motion(motion)
    kp = _canonical(kp_canonical)
    frames = motion.shape[0]
    exp = motion[:, EXP].reshape(frames, NUM_KEYPOINTS, 3)
    R = rotation_matrix(*torch.from_numpy(motion[:, POSE]).unbind(-1)).numpy()  # [T, 3, 3] float32
    t = motion[:, TRANSLATION].copy()
    scale = motion[:, SCALE]
    t_xy = t.copy()
    t_xy[:, 2] = 0
    x_s = scale[:, :, None] * (kp[None] @ R + exp) + t_xy[:, None, :]
    from jamflow.motion.visemes import eye_opening, lip_aperture

    eye_ratio = eye_opening(motion) / 0.11
    lip_ratio = np.clip(lip_aperture(motion) / 0.19, 0, None)
    frames_out = [{
        "scale": scale[i].reshape(1, 1).astype(np.float32),
        "R": R[i][None],
        "exp": exp[i][None].astype(np.float32),
        "t": t[i][None].astype(np.float32),
        "kp": kp[None].astype(np.float32),
        "x_s": x_s[i][None].astype(np.float32),
        "pitch": motion[i, 63:64].reshape(1, 1).astype(np.float32),
        "yaw": motion[i, 64:65].reshape(1, 1).astype(np.float32),
        "roll": motion[i, 65:66].reshape(1, 1).astype(np.float32),
    } for i in range(frames)]
    return {
        "n_frames": frames,
        "output_fps": fps,
        "motion": frames_out,
        "c_eyes_lst": [np.full((1, 2), eye_ratio[i], np.float32) for i in range(frames)],
        "c_lip_lst": [np.full((1, 1), lip_ratio[i], np.float32) for i in range(frames)],
    }


def _field(frame: dict, keys: tuple[str, ...], shape: tuple[int, ...], i: int) -> np.ndarray:
    for key in keys:
        if key in frame:
            arr = np.asarray(frame[key], dtype=np.float32)
            if arr.size != int(np.prod(shape)):
                raise UserError(f"motion pkl: expected motion[{i}]['{key}'] with shape {list(shape)}, "
                                f"got {list(arr.shape)}")
            return arr.reshape(shape)
    raise UserError(f"motion pkl: expected key {' or '.join(repr(k) for k in keys)} in motion[{i}], "
                    f"got keys {sorted(frame)}")


def template_to_motion(template) -> tuple[np.ndarray, float]:
    """LivePortrait driving template -> (motion [T, 70] float32, fps)."""
    if not isinstance(template, dict) or "motion" not in template:
        got = sorted(template) if isinstance(template, dict) else type(template).__name__
        raise UserError(f"motion pkl: expected a LivePortrait template dict with a 'motion' list, got {got}")
    frames = template["motion"]
    if not isinstance(frames, (list, tuple)) or not frames:
        raise UserError("motion pkl: expected 'motion' to be a non-empty list of per-frame dicts")
    if "n_frames" in template and int(template["n_frames"]) != len(frames):
        raise UserError(f"motion pkl: expected n_frames == len(motion), got {template['n_frames']} vs {len(frames)}")
    out = np.zeros((len(frames), MOTION_DIM), np.float32)
    for i, frame in enumerate(frames):
        if not isinstance(frame, dict):
            raise UserError(f"motion pkl: expected motion[{i}] to be a dict, got {type(frame).__name__}")
        out[i, EXP] = _field(frame, ("exp",), (NUM_KEYPOINTS * 3,), i)
        if all(k in frame for k in ("pitch", "yaw", "roll")):
            out[i, POSE] = [float(np.asarray(frame[k]).reshape(-1)[0]) for k in ("pitch", "yaw", "roll")]
        else:
            R = _field(frame, ("R", "R_d"), (3, 3), i)
            out[i, POSE] = [float(a) for a in angles_from_rotation(R)]
        out[i, TRANSLATION] = _field(frame, ("t",), (3,), i)
        out[i, SCALE] = _field(frame, ("scale",), (1,), i)
    fps = float(template.get("output_fps", MOTION_FPS) or MOTION_FPS)
    return check_motion(out, "motion pkl"), fps


# ---------------------------------------------------------------- files

def load_motion(path, name: str = "motion") -> tuple[np.ndarray, float]:
    """.npy ([T, 70], 25 fps) or LivePortrait .pkl -> (motion [T, 70] float32, fps).
    `name` is the argument the error messages name (`--motion`, `ref_motion`, ...)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{name}: expected an existing .npy or .pkl file, got {str(path)!r}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except Exception as e:  # noqa: BLE001 - truncated, damaged or not an array
            raise UserError(f"{name}: expected a numpy .npy array in {str(path)!r}, got {type(e).__name__}: "
                            f"{str(e)[:120]}") from None
        return check_motion(arr, f"{name} {path.name}"), MOTION_FPS
    if suffix == ".pkl":
        try:
            data = safe_load_pickle(path)
        except UserError as e:  # "motion pkl: ..." -> the argument's name
            raise UserError(f"{name}: {str(e).split(': ', 1)[-1]}") from None
        try:
            motion, fps = template_to_motion(data)
        except UserError:
            raise
        except Exception as e:  # noqa: BLE001 - a pickle of the wrong layout
            raise UserError(f"{name}: expected a LivePortrait motion template in {path.name}, got "
                            f"{type(e).__name__}: {str(e)[:100]}") from None
        if not (isinstance(fps, (int, float)) and math.isfinite(fps) and 1 <= fps <= 240):
            raise UserError(f"{name}: expected output_fps in 1..240 in {path.name}, got {fps!r}")
        return check_motion(motion, f"{name} {path.name}"), float(fps)
    raise UserError(f"{name}: expected a .npy or .pkl file, got {str(path)!r}")


def save_motion(path, motion, fps: float = MOTION_FPS, kp_canonical=None) -> Path:
    """Write [T, 70] as .npy (float32; fps must be 25) or as a LivePortrait .pkl template."""
    path = Path(path)
    motion = check_motion(motion)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        if not math.isclose(fps, MOTION_FPS):
            raise UserError(f"fps: expected {MOTION_FPS:g} for .npy motion (the format has no fps field), got {fps}")
        with atomic_path(path) as tmp:
            np.save(tmp, motion.astype(np.float32))
    elif suffix == ".pkl":
        template = motion_to_template(motion, fps=fps, kp_canonical=kp_canonical)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            pickle.dump(template, f, protocol=4)
    else:
        raise UserError(f"output: expected a path ending in .npy or .pkl, got {str(path)!r}")
    return path


def convert_motion(src, dst) -> Path:
    """Convert between .npy and .pkl (either direction)."""
    motion, fps = load_motion(src)
    return save_motion(dst, motion, fps=fps)
