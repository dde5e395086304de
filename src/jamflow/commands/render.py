"""`jamflow render`: a motion file (+ audio) -> mp4; also converts motion between .npy and .pkl.

    jamflow render --motion clip.npy --audio clip.wav --out clip.mp4
    jamflow render --motion gen.npy --compare gt.npy --audio clip.wav --out side_by_side.mp4
    jamflow render --motion clip.pkl --out clip.npy          # LivePortrait template -> our .npy
    jamflow render --motion clip.npy --out frames/ --png     # PNG frames to look at
    jamflow render --motion clip.npy --out strip.png --every 5 --size 160   # one PNG: every 5th frame in rows
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from jamflow import validate
from jamflow.commands.common import add_limit_arg, limits_from
from jamflow.errors import UserError
from jamflow.fileio import atomic_path
from jamflow.render.base import get_renderer
from jamflow.render.video import read_video, write_mp4


def add_cli(parser) -> None:
    parser.add_argument("--motion", required=True, help="motion .npy ([T, 70] at 25 fps) or LivePortrait .pkl")
    parser.add_argument("--out", required=True, help=".mp4 video, .npy/.pkl to convert the motion, .png contact "
                        "sheet (every --every-th frame, 10 a row, each labelled with its time), or a folder with --png")
    parser.add_argument("--audio", default=None, help="wav to mux into the mp4")
    parser.add_argument("--renderer", default="avatar", help="avatar (built in) or liveportrait")
    parser.add_argument("--source", default=None, help="source portrait/video for renderers that need one")
    parser.add_argument("--weights", default=None, help="liveportrait: LivePortrait's pretrained_weights folder")
    parser.add_argument("--size", type=int, default=512, help="avatar frame size in pixels")
    parser.add_argument("--compare", default=None, help="second motion file (.npy/.pkl) or video drawn side by side")
    parser.add_argument("--png", action="store_true", help="write PNG frames into the --out folder instead of a video")
    parser.add_argument("--every", type=int, default=1, help="with --png: keep every n-th frame")
    add_limit_arg(parser)


def contact_sheet(frames: list[np.ndarray], step_s: float, per_row: int = 10):
    """Frames [h, w, 3] -> one PIL image, `per_row` to a row, each labelled with its time (k * step_s)."""
    from PIL import Image, ImageDraw

    h, w = frames[0].shape[:2]
    rows = -(-len(frames) // per_row)
    sheet = Image.new("RGB", (w * min(per_row, len(frames)), h * rows), "white")
    draw = ImageDraw.Draw(sheet)
    for k, frame in enumerate(frames):
        x, y = (k % per_row) * w, (k // per_row) * h
        sheet.paste(Image.fromarray(frame), (x, y))
        draw.text((x + 4, y + 2), f"{k * step_s:.2f} s", fill=(255, 255, 255), stroke_width=1, stroke_fill=(0, 0, 0))
    return sheet


def _read_wav(path: str, limits) -> tuple[np.ndarray, int]:
    validate.audio_file(path, "--audio", limits, limits.max_audio_s, "max_audio_s")
    try:
        wav, sr = sf.read(path, dtype="float32", always_2d=True)
    except Exception as e:  # noqa: BLE001 - libsndfile's message, on one line
        raise UserError(f"--audio: expected a wav/flac/ogg sound file, got {path!r} ({' '.join(str(e).split())})") from None
    if not np.isfinite(wav).all():
        raise UserError(f"--audio: expected finite samples, got NaN/inf in {path!r}")
    return wav.mean(axis=1), sr


def _make_renderer(args):
    if args.renderer == "avatar":
        return get_renderer("avatar", size=args.size)
    return get_renderer(args.renderer, **({"weights": args.weights} if args.weights else {}))


def _source(args):
    if args.source is None:
        return None
    if not os.path.isfile(args.source):
        raise UserError(f"--source: expected an existing image or video, got {args.source!r}")
    return args.source


def _precheck(args, limits) -> Path:
    """Flags, input headers and the output location, before any frame is drawn."""
    validate.number("--size", args.size, 32, limits.max_render_size, integer=True)
    validate.number("--every", args.every, 1, None, integer=True)
    validate.motion_frames(args.motion, "--motion", limits)
    if args.compare and Path(args.compare).suffix.lower() in (".npy", ".pkl"):
        validate.motion_frames(args.compare, "--compare", limits)
    elif args.compare:
        validate.video_file(args.compare, "--compare", limits)
    if args.source:
        _source(args)
    out = Path(args.out)
    validate.writable_folder(out if args.png else out.parent, "--out")
    if out.is_dir() and not args.png:
        raise UserError(f"--out: expected a file path, got the folder {str(out)!r}")
    return out


def run_cli(args) -> int:
    from jamflow.motion.io import load_motion, save_motion

    limits = limits_from(args)
    out = _precheck(args, limits)
    motion, fps = load_motion(args.motion, "--motion")
    if out.suffix.lower() in (".npy", ".pkl") and not args.png:
        save_motion(out, motion, fps=fps)
        print(f"wrote {out} ({len(motion)} frames)")
        return 0
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

    if out.suffix.lower() == ".png":
        kept = [f for i, f in enumerate(frames) if i % args.every == 0]
        with atomic_path(out) as tmp:
            contact_sheet(kept, args.every / fps).save(tmp, format="PNG")
        print(f"wrote {out} ({len(kept)} frames, every {args.every / fps:g} s)")
        return 0
    if out.suffix.lower() != ".mp4":
        raise UserError(f"--out: expected a .mp4, .png, .npy, .pkl path (or a folder with --png), got {str(out)!r}")
    other = None
    if args.compare:
        if Path(args.compare).suffix.lower() in (".npy", ".pkl"):
            other_motion, _ = load_motion(args.compare, "--compare")
            other = _make_renderer(args).frames(other_motion, source=_source(args))
        else:
            other = iter(read_video(args.compare))
    audio, sr = (None, 24000) if args.audio is None else _read_wav(args.audio, limits)
    write_mp4(out, frames, fps=fps, audio=audio, sample_rate=sr, side_by_side=other, progress=True)
    print(f"wrote {out} ({len(motion)} frames at {fps:g} fps)")
    return 0
