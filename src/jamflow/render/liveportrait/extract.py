"""Talking video -> LivePortrait motion at 25 fps (+ 24 kHz audio); `jamflow extract-motion`.

Two streaming passes over the video, so memory does not grow with its length:
  1. detect the face in every frame, fill gaps, smooth the crop boxes over time;
  2. crop every frame (LivePortrait's driving-video crop: scale 2.2, vy -0.1), run M in batches.
Per-source-frame motion is then resampled to 25 fps by linear interpolation at the exact output
times k / 25 (the input rate is kept as a fraction, 29.97 = 30000/1001, so nothing drifts).

Writes <out>/<name>.npy (float32 [T, 70], jamflow.motion.spec layout), <name>.pkl (LivePortrait's
driving template, via jamflow.motion.io), <name>.wav (24 kHz mono, exactly T * 960 samples) and <name>.png (the first
crop with its driven keypoints drawn, to check the tracking).
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from jamflow.audio.io import save_wav
from jamflow.errors import UserError
from jamflow.fileio import atomic_path
from jamflow.motion.io import save_motion
from jamflow.motion.keypoints import compose_keypoints
from jamflow.render.liveportrait.crop import (
    DRIVING_CROP,
    CropConfig,
    FaceDetector,
    HaarFaceDetector,
    crop_face,
    crop_params,
    nearest_face,
    smooth_params,
)
from jamflow.render.liveportrait.portrait import extract_motion
from jamflow.timeline import DEFAULT, MOTION_FPS, SAMPLE_RATE, SAMPLES_PER_MOTION

MOTION_RATE = DEFAULT.motion_rate  # exact, so resampling times stay fractions


def exact_fps(fps: float) -> Fraction:
    """29.97 -> 30000/1001 (NTSC rates), 25.0 -> 25; reported rates are rounded, the true ones are not."""
    ntsc = round(fps * 1.001)
    if ntsc % 6 == 0 and abs(fps - ntsc * 1000 / 1001) < 0.006 and abs(fps - ntsc) > 0.006:
        return Fraction(ntsc * 1000, 1001)
    return Fraction(fps).limit_denominator(1000)


def output_length(n_in: int, fps_in: Fraction, fps_out: Fraction = MOTION_RATE) -> int:
    """Frames at fps_out covering n_in input frames: round(duration * fps_out)."""
    return max(1, int(round(Fraction(n_in) * fps_out / fps_in)))


def resample(x: np.ndarray, fps_in: Fraction, fps_out: Fraction = MOTION_RATE) -> np.ndarray:
    """x [n_in, ...] sampled at fps_in -> [n_out, ...] at fps_out, linear interpolation at t = k / fps_out."""
    n_in = len(x)
    n_out = output_length(n_in, fps_in, fps_out)
    pos = np.array([float(Fraction(k) * fps_in / fps_out) for k in range(n_out)])  # input-frame positions
    pos = np.clip(pos, 0, n_in - 1)
    i0 = np.floor(pos).astype(int)
    i1 = np.minimum(i0 + 1, n_in - 1)
    w = (pos - i0).reshape(-1, *([1] * (x.ndim - 1)))
    return ((1 - w) * x[i0] + w * x[i1]).astype(x.dtype)


def track_faces(frames, detector: FaceDetector, cfg: CropConfig = DRIVING_CROP, min_found: float = 0.5,
                what: str = "video", total: int | None = None) -> np.ndarray:
    """Iterable of frames -> smoothed crop params [n, 4]. Too few detections -> UserError."""
    params, valid, last = [], [], None
    for frame in tqdm(frames, total=total, desc="track faces", unit="frame", leave=False):
        face = nearest_face(detector.detect(frame), last, cfg)
        valid.append(face is not None)
        params.append(crop_params(face, cfg) if face is not None else np.zeros(4))
        last = params[-1] if face is not None else last
    if not params:
        raise UserError(f"{what}: expected video frames, got none")
    found = float(np.mean(valid))
    if found < min_found:
        raise UserError(f"{what}: expected a trackable face, got one in {found:.0%} of {len(valid)} frames")
    return smooth_params(np.stack(params), np.array(valid))


@dataclass
class Extracted:
    motion: np.ndarray  # [T, 70] at 25 fps
    kp: np.ndarray  # [T, 21, 3] canonical keypoints at 25 fps
    crop_params: np.ndarray  # [T, 4] face crop (cx, cy, side, angle) at 25 fps, source pixels
    fps_in: Fraction
    frames_in: int
    first_crop: np.ndarray  # uint8 [512, 512, 3]


def extract_video(path, nets, detector: FaceDetector | None = None, batch_size: int = 8,
                  cfg: CropConfig = DRIVING_CROP) -> Extracted:
    from jamflow.render.video import read_video

    reader = read_video(path)
    fps_in = exact_fps(reader.fps)
    total = int(round(reader.duration * reader.fps)) or None
    params = track_faces(iter(reader), detector or HaarFaceDetector(), cfg, what=f"video {path}", total=total)
    motions, kps, batch, first = [], [], [], None

    def flush():
        m, k = extract_motion(nets, np.stack(batch))
        motions.append(m.cpu().numpy())
        kps.append(k.cpu().numpy())
        batch.clear()

    bar = tqdm(total=len(params), desc="extract motion", unit="frame", leave=False)
    for i, frame in enumerate(reader):
        if i >= len(params):  # the decoder may yield a frame the first pass did not (never observed)
            break
        crop, _ = crop_face(frame, params[i], cfg.dsize)
        first = crop if first is None else first
        batch.append(crop)
        if len(batch) == batch_size:
            flush()
        bar.update(1)
    if batch:
        flush()
    bar.close()
    motion = np.concatenate(motions).astype(np.float32)
    kp = np.concatenate(kps).astype(np.float32)
    return Extracted(resample(motion, fps_in), resample(kp, fps_in), resample(params[: len(motion)], fps_in), fps_in,
                     len(motion), first)


def fit_audio(audio: np.ndarray, frames: int) -> np.ndarray:
    """Trim or zero-pad to `frames` motion frames' worth of samples, so audio and motion cover the same time."""
    n = frames * SAMPLES_PER_MOTION
    return np.pad(audio[:n], (0, max(0, n - len(audio)))).astype(np.float32)


