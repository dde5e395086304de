"""Argument checks of the API, all before any generation: texts, the output's folder, audio, motion,
a video and the renderer's source. Each loads what it checks and raises `UserError` naming the argument."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from jamflow import validate
from jamflow.errors import UserError
from jamflow.infer.motion_codec import load_motion_file
from jamflow.limits import Limits
from jamflow.motion.io import check_motion
from jamflow.timeline import MOTION_FPS, SAMPLE_RATE

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def check_texts_and_output(limits: Limits, tokenizer, output, **texts) -> Path | None:
    """Texts (length, something to speak, a script the model reads) and the output's folder
    (writable); returns the output path."""
    for name, value in texts.items():
        if value is None or (name == "ref_text" and str(value).strip().lower() == "auto"):
            continue
        validate.text(value, name, limits)
        validate.unsupported_script(value, name, tokenizer)
    if output is None:
        return None
    if not isinstance(output, (str, Path)):
        raise UserError(f"output: expected a file path, got {type(output).__name__}")
    validate.writable_folder(Path(output).parent, "output")
    return Path(output)


def audio_arg(audio, name: str, limits: Limits) -> np.ndarray:
    """A path or a waveform at 24 kHz -> wav [s] float32, within the audio limits."""
    if audio is None:
        raise UserError(f"{name}: expected an audio file or waveform, got nothing")
    limit, limit_name = ((limits.max_ref_audio_s, "max_ref_audio_s") if name == "ref_audio"
                         else (limits.max_audio_s, "max_audio_s"))
    if isinstance(audio, (str, Path)):
        from jamflow.audio.io import load_audio

        validate.audio_file(audio, name, limits, limit, limit_name)  # header only: no hour-long decode
        return load_audio(audio, name=name, max_seconds=limit)
    try:
        wav = np.asarray(audio, dtype=np.float32).reshape(-1)
    except (TypeError, ValueError):
        raise UserError(f"{name}: expected a path or a waveform array at 24 kHz, got "
                        f"{type(audio).__name__}") from None
    if wav.size == 0 or not np.isfinite(wav).all():
        raise UserError(f"{name}: expected a non-empty finite waveform at 24 kHz, got {wav.size} samples")
    if wav.size / SAMPLE_RATE > limit:
        raise UserError(f"{name}: expected at most {limit:g} s of audio, got {wav.size / SAMPLE_RATE:.1f} s "
                        f"({validate.limit_hint(limit_name)})")
    return wav


def motion_arg(motion, name: str, limits: Limits) -> np.ndarray | None:
    """None, a .npy/.pkl path or an array -> checked motion [T, 70] at 25 fps, within the limits."""
    if motion is None:
        return None
    if isinstance(motion, (str, Path)):
        validate.motion_frames(motion, name, limits)
        motion = load_motion_file(motion, name)
    motion = check_motion(motion, name)
    if len(motion) / MOTION_FPS > limits.max_motion_s:
        raise UserError(f"{name}: expected at most {limits.max_motion_s:g} s of motion, got "
                        f"{len(motion) / MOTION_FPS:.1f} s ({validate.limit_hint('max_motion_s')})")
    return motion


def video_arg(video, limits: Limits) -> Path | None:
    if video is None:
        return None
    path = Path(video)
    if not path.is_file():
        raise UserError(f"video: expected an existing video file, got {str(video)!r}")
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise UserError(f"video: expected one of {list(VIDEO_SUFFIXES)}, got {path.suffix or 'no extension'!r}")
    validate.video_file(path, "video", limits)  # a corrupt video fails now, not after sampling
    return path


def motion_from_video(video: Path) -> np.ndarray:
    """The motion extracted beside a video (<stem>.npy or <stem>.pkl)."""
    for sidecar in (video.with_suffix(".npy"), video.with_suffix(".pkl")):
        if sidecar.is_file():
            return load_motion_file(sidecar, "motion")
    raise UserError(f"motion: expected the motion of {video.name}, got none - run `jamflow extract-motion "
                    f"{video}` (LivePortrait) and pass --motion, or put {video.with_suffix('.npy').name} beside it")


def renderer_for(source, limits: Limits, weights, spec: str, device: str):
    """The renderer, chosen and checked up front, so a bad portrait fails before generation."""
    from jamflow.render.base import get_renderer

    if source in (None, "", "avatar"):
        return get_renderer("avatar")
    path = Path(source)
    if not path.is_file():
        raise UserError(f"source: expected 'avatar', a portrait image or a video, got missing path {str(source)!r}")
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES + VIDEO_SUFFIXES:
        raise UserError(f"source: expected an image {list(IMAGE_SUFFIXES)} or a video {list(VIDEO_SUFFIXES)}, "
                        f"got {suffix or 'no extension'!r}")
    if suffix in IMAGE_SUFFIXES:  # pixel count from the header, before anything is decoded
        validate.image_file(path, "source", limits)
    else:
        validate.video_file(path, "source", limits)
    # the face is detected while the renderer is built: a portrait without a face fails before sampling
    return get_renderer("liveportrait", weights=weights, source=str(path), spec=spec, device=device)
