"""`jamflow prepare`: cache the features of a dataset for training (data/prepare.py)."""
from __future__ import annotations

import argparse
import os

from jamflow.data.prepare import prepare


def add_cli(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest", required=True,
                        help="manifest.jsonl (card.json beside it), or an F5-style metadata.csv (speech only)")
    parser.add_argument("--out", required=True, help="cache folder (created; re-running resumes)")
    parser.add_argument("--tokenizer", default="char", choices=["char", "phoneme", "byte"],
                        help="text tokenizer; must match the model config's tokenizer")
    parser.add_argument("--vocab", default=None, help="vocab.txt for the char tokenizer (F5 format)")
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 1)), help="parallel processes")
    parser.add_argument("--shard", default="0/1", help="i/n: prepare every n-th clip starting at i")
    parser.add_argument("--min_duration", type=float, default=0.3, help="skip shorter clips (seconds)")
    parser.add_argument("--max_duration", type=float, default=30.0, help="skip longer clips (seconds)")
    parser.add_argument("--max_mismatch", type=float, default=0.2,
                        help="skip clips whose audio and motion lengths differ by more (seconds)")


def run_cli(args) -> int:
    s = prepare(args.manifest, args.out, args.tokenizer, args.vocab, args.workers, args.shard,
                args.min_duration, args.max_duration, args.max_mismatch)
    print(f"prepared {s['prepared']}, skipped {s['skipped']}, already done {s['already_done']} "
          f"(shard total {s['total']}) -> {args.out}")
    return 0
