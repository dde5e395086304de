"""The "liveportrait" renderer: generated motion [T, 70] -> photoreal frames (I2V and V2V).

    r = get_renderer("liveportrait", weights="pretrained_weights", source="face.jpg")
    for frame in r.frames(motion):  # uint8 [H, W, 3], the source image with the face re-rendered
        ...

I2V (one portrait): the source's own kp / exp / pose are the base; the motion drives it relatively
against its first frame (LivePortrait's default), generated lip keypoints absolute. Stitching keeps
the crop border in place, and the 512 crop is pasted back into the portrait with a feathered mask.

V2V (a source video): every output frame i re-renders source frame i. The video supplies the pose
and every channel the motion spec does not generate (its own motion, extracted by M); the generated
channels (for `lips`, the mouth keypoints' exp) replace the mouth. A motion longer than the video
loops over it.
"""
from __future__ import annotations

import os
from typing import Iterator

import numpy as np
import torch

from jamflow.errors import UserError
from jamflow.motion.keypoints import compose_keypoints
from jamflow.motion.spec import MOTION_DIM, get_spec
from jamflow.render.base import register_renderer
from jamflow.render.liveportrait.crop import (SOURCE_CROP, FaceDetector, HaarFaceDetector, crop_face, detect_crop_params,
                                              feather_mask, paste_back)
from jamflow.render.liveportrait.portrait import compose_relative, prepare_sources, to_uint8, warp_decode
from jamflow.render.liveportrait.weights import LivePortraitNets, load_liveportrait

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
WEIGHTS_ENV = "JAMFLOW_LIVEPORTRAIT_WEIGHTS"


def read_image(path: str) -> np.ndarray:
    from jamflow.render.video import read_video

    return next(iter(read_video(path))).copy()  # ffmpeg decodes stills as one-frame videos


