"""Experiment configs: one YAML file per experiment, dotted command-line overrides, strict checking.

    jamflow train --config tiny.yaml optim.lr=2e-4 data.max_frames=4000

Every key is checked against the dataclasses below before any work starts, so a typo fails with the
list of valid keys instead of being silently ignored. The resolved config is written to the run folder
and into every checkpoint (`config.yaml`).
"""
from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from jamflow.errors import UserError
from jamflow.train.distill import DistillConfig, check_config

STAGES = ("motion", "joint", "audio", "distill")
PRECISIONS = ("no", "fp16", "bf16", "auto")


@dataclass
class DataConfig:
    cache: str = ""  # folder written by `jamflow prepare` (relative paths: against the working directory)
    split: str = "train"
    max_frames: int = 38400  # mel frames per batch per process (F5-TTS's default budget)
    max_samples: int = 64  # clips per batch per process
    crop_frames: int = 0  # longer clips are cropped to this many mel frames (0: drop clips over max_frames)
    num_workers: int = 0  # DataLoader worker processes
    # lay the text out by the durations `jamflow align` wrote into the cache; the model config then
    # carries their mean-duration table (audio.text_durations), which inference lays new text out with
    durations: bool = False


@dataclass
class ModelConfig:
    preset: str = "tiny"  # jamflow.config.get_preset name
    overrides: dict = field(default_factory=dict)  # nested JAMConfig field overrides, e.g. {audio: {depth: 4}}
    init_f5: str | None = None  # F5-TTS checkpoint for the Audio-DiT (.safetensors / .pt)
    f5_version: str = "v1"  # "v1" | "v0": F5 runtime semantics of that checkpoint
    init_from: str | None = None  # jamflow inference checkpoint dir, or a training checkpoint dir


@dataclass
class OptimConfig:
    lr: float = 7.5e-5
    betas: list = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    weight_decay: float = 0.01
    fused: bool | None = None  # None: fused AdamW where the device supports it (CUDA, CPU)
    warmup_updates: int = 1000
    total_updates: int = 100000  # training length, and the end of the linear decay
    min_lr_ratio: float = 1e-8  # warmup starts and decay ends at lr * min_lr_ratio (F5: 1e-8)
    max_grad_norm: float = 1.0  # 0 disables clipping
    grad_accum: int = 1  # micro-batches per update; schedules and checkpoints count updates


@dataclass
class EMAConfig:
    enabled: bool = True
    beta: float = 0.9999
    update_after_step: int = 100
    update_every: int = 10
    inv_gamma: float = 1.0
    power: float = 2 / 3


@dataclass
class LogConfig:
    every: int = 10  # updates between scalar logs
    tensorboard: bool = True
    wandb: bool = False
    wandb_project: str = "jamflow"
    sample_every: int = 0  # updates between audio + mp4 samples (0: never)
    sample_nfe: int = 16
    renderer: str = "avatar"  # or "liveportrait" (needs its weights)
    sample_size: int = 256  # avatar frame size in pixels


@dataclass
class CheckpointConfig:
    every: int = 1000  # updates between checkpoints (a last one is always written at the end)
    keep_last: int = 3  # 0 keeps all


@dataclass
class TrainConfig:
    name: str = "run"
    run_dir: str = ""  # default: runs/<name>
    seed: int = 666
    # "motion": Audio-DiT frozen, audio->motion masks; "joint": everything; "distill": a few-step student
    # of model.init_from (LoRA adapters only, train/distill.py)
    stage: str = "joint"
    freeze: list = field(default_factory=list)  # parameter-name prefixes to freeze on top of the stage's
    unfreeze: list = field(default_factory=list)  # prefixes to train even if the stage freezes them
    fsdp: bool = False  # shard weights, grads and optimizer state over processes (FSDP2), for the base preset
    mixed_precision: str = "auto"  # "auto": bf16 on CUDA, fp32 on CPU (bf16 is ~20x slower on this CPU)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    masks: dict = field(default_factory=dict)  # jamflow.model.cfm.MaskConfig fields
    ema: EMAConfig = field(default_factory=EMAConfig)
    log: LogConfig = field(default_factory=LogConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)  # stage "distill" only


# ---------------------------------------------------------------------------------------------
# dataclass <-> nested dict, with type checks

