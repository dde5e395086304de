"""Face detection, LivePortrait's crop geometry, smoothing of crop boxes, and feathered paste-back.

Offline by design: LivePortrait's own detectors (InsightFace, a 203-point landmarker) are fetched at
run time and carry a non-commercial licence, so a `FaceDetector` here is anything that turns an RGB
frame into `Face`s. `HaarFaceDetector` uses the cascade that ships inside opencv-python-headless;
tests use detectors that know where their synthetic faces are.

Crop geometry follows LivePortrait (`parse_rect_from_landmark`): the up axis runs from the eye centre
to the mouth (which cancels roll), the square side is the face extent in that frame times `scale`,
and the centre moves by `vy_ratio * side` along the up axis (negative = up, more forehead).
Matrices are 3x3, `o2c` maps original pixels to crop pixels, `c2o` the reverse; pixel centres sit at
integer coordinates (OpenCV's convention).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from jamflow.errors import UserError
from jamflow.motion.smoothing import gaussian_smooth


@dataclass
class Face:
    points: np.ndarray  # [n, 2] x, y pixels: whatever outlines the face (corners, landmarks)
    eyes: np.ndarray  # [2, 2] left eye, right eye (image left / right)
    mouth: np.ndarray  # [2] mouth centre
    score: float = 1.0

    @property
    def area(self) -> float:
        span = self.points.max(0) - self.points.min(0)
        return float(span[0] * span[1])


class FaceDetector:
    """Interface: rgb uint8 [H, W, 3] -> faces found (any order)."""

    def detect(self, rgb: np.ndarray) -> list[Face]:
        raise NotImplementedError


def face_from_box(x0: float, y0: float, x1: float, y1: float, score: float = 1.0) -> Face:
    """A frontal face box -> Face with eyes and mouth at typical positions inside the box (no roll)."""
    w, h = x1 - x0, y1 - y0
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)
    eyes = np.array([[x0 + 0.3 * w, y0 + 0.38 * h], [x0 + 0.7 * w, y0 + 0.38 * h]], np.float32)
    mouth = np.array([x0 + 0.5 * w, y0 + 0.78 * h], np.float32)
    return Face(corners, eyes, mouth, score)


class HaarFaceDetector(FaceDetector):
    """OpenCV's frontal-face Haar cascade (the model file ships in opencv-python-headless)."""

    def __init__(self, min_face_frac: float = 0.08, max_side: int = 640):
        try:
            import cv2
        except ImportError:
            raise UserError("face detector: expected opencv-python-headless (pip install opencv-python-headless), "
                            "got no cv2 module") from None
        self.cv2 = cv2
        self.cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_alt2.xml")
        self.min_face_frac = min_face_frac
        self.max_side = max_side

    def detect(self, rgb: np.ndarray) -> list[Face]:
        cv2 = self.cv2
        gray = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
        # detect on a bounded size: the cascade's cost grows with pixels, faces are big in talking videos
        k = min(1.0, self.max_side / max(gray.shape))
        if k < 1:
            gray = cv2.resize(gray, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
        side = int(self.min_face_frac * min(gray.shape))
        boxes = self.cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(side, side))
        return [face_from_box(x / k, y / k, (x + w) / k, (y + h) / k) for x, y, w, h in boxes]


def largest_face(faces: list[Face]) -> Face | None:
    return max(faces, key=lambda f: f.area * f.score) if faces else None


def nearest_face(faces: list[Face], previous: np.ndarray | None, cfg: "CropConfig") -> Face | None:
    """The face whose crop centre is closest to the previous crop's (tracking one person among
    several); the largest face when there is no previous crop."""
    if previous is None or not faces:
        return largest_face(faces)
    return min(faces, key=lambda f: float(np.hypot(*(crop_params(f, cfg)[:2] - previous[:2]))))


# ---- crop geometry ----------------------------------------------------------------------------

@dataclass
class CropConfig:
    dsize: int = 512
    scale: float = 2.3  # LivePortrait: 2.3 for a source portrait, 2.2 for a driving video
    vx_ratio: float = 0.0
    vy_ratio: float = -0.125  # LivePortrait: -0.125 for a source portrait, -0.1 for a driving video
    rotate: bool = True


SOURCE_CROP = CropConfig()
DRIVING_CROP = CropConfig(scale=2.2, vy_ratio=-0.1)


def crop_params(face: Face, cfg: CropConfig) -> np.ndarray:
    """Face -> [cx, cy, side, angle] (angle in radians: the image's roll of the face)."""
    eye_c = face.eyes.mean(0)
    up = face.mouth - eye_c
    n = float(np.linalg.norm(up))
    uy = up / n if n > 1e-3 else np.array([0.0, 1.0])
    ux = np.array([uy[1], -uy[0]])
    rot = np.stack([ux, uy])  # rows: the face's x and y axes in image coordinates
    pts = np.concatenate([face.points, face.eyes, face.mouth[None]], 0).astype(np.float64)
    c0 = pts.mean(0)
    local = (pts - c0) @ rot.T
    lo, hi = local.min(0), local.max(0)
    mid = (lo + hi) / 2
    side = float((hi - lo).max()) * cfg.scale
    center = c0 + ux * mid[0] + uy * mid[1] + ux * cfg.vx_ratio * side + uy * cfg.vy_ratio * side
    angle = math.atan2(ux[1], ux[0]) if cfg.rotate else 0.0
    return np.array([center[0], center[1], side, angle], np.float64)