class LivePortraitRenderer:
    def __init__(self, weights: str | None = None, source=None, nets: LivePortraitNets | None = None,
                 device: str | None = None, spec="lips", relative: bool = True, lips_absolute: bool = True,
                 stitching: bool = True, pasteback: bool = True, batch_size: int = 4,
                 detector: FaceDetector | None = None, size=None, precision: str | None = None):
        """weights: LivePortrait pretrained_weights folder (default: $JAMFLOW_LIVEPORTRAIT_WEIGHTS).
        source: portrait image / video path, uint8 [H, W, 3] image or [N, H, W, 3] frames; or given to frames().
        size: accepted for interface parity with the avatar; frames take the source's size (512 without paste-back).
        precision: "fp32" / "fp16" / "bf16" for F, W, G (default fp16 on CUDA, fp32 on CPU)."""
        if nets is None:
            weights = weights or os.environ.get(WEIGHTS_ENV)
            if not weights:
                raise UserError(f"liveportrait: expected LivePortrait's pretrained_weights folder (--weights, or "
                                f"--liveportrait_weights in tts/talk/animate/dub) "
                                f"or ${WEIGHTS_ENV}, got neither")
            device = device or ("cuda" if torch.cuda.is_available() else "cpu")
            nets = load_liveportrait(weights, need="FMWGS", device=device, dtype=precision)
        if batch_size < 1:
            raise UserError(f"batch_size: expected >= 1, got {batch_size}")
        self.nets = nets
        self.spec = get_spec(spec)
        self.relative, self.lips_absolute = relative, lips_absolute
        self.stitching, self.pasteback = stitching, pasteback
        self.batch_size = batch_size
        self.detector = detector
        self.mask = feather_mask(512)
        self.source = None
        self.size = (512, 512)
        if source is not None:
            self.set_source(source)

    # ---- source ------------------------------------------------------------------------------

    def set_source(self, source) -> None:
        """Image -> I2V; video (path or [N, H, W, 3]) -> V2V. The face is found here (fail early)."""
        if isinstance(source, (str, os.PathLike)):
            path = str(source)
            if not os.path.isfile(path):
                raise UserError(f"source: expected an image or video file, got {path!r}")
            if os.path.splitext(path)[1].lower() in IMAGE_EXTS:
                source = read_image(path)
        if isinstance(source, np.ndarray):
            if source.dtype != np.uint8 or source.shape[-1] != 3 or source.ndim not in (3, 4):
                raise UserError(f"source: expected uint8 [H, W, 3] or [N, H, W, 3], got {source.dtype} {source.shape}")
            if source.ndim == 3:
                params = detect_crop_params(source, self._detector(), SOURCE_CROP, what="source image")
                crop, o2c = crop_face(source, params)
                self.source = ("image", source, prepare_sources(self.nets, crop[None], [o2c])[0])
                self.size = source.shape[:2] if self.pasteback else (512, 512)
                return
        self.source = ("video", source, self._track(source))
        h, w = self._video_size(source)
        self.size = (h, w) if self.pasteback else (512, 512)

    def _detector(self) -> FaceDetector:
        if self.detector is None:
            self.detector = HaarFaceDetector()
        return self.detector

    def _video_frames(self, video) -> Iterator[np.ndarray]:
        if isinstance(video, np.ndarray):
            yield from video
        else:
            from jamflow.render.video import read_video

            yield from read_video(video)

    def _video_size(self, video) -> tuple[int, int]:
        if isinstance(video, np.ndarray):
            return video.shape[1:3]
        from jamflow.render.video import read_video

        return read_video(video).size

    def _track(self, video) -> np.ndarray:
        from jamflow.render.liveportrait.extract import track_faces

        return track_faces(self._video_frames(video), self._detector(), SOURCE_CROP, what="source video")

    # ---- rendering ---------------------------------------------------------------------------

    def frames(self, motion: np.ndarray, source=None) -> Iterator[np.ndarray]:
        """motion [T, 70] (denormalised) -> T uint8 frames [H, W, 3]."""
        motion = np.asarray(motion, np.float32)
        if motion.ndim != 2 or motion.shape[1] != MOTION_DIM or len(motion) == 0:
            raise UserError(f"motion: expected [T, {MOTION_DIM}] with T >= 1, got {motion.shape}")
        if source is not None:
            self.set_source(source)
        if self.source is None:
            raise UserError("source: expected a portrait image or video for the liveportrait renderer, got none")
        kind = self.source[0]
        yield from (self._image_frames(motion) if kind == "image" else self._video_frames_driven(motion))

    def _finish(self, images: torch.Tensor, sources, originals) -> Iterator[np.ndarray]:
        for crop, src, original in zip(to_uint8(images), sources, originals):
            if not self.pasteback:
                yield crop
                continue
            n = crop.shape[0]  # 512 for the official networks
            if self.mask.shape[0] != n:
                self.mask = feather_mask(n)
            o2c = np.diag([n / 512, n / 512, 1.0]) @ src.o2c  # sources are cropped at 512
            yield paste_back(crop, o2c, original, self.mask)

    def _image_frames(self, motion: np.ndarray) -> Iterator[np.ndarray]:
        _, image, src = self.source
        m = torch.from_numpy(motion)
        ref = m[0] if self.relative else src.motion
        for i in range(0, len(m), self.batch_size):
            chunk = m[i : i + self.batch_size]
            b = len(chunk)
            if self.relative:
                x_d = compose_relative(src.kp, src.motion, chunk, ref, self.lips_absolute)
            else:
                x_d = compose_keypoints(src.kp, chunk)
            x_s = src.x_s.expand(b, -1, -1)
            images = warp_decode(self.nets, src.volume.expand(b, -1, -1, -1, -1), x_s, x_d, self.stitching)
            yield from self._finish(images, [src] * b, [image] * b)

    def _video_frames_driven(self, motion: np.ndarray) -> Iterator[np.ndarray]:
        _, video, params = self.source
        gen = list(self.spec.generate)

        def looped():
            while True:
                yield from zip(self._video_frames(video), params)

        frames = looped()
        for i in range(0, len(motion), self.batch_size):
            chunk = torch.from_numpy(motion[i : i + self.batch_size])
            originals, crops, o2cs = [], [], []
            for _ in range(len(chunk)):
                frame, p = next(frames)
                crop, o2c = crop_face(frame, p)
                originals.append(frame)
                crops.append(crop)
                o2cs.append(o2c)
            sources = prepare_sources(self.nets, np.stack(crops), o2cs)
            own = torch.stack([s.motion for s in sources])  # [b, 70] the video's own motion
            driven = own.clone()
            driven[:, gen] = chunk[:, gen]
            kp = torch.stack([s.kp for s in sources])
            x_s = compose_keypoints(kp, own)
            x_d = compose_keypoints(kp, driven)
            volume = torch.cat([s.volume for s in sources])
            images = warp_decode(self.nets, volume, x_s, x_d, self.stitching)
            yield from self._finish(images, sources, originals)


register_renderer("liveportrait", LivePortraitRenderer)
