"""Inference settings: one dataclass for every sampling / long-form / motion knob, plus config files.

The same key names are used by the Python API (keyword arguments), the CLI (`--key value`) and a
`-c config.toml` file, so a setting means one thing everywhere. Precedence: explicit CLI flag >
config file > default.
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from jamflow.errors import UserError

STREAM_FIRST_CHUNK_S = 1.0  # streaming: the first chunk's speech, short so the first audio comes out fast
MAX_CFG = 30.0  # largest guidance strength accepted (F5 uses 2)
_OPTIONAL = ("cfg_strength_motion", "sway_sampling_coef", "fix_duration", "first_chunk_s")  # None is a valid value


@dataclass
class InferSettings:
    # sampler (F5-TTS names and defaults)
    nfe_step: int = 32
    cfg_strength: float = 2.0  # audio stream
    cfg_strength_motion: float | None = None  # None: same as cfg_strength
    cfg_until: float = 1.0  # guide only model calls at flow time t < cfg_until (1: every call, as F5)
    sway_sampling_coef: float | None = -1.0
    ode_method: str = "euler"  # "euler" | "midpoint"
    seed: int | None = None  # None: drawn at random and reported
    # duration
    speed: float = 1.0
    fix_duration: float | None = None  # seconds, reference + generated (as in F5-TTS)
    # long inputs
    max_chunk_s: float = 12.0  # generated seconds per text chunk (the prompt comes on top)
    chunk_prompt: str = "previous"  # "previous": previous chunk continues; "reference": every chunk from the reference
    context_s: float = 3.0  # "previous": at most this many seconds of what came before prompt the next chunk
    first_chunk_s: float | None = None  # seconds of the first chunk (a clause); None: 1 s when streaming, else off; 0: off
    cross_fade_s: float = 0.16  # audio cross-fade / motion blend at seams (rounded to whole motion frames)
    window_s: float = 10.0  # animate / dub: window length for long audio / motion
    window_overlap_s: float = 1.0  # animate: known motion carried on; dub: where cuts fall, the next prompt's bound
    # motion post-processing (on denormalised motion; 1.0 / 0 = unchanged)
    motion_smoothing: float = 0.0  # Gaussian sigma in frames over generated channels
    # a generated head's turns tremble (recipes/face_model); no effect where the spec does not generate it
    head_smoothing: float = 1.5  # Gaussian sigma in frames over a generated head's turns
    head_scale: float = 1.0  # scales pose + translation around their mean
    expression_scale: float = 1.0  # scales expression offsets around their mean
    face_life: float = 1.0  # 0..2: eyes, brows and head follow the speech where no context motion drives them (0: still)
    # audio output
    target_rms: float = 0.1  # quiet references are raised to this loudness; output rescaled back
    timbre_match: float = 0.5  # 0..1: pull the generated speech's average spectrum towards the reference's (infer/timbre.py)

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        def check(ok: bool, name: str, what: str):
            if not ok:
                raise UserError(f"{name}: expected {what}, got {getattr(self, name)!r}")

        check(isinstance(self.nfe_step, int) and not isinstance(self.nfe_step, bool) and 1 <= self.nfe_step <= 1000,
              "nfe_step", "an integer in 1..1000")
        for name in ("cfg_strength", "cfg_strength_motion", "cfg_until", "sway_sampling_coef", "speed", "fix_duration",
                     "max_chunk_s", "context_s", "first_chunk_s", "cross_fade_s", "window_s", "window_overlap_s",
                     "motion_smoothing", "head_smoothing", "head_scale", "expression_scale", "face_life", "target_rms",
                     "timbre_match"):
            v = getattr(self, name)
            if v is None and name in _OPTIONAL:
                continue
            check(isinstance(v, (int, float)) and not isinstance(v, bool), name, "a number")
            check(name in ("cfg_until", "timbre_match") or math.isfinite(v), name, "a finite number")
        # guidance past ~MAX_CFG turns the flow into NaNs after a minute of sampling: refuse it up front
        check(0 <= self.cfg_strength <= MAX_CFG, "cfg_strength", f"a number in 0..{MAX_CFG:g}")
        check(0 <= self.cfg_until <= 1, "cfg_until", "a flow time in 0..1")
        check(self.cfg_strength_motion is None or 0 <= self.cfg_strength_motion <= MAX_CFG, "cfg_strength_motion",
              f"a number in 0..{MAX_CFG:g}")
        check(self.sway_sampling_coef is None or -10 <= self.sway_sampling_coef <= 10, "sway_sampling_coef",
              "a number in -10..10")
        check(0 < self.target_rms <= 1, "target_rms", "a loudness (RMS) in (0, 1]")
        check(0 <= self.head_scale <= 10, "head_scale", "a number in 0..10")
        check(0 <= self.expression_scale <= 10, "expression_scale", "a number in 0..10")
        check(0.1 <= self.speed <= 10, "speed", "a number in 0.1..10")
        check(self.fix_duration is None or 0 < self.fix_duration, "fix_duration", "seconds > 0")
        check(self.ode_method in ("euler", "midpoint"), "ode_method", "'euler' or 'midpoint'")
        check(self.chunk_prompt in ("previous", "reference"), "chunk_prompt", "'previous' or 'reference'")
        check(1 <= self.max_chunk_s <= 30, "max_chunk_s", "seconds in 1..30")
        check(0.5 <= self.context_s <= 30, "context_s", "seconds in 0.5..30")
        check(self.first_chunk_s is None or self.first_chunk_s == 0 or 0.5 <= self.first_chunk_s <= self.max_chunk_s,
              "first_chunk_s", "0 (off) or seconds in 0.5..max_chunk_s")
        check(0 <= self.cross_fade_s <= 2, "cross_fade_s", "seconds in 0..2")
        check(2 <= self.window_s <= 30, "window_s", "seconds in 2..30")
        check(0 <= self.window_overlap_s <= self.window_s / 2, "window_overlap_s", "seconds in 0..window_s/2")
        check(0 <= self.motion_smoothing <= 100, "motion_smoothing", "a sigma in frames in 0..100")
        check(0 <= self.head_smoothing <= 100, "head_smoothing", "a sigma in frames in 0..100")
        check(0 <= self.face_life <= 2, "face_life", "a number in 0..2")
        check(0 <= self.timbre_match <= 1, "timbre_match", "a number in 0..1")
        check(self.seed is None or (isinstance(self.seed, int) and 0 <= self.seed < 2**63), "seed", "an integer >= 0")

    def for_stream(self) -> "InferSettings":
        """A copy with the streaming default resolved: a first chunk of STREAM_FIRST_CHUNK_S unless set."""
        return self if self.first_chunk_s is not None else replace(self, first_chunk_s=STREAM_FIRST_CHUNK_S)

    def with_seed(self) -> "InferSettings":
        """A copy with a concrete seed (drawn now if none was given), so every run can be reproduced."""
        if self.seed is not None:
            return self
        import random

        return replace(self, seed=random.randrange(2**31))

    def to_dict(self) -> dict:
        return asdict(self)


SETTING_NAMES = tuple(f.name for f in fields(InferSettings))


def make_settings(base: InferSettings | None = None, **overrides) -> InferSettings:
    """Settings from keyword overrides (None means: keep the default); unknown names are errors."""
    unknown = sorted(set(overrides) - set(SETTING_NAMES))
    if unknown:
        raise UserError(f"settings: expected keys among {list(SETTING_NAMES)}, got unknown {unknown}")
    given = {k: v for k, v in overrides.items() if v is not None}
    return replace(base or InferSettings(), **given)


def load_config_file(path: str | Path) -> dict:
    """Read a `-c config.toml` (keys = CLI flag names without dashes). JSON is accepted too."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--config: expected an existing .toml file, got {str(path)!r}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"--config: expected UTF-8 text, got byte 0x{e.object[e.start]:02x} at offset {e.start} "
                        f"in {path.name}") from None
    try:
        if path.suffix.lower() == ".json":
            import json

            data = json.loads(text)
        else:
            data = tomllib.loads(text)
    except ValueError as e:  # TOMLDecodeError and JSONDecodeError are ValueErrors
        raise UserError(f"--config: expected valid TOML, got a parse error in {path}: {' '.join(str(e).split())}") from None
    if not isinstance(data, dict):
        raise UserError(f"--config: expected a table of settings, got {type(data).__name__}")
    return data


def format_settings(settings: InferSettings, skip=()) -> str:
    return " ".join(f"{k}={v}" for k, v in settings.to_dict().items() if k not in skip)
