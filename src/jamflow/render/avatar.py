"""Built-in renderer: a stylised face drawn from the 21 driven keypoints (no weights needed).

    renderer = get_renderer("avatar", size=512)
    for frame in renderer.frames(motion):   # motion [T, 70] -> uint8 [512, 512, 3] per frame

Keypoints follow the canonical layout of `jamflow.motion.visemes` (chin, brows, cheeks, nose, lids,
gaze, six lip points, jaw) and are composed exactly as LivePortrait does, x = s (kp R + exp) + t, so
pose turns the whole head. Parts without a keypoint (head outline, ears, eye corners, hair) are rigid
points of the same head and follow the pose only. Drawing is orthographic (x right, y down) with
OpenCV at twice the size (sub-pixel vertex positions), then area-averaged down: anti-aliased edges at
~3 ms a frame at 512 px on one core. OpenCV releases the GIL while it draws, so rendering runs beside
a sampler thread without stalling it.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator

import cv2
import numpy as np
import torch

from jamflow.errors import UserError
from jamflow.motion.io import check_motion
from jamflow.motion.keypoints import compose_keypoints, rotation_matrix
from jamflow.motion.spec import POSE, SCALE, TRANSLATION
from jamflow.motion.visemes import CANONICAL_KEYPOINTS, K
from jamflow.render.base import register_renderer

# Rigid points of the head (same coordinates as the keypoints), named for the drawing code.
_RIGID = {
    "head_top": (0.0, -0.50, 0.0), "temple_left": (-0.27, -0.26, 0.0), "temple_right": (0.27, -0.26, 0.0),
    "crown_left": (-0.19, -0.44, 0.0), "crown_right": (0.19, -0.44, 0.0),
    "ear_left": (-0.29, 0.02, -0.05), "ear_right": (0.29, 0.02, -0.05),
    "eye_out_left": (-0.175, -0.10, 0.09), "eye_in_left": (-0.065, -0.10, 0.1),
    "eye_in_right": (0.065, -0.10, 0.1), "eye_out_right": (0.175, -0.10, 0.09),
    "eye_left": (-0.12, -0.10, 0.11), "eye_right": (0.12, -0.10, 0.11),
    "nostril_left": (-0.035, 0.095, 0.2), "nostril_right": (0.035, 0.095, 0.2),
    "gaze_rest": tuple(CANONICAL_KEYPOINTS[K["gaze"]]),
    "hair_left": (-0.31, -0.05, -0.05), "hair_right": (0.31, -0.05, -0.05),
}
_RIGID_NAMES = list(_RIGID)
_RIGID_POINTS = np.array([_RIGID[n] for n in _RIGID_NAMES], np.float32)
R_ = {n: i for i, n in enumerate(_RIGID_NAMES)}


@dataclass
class AvatarStyle:
    background: tuple = ((58, 66, 86), (22, 26, 38))  # top, bottom of the gradient
    skin: tuple = (233, 190, 160)
    skin_shade: tuple = (214, 166, 136)
    hair: tuple = (62, 44, 38)
    lips: tuple = (196, 96, 98)
    mouth: tuple = (70, 20, 28)
    teeth: tuple = (246, 244, 236)
    iris: tuple = (70, 110, 150)
    line: tuple = (60, 36, 30)
    shirt: tuple = (60, 110, 120)


# frames are drawn at size x supersample: 16384 px at 2x is ~3 GB per frame, past anything useful.
# (`jamflow render` applies the lower, raisable Limits.max_render_size first.)
MAX_SIZE = 16384


@lru_cache(maxsize=None)
def _steps(n: int, endpoint: bool) -> np.ndarray:
    t = np.linspace(0, 1, n, endpoint=endpoint)[:, None]
    t.flags.writeable = False  # shared by every frame
    return t


def _bezier(p0, p1, p2, n: int = 10) -> np.ndarray:
    """Quadratic curve from p0 to p2 passing through p1 at its middle -> [n, 2]."""
    c = 2 * p1 - 0.5 * (p0 + p2)
    t = _steps(n, True)
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * c + t ** 2 * p2


def _closed_spline(points: np.ndarray, n: int = 8) -> np.ndarray:
    """Closed Catmull-Rom curve through points [m, 2] -> [m * n, 2]."""
    p1 = np.asarray(points)[:, None]  # [m, 1, 2]: every segment at once
    p0, p2, p3 = np.roll(p1, 1, axis=0), np.roll(p1, -1, axis=0), np.roll(p1, -2, axis=0)
    t = _steps(n, False)  # [n, 1]
    out = 0.5 * (2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t ** 2
                 + (-p0 + 3 * p1 - 3 * p2 + p3) * t ** 3)
    return out.reshape(-1, 2)


SUBPIXEL_BITS = 3  # vertices are passed to OpenCV in 1/8 pixels


def _fixed(points) -> np.ndarray:
    """Points [m, 2] (pixels, float) -> int32 fixed point with SUBPIXEL_BITS fraction bits."""
    return np.rint(np.asarray(points, np.float64).reshape(-1, 2) * (1 << SUBPIXEL_BITS)).astype(np.int32)


def _box(box) -> tuple[tuple[int, int], tuple[int, int]]:
    """[x0, y0, x1, y1] -> (centre, half axes), fixed point, for cv2.ellipse."""
    x0, y0, x1, y1 = (float(v) for v in box)
    centre, axes = _fixed([[(x0 + x1) / 2, (y0 + y1) / 2], [abs(x1 - x0) / 2, abs(y1 - y0) / 2]])
    return tuple(int(v) for v in centre), tuple(int(v) for v in axes)


class _Pen:
    """Filled shapes and strokes on an RGB uint8 canvas [h, w, 3] (OpenCV; colours are RGB tuples)."""

    def __init__(self, img: np.ndarray):
        self.img = img

    def polygon(self, points, fill) -> None:
        cv2.fillPoly(self.img, [_fixed(points)], fill, cv2.LINE_8, SUBPIXEL_BITS)

    def ellipse(self, box, fill) -> None:
        self.pieslice(box, 0, 360, fill)

    def pieslice(self, box, start: float, end: float, fill) -> None:
        """The sector from `start` to `end` degrees, clockwise from 3 o'clock (y points down)."""
        centre, axes = _box(box)
        cv2.ellipse(self.img, centre, axes, 0, start, end, fill, -1, cv2.LINE_8, SUBPIXEL_BITS)

    def rectangle(self, box, fill) -> None:
        x0, y0, x1, y1 = (int(round(float(v))) for v in box)
        cv2.rectangle(self.img, (x0, y0), (x1, y1), fill, -1)

    def line(self, points, fill, width: float) -> None:
        """A stroke `width` pixels wide along the polyline, drawn as a filled outline so that its width
        need not be whole pixels. OpenCV fills by the even-odd rule, so a path that turns back on
        itself (the lip line: along the upper lip and back along the lower) is cut at each reversal
        and its parts are filled one by one."""
        p = np.asarray(points, np.float64).reshape(-1, 2)
        if len(p) < 2:
            return
        step = p[1:] - p[:-1]
        turns = np.flatnonzero((step[1:] * step[:-1]).sum(1) < 0) + 1  # vertices where the path turns back
        half = 0.5 * max(width - 1.0, 0.5)  # a fill covers the pixels its outline touches: ~1 px wider
        bounds = [0, *turns.tolist(), len(p) - 1]
        for a, b in zip(bounds[:-1], bounds[1:]):
            self.polygon(_stroke_outline(p[a:b + 1], half), fill)


