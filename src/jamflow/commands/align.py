"""`jamflow align`: phoneme durations of a prepared cache by forced alignment (data/align.py).

    jamflow align --cache corpus/cache_phoneme [--iterations 8] [--workers 2]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from jamflow.data.align import align_cache
from jamflow.errors import UserError


def add_cli(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cache", required=True, help="a folder written by `jamflow prepare` (phonemes are best)")
    parser.add_argument("--iterations", type=int, default=8, help="rounds of alignment + re-estimation")
    parser.add_argument("--workers", type=int, default=1, help="processes for the Viterbi passes (same result)")


def run_cli(args) -> int:
    if args.iterations < 1:
        raise UserError(f"--iterations: expected a positive integer, got {args.iterations}")
    if args.workers < 1:
        raise UserError(f"--workers: expected a positive integer, got {args.workers}")
    if not (Path(args.cache) / "cache.json").is_file():
        raise UserError(f"--cache: expected a folder written by `jamflow prepare`, got {args.cache!r}")
    stats = align_cache(args.cache, args.iterations, workers=args.workers)
    print(f"aligned {stats['clips']} train clips; mean lead {stats['lead_frames']} / trail {stats['trail_frames']} "
          f"frames -> {Path(args.cache) / 'durations.npz'}")
    return 0
