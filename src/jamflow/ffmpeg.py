"""The ffmpeg binary, found once for the whole package: audio decoding and video I/O both run it.

It comes from the imageio-ffmpeg wheel (a static build with libx264 + aac) or, failing that, PATH.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from jamflow.errors import UserError


def ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # wheel missing or its binary unusable: fall back to the system ffmpeg
        exe = shutil.which("ffmpeg")
        if exe is None:
            raise UserError("ffmpeg: expected the imageio-ffmpeg package or ffmpeg on PATH, got neither")
        return exe


def run_ffmpeg(args: list[str], failure: str) -> bytes:
    """`ffmpeg <args>` -> its stdout; on failure UserError(f"{failure} (ffmpeg said: ...)").

    `failure` names the argument and what was expected ("path: expected a readable audio file, got x").
    """
    # -nostdin: ffmpeg would otherwise read the terminal and can stall a background job
    proc = subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", *args], capture_output=True)
    if proc.returncode != 0:
        said = "; ".join(line.strip() for line in proc.stderr.decode(errors="replace").splitlines() if line.strip())
        raise UserError(f"{failure} (ffmpeg said: {said[-300:] or f'exit code {proc.returncode}'})")
    return proc.stdout


def decode_audio(path: Path, sample_rate: int, failure: str, max_seconds: float | None = None) -> np.ndarray:
    """A media file's first audio stream -> mono float32 [samples] at `sample_rate`; with `max_seconds`,
    decoding stops just past it (a stream whose header gives no duration cannot decode to hours)."""
    limit = [] if max_seconds is None else ["-t", f"{max_seconds + 1:.3f}"]
    out = run_ffmpeg(["-i", str(path), "-vn", "-map", "0:a:0", "-ac", "1", "-ar", str(sample_rate), *limit,
                      "-f", "f32le", "-acodec", "pcm_f32le", "-"], failure)
    return np.frombuffer(out, dtype=np.float32).copy()