def _stroke_outline(q: np.ndarray, half: float) -> np.ndarray:
    """Polyline [m, 2] (m >= 2) -> the closed outline [2m, 2] of a band `half` pixels to each side of it."""
    tangent = np.empty_like(q)
    tangent[1:-1] = q[2:] - q[:-2]  # central differences inside, one-sided at the ends
    tangent[0], tangent[-1] = q[1] - q[0], q[-1] - q[-2]
    length = np.maximum(np.hypot(tangent[:, 0], tangent[:, 1]), 1e-9)[:, None]
    offset = (half / length) * np.stack([-tangent[:, 1], tangent[:, 0]], 1)
    return np.concatenate([q + offset, (q - offset)[::-1]])


class AvatarRenderer:
    """Stylised face renderer: frames(motion [T, 70], source=None) -> uint8 [size, size, 3] frames.

    `source` may be an AvatarStyle to change colours; anything else is ignored (the avatar has no
    source image).
    """

    def __init__(self, size: int = 512, supersample: int = 2, style: AvatarStyle | None = None,
                 zoom: float = 0.55):
        if not isinstance(size, int) or not 32 <= size <= MAX_SIZE:
            raise UserError(f"size: expected an integer in 32..{MAX_SIZE} pixels, got {size!r}")
        if supersample not in (1, 2, 3, 4):
            raise UserError(f"supersample: expected 1..4, got {supersample!r}")
        self.size = (size, size)
        self.ss = supersample
        self.style = style or AvatarStyle()
        self.zoom = zoom
        self._background = self._make_background(self.style)

    # ---------------------------------------------------------------- geometry

    def keypoints(self, motion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """motion [T, 70] -> (driven keypoints [T, 21, 2], rigid head points [T, R, 2]) in pixels
        of the supersampled canvas."""
        m = torch.from_numpy(np.ascontiguousarray(motion, dtype=np.float32))
        kp = compose_keypoints(torch.from_numpy(CANONICAL_KEYPOINTS), m).numpy()
        pitch, yaw, roll = m[:, POSE].unbind(-1)
        R = rotation_matrix(pitch, yaw, roll).numpy()
        t = motion[:, TRANSLATION].copy()
        t[:, 2] = 0
        rigid = motion[:, SCALE][:, :, None] * (_RIGID_POINTS[None] @ R) + t[:, None, :]
        w = self.size[1] * self.ss
        to_px = lambda x: x[..., :2] * (self.zoom * w) + np.array([w / 2, w * 0.47])
        return to_px(kp), to_px(rigid)

    # ---------------------------------------------------------------- drawing

    def _make_background(self, style: AvatarStyle) -> np.ndarray:
        """The supersampled canvas drawing starts from: uint8 [H * ss, W * ss, 3], read-only."""
        h, w = (s * self.ss for s in self.size)
        return _gradient(h, w, tuple(map(tuple, style.background)))

    def draw(self, kp: np.ndarray, rigid: np.ndarray, style: AvatarStyle | None = None, scale: float = 1.3,
             background: np.ndarray | None = None) -> np.ndarray:
        """One frame from pixel keypoints kp [21, 2] and rigid points [R, 2] -> uint8 [H, W, 3].
        scale: the head's scale (sizes of drawn features follow it)."""
        scale = max(scale, 0.1)  # an untrained model can emit scale <= 0; feature sizes must stay positive
        img = (self._background if background is None else background).copy()
        px = self.zoom * self.size[1] * self.ss * scale / 1.3  # pixels per canonical unit at this head size
        c = _Canvas(_Pen(img), kp, rigid, px, style or self.style)
        _draw_body(c, self.size[1] * self.ss, self.size[0] * self.ss)
        _draw_head(c)
        _draw_eyes(c)
        _draw_nose(c)
        _draw_mouth(c)
        if self.ss == 1:
            return img
        return cv2.resize(img, (self.size[1], self.size[0]), interpolation=cv2.INTER_AREA)  # ss x ss block means

    def frames(self, motion, source=None) -> Iterator[np.ndarray]:
        """motion [T, 70] (denormalised) -> T frames, each uint8 [H, W, 3]."""
        motion = check_motion(motion)
        style = source if isinstance(source, AvatarStyle) else self.style
        background = self._background if style is self.style else self._make_background(style)
        # compose in chunks: one frame's geometry is cheap, holding all frames' pixels is not
        for start in range(0, len(motion), 256):
            chunk = motion[start:start + 256]
            kp, rigid = self.keypoints(chunk)
            for i in range(len(kp)):
                yield self.draw(kp[i], rigid[i], style, float(chunk[i, 69]), background)


register_renderer("avatar", AvatarRenderer)


# ---------------------------------------------------------------------------------------------
# Drawing, back to front. Sizes are in canonical units times `px`, so features follow the head's scale.

@lru_cache(maxsize=4)
def _gradient(h: int, w: int, colours: tuple) -> np.ndarray:
    """A vertical gradient from colours[0] (top) to colours[1], uint8 [h, w, 3], made once per size and
    colours: every renderer (one per call) starts its frames from it, and making it takes ~7 ms at 1024 px."""
    top, bottom = (np.array(c, np.float32) for c in colours)
    ramp = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    img = np.broadcast_to((top * (1 - ramp) + bottom * ramp).astype(np.uint8), (h, w, 3)).copy()
    img.setflags(write=False)
    return img


@dataclass
class _Canvas:
    """One frame being drawn: the pen on its canvas, the points in pixels and the head's pixel scale."""
    d: _Pen
    kp: np.ndarray  # [21, 2] driven keypoints, pixels
    rigid: np.ndarray  # [R, 2] rigid head points, pixels
    px: float  # pixels per canonical unit at this head size
    style: AvatarStyle

    def k(self, name: str) -> np.ndarray:
        return self.kp[K[name]]

    def g(self, name: str) -> np.ndarray:
        return self.rigid[R_[name]]

    def lw(self, u: float) -> float:
        """Line width in pixels for a width of u canonical units."""
        return max(1.0, u * self.px)


def _draw_body(c: _Canvas, w: int, h: int) -> None:
    """Neck and shoulders: they follow the head's translation only."""
    d, px, style = c.d, c.px, c.style
    base = (c.k("jaw_left") + c.k("jaw_right")) / 2
    neck = np.array([[base[0] - 0.1 * px, base[1] - 0.05 * px], [base[0] + 0.1 * px, base[1] - 0.05 * px],
                     [base[0] + 0.11 * px, h * 0.93], [base[0] - 0.11 * px, h * 0.93]])
    d.polygon((neck), fill=style.skin_shade)  # first: the collar covers its lower end
    d.rectangle([0, h * 0.9, w, h], fill=style.shirt)
    d.pieslice([base[0] - 0.75 * px, h * 0.86, base[0] + 0.75 * px, h * 1.4], 180, 360, fill=style.shirt)


def _draw_head(c: _Canvas) -> None:
    """Hair behind the head, ears, face, fringe."""
    d, px, style, g, k = c.d, c.px, c.style, c.g, c.k
    hair = _closed_spline(np.stack([g("head_top"), g("crown_right"), g("temple_right") + [0.03 * px, 0],
                                    g("hair_right") + [0.02 * px, 0.08 * px], k("jaw_right") + [0.02 * px, -0.06 * px],
                                    k("jaw_left") + [-0.02 * px, -0.06 * px], g("hair_left") + [-0.02 * px, 0.08 * px],
                                    g("temple_left") + [-0.03 * px, 0], g("crown_left")]) + [0, -0.03 * px])
    d.polygon((hair), fill=style.hair)
    for ear in ("ear_left", "ear_right"):
        e = g(ear)
        d.ellipse([e[0] - 0.045 * px, e[1] - 0.07 * px, e[0] + 0.045 * px, e[1] + 0.07 * px], fill=style.skin_shade)
    face = _closed_spline(np.stack([g("head_top") + [0, 0.04 * px], g("crown_right") + [0, 0.04 * px],
                                    g("temple_right"), k("cheek_right") + [0.02 * px, 0], k("jaw_right"),
                                    k("chin"), k("jaw_left"), k("cheek_left") + [-0.02 * px, 0],
                                    g("temple_left"), g("crown_left") + [0, 0.04 * px]]))
    d.polygon((face), fill=style.skin)
    fringe = _closed_spline(np.stack([g("head_top"), g("crown_right") + [0.03 * px, 0.02 * px],
                                      g("temple_right") + [0.01 * px, -0.02 * px], k("forehead") + [0.1 * px, 0.0],
                                      k("forehead") + [-0.05 * px, 0.03 * px], g("temple_left") + [0.0, -0.02 * px],
                                      g("crown_left") + [-0.03 * px, 0.02 * px]]))
    d.polygon((fringe), fill=style.hair)


def _draw_eyes(c: _Canvas) -> None:
    """White almond, iris at the gaze, lids drawn over it as skin (a blink covers the eye), brows."""
    d, px, style, g, k, lw = c.d, c.px, c.style, c.g, c.k, c.lw
    gaze = k("gaze") - g("gaze_rest")
    for side in ("left", "right"):
        out, inn = g(f"eye_out_{side}"), g(f"eye_in_{side}")
        upper, lower = k(f"lid_upper_{side}"), k(f"lid_lower_{side}")
        center = g(f"eye_{side}")
        top_curve = _bezier(out, upper, inn) if side == "left" else _bezier(inn, upper, out)
        bottom_curve = _bezier(inn, lower, out) if side == "left" else _bezier(out, lower, inn)
        d.polygon((np.concatenate([top_curve, bottom_curve])), fill=(250, 250, 246))
        iris = center + 1.5 * gaze  # gaze exp is small: exaggerate so eye shifts read
        r = 0.026 * px
        d.ellipse([iris[0] - r, iris[1] - r, iris[0] + r, iris[1] + r], fill=style.iris)
        r2 = 0.012 * px
        d.ellipse([iris[0] - r2, iris[1] - r2, iris[0] + r2, iris[1] + r2], fill=(15, 15, 20))
        lift = np.array([0, -0.06 * px])
        d.polygon((np.concatenate([top_curve, (top_curve + lift)[::-1]])), fill=style.skin)
        drop = np.array([0, 0.04 * px])
        d.polygon((np.concatenate([bottom_curve, (bottom_curve + drop)[::-1]])), fill=style.skin)
        d.line((top_curve), fill=style.line, width=lw(0.009))
        d.line((bottom_curve), fill=style.skin_shade, width=lw(0.004))
        brow = k(f"brow_{side}")
        sign = -1 if side == "left" else 1
        b0, b2 = brow + [sign * -0.06 * px, 0.02 * px], brow + [sign * 0.065 * px, 0.015 * px]
        d.line((_bezier(b0, brow, b2, 8)), fill=style.hair, width=lw(0.018))


def _draw_nose(c: _Canvas) -> None:
    d, px, style, g, k, lw = c.d, c.px, c.style, c.g, c.k, c.lw
    tip, bridge = k("nose_tip"), k("nose_bridge")
    d.line((_bezier(bridge + [0.01 * px, 0], (bridge + tip) / 2 + [0.018 * px, 0], tip + [0.012 * px, -0.01 * px], 8)),
           fill=style.skin_shade, width=lw(0.008))
    d.line((_bezier(g("nostril_left"), tip + [0, 0.02 * px], g("nostril_right"), 8)),
           fill=style.line, width=lw(0.006))


def _draw_mouth(c: _Canvas) -> None:
    """Outer lip shape, dark opening with upper teeth, lip line."""
    d, px, style, k, lw = c.d, c.px, c.style, c.k, c.lw
    cl, cr = k("mouth_corner_left"), k("mouth_corner_right")
    top, bottom = k("upper_lip_top"), k("lower_lip_bottom")
    ui, li = k("upper_lip_inner"), k("lower_lip_inner")
    bow = (cr - cl) * 0.22
    upper_outer = np.concatenate([_bezier(cl, (cl + top) / 2 + [0, -0.004 * px] + bow * 0, top - bow * 0.1, 6),
                                  _bezier(top + bow * 0.1, (top + cr) / 2 + [0, -0.004 * px], cr, 6)])
    lower_outer = _bezier(cr, bottom, cl, 12)
    d.polygon((np.concatenate([upper_outer, lower_outer])), fill=style.lips)
    upper_inner = _bezier(cl, ui, cr, 12)
    lower_inner = _bezier(cr, li, cl, 12)
    if li[1] - ui[1] > 0.5:  # open: interior, then teeth under the upper lip
        d.polygon((np.concatenate([upper_inner, lower_inner])), fill=style.mouth)
        teeth_h = min(0.45 * (li[1] - ui[1]), 0.018 * px)
        teeth = np.concatenate([upper_inner[2:-2], (upper_inner[2:-2] + [0, teeth_h])[::-1]])
        d.polygon((teeth), fill=style.teeth)
        d.polygon((np.concatenate([upper_outer, upper_inner[::-1]])), fill=style.lips)
    d.line((np.concatenate([upper_inner, lower_inner[1:]])), fill=style.line, width=lw(0.006))
