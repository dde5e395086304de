"""The server's limits, one dataclass; `jamflow serve` flags map onto it one to one."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from jamflow.errors import UserError


@dataclass(frozen=True)
class ServeConfig:
    queue: int = 2  # requests that may wait while one runs; more get 429
    timeout_s: float = 300.0  # per request, waiting + running; then cancelled (504)
    max_body_mb: float = 20.0  # request bodies larger than this get 413
    max_text_chars: int = 2000  # `input` longer than this gets 400
    max_audio_s: float = 60.0  # uploaded audio / motion, and fix_duration, longer than this get 400
    voices_dir: Path | None = None  # NAME.wav|flac + NAME.txt voices besides the shipped ones
    liveportrait_weights: Path | None = None  # enables portrait uploads on /v1/talk

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        def check(ok: bool, flag: str, what: str, value):
            if not ok:
                raise UserError(f"--{flag}: expected {what}, got {value!r}")

        def number(v) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        check(isinstance(self.queue, int) and 0 <= self.queue <= 1000, "queue", "an integer in 0..1000", self.queue)
        check(number(self.timeout_s) and self.timeout_s > 0, "timeout_s", "seconds > 0", self.timeout_s)
        check(number(self.max_body_mb) and 0 < self.max_body_mb <= 4096, "max_body_mb", "megabytes in (0, 4096]",
              self.max_body_mb)
        check(isinstance(self.max_text_chars, int) and 1 <= self.max_text_chars <= 1_000_000, "max_text_chars",
              "an integer in 1..1000000", self.max_text_chars)
        check(number(self.max_audio_s) and 0 < self.max_audio_s <= 3600, "max_audio_s", "seconds in (0, 3600]",
              self.max_audio_s)
        if self.voices_dir is not None:
            check(Path(self.voices_dir).is_dir(), "voices", "an existing folder", str(self.voices_dir))
        if self.liveportrait_weights is not None:
            check(Path(self.liveportrait_weights).is_dir(), "liveportrait_weights", "an existing folder",
                  str(self.liveportrait_weights))

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)
