"""`jamflow render`: a motion file (+ audio) -> mp4; also converts motion between .npy and .pkl.

    jamflow render --motion clip.npy --audio clip.wav --out clip.mp4
    jamflow render --motion gen.npy --compare gt.npy --audio clip.wav --out side_by_side.mp4
    jamflow render --motion clip.pkl --out clip.npy          # LivePortrait template -> our .npy
    jamflow render --motion clip.npy --out frames/ --png     # PNG frames to look at
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from jamflow.errors import UserError


def add_cli(parser) -> None:
    parser.add_argument("--motion", required=True, help="motion .npy ([T, 70] at 25 fps) or LivePortrait .pkl")
    parser.add_argument("--out", required=True, help=".mp4 video, .npy/.pkl to convert the motion, or a folder with --png")
    parser.add_argument("--audio", default=None, help="wav to mux into the mp4")
    parser.add_argument("--renderer", default="avatar", help="avatar (built in) or liveportrait")
    parser.add_argument("--source", default=None, help="source portrait/video for renderers that need one")
    parser.add_argument("--weights", default=None, help="liveportrait: LivePortrait's pretrained_weights folder")
    parser.add_argument("--size", type=int, default=512, help="avatar frame size in pixels")
    parser.add_argument("--compare", default=None, help="second motion file (.npy/.pkl) or video drawn side by side")
    parser.add_argument("--png", action="store_true", help="write PNG frames into the --out folder instead of a video")
    parser.add_argument("--every", type=int, default=1, help="with --png: keep every n-th frame")


def _read_wav(path: str) -> tuple[np.ndarray, int]:
    import soundfile as sf

    if not os.path.isfile(path):
        raise UserError(f"--audio: expected an existing sound file, got {path!r}")
    try:
        wav, sr = sf.read(path, dtype="float32", always_2d=True)
    except Exception as e:
        raise UserError(f"--audio: expected a readable sound file, got {path!r} ({e})") from None
    return wav.mean(axis=1), sr


def _make_renderer(args):
    from jamflow.render.base import get_renderer

    if args.renderer == "avatar":
        return get_renderer("avatar", size=args.size)
    return get_renderer(args.renderer, **({"weights": args.weights} if args.weights else {}))


def _source(args):
    if args.source is None:
        return None
    if not os.path.isfile(args.source):
        raise UserError(f"--source: expected an existing image or video, got {args.source!r}")
    return args.source


def run_cli(args) -> int:
    from jamflow.motion.io import load_motion, save_motion

    motion, fps = load_motion(args.motion)
    out = Path(args.out)
    if out.suffix.lower() in (".npy", ".pkl") and not args.png:
        save_motion(out, motion, fps=fps)
        print(f"wrote {out} ({len(motion)} frames)")
        return 0
    if args.every < 1:
        raise UserError(f"--every: expected a positive integer, got {args.every}")
    renderer = _make_renderer(args)
    frames = renderer.frames(motion, source=_source(args))

    if args.png:
        from PIL import Image

        out.mkdir(parents=True, exist_ok=True)
        count = 0
        for i, frame in enumerate(frames):
            if i % args.every == 0:
                Image.fromarray(frame).save(out / f"{i:05d}.png")
                count += 1
        print(f"wrote {count} PNG frames to {out}")
        return 0

    if out.suffix.lower() != ".mp4":
        raise UserError(f"--out: expected a .mp4, .npy, .pkl path (or a folder with --png), got {str(out)!r}")
    from jamflow.render.video import read_video, write_mp4

    other = None
    if args.compare:
        if Path(args.compare).suffix.lower() in (".npy", ".pkl"):
            other_motion, _ = load_motion(args.compare)
            other = _make_renderer(args).frames(other_motion, source=_source(args))
        else:
            other = iter(read_video(args.compare))
    audio, sr = (None, 24000) if args.audio is None else _read_wav(args.audio)
    write_mp4(out, frames, fps=fps, audio=audio, sample_rate=sr, side_by_side=other, progress=True)
    print(f"wrote {out} ({len(motion)} frames at {fps:g} fps)")
    return 0
