"""`jamflow extract-motion`: video -> LivePortrait motion (.npy/.pkl) + audio (render/liveportrait/extract.py)."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

from jamflow.errors import UserError
from jamflow.render.liveportrait.crop import HaarFaceDetector
from jamflow.render.liveportrait.extract import extract_video, video_audio, write_outputs


def add_cli(p: argparse.ArgumentParser) -> None:
    p.add_argument("videos", nargs="+", help="talking-face videos (any fps; resampled to 25)")
    p.add_argument("--weights", required=True, help="LivePortrait pretrained_weights folder (needs base_models/motion_extractor.pth)")
    p.add_argument("--out", default="motion_out", help="output folder")
    p.add_argument("--batch_size", type=int, default=8)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--no_audio", action="store_true", help="do not write the 24 kHz wav")


def run_cli(args) -> int:
    from jamflow.render.liveportrait.weights import load_liveportrait

    for v in args.videos:
        if not os.path.isfile(v):
            raise UserError(f"videos: expected existing video files, got {v!r}")
    if args.batch_size < 1:
        raise UserError(f"--batch_size: expected >= 1, got {args.batch_size}")
    nets = load_liveportrait(args.weights, need="M", device=args.device)
    detector = HaarFaceDetector()
    for v in args.videos:
        ex = extract_video(v, nets, detector, args.batch_size)
        audio = None if args.no_audio else video_audio(v)
        paths = write_outputs(Path(args.out), Path(v).stem, ex, audio)
        print(f"{v}: {ex.frames_in} frames at {float(ex.fps_in):.3f} fps -> {len(ex.motion)} at 25 fps; "
              + ", ".join(str(p) for p in paths.values()))
    return 0
