"""Test helpers: random LivePortrait checkpoints written in the official key layout."""
from __future__ import annotations

import os

import torch

from jamflow.render.liveportrait.weights import FILES, official_keys


def random_state(shapes: dict, seed: int = 0, ddp: bool = False) -> dict:
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, shape in shapes.items():
        if k.endswith("num_batches_tracked"):
            v = torch.tensor(7)
        elif k.endswith("running_var"):
            v = torch.rand(shape, generator=g) + 0.5
        elif k.endswith(("weight_u", "weight_v")):
            v = torch.nn.functional.normalize(torch.randn(shape, generator=g), dim=0)
        else:
            v = torch.randn(shape, generator=g) * 0.05
        sd[("module." + k) if ddp else k] = v
    return sd


def write_checkpoints(root, nets: str = "FMWGS", ddp_s: bool = True) -> dict:
    """Write random official checkpoints under root/base_models, root/retargeting_models; return them."""
    written = {}
    for i, n in enumerate(nets):
        path = os.path.join(root, FILES[n])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if n == "S":
            sd = {g: random_state(s, seed=10 + j, ddp=ddp_s) for j, (g, s) in enumerate(official_keys("S").items())}
        else:
            sd = random_state(official_keys(n), seed=i)
        torch.save(sd, path)
        written[n] = sd
    return written


# ---- synthetic faces ---------------------------------------------------------------------------

import numpy as np  # noqa: E402

from jamflow.render.liveportrait.crop import FaceDetector, face_from_box  # noqa: E402

SKIN = (224, 172, 140)


def draw_face(h: int, w: int, cx: float, cy: float, r: float, mouth: float = 0.2) -> np.ndarray:
    """A cartoon face on a blue-grey gradient: skin ellipse, dark eyes, a mouth opening by `mouth`."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.empty((h, w, 3), np.float32)
    img[..., 0] = 60 + 40 * xx / w
    img[..., 1] = 70 + 30 * yy / h
    img[..., 2] = 110
    face = ((xx - cx) / r) ** 2 + ((yy - cy) / (1.25 * r)) ** 2 <= 1
    img[face] = SKIN
    for ex in (cx - 0.4 * r, cx + 0.4 * r):
        img[((xx - ex) ** 2 + (yy - cy + 0.25 * r) ** 2) <= (0.12 * r) ** 2] = (30, 30, 40)
    mouth_mask = ((xx - cx) / (0.35 * r)) ** 2 + ((yy - cy - 0.55 * r) / (0.05 * r + mouth * 0.2 * r)) ** 2 <= 1
    img[mouth_mask] = (120, 20, 30)
    return img.astype(np.uint8)


class SkinDetector(FaceDetector):
    """Finds the synthetic face by its exact skin colour (deterministic, for tests)."""

    def detect(self, rgb):
        mask = np.all(np.abs(rgb.astype(int) - SKIN) <= 12, axis=-1)
        if mask.sum() < 50:
            return []
        ys, xs = np.nonzero(mask)
        return [face_from_box(xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)]


def write_video(path, frames, fps: str, audio_seconds: float | None = None) -> None:
    """Encode frames (uint8 [H, W, 3]) at an exact rate like "30000/1001", optionally with a tone."""
    import subprocess

    import imageio_ffmpeg

    h, w = frames[0].shape[:2]
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{w}x{h}", "-r", fps, "-i", "-"]
    if audio_seconds:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=220:sample_rate=44100:duration={audio_seconds}",
                "-c:a", "aac", "-shortest"]
    cmd += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "12", str(path)]
    subprocess.run(cmd, input=b"".join(np.ascontiguousarray(f).tobytes() for f in frames), check=True)


def tiny_nets(with_fwg: bool = False):
    """Small random networks with the production structure (fast enough for end-to-end tests)."""
    import torch

    from jamflow.render.liveportrait.appearance import AppearanceConfig, AppearanceFeatureExtractor
    from jamflow.render.liveportrait.generator import GeneratorConfig, SPADEDecoder
    from jamflow.render.liveportrait.motion_extractor import MotionExtractor, MotionExtractorConfig
    from jamflow.render.liveportrait.stitching import StitchingRetargeting
    from jamflow.render.liveportrait.warping import WarpingConfig, WarpingNetwork
    from jamflow.render.liveportrait.weights import LivePortraitNets

    torch.manual_seed(0)
    m = MotionExtractor(MotionExtractorConfig(depths=[1, 1, 1, 1], dims=[8, 16, 32, 64])).eval()
    if not with_fwg:
        return LivePortraitNets(None, m, None, None, None)
    f = AppearanceFeatureExtractor(AppearanceConfig(block_expansion=8, max_features=64, reshape_channel=4,
                                                    num_resblocks=1)).eval()
    w = WarpingNetwork(WarpingConfig(block_expansion=8, max_features=64, reshape_channel=4, dm_block_expansion=4,
                                     dm_max_features=16, dm_num_blocks=2)).eval()
    g = SPADEDecoder(GeneratorConfig(block_expansion=8, max_features=64, out_channels=8)).eval()
    return LivePortraitNets(f, m, w, g, StitchingRetargeting().eval(), input_size=64)