def _check_value(value, hint, where: str):
    """Coerce `value` to the annotated type or raise UserError naming the key."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _check_value(value, inner[0], where)
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "3e-4" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif hint is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    elif hint is list or origin is list:
        if isinstance(value, (list, tuple)):
            return list(value)
    elif hint is dict or origin is dict:
        if isinstance(value, dict):
            return dict(value)
    else:
        return value
    name = getattr(hint, "__name__", str(hint))
    raise UserError(f"{where}: expected {name}, got {value!r}")


def from_dict(cls, data: dict, where: str = "config"):
    """Build dataclass `cls` from a nested dict; unknown keys and wrong types raise UserError."""
    if not isinstance(data, dict):
        raise UserError(f"{where}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise UserError(f"{where}.{unknown[0]}: expected one of {sorted(names)}, got an unknown key")
    kwargs = {}
    for key, value in data.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = from_dict(hint, value or {}, f"{where}.{key}")
        else:
            kwargs[key] = _check_value(value, hint, f"{where}.{key}")
    return cls(**kwargs)


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def parse_override(text: str) -> tuple[list[str], object]:
    """'optim.lr=2e-4' -> (['optim', 'lr'], 0.0002); the value is read as YAML (numbers, bools, lists)."""
    if "=" not in text or text.startswith("="):
        raise UserError(f"override: expected key.path=value, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def set_dotted(data: dict, path: list[str], value) -> None:
    node = data
    for part in path[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise UserError(f"override {'.'.join(path)}: expected {part} to be a section, got {child!r}")
        node = child
    node[path[-1]] = value


def load_config(path: str | os.PathLike | None, overrides: list[str] = ()) -> TrainConfig:
    """Read a YAML experiment file, apply `key.path=value` overrides, check everything."""
    data: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise UserError(f"--config: expected an existing YAML file, got {str(path)!r}")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise UserError(f"--config: expected valid YAML, got a parse error in {path}: {e}") from None
    for text in overrides:
        set_dotted(data, *parse_override(text))
    cfg = from_dict(TrainConfig, data)
    return validate(cfg, Path.cwd())


def validate(cfg: TrainConfig, base: Path) -> TrainConfig:
    """Value checks that types cannot express; resolves relative data paths against `base`."""
    if cfg.stage not in STAGES:
        raise UserError(f"stage: expected one of {STAGES}, got {cfg.stage!r}")
    if cfg.mixed_precision not in PRECISIONS:
        raise UserError(f"mixed_precision: expected one of {PRECISIONS}, got {cfg.mixed_precision!r}")
    positive = {"data.max_frames": cfg.data.max_frames, "data.max_samples": cfg.data.max_samples,
                "optim.total_updates": cfg.optim.total_updates, "optim.grad_accum": cfg.optim.grad_accum,
                "log.every": cfg.log.every, "checkpoint.every": cfg.checkpoint.every}
    for key, value in positive.items():
        if value <= 0:
            raise UserError(f"{key}: expected a positive number, got {value}")
    if not cfg.optim.lr > 0:
        raise UserError(f"optim.lr: expected a positive number, got {cfg.optim.lr}")
    if cfg.optim.warmup_updates < 0:
        raise UserError(f"optim.warmup_updates: expected >= 0, got {cfg.optim.warmup_updates}")
    if len(cfg.optim.betas) != 2:
        raise UserError(f"optim.betas: expected two numbers, got {cfg.optim.betas}")
    if cfg.data.crop_frames < 0 or cfg.data.crop_frames > cfg.data.max_frames:
        raise UserError(f"data.crop_frames: expected 0..data.max_frames ({cfg.data.max_frames}), "
                        f"got {cfg.data.crop_frames}")
    if cfg.model.f5_version not in ("v1", "v0"):
        raise UserError(f"model.f5_version: expected 'v1' or 'v0', got {cfg.model.f5_version!r}")
    if not cfg.data.cache:
        raise UserError("data.cache: expected the folder written by `jamflow prepare`, got nothing")

    def resolve(p: str | None) -> str | None:
        return None if p in (None, "") else str((base / os.path.expanduser(p)).resolve())

    cfg.data.cache = resolve(cfg.data.cache)
    cfg.model.init_f5 = resolve(cfg.model.init_f5)
    cfg.model.init_from = resolve(cfg.model.init_from)
    if not (Path(cfg.data.cache) / "cache.json").is_file():
        raise UserError(f"data.cache: expected a folder written by `jamflow prepare` (with cache.json), "
                        f"got {cfg.data.cache!r}")
    for key, p in (("model.init_f5", cfg.model.init_f5), ("model.init_from", cfg.model.init_from)):
        if p is not None and not Path(p).exists():
            raise UserError(f"{key}: expected an existing checkpoint path, got {p!r}")
    if cfg.stage == "distill":
        check_config(cfg.distill)
        if cfg.model.init_from is None:
            raise UserError("model.init_from: expected the teacher checkpoint for stage distill, got none")
    if not cfg.run_dir:
        cfg.run_dir = str(Path("runs") / cfg.name)
    return cfg


def dump_yaml(cfg: TrainConfig) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)

