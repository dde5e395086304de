"""Input limits: how much text, audio, video, image and batch work one call may ask for.

Every limit has a default that fits a laptop and can be raised, never silently ignored:
    CLI     jamflow tts --limit max_text_chars=20000 ...        (repeatable; or `limit = [...]` in -c)
    Python  JAMFlow.from_pretrained(limits=Limits(max_text_chars=20000))
A request over a limit is refused before any model loads, with the limit's name in the message, so
the user knows which knob to turn. docs/limits.md has the table.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

from jamflow.errors import UserError

# Plausible speaking rates (characters per second of audio). English read speech is ~12-16 chars/s;
# outside this range a transcript does not belong to its audio, or a duration cannot hold its text.
MIN_CHARS_PER_S, MAX_CHARS_PER_S = 2.0, 50.0


@dataclass(frozen=True)
class Limits:
    max_text_chars: int = 5000  # gen_text / text / ref_text, characters (~6 min of speech, chunked)
    max_ref_audio_s: float = 30.0  # reference voice (trimmed and clipped to 12 s before use)
    max_audio_s: float = 600.0  # animate / edit input audio (animate runs it in windows)
    max_motion_s: float = 600.0  # motion files (.npy / .pkl) and videos to dub
    max_image_pixels: int = 40_000_000  # portrait images (width x height), checked from the header
    max_render_size: int = 2048  # `render --size` (avatar frames are size x size)
    max_batch_jobs: int = 1000  # jobs in one `jamflow batch` file
    max_batch_size: int = 64  # jobs per sampler call in `jamflow batch`
    max_input_mb: float = 2048.0  # any input file, megabytes on disk

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
            if f.type == "int":
                ok = ok and float(value).is_integer()
            if not ok:
                raise UserError(f"limits.{f.name}: expected a positive {'integer' if f.type == 'int' else 'number'}, "
                                f"got {value!r}")
            if f.type == "int":
                object.__setattr__(self, f.name, int(value))

    def raised(self, **changes) -> "Limits":
        """A copy with some limits changed (validated like the constructor)."""
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            raise UserError(f"limits: expected names among {limit_names()}, got unknown {unknown}")
        return replace(self, **changes)


def limit_names() -> list[str]:
    return [f.name for f in fields(Limits)]


def parse_limits(items, flag: str = "--limit", base: Limits | None = None) -> Limits:
    """["max_text_chars=20000", ...] (CLI) or {"max_text_chars": 20000} (config file) -> Limits."""
    base = base or Limits()
    if not items:
        return base
    if isinstance(items, dict):
        pairs = list(items.items())
    else:
        pairs = []
        for item in [items] if isinstance(items, str) else items:
            name, sep, value = str(item).partition("=")
            if not sep:
                raise UserError(f"{flag}: expected NAME=VALUE (names: {', '.join(limit_names())}), got {item!r}")
            pairs.append((name.strip(), value.strip()))
    changes = {}
    types = {f.name: f.type for f in fields(Limits)}
    for name, value in pairs:
        if name not in types:
            raise UserError(f"{flag}: expected a limit among {limit_names()}, got {name!r}")
        try:
            changes[name] = float(value) if types[name] == "float" else _integer(value)
        except (TypeError, ValueError):
            raise UserError(f"{flag}: expected {name}=<{'integer' if types[name] == 'int' else 'number'}>, "
                            f"got {value!r}") from None
    try:
        return base.raised(**changes)
    except UserError as e:
        raise UserError(f"{flag}: {str(e).split(': ', 1)[1]}") from None


def _integer(value) -> int:
    number = float(value)
    if not number.is_integer():
        raise ValueError(value)
    return int(number)


def limit_hint(name: str) -> str:
    """How to raise a limit, for error messages."""
    return f"raise it with --limit {name}=N, or Limits({name}=N) in Python"
