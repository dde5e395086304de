"""Video for streams: render motion that arrives in pieces, and write a fragmented mp4 while it grows.

`FragmentedMp4Writer` pipes raw RGB frames into ffmpeg's stdin and the 24 kHz audio (float32) into a
second pipe, and ffmpeg writes an H.264/AAC mp4 with `frag_keyframe+delay_moov+default_base_moof`:
a self-contained fragment follows every keyframe (one per second, `-g 25`, `-tune zerolatency`: no
frame waits for later ones), and the header goes out just before the first one, once it knows the AAC
encoder's priming (an edit list hides it, so frame k shows at k / fps), so the file plays (ffplay, a browser)
while it is being written. Each pipe is fed by its own thread from a bounded queue: ffmpeg can always
read whichever input it needs next, neither pipe can stall the other, and the caller hands a piece
over and goes on rendering the next while ffmpeg encodes (a frame is larger than a pipe's buffer, so
writing it directly would wait for ffmpeg to read it).
"""
from __future__ import annotations

import os
import queue
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

from jamflow.errors import UserError
from jamflow.ffmpeg import ffmpeg_exe
from jamflow.timeline import MOTION_FPS, SAMPLE_RATE

KEYFRAME_EVERY = 25  # frames: one fragment per second
AUDIO_QUEUE = 64  # pending audio pieces (each at most a second or so): bounded, and far ahead of any stall
VIDEO_QUEUE = 25  # pending frames (one second; 20 MB at 512 px): bounded, and time for ffmpeg to catch up
# x264's fastest preset: the encoder shares the CPU with the sampler, so its cost is the stream's. On the
# avatar at 512 px it takes ~30% less CPU than `veryfast` (what whole-clip videos use) for ~1.9x the bytes
# (~1 Mbit/s).
X264_PRESET = "ultrafast"


class _PipeFeeder:
    """A thread that writes `to_bytes(item)` of the items put() into a pipe, in order, until finish(); the
    queue holds at most `depth` of them, so put() waits when the reader falls that far behind. If the
    reader goes away the rest is dropped and `broken` is set."""

    def __init__(self, pipe, depth: int, name: str, to_bytes=bytes):
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.broken = False
        self.to_bytes = to_bytes
        self.thread = threading.Thread(target=self._run, args=(pipe,), name=name, daemon=True)
        self.thread.start()

    def _run(self, pipe) -> None:
        try:
            while (item := self.queue.get()) is not None:
                pipe.write(self.to_bytes(item))
                pipe.flush()
        except (BrokenPipeError, OSError):  # the reader died; the writer reports it
            self.broken = True
            while self.queue.get() is not None:
                pass
        finally:
            try:
                pipe.close()
            except OSError:
                pass

    def put(self, item) -> None:
        self.queue.put(item)

    def finish(self) -> None:
        """Write what is queued, close the pipe and wait for the thread."""
        self.queue.put(None)
        self.thread.join()


def _rgb_bytes(frame: np.ndarray) -> bytes:
    return np.ascontiguousarray(frame).tobytes()


def _yuv420_bytes(frame: np.ndarray) -> bytes:
    """uint8 RGB [H, W, 3] (H, W even) -> planar YUV 4:2:0 (I420) bytes, as ffmpeg's rawvideo yuv420p."""
    import cv2  # here, not at the top: infer.api imports this module, and most calls never stream video

    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2YUV_I420).tobytes()


def check_streamable(renderer):
    """The renderer, if it can render motion piece by piece (one that replays a driving video cannot)."""
    source = getattr(renderer, "source", None)
    if isinstance(source, tuple) and source and source[0] == "video":
        raise UserError("source: expected 'avatar' or a portrait image for streaming, got a video "
                        "(re-animating a video needs the whole motion; run without --stream)")
    return renderer


def render_piece(renderer, motion: np.ndarray, anchor: np.ndarray) -> list[np.ndarray]:
    """Frames uint8 [H, W, 3] for motion [k, 70]; `anchor` [70] is the stream's first motion frame, which a
    renderer that drives relative to the first frame (LivePortrait `relative`) must see first."""
    if getattr(renderer, "relative", False):
        return list(renderer.frames(np.concatenate([anchor[None], motion])))[1:]
    return list(renderer.frames(motion))


