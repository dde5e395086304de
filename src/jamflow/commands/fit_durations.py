"""`jamflow fit-durations`: fit the phoneme duration predictor into an exported model (train/fit_durations.py)."""
from __future__ import annotations

import argparse
from pathlib import Path

from jamflow.config import DurationConfig
from jamflow.errors import UserError
from jamflow.train.fit_durations import fit_into_checkpoint


def add_cli(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cache", required=True, help="a `jamflow prepare` cache with `jamflow align` durations")
    parser.add_argument("--checkpoint", required=True, help="inference checkpoint folder (model.safetensors + config.json)")
    parser.add_argument("--out", required=True, help="folder for the checkpoint with the predictor (may be --checkpoint)")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--dim", type=int, default=192, help="width of the predictor")
    parser.add_argument("--conv_layers", type=int, default=3)
    parser.add_argument("--no_voice", action="store_true", help="do not condition on the prompt's voice")
    parser.add_argument("--seed", type=int, default=0)


def run_cli(args) -> int:
    for name in ("epochs", "batch_size", "dim", "conv_layers"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name}: expected a positive integer, got {getattr(args, name)}")
    if not args.lr > 0:
        raise UserError(f"--lr: expected a positive number, got {args.lr}")
    if args.dim % 2:
        raise UserError(f"--dim: expected an even number (a bidirectional GRU of dim / 2 each way), got {args.dim}")
    checkpoint = Path(args.checkpoint)
    if not (checkpoint / "config.json").is_file():
        raise UserError(f"--checkpoint: expected an inference checkpoint folder with config.json, got {str(checkpoint)!r}")
    if not (Path(args.cache) / "cache.json").is_file():
        raise UserError(f"--cache: expected a folder written by `jamflow prepare`, got {args.cache!r}")
    cfg = DurationConfig(dim=args.dim, conv_layers=args.conv_layers, voice=not args.no_voice)
    out, n, figures = fit_into_checkpoint(Path(args.cache), checkpoint, args.out, cfg, args.epochs, args.batch_size,
                                          args.lr, args.seed)
    print(f"| layout of held-out train clips ({figures['val_clips']}) | mean token-start error |\n|---|---:|\n"
          f"| mean-duration table | {figures['table_start_ms']:.1f} ms |\n"
          f"| duration predictor ({n / 1e6:.2f} M parameters) | {figures['start_ms']:.1f} ms |")
    print(f"fitted on {figures['train_clips']} clips -> {out}")
    return 0
