"""Streamed output: write <stem>.wav and a fragmented <stem>.mp4 while the stream is generated.

The wav's header is rewritten at every flush (libsndfile updates the sizes on sync), so the file is a
valid wav of everything so far after each piece; the mp4 is fragmented (`render.stream_video`) and
plays while it grows. The motion (<stem>.npy, small) is written when the stream ends. The files are
written in place, not renamed at the end (a player must be able to open them while they grow); if
the stream fails or is cancelled, all of them are removed again. Time to the first audio (and
video frame) from the call is printed as soon as it is known (`first audio after <seconds> s`).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from jamflow.timeline import MOTION_FPS, SAMPLE_RATE


class StreamFiles:
    """The files of one streamed call: write(wav, motion, frames) per piece, then close() or abort()."""

    def __init__(self, stem: Path, video: bool):
        import soundfile as sf

        stem.parent.mkdir(parents=True, exist_ok=True)
        self.paths = {"wav": stem.with_name(stem.name + ".wav")}
        self.wav = sf.SoundFile(self.paths["wav"], "w", SAMPLE_RATE, 1, "PCM_16", format="WAV")
        self.mp4 = None
        if video:
            from jamflow.render.stream_video import FragmentedMp4Writer

            self.paths["video"] = stem.with_name(stem.name + ".mp4")
            self.mp4 = FragmentedMp4Writer(self.paths["video"], fps=MOTION_FPS, sample_rate=SAMPLE_RATE)
        self.motion: list[np.ndarray] = []
        self.stem = stem

    def write(self, wav: np.ndarray, motion: np.ndarray | None, frames=None) -> None:
        self.wav.write(np.clip(wav, -1.0, 1.0))  # as audio.io.save_wav writes it
        self.wav.flush()
        if motion is not None:
            self.motion.append(motion)
        if self.mp4 is not None and (frames or len(wav)):
            self.mp4.write(frames or [], wav)

    def close(self) -> dict:
        from jamflow.motion.io import save_motion

        self.wav.close()
        if self.mp4 is not None:
            self.mp4.close()
        if self.motion:
            motion_path = self.stem.with_name(self.stem.name + ".npy")
            self.paths["motion"] = save_motion(motion_path, np.concatenate(self.motion))
        return self.paths

    def abort(self) -> None:
        if not self.wav.closed:
            self.wav.close()
        if self.mp4 is not None:
            self.mp4.abort()
        for path in self.paths.values():
            Path(path).unlink(missing_ok=True)


def stream_to_files(pieces, stem: Path, video: bool, started: float) -> dict:
    """Consume `pieces` (StreamPieces, or (wav, motion) tuples) into the files; prints time to first audio."""
    files = StreamFiles(stem, video)
    first = True
    try:
        for piece in pieces:
            if isinstance(piece, tuple):  # tts_stream: (wav, motion)
                wav, motion, frames = piece + (None,)
            else:
                wav, motion, frames = piece.wav, piece.motion, piece.frames
            files.write(wav, motion, frames)
            if first and len(wav):
                first = False
                what = "first audio" + (" and video frame" if frames else "")
                print(f"{what} after {time.perf_counter() - started:.2f} s", flush=True)
        return files.close()
    except BaseException:
        files.abort()
        raise
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()