def crop_matrix(params: np.ndarray, dsize: int) -> np.ndarray:
    """[cx, cy, side, angle] -> 3x3 original -> crop matrix (a similarity)."""
    cx, cy, side, angle = params
    s = dsize / side
    c, si = math.cos(angle), math.sin(angle)
    half = dsize / 2
    # rotate by -angle about the face centre, scale, then move the centre to the crop centre
    return np.array([[s * c, s * si, half - s * (c * cx + si * cy)],
                     [-s * si, s * c, half - s * (-si * cx + c * cy)],
                     [0, 0, 1]], np.float64)


def smooth_params(params: np.ndarray, valid: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    """Per-frame crop params [t, 4] with detections missing where ~valid -> gap-filled, Gaussian-smoothed.

    Jittery boxes make the whole crop (hence the motion) shake; smoothing over ~2 frames at 25-30 fps
    keeps real head motion while removing detector noise.
    """
    t = len(params)
    idx = np.flatnonzero(valid)
    if len(idx) == 0:
        raise UserError("video: expected a trackable face, got no face in any frame")
    out = np.stack([np.interp(np.arange(t), idx, params[idx, j]) for j in range(params.shape[1])], 1)
    return gaussian_smooth(out, sigma)


# ---- warping and paste-back -----------------------------------------------------------------

def warp_affine(img: np.ndarray, m: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear warp (zero outside): out[y, x] = img[m^-1 (x, y)]. img [H, W, C], size (w, h)."""
    h_in, w_in = img.shape[:2]
    w, h = size
    inv = np.linalg.inv(m)
    ys, xs = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    sx = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
    sy = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    # grid_sample with align_corners=False: pixel centre i sits at (2i + 1) / n - 1
    grid = torch.from_numpy(np.stack([(2 * sx + 1) / w_in - 1, (2 * sy + 1) / h_in - 1], -1)).float()[None]
    src = torch.from_numpy(np.array(img, dtype=np.float32))
    src = src[..., None] if src.ndim == 2 else src
    out = F.grid_sample(src.permute(2, 0, 1)[None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    out = out[0].permute(1, 2, 0).numpy()
    out = out[..., 0] if img.ndim == 2 else out
    return np.clip(np.rint(out), 0, 255).astype(np.uint8) if img.dtype == np.uint8 else out.astype(img.dtype)


def crop_face(rgb: np.ndarray, params: np.ndarray, dsize: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Frame [H, W, 3] + crop params -> (crop [dsize, dsize, 3], o2c 3x3)."""
    m = crop_matrix(params, dsize)
    return warp_affine(rgb, m, (dsize, dsize)), m


def feather_mask(dsize: int = 512, inner: float = 0.78, outer: float = 0.94) -> np.ndarray:
    """[dsize, dsize] float32 in [0, 1]: 1 inside a rounded square, smooth fall-off to 0 near the border.

    Stands in for LivePortrait's mask_template.png: keeps the face and hides the crop's edge.
    """
    r = (np.arange(dsize) + 0.5) / dsize * 2 - 1
    yy, xx = np.meshgrid(r, r, indexing="ij")
    d = (np.abs(xx) ** 4 + np.abs(yy) ** 4) ** 0.25  # superellipse "distance" from the centre
    x = np.clip((outer - d) / (outer - inner), 0, 1)
    return (x * x * (3 - 2 * x)).astype(np.float32)


def paste_back(crop: np.ndarray, o2c: np.ndarray, original: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Blend a (re-rendered) crop into the original frame through the feathered mask.

    Only the crop's bounding box in the frame is resampled: on a 1080p frame that is a fraction of
    the pixels."""
    h, w = original.shape[:2]
    n = crop.shape[0]
    c2o = np.linalg.inv(o2c)
    if mask is None:
        mask = feather_mask(n)
    corners = c2o[:2, :2] @ np.array([[0, n, n, 0], [0, 0, n, n]], np.float64) + c2o[:2, 2:]
    x0, y0 = np.clip(np.floor(corners.min(1)).astype(int) - 1, 0, None)
    x1, y1 = np.minimum(np.ceil(corners.max(1)).astype(int) + 1, [w, h])
    out = original.copy()
    if x1 <= x0 or y1 <= y0:
        return out  # the crop lies outside the frame
    shift = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64) @ c2o  # crop -> box pixels
    size = (int(x1 - x0), int(y1 - y0))
    back = warp_affine(crop.astype(np.float32), shift, size)
    alpha = warp_affine(mask.astype(np.float32), shift, size)[..., None]
    region = original[y0:y1, x0:x1].astype(np.float32)
    out[y0:y1, x0:x1] = np.clip(np.rint(alpha * back + (1 - alpha) * region), 0, 255).astype(np.uint8)
    return out


def detect_crop_params(rgb: np.ndarray, detector: FaceDetector, cfg: CropConfig = SOURCE_CROP,
                       what: str = "image") -> np.ndarray:
    """One image -> crop params of its largest face, or UserError if there is none."""
    face = largest_face(detector.detect(rgb))
    if face is None:
        raise UserError(f"{what}: expected a visible frontal face, got none detected")
    return crop_params(face, cfg)