class FragmentedMp4Writer:
    """write(frames, wav) as pieces arrive; close() finishes the file, abort() kills ffmpeg and removes it."""

    def __init__(self, path, fps: float = MOTION_FPS, sample_rate: int = SAMPLE_RATE, crf: int = 18):
        self.path = Path(path)
        if self.path.suffix.lower() != ".mp4":
            raise UserError(f"output: expected a path ending in .mp4, got {str(self.path)!r}")
        self.fps, self.sample_rate, self.crf = fps, sample_rate, crf
        self.proc = None
        self.frames_written = 0

    def _start(self, h: int, w: int) -> None:
        read_fd, write_fd = os.pipe()
        # Even sizes go in as YUV 4:2:0, converted here by OpenCV (BT.601, limited range: what ffmpeg's own
        # conversion gives) at ~0.1 ms a 512 px frame, in the feeder thread with the GIL released; in ffmpeg
        # that conversion was ~40% of its CPU. Odd sizes go in as RGB and ffmpeg pads them to even.
        yuv = h % 2 == 0 and w % 2 == 0
        video_in = (["-pix_fmt", "yuv420p"] if yuv else ["-pix_fmt", "rgb24"]) + ["-s", f"{w}x{h}"]
        cmd = [ffmpeg_exe(), "-y", "-loglevel", "error",
               "-f", "rawvideo", *video_in, "-r", str(self.fps), "-i", "pipe:0",
               "-f", "f32le", "-ar", str(self.sample_rate), "-ac", "1", "-i", f"pipe:{read_fd}",
               "-c:v", "libx264", "-preset", X264_PRESET, "-tune", "zerolatency", "-g", str(KEYFRAME_EVERY),
               "-crf", str(self.crf), "-pix_fmt", "yuv420p", *([] if yuv else ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]),
               "-c:a", "aac", "-b:a", "128k", "-movflags", "frag_keyframe+delay_moov+default_base_moof",
               "-flush_packets", "1", "-f", "mp4", str(self.path)]
        self.log = tempfile.TemporaryFile()  # a pipe nobody reads could fill up and stall ffmpeg
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=self.log, pass_fds=(read_fd,))
        os.close(read_fd)
        self.size = (h, w)
        to_bytes = _yuv420_bytes if yuv else _rgb_bytes
        self.video = _PipeFeeder(self.proc.stdin, VIDEO_QUEUE, "jamflow-mp4-video", to_bytes)
        self.audio = _PipeFeeder(os.fdopen(write_fd, "wb"), AUDIO_QUEUE, "jamflow-mp4-audio")

    def write(self, frames: list[np.ndarray], wav: np.ndarray) -> None:
        """frames: each uint8 [H, W, 3]; wav [s] float32 for the same span (the last piece may be longer).
        Returns once the piece is queued; ffmpeg encodes it meanwhile, so the frames must not be changed
        afterwards (renderers hand out a new array per frame)."""
        if self.proc is None:
            if not frames:
                raise UserError("frames: expected at least one frame before audio, got none")
            self._start(*frames[0].shape[:2])
        for frame in frames:
            if frame.shape[:2] != self.size:
                raise UserError(f"frames: expected size {self.size[0]}x{self.size[1]}, "
                                f"got {frame.shape[0]}x{frame.shape[1]}")
        if self.video.broken or self.audio.broken:
            raise RuntimeError(f"ffmpeg stopped early writing {self.path}: {self._log()}")
        self.audio.put(np.ascontiguousarray(wav, np.float32).tobytes())
        for frame in frames:
            self.video.put(frame)
        self.frames_written += len(frames)

    def close(self) -> Path:
        if self.proc is None:
            raise UserError("frames: expected at least one frame, got none")
        # the video's end first: ffmpeg may hold the audio pipe unread until it has seen the end of
        # the video (its muxer interleaves the two), and the audio feeder would wait on that pipe for ever
        self.video.finish()
        self.audio.finish()
        code = self.proc.wait()
        message = self._log() if code != 0 or self.video.broken or self.audio.broken else ""
        self.log.close()
        if code != 0:
            raise RuntimeError(f"ffmpeg failed writing {self.path}: {message}")
        return self.path

    def abort(self) -> None:
        """Stop ffmpeg and its feeder threads, and remove the partial file."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.video.finish()  # ffmpeg is gone: each feeder drops what is left and closes its pipe
            self.audio.finish()
            self.log.close()
        self.path.unlink(missing_ok=True)

    def _log(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace").strip()[-2000:]
