"""Cheap checks of user input, run before any model loads or any sample is drawn.

Arguments are checked for type, finiteness and range; files are probed from their headers (audio:
soundfile / ffmpeg stream info; video: ffmpeg stream info; images: the PNG/JPEG header via Pillow;
motion .npy: the array header) against `jamflow.limits.Limits` *before* anything is decoded; output
locations are checked to stay inside their folder and to be writable. Every failure is a one-line
`jamflow.errors.UserError`: "NAME: expected X, got Y", where NAME is the CLI flag (`--ref_audio`)
or the API argument (`ref_audio`), whichever the caller passes in.
"""
from __future__ import annotations

import math
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from jamflow.errors import UserError
from jamflow.limits import MAX_CHARS_PER_S, MIN_CHARS_PER_S, Limits, limit_hint
from jamflow.timeline import MOTION_FPS

# ---------------------------------------------------------------------------------------------
# numbers


def number(name: str, value, lo: float | None = None, hi: float | None = None, integer: bool = False):
    """A finite number (an integer if asked) in [lo, hi]; returns it."""
    kind = "an integer" if integer else "a finite number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not float(value).is_integer()):
        raise UserError(f"{name}: expected {kind}, got {value!r}")
    if not math.isfinite(value):
        raise UserError(f"{name}: expected {kind}, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        bounds = f"in {lo:g}..{hi:g}" if lo is not None and hi is not None else (
            f">= {lo:g}" if lo is not None else f"<= {hi:g}")
        raise UserError(f"{name}: expected {kind} {bounds}, got {value!r}")
    return int(value) if integer else value


# ---------------------------------------------------------------------------------------------
# text

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def parse_spans(text, name: str) -> list[tuple[float, float]]:
    """"1.0-2.5,4-5" -> [(1.0, 2.5), (4.0, 5.0)] (seconds)."""
    if not text:
        return []
    if isinstance(text, list):  # from a TOML config: [[1.0, 2.5], [4, 5]]
        return [tuple(x) for x in text]
    spans = []
    for part in str(text).split(","):
        try:
            a, b = part.split("-")
            a, b = float(a), float(b)
        except ValueError:
            raise UserError(f"{name}: expected spans like 1.0-2.5,4-5 (seconds), got {part!r}") from None
        if not (math.isfinite(b) and 0 <= a < b):
            raise UserError(f"{name}: expected spans with 0 <= start < end (finite seconds), got {part!r}")
        spans.append((a, b))
    return spans


def read_text_file(path, name: str, limits: Limits) -> str:
    """A UTF-8 text file (size-checked before reading) -> its text."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{name}: expected an existing text file, got {str(path)!r}")
    size = path.stat().st_size
    if size > 4 * limits.max_text_chars + 4096:  # UTF-8: at most 4 bytes per character
        raise UserError(f"{name}: expected at most {limits.max_text_chars} characters, got a {size}-byte file "
                        f"({limit_hint('max_text_chars')})")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"{name}: expected UTF-8 text, got byte 0x{e.object[e.start]:02x} at offset {e.start} "
                        f"in {path.name} (save the file as UTF-8)") from None


def text(value, name: str, limits: Limits) -> str:
    """Text to speak: a string within the length limit with at least one letter or digit."""
    if not isinstance(value, str):
        raise UserError(f"{name}: expected text, got {type(value).__name__}")
    if len(value) > limits.max_text_chars:
        raise UserError(f"{name}: expected at most {limits.max_text_chars} characters, got {len(value)} "
                        f"({limit_hint('max_text_chars')})")
    bad = sorted(set(_CONTROL.findall(value)))
    if bad:
        raise UserError(f"{name}: expected printable text, got control characters {[hex(ord(c)) for c in bad]}")
    if not any(unicodedata.category(c)[0] in "LN" for c in value):
        raise UserError(f"{name}: expected words to speak, got {_show(value)} (no letters or digits)")
    return value


def unsupported_script(value: str, name: str, tokenizer) -> None:
    """Refuse letters the model cannot read, naming them. A character vocabulary (ours, or an F5 vocab.txt
    with CJK) reads what it lists: letters and digits it lacks would be silence. Phoneme models (espeak-ng
    en-us spells other scripts out as "Chinese letter") and byte models (trained on English here) read
    Latin-script letters only."""
    kind = getattr(tokenizer, "name", "")
    if kind not in ("char", "phoneme", "byte"):
        return
    other = []
    for c in dict.fromkeys(value):
        category = unicodedata.category(c)[0]
        if kind == "char":
            bad = category in "LN" and tokenizer._id(c) == 0
        else:
            bad = category == "L" and not unicodedata.name(c, "").startswith("LATIN")
        if bad:
            other.append(c)
    if other:
        shown = ", ".join(f"{c!r} ({unicodedata.name(c, 'U+%04X' % ord(c)).lower()})" for c in other[:5])
        more = f" and {len(other) - 5} more" if len(other) > 5 else ""
        script = "characters of the model's vocabulary" if kind == "char" else \
            f"Latin-script text (this model reads English {'phonemes' if kind == 'phoneme' else 'bytes'})"
        raise UserError(f"{name}: expected {script}, got {shown}{more}")


def transcript_fits(ref_text: str, seconds: float, name: str = "ref_text", audio_name: str = "ref_audio",
                    speech_s: float | None = None) -> None:
    """A transcript must be speakable within its audio (at most MAX_CHARS_PER_S over `seconds`) and, when
    the speech's length without leading/trailing silence is known, must cover it (at least MIN_CHARS_PER_S)."""
    chars = len(ref_text.strip())
    if seconds > 0 and chars / seconds > MAX_CHARS_PER_S:
        raise UserError(f"{name}: expected a transcript of {audio_name}'s {seconds:.1f} s (at most "
                        f"{int(seconds * MAX_CHARS_PER_S)} characters at {MAX_CHARS_PER_S:g} characters/s), "
                        f"got {chars} characters")
    if speech_s is not None and speech_s > 3.0 and chars / speech_s < MIN_CHARS_PER_S:  # short clips: any word
        raise UserError(f"{name}: expected a transcript of all of {audio_name}'s {speech_s:.1f} s of speech (at "
                        f"least {math.ceil(speech_s * MIN_CHARS_PER_S)} characters at {MIN_CHARS_PER_S:g} "
                        f"characters/s), got {chars} characters")


