"""Motion accuracy against ground truth, smoothness, distribution distance and diversity.

All inputs are denormalised 70-dim motion at 25 fps (`motion.spec` layout), numpy [T, 70].

- LVE (lip vertex error, FaceFormer's metric): per frame the largest L2 distance over the six lip
  keypoints, averaged over frames. Distances are taken in the head's own frame (canonical + exp,
  pose removed), so a head turn does not count as a lip error; the canonical layout then cancels out.
- Full-face error: mean L2 over all 21 keypoints after full composition (scale, rotation, translation)
  on a canonical layout (the corpus layout `motion.visemes.CANONICAL_KEYPOINTS` unless one is given),
  so head-pose errors count here.
- Jitter: mean absolute velocity and jerk (third difference) of the keypoints, per second units.
- Fréchet motion distance: Fréchet distance between Gaussians fitted to per-frame features
  (the generated channels and their velocities) of two sets of clips, like FID/FVD.
- Diversity: mean pairwise distance between samples generated for the same input (different seeds).
- Face life: blinks (eye opening falling below 60% of the clip's median), head-pose standard deviation
  (degrees, mean over pitch / yaw / roll) and the correlation of head angular speed with the speech's
  energy envelope (a head that moves with the voice scores well above a mismatched voice).
"""
from __future__ import annotations

import itertools
import warnings

import numpy as np

from jamflow.errors import UserError
from jamflow.motion.spec import LIP_KEYPOINTS, MOTION_DIM, NUM_KEYPOINTS, POSE
from jamflow.timeline import MOTION_FPS



def _check(motion, name: str = "motion") -> np.ndarray:
    motion = np.asarray(motion, dtype=np.float64)
    if motion.ndim != 2 or motion.shape[1] != MOTION_DIM:
        raise UserError(f"{name}: expected [frames, {MOTION_DIM}], got shape {tuple(motion.shape)}")
    return motion


def _pair(pred, gt) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = _check(pred, "pred"), _check(gt, "gt")
    n = min(len(pred), len(gt))  # generated clips may differ by a frame from rounding; compare the overlap
    return pred[:n], gt[:n]


def exp_keypoints(motion) -> np.ndarray:
    """motion [T, 70] -> exp offsets [T, 21, 3] (keypoints in the head's frame, minus the canonical layout)."""
    return _check(motion)[:, :63].reshape(-1, NUM_KEYPOINTS, 3)


def _default_canonical() -> np.ndarray:
    from jamflow.motion.visemes import CANONICAL_KEYPOINTS

    return np.asarray(CANONICAL_KEYPOINTS, np.float64)


def posed_keypoints(motion, kp_canonical=None) -> np.ndarray:
    """motion [T, 70] -> fully composed keypoints [T, 21, 3] (x = s (kp_c R + exp) + t, t_z ignored)."""
    import torch

    from jamflow.motion.keypoints import compose_keypoints

    kp = _default_canonical() if kp_canonical is None else np.asarray(kp_canonical, np.float64)
    out = compose_keypoints(torch.from_numpy(kp).float(), torch.from_numpy(_check(motion)).float())
    return out.double().numpy()


def lip_vertex_error(pred, gt) -> float:
    """Max over lip keypoints of the L2 error (head frame), mean over frames."""
    pred, gt = _pair(pred, gt)
    lips = list(LIP_KEYPOINTS)
    err = np.linalg.norm(exp_keypoints(pred)[:, lips] - exp_keypoints(gt)[:, lips], axis=-1)  # [T, 6]
    return float(err.max(1).mean())


def face_mean_error(pred, gt, kp_canonical=None) -> float:
    """Mean L2 error over all 21 composed keypoints and frames (head pose included)."""
    pred, gt = _pair(pred, gt)
    return float(np.linalg.norm(posed_keypoints(pred, kp_canonical) - posed_keypoints(gt, kp_canonical), axis=-1).mean())


def jitter(motion, kp_canonical=None) -> dict:
    """Smoothness of one clip: mean |velocity| and |jerk| of composed keypoints (units/s, units/s^3)."""
    kp = posed_keypoints(motion, kp_canonical)
    out = {"velocity": float("nan"), "jerk": float("nan")}
    if len(kp) > 1:
        out["velocity"] = float(np.linalg.norm(np.diff(kp, axis=0), axis=-1).mean() * MOTION_FPS)
    if len(kp) > 3:
        out["jerk"] = float(np.linalg.norm(np.diff(kp, n=3, axis=0), axis=-1).mean() * MOTION_FPS**3)
    return out


