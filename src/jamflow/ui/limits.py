"""What the web page accepts, checked on the server before any generation starts.

Gradio rejects uploads over `max_upload_mb` itself (launch(max_file_size=...)); the checks here
cover what it cannot see: seconds of audio, video or motion, characters of text, and files that
reach a handler by another road (the page's API, examples). Each failure is a UserError naming the
field and the limit, shown in the page.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jamflow.errors import UserError
from jamflow.timeline import MOTION_FPS, SAMPLE_RATE

MOTION_SUFFIXES = (".npy", ".pkl")


@dataclass(frozen=True)
class Limits:
    max_upload_mb: float = 20.0  # per file
    max_audio_s: float = 60.0  # any uploaded or recorded audio, video or motion
    max_text_chars: int = 2000  # any text field

    def __post_init__(self):
        for name in ("max_upload_mb", "max_audio_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value > 0:
                raise UserError(f"--{name}: expected a number > 0, got {value!r}")
        if not isinstance(self.max_text_chars, int) or self.max_text_chars < 1:
            raise UserError(f"--max_text_chars: expected an integer >= 1, got {self.max_text_chars!r}")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    def text(self, value: str | None, name: str, required: bool = True) -> str | None:
        """The text, stripped; None when optional and empty."""
        value = (value or "").strip()
        if not value:
            if required:
                raise UserError(f"{name}: expected non-empty text, got nothing")
            return None
        if len(value) > self.max_text_chars:
            raise UserError(f"{name}: expected at most {self.max_text_chars} characters, got {len(value)}")
        return value

    def file(self, path, name: str, required: bool = True) -> Path | None:
        """An uploaded file under the size limit; None when optional and absent."""
        if path in (None, ""):
            if required:
                raise UserError(f"{name}: expected a file, got nothing")
            return None
        path = Path(path)
        if not path.is_file():
            raise UserError(f"{name}: expected an uploaded file, got a missing path {path.name!r}")
        size = path.stat().st_size
        if size > self.max_upload_bytes:
            raise UserError(f"{name}: expected at most {self.max_upload_mb:g} MB, got {size / 2**20:.1f} MB")
        return path

    def seconds(self, seconds: float, name: str) -> None:
        if seconds > self.max_audio_s:
            raise UserError(f"{name}: expected at most {self.max_audio_s:g} s, got {seconds:.2f} s")

    def audio(self, path, name: str, required: bool = True) -> Path | None:
        path = self.file(path, name, required)
        if path is not None:
            self.seconds(audio_seconds(path, name), name)
        return path

    def video(self, path, name: str, required: bool = True) -> Path | None:
        path = self.file(path, name, required)
        if path is not None:
            from jamflow.render.video import read_video

            self.seconds(read_video(path).duration, name)
        return path

    def motion(self, path, name: str, required: bool = True) -> Path | None:
        path = self.file(path, name, required)
        if path is not None:
            if path.suffix.lower() not in MOTION_SUFFIXES:
                raise UserError(f"{name}: expected a .npy or .pkl motion file, got {path.suffix or 'no extension'!r}")
            from jamflow.infer.motion_codec import load_motion_file  # checked [frames, 70] at 25 fps

            self.seconds(len(load_motion_file(path, name)) / MOTION_FPS, name)
        return path


def audio_seconds(path: Path, name: str) -> float:
    """Length of an audio file from its header when soundfile reads it, else by decoding it."""
    import soundfile as sf

    try:
        return float(sf.info(str(path)).duration)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        from jamflow.audio.io import load_audio

        try:
            return len(load_audio(path)) / SAMPLE_RATE
        except UserError as e:  # load_audio names its argument "path"
            raise UserError(f"{name}: {str(e).split(': ', 1)[-1]}") from None
