"""Result files, all or nothing: <stem>.wav (speech), <stem>.npy (motion [T, 70]), <stem>.mp4 (video).

Each file goes to a temp name in the target folder and is renamed when complete; if a later file of
the same call fails (e.g. the renderer crashes mid-video), the earlier ones are removed again.
"""
from __future__ import annotations

from pathlib import Path

from jamflow.infer.settings import MOTION_FPS
from jamflow.motion.io import save_motion


def write_outputs(result, output: Path, *, write_video: bool, renderer=None, mux_into: Path | None = None,
                  progress: bool = True) -> dict:
    """<stem>.wav, <stem>.npy and <stem>.mp4 beside `output` (its suffix is ignored)."""
    stem = output.with_suffix("") if output.suffix.lower() in (".wav", ".mp4", ".npy") else output
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = {}
    try:  # all or nothing: a failure while encoding the video also removes the wav/npy of this call
        _write_all(result, stem, paths, write_video, renderer, mux_into, progress)
    except BaseException:
        for p in paths.values():
            Path(p).unlink(missing_ok=True)
        raise
    return paths


def _write_all(result, stem: Path, paths: dict, write_video, renderer, mux_into, progress) -> None:
    from jamflow.audio.io import save_wav

    if result.wav is not None:
        paths["wav"] = save_wav(stem.with_name(stem.name + ".wav"), result.wav)
    if result.motion is not None:
        paths["motion"] = save_motion(stem.with_name(stem.name + ".npy"), result.motion)
    if mux_into is not None:  # dub: the user's video with the new speech (video re-encoded, H.264)
        from jamflow.render.video import read_video, write_mp4

        reader = read_video(mux_into)
        paths["video"] = write_mp4(stem.with_name(stem.name + ".mp4"), reader, fps=reader.fps, audio=result.wav,
                                   progress=progress)
    elif write_video and result.motion is not None:
        from jamflow.render.video import write_mp4

        paths["video"] = write_mp4(stem.with_name(stem.name + ".mp4"), renderer.frames(result.motion), fps=MOTION_FPS,
                                   audio=result.wav, progress=progress, frame_count=len(result.motion))
