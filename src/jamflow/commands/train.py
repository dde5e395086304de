"""`jamflow train`: train a model from a YAML experiment config (train/trainer.py)."""
from __future__ import annotations

import argparse
import math
import os

from jamflow.train.config import load_config
from jamflow.train.stop import exit_code
from jamflow.train.trainer import Trainer


def add_cli(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="experiment YAML (see src/jamflow/train/configs/)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run folder from its latest checkpoint (starts fresh if it has none)")
    parser.add_argument("--init_f5", default=None, help="F5-TTS checkpoint for the Audio-DiT (= model.init_f5=...)")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. optim.lr=2e-4 data.max_frames=8000")


def run_cli(args) -> int:
    overrides = list(args.overrides)
    if args.init_f5:
        overrides.append(f"model.init_f5={args.init_f5}")
    cfg = load_config(args.config, overrides)
    trainer = Trainer(cfg, resume=args.resume, progress=not args.no_progress)
    last = trainer.fit()
    if trainer.stopped_by is not None:
        return exit_code(trainer.stopped_by)
    if trainer.main:
        print(f"done: update {trainer.update}, loss {last.get('loss', math.nan):.4f}; checkpoints in "
              f"{os.path.join(cfg.run_dir, 'checkpoints')}", flush=True)
    return 0