def _show(value: str, n: int = 30) -> str:
    return repr(value if len(value) <= n else value[:n] + "...")


# ---------------------------------------------------------------------------------------------
# input files


@dataclass
class MediaInfo:
    seconds: float  # duration; 0 when the container does not say
    sample_rate: int = 0
    channels: int = 0
    width: int = 0
    height: int = 0
    fps: float = 0.0
    has_video: bool = False
    has_audio: bool = False


def existing_file(path, name: str, limits: Limits, what: str = "file") -> Path:
    if path is None or (isinstance(path, str) and not path.strip()):
        raise UserError(f"{name}: expected a {what}, got nothing")
    if not isinstance(path, (str, os.PathLike)):
        raise UserError(f"{name}: expected a path to a {what}, got {type(path).__name__}")
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{name}: expected an existing {what}, got {str(path)!r}")
    size = p.stat().st_size
    if size == 0:
        raise UserError(f"{name}: expected a non-empty {what}, got an empty file {p.name}")
    if size > limits.max_input_mb * 1e6:
        raise UserError(f"{name}: expected at most {limits.max_input_mb:g} MB, got {size / 1e6:.0f} MB "
                        f"({limit_hint('max_input_mb')})")
    return p


def audio_file(path, name: str, limits: Limits, max_s: float, limit_name: str) -> MediaInfo:
    """Probe an audio file's header (rate, channels, duration) and refuse it if longer than `max_s`."""
    p = existing_file(path, name, limits, "audio file")
    info = _sound_info(p)
    if info is None:
        info = media_info(p, name, "audio file")
        if not info.has_audio:
            raise UserError(f"{name}: expected an audio stream, got none in {p.name}")
    if info.seconds > max_s:
        raise UserError(f"{name}: expected at most {max_s:g} s of audio, got {info.seconds:.1f} s in {p.name} "
                        f"({limit_hint(limit_name)})")
    return info


def _sound_info(p: Path) -> MediaInfo | None:
    import soundfile as sf

    try:
        i = sf.info(str(p))
    except Exception:  # noqa: BLE001 - not a libsndfile format: ffmpeg gets its turn
        return None
    if i.frames <= 0 or i.samplerate <= 0:
        return None
    return MediaInfo(i.frames / i.samplerate, sample_rate=int(i.samplerate), channels=int(i.channels),
                     has_audio=True)


_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #\S+.*?: Video: .*?(\d{2,5})x(\d{2,5})")
_FPS = re.compile(r"([\d.]+) (?:fps|tbr)")
_AUDIO = re.compile(r"Stream #\S+.*?: Audio: .*?(\d+) Hz")


def media_info(p: Path, name: str, what: str) -> MediaInfo:
    """Stream info from ffmpeg's header dump (`ffmpeg -i file`, nothing decoded)."""
    import subprocess

    from jamflow.ffmpeg import ffmpeg_exe

    try:
        proc = subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", str(p)], capture_output=True,
                              timeout=30)
    except subprocess.TimeoutExpired:
        raise UserError(f"{name}: expected a readable {what}, got {p.name} (ffmpeg took over 30 s to read its "
                        "header)") from None
    log = proc.stderr.decode(errors="replace")
    dur = _DURATION.search(log)
    video, audio = _VIDEO.search(log), _AUDIO.search(log)
    if dur is None and video is None and audio is None:
        said = [ln for ln in log.splitlines()[::-1] if str(p) in ln or "Invalid" in ln]
        reason = said[0].split(": ", 1)[-1].strip() if said else "unknown format"
        raise UserError(f"{name}: expected a readable {what}, got {p.name} ({reason})")
    seconds = 0.0 if dur is None else int(dur.group(1)) * 3600 + int(dur.group(2)) * 60 + float(dur.group(3))
    info = MediaInfo(seconds, has_video=video is not None, has_audio=audio is not None)
    if video is not None:
        info.width, info.height = int(video.group(1)), int(video.group(2))
        fps = _FPS.search(log[video.start():])
        info.fps = float(fps.group(1)) if fps else 0.0
    if audio is not None:
        info.sample_rate = int(audio.group(1))
    return info


