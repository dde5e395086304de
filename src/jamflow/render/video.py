"""Video I/O through ffmpeg: stream RGB frames into an H.264/AAC mp4, read frames and audio back.

Frames are piped to the encoder one at a time, so a long video never sits in memory. Output is
H.264 yuv420p (browser-playable, `+faststart`) at 25 fps with the 24 kHz audio muxed as AAC, written
to a temp file in the target folder and renamed when ffmpeg has finished (a failure leaves nothing).

ffmpeg comes from `jamflow.ffmpeg` (the imageio-ffmpeg wheel's static build, else PATH).
"""
from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import soundfile as sf

from jamflow.errors import UserError
from jamflow.ffmpeg import decode_audio, ffmpeg_exe
from jamflow.fileio import atomic_path, temp_tag
from jamflow.progress import report
from jamflow.timeline import MOTION_FPS, SAMPLE_RATE


def _check_frame(frame, index: int) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise UserError(f"frames[{index}]: expected uint8 [H, W, 3], got {frame.dtype} {list(frame.shape)}")
    return np.ascontiguousarray(frame)


def _side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Join two frames horizontally; the shorter one is padded with black at the bottom."""
    h = max(left.shape[0], right.shape[0])
    pad = lambda f: np.pad(f, ((0, h - f.shape[0]), (0, 0), (0, 0))) if f.shape[0] < h else f
    return np.concatenate([pad(left), pad(right)], axis=1)


def _audio_array(audio, sample_rate: int) -> np.ndarray:
    if isinstance(audio, (str, os.PathLike)):
        if not Path(audio).is_file():
            raise UserError(f"audio: expected a sound file, got missing path {str(audio)!r}")
        data, sr = sf.read(str(audio), dtype="float32", always_2d=True)
        if sr != sample_rate:
            raise UserError(f"audio: expected {sample_rate} Hz, got {sr} Hz in {str(audio)!r}")
        return data.mean(axis=1)
    data = np.asarray(audio, dtype=np.float32)
    if data.ndim == 2 and 1 in data.shape:
        data = data.reshape(-1)
    if data.ndim != 1 or data.size == 0:
        raise UserError(f"audio: expected a non-empty mono waveform [samples], got shape {list(data.shape)}")
    return data


def write_mp4(path, frames: Iterable[np.ndarray], fps: float = MOTION_FPS, audio=None, sample_rate: int = SAMPLE_RATE,
              side_by_side: Iterable[np.ndarray] | None = None, crf: int = 18, progress: bool = False,
              frame_count: int = 0) -> Path:
    """Stream frames (each uint8 [H, W, 3]) into an H.264 yuv420p mp4, atomically.

    audio: None, a mono waveform [samples] at `sample_rate`, or a path to a wav.
    side_by_side: a second frame stream (e.g. ground truth) drawn to the right of `frames`.
    frame_count: the number of frames when known, for progress reports (0: unknown).
    Returns the written path. Odd frame sizes are padded to even (yuv420p needs it).
    """
    path = Path(path)
    if path.suffix.lower() != ".mp4":
        raise UserError(f"output: expected a path ending in .mp4, got {str(path)!r}")
    if fps <= 0:
        raise UserError(f"fps: expected a positive number, got {fps}")
    wav = None if audio is None else _audio_array(audio, sample_rate)
    stream = iter(frames)
    if side_by_side is not None:
        other = iter(side_by_side)
        stream = (_side_by_side(_check_frame(a, i), _check_frame(b, i))
                  for i, (a, b) in enumerate(zip(stream, other)))
    first = next(stream, None)
    if first is None:
        raise UserError("frames: expected at least one frame, got none")
    first = _check_frame(first, 0)
    h, w = first.shape[:2]
    with atomic_path(path) as tmp:
        _encode(tmp, itertools.chain([first], stream), w, h, fps, wav, sample_rate, crf,
                desc=f"encode {path.name}" if progress else None, frame_count=frame_count)
    return path


def _encode(out: Path, frames, w: int, h: int, fps: float, wav, sample_rate: int, crf: int, desc: str | None,
            frame_count: int = 0) -> None:
    """Pipe raw RGB frames (+ an optional wav) through ffmpeg into `out`."""
    wav_tmp = None
    cmd = [ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{w}x{h}", "-r", str(fps), "-i", "-"]
    if wav is not None:
        fd, wav_tmp = tempfile.mkstemp(suffix=".wav", prefix=f".{out.stem}{temp_tag()}", dir=out.parent)
        os.close(fd)
        sf.write(wav_tmp, wav, sample_rate, subtype="FLOAT")
        cmd += ["-i", wav_tmp, "-c:a", "aac", "-b:a", "128k", "-ar", str(sample_rate)]
    cmd += ["-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf), "-pix_fmt", "yuv420p",
            "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-movflags", "+faststart", "-f", "mp4", str(out)]
    # ffmpeg's messages go to a file: a pipe nobody reads could fill up and stall the encoder
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=log)
    read_log = lambda: (log.seek(0), log.read().decode(errors="replace"))[1]
    try:
        bar = None
        if desc is not None:
            from tqdm import tqdm

            bar = tqdm(desc=desc, unit="frame")
        for i, frame in enumerate(frames):
            frame = _check_frame(frame, i)
            if frame.shape[:2] != (h, w):
                raise UserError(f"frames[{i}]: expected size {h}x{w} like frame 0, got {frame.shape[0]}x{frame.shape[1]}")
            proc.stdin.write(frame.tobytes())
            report("render", i + 1, frame_count)
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        proc.stdin.close()
        if proc.wait() != 0:
            raise RuntimeError(f"ffmpeg failed writing {out}: {read_log().strip()[-2000:]}")
    except BrokenPipeError:
        proc.wait()
        raise RuntimeError(f"ffmpeg stopped early writing {out}: {read_log().strip()[-2000:]}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if wav_tmp is not None and os.path.exists(wav_tmp):
            os.remove(wav_tmp)
        log.close()


class VideoReader:
    """Frames of a video file, decoded on demand: `for frame in VideoReader(p)` -> uint8 [H, W, 3].

    Attributes: fps, size (height, width), duration (seconds, from the container; may be approximate).
    """

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.is_file():
            raise UserError(f"video: expected an existing video file, got {str(path)!r}")
        import imageio_ffmpeg

        gen = imageio_ffmpeg.read_frames(str(self.path), pix_fmt="rgb24")
        try:
            meta = next(gen)
        except (RuntimeError, OSError, StopIteration) as e:
            raise UserError(f"video: expected a readable video file, got {str(path)!r} ({e})") from e
        finally:
            gen.close()
        if not meta.get("size") or meta.get("size") == (0, 0):
            raise UserError(f"video: expected a video stream in {str(path)!r}, found none")
        w, h = meta["size"]
        self.size = (int(h), int(w))
        self.fps = float(meta.get("fps") or 25.0)
        self.duration = float(meta.get("duration") or 0.0)

    def __iter__(self) -> Iterator[np.ndarray]:
        import imageio_ffmpeg

        h, w = self.size
        gen = imageio_ffmpeg.read_frames(str(self.path), pix_fmt="rgb24")
        try:
            next(gen)  # metadata
            for buf in gen:
                yield np.frombuffer(buf, dtype=np.uint8).reshape(h, w, 3)
        finally:
            gen.close()


def read_video(path) -> VideoReader:
    """Open a video for streaming: `reader = read_video(p); reader.fps; for frame in reader: ...`."""
    return VideoReader(path)


def read_audio_from_video(path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode a media file's first audio stream to mono float32 [samples] at `sample_rate`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"video: expected an existing media file, got {str(path)!r}")
    return decode_audio(path, sample_rate, f"video: expected an audio stream in {str(path)!r}")


def probe(path) -> dict:
    """ffprobe's view of a file: {"video": {...}|None, "audio": {...}|None} with exact frame/sample counts."""
    exe = shutil.which("ffprobe")
    if exe is None:
        raise UserError("ffprobe: expected ffprobe on PATH (Debian package ffmpeg), got none")
    res = subprocess.run([exe, "-v", "error", "-count_frames", "-show_streams", "-of", "json", str(path)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise UserError(f"video: expected a media file ffprobe can read, got {str(path)!r}: {res.stderr.strip()}")
    streams = json.loads(res.stdout).get("streams", [])
    pick = lambda kind: next((s for s in streams if s.get("codec_type") == kind), None)
    return {"video": pick("video"), "audio": pick("audio")}
