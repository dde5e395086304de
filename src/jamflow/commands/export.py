"""`jamflow export`: an EMA inference checkpoint from a training run (train/checkpoints.py)."""
from __future__ import annotations

import argparse

from jamflow.dtypes import DTYPES
from jamflow.train.checkpoints import export, resolve_checkpoint


def add_cli(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="run folder (its latest checkpoint) or a checkpoint folder")
    parser.add_argument("--out", required=True, help="folder for the inference checkpoint (save_pretrained format)")
    parser.add_argument("--no_ema", action="store_true", help="export the online weights instead of the EMA")
    parser.add_argument("--dtype", default="fp32", choices=sorted(DTYPES),
                        help="storage dtype of the weights (fp16/bf16: half the size; loaded as fp32)")


def run_cli(args) -> int:
    path = resolve_checkpoint(args.checkpoint)
    out = export(path, args.out, use_ema=not args.no_ema, dtype=args.dtype)
    size = sum(f.stat().st_size for f in out.glob("*.safetensors"))
    print(f"exported {path.name} -> {out} ({args.dtype}, {size / 1e6:.1f} MB)")
    return 0