def video_file(path, name: str, limits: Limits) -> MediaInfo:
    p = existing_file(path, name, limits, "video file")
    info = media_info(p, name, "video file")
    if not info.has_video:
        raise UserError(f"{name}: expected a video stream, got none in {p.name}")
    if info.seconds > limits.max_motion_s:
        raise UserError(f"{name}: expected at most {limits.max_motion_s:g} s of video, got {info.seconds:.1f} s "
                        f"({limit_hint('max_motion_s')})")
    if info.width * info.height > limits.max_image_pixels:
        raise UserError(f"{name}: expected at most {limits.max_image_pixels} pixels per frame, got "
                        f"{info.width}x{info.height} ({limit_hint('max_image_pixels')})")
    return info


def image_file(path, name: str, limits: Limits) -> tuple[int, int]:
    """(width, height) from the image header; refuses images over `max_image_pixels` before decoding."""
    p = existing_file(path, name, limits, "image")
    import warnings

    from PIL import Image

    pillow_limit = Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning: our own limit decides, with its name
            Image.MAX_IMAGE_PIXELS = None
            with Image.open(p) as im:
                width, height = im.size
    except Exception as e:  # noqa: BLE001 - any unreadable header
        raise UserError(f"{name}: expected a readable image (png/jpg/webp/bmp), got {p.name} "
                        f"({type(e).__name__})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = pillow_limit
    if width * height > limits.max_image_pixels:
        raise UserError(f"{name}: expected at most {limits.max_image_pixels} pixels, got {width}x{height} "
                        f"({limit_hint('max_image_pixels')})")
    return width, height


def motion_frames(path, name: str, limits: Limits) -> int | None:
    """Frames of a motion .npy from its header (None for .pkl: read in full, size-checked); length-checked."""
    p = existing_file(path, name, limits, "motion file (.npy/.pkl)")
    if p.suffix.lower() != ".npy":
        return None
    import numpy as np

    try:
        with open(p, "rb") as f:
            version = np.lib.format.read_magic(f)
            shape, _, dtype = np.lib.format._read_array_header(f, version, max_header_size=10000)
            data_start = f.tell()
    except Exception as e:  # noqa: BLE001 - anything unreadable is the user's file
        raise UserError(f"{name}: expected a .npy array [frames, 70], got an unreadable file {p.name} "
                        f"({type(e).__name__})") from None
    if len(shape) != 2 or shape[1] != 70:
        raise UserError(f"{name}: expected an array [frames, 70], got shape {list(shape)}")
    if not dtype.hasobject and data_start + shape[0] * shape[1] * dtype.itemsize > p.stat().st_size:
        raise UserError(f"{name}: expected {shape[0]} frames of data in {p.name} (as its header says), got a "
                        f"truncated file")
    if shape[0] / MOTION_FPS > limits.max_motion_s:
        raise UserError(f"{name}: expected at most {limits.max_motion_s:g} s of motion, got {shape[0] / MOTION_FPS:.1f} s "
                        f"({limit_hint('max_motion_s')})")
    return int(shape[0])


# ---------------------------------------------------------------------------------------------
# outputs


def output_inside(root, name, flag: str) -> Path:
    """`root / name`, refused if it leaves `root` (.., an absolute name, a symlinked folder pointing out).
    The last component is not resolved: a symlink there is replaced by the output, not written through."""
    root = Path(root)
    name = Path(name)
    if not str(name) or str(name) in (".", ".."):
        raise UserError(f"{flag}: expected a file name, got {str(name)!r}")
    top = root.resolve()
    parent = (root / name).parent.resolve()
    if name.is_absolute() or (parent != top and top not in parent.parents):
        raise UserError(f"{flag}: expected a name inside the output folder {str(root)!r}, got {str(name)!r}")
    return parent / name.name


def writable_folder(folder, flag: str) -> None:
    """The folder (or the nearest part of it that exists) must be a writable directory: probed by
    creating and removing a temp file, which also catches read-only and pseudo file systems."""
    folder = Path(folder)
    probe = folder
    while not probe.exists():
        if probe.is_symlink():
            raise UserError(f"{flag}: expected a folder, got a dangling symlink {str(probe)!r}")
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(f"{flag}: expected a folder, got a file {str(probe)!r}")
    top = str(probe.resolve()).split(os.sep)[1:3]
    if top[:1] in (["proc"], ["sys"]) or (top[:1] == ["dev"] and top[1:] != ["shm"]):  # /dev/shm is a real tmpfs
        raise UserError(f"{flag}: expected a folder on a real file system, got {str(folder)!r}")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".jamflow-probe-", dir=probe)
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise UserError(f"{flag}: expected a writable folder, got {str(probe)!r} ({e.strerror})") from None