def motion_features(motion, channels=None) -> np.ndarray:
    """Per-frame features for distribution metrics: chosen channels and their velocity. [T-1, 2c]"""
    m = _check(motion)
    if channels is not None:
        m = m[:, list(channels)]
    if len(m) < 2:
        return np.zeros((0, 2 * m.shape[1]))
    return np.concatenate([m[1:], np.diff(m, axis=0) * MOTION_FPS], axis=1)


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets [n, d] (FID's formula)."""
    from scipy import linalg

    a, b = np.asarray(feats_a, np.float64), np.asarray(feats_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise UserError(f"features: expected two [n>=2, d] arrays of equal d, got {a.shape} and {b.shape}")
    # constant features (channels a spec never moves: t_z, often scale) make both covariances singular
    # and carry no information: drop them, keeping the distance well defined
    keep = np.concatenate([a, b]).std(0) > 1e-9
    a, b = a[:, keep], b[:, keep]
    if a.shape[1] == 0:
        return 0.0
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    eps = 1e-9 * np.eye(len(cov_a))  # a set with fewer frames than features is still rank-deficient
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    covmean = covmean.real
    return float(max(0.0, ((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * covmean)))


def frechet_motion_distance(clips_a: list, clips_b: list, channels=None) -> float:
    """FMD between two sets of clips ([T, 70] each), on per-frame features of `channels` (default all)."""
    fa = np.concatenate([motion_features(m, channels) for m in clips_a])
    fb = np.concatenate([motion_features(m, channels) for m in clips_b])
    return frechet_distance(fa, fb)


def sample_diversity(samples: list, channels=None) -> float:
    """Mean pairwise per-frame L2 distance between samples of one input (0 = all identical)."""
    if len(samples) < 2:
        raise UserError(f"samples: expected at least 2 motion samples for diversity, got {len(samples)}")
    arrs = [_check(s)[:, list(channels)] if channels is not None else _check(s) for s in samples]
    n = min(len(a) for a in arrs)
    dists = [np.linalg.norm(a[:n] - b[:n], axis=-1).mean() for a, b in itertools.combinations(arrs, 2)]
    return float(np.mean(dists))


def blink_count(motion) -> int:
    """Blinks in a clip: the eye opening drops below 60% of its median (a closed lid is < 20%)."""
    from jamflow.motion.visemes import eye_opening

    opening = eye_opening(_check(motion))
    closed = opening < 0.6 * max(float(np.median(opening)), 1e-6)
    return int(closed[0]) + int(np.sum(closed[1:] & ~closed[:-1]))


def head_pose_std(motion) -> float:
    """Standard deviation of pitch, yaw and roll within the clip, in degrees, averaged over the three."""
    return float(_check(motion)[:, POSE].std(0).mean())


def head_speech_correlation(motion, wav: np.ndarray) -> float:
    """Pearson correlation of head angular speed [T-1] (deg/s) with the speech energy envelope (RMS of
    each frame's 40 ms, smoothed over 0.2 s); nan when either is constant."""
    from jamflow.motion.visemes import frame_energy

    pose = _check(motion)[:, POSE]
    if len(pose) < 4:
        return float("nan")
    speed = np.linalg.norm(np.diff(pose, axis=0), axis=1) * MOTION_FPS
    energy = np.convolve(frame_energy(np.asarray(wav, np.float32), len(pose)), np.ones(5) / 5, mode="same")[1:]
    if speed.std() < 1e-9 or energy.std() < 1e-9:
        return float("nan")
    return float(np.corrcoef(speed, energy)[0, 1])


def motion_metrics(pred, gt, kp_canonical=None) -> dict:
    """All paired metrics for one generated clip against its ground truth."""
    return {
        "lve": lip_vertex_error(pred, gt),
        "face_err": face_mean_error(pred, gt, kp_canonical),
        **{f"{k}": v for k, v in jitter(pred, kp_canonical).items()},
    }