def draw_points(img: np.ndarray, pts: np.ndarray, color=(255, 40, 40), r: int = 3) -> np.ndarray:
    """pts [k, 2] in pixels -> copy of img with filled squares at the points."""
    out = img.copy()
    for x, y in np.rint(pts).astype(int):
        out[max(0, y - r): y + r + 1, max(0, x - r): x + r + 1] = color
    return out


def keypoints_to_pixels(x: np.ndarray, size: int) -> np.ndarray:
    """Keypoints in LivePortrait's [-1, 1] cube -> crop pixel coordinates (x right, y down)."""
    return (x[:, :2] + 1) / 2 * size


def write_outputs(out_dir: Path, name: str, ex: Extracted, audio: np.ndarray | None) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"motion": out_dir / f"{name}.npy", "template": out_dir / f"{name}.pkl", "preview": out_dir / f"{name}.png"}
    save_motion(paths["motion"], ex.motion)
    # the template stores one canonical kp; M's per-frame estimates of it barely move: their mean
    save_motion(paths["template"], ex.motion, fps=MOTION_FPS, kp_canonical=ex.kp.mean(0))
    x0 = compose_keypoints(torch.from_numpy(ex.kp[:1]), torch.from_numpy(ex.motion[:1]))[0].numpy()
    preview = draw_points(ex.first_crop, keypoints_to_pixels(x0, ex.first_crop.shape[0]))
    with atomic_path(paths["preview"]) as tmp:
        Image.fromarray(preview).save(tmp, format="PNG")
    if audio is not None:
        paths["audio"] = out_dir / f"{name}.wav"
        save_wav(paths["audio"], fit_audio(audio, len(ex.motion)), SAMPLE_RATE)
    return paths


def video_audio(path) -> np.ndarray | None:
    from jamflow.render.video import read_audio_from_video

    try:
        return read_audio_from_video(path, SAMPLE_RATE)
    except UserError:
        return None  # silent video: motion only
