"""Result files, all or nothing: <stem>.wav (speech), <stem>.npy (motion [T, 70]), <stem>.mp4 (video).

Every file of a call is first written under a hidden temp name in the target folder; only when all
of them are complete are they renamed to their final names, one right after the other. A failure,
Ctrl-C or SIGTERM (the CLI turns it into an exception) on the way removes the temps, and temps left
by a process killed outright (kill -9) are removed by the next call that writes into the folder.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from jamflow.fileio import remove_stale_temps, temp_tag
from jamflow.timeline import MOTION_FPS
from jamflow.motion.io import save_motion


def write_outputs(result, output: Path, *, write_video: bool, renderer=None, mux_into: Path | None = None,
                  progress: bool = True) -> dict:
    """<stem>.wav, <stem>.npy and <stem>.mp4 beside `output` (its suffix is ignored)."""
    stem = output.with_suffix("") if output.suffix.lower() in (".wav", ".mp4", ".npy") else output
    stem.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(stem.parent)
    staged: dict[str, tuple[Path, Path]] = {}  # kind -> (temp, final)
    committed: list[Path] = []
    try:
        _write_all(result, stem, staged, write_video, renderer, mux_into, progress)
        for temp, final in staged.values():  # the commit: renames only, no encoding in between
            os.replace(temp, final)  # a symlink at `final` is replaced, not written through
            committed.append(final)
    except BaseException:
        for temp, final in staged.values():
            temp.unlink(missing_ok=True)
        for final in committed:
            final.unlink(missing_ok=True)
        raise
    return {kind: final for kind, (_, final) in staged.items()}


def _stage(staged: dict, kind: str, final: Path) -> Path:
    temp = final.with_name(f".{final.name}{temp_tag()}{secrets.token_hex(4)}{final.suffix}")
    staged[kind] = (temp, final)
    return temp


def _write_all(result, stem: Path, staged: dict, write_video, renderer, mux_into, progress) -> None:
    from jamflow.audio.io import save_wav

    name = stem.name
    if result.wav is not None:
        save_wav(_stage(staged, "wav", stem.with_name(name + ".wav")), result.wav)
    if result.motion is not None:
        save_motion(_stage(staged, "motion", stem.with_name(name + ".npy")), result.motion)
    if mux_into is not None:  # dub: the user's video with the new speech (video re-encoded, H.264)
        from jamflow.render.video import read_video, write_mp4

        reader = read_video(mux_into)
        write_mp4(_stage(staged, "video", stem.with_name(name + ".mp4")), reader, fps=reader.fps, audio=result.wav,
                  progress=progress)
    elif write_video and result.motion is not None:
        from jamflow.render.video import write_mp4

        write_mp4(_stage(staged, "video", stem.with_name(name + ".mp4")), renderer.frames(result.motion),
                  fps=MOTION_FPS, audio=result.wav, progress=progress, frame_count=len(result.motion))
