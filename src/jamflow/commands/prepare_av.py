"""`jamflow prepare-av`: folders of talking videos -> manifest + card (data/prepare_av.py)."""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from jamflow.data.prepare_av import find_clips, merge, parse_shard, prepare_shard
from jamflow.errors import UserError


def add_cli(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", nargs="?", help="folder of videos with <clip>.txt transcripts, or a video|text CSV")
    p.add_argument("--out", required=True, help="dataset folder (manifest.jsonl, card.json, motion/, wavs/)")
    p.add_argument("--weights", help="LivePortrait pretrained_weights folder (motion_extractor.pth)")
    p.add_argument("--shard", default="0/1", help="K/N: process clips i with i %% N == K (default 0/1)")
    p.add_argument("--merge", action="store_true", help="only merge finished shards into manifest + card")
    p.add_argument("--name", default=None, help="dataset name in card.json (default: the --out folder name)")
    p.add_argument("--motion_spec", default="full", choices=["lips", "full"])
    p.add_argument("--test_fraction", type=float, default=0.0, help="clips held out as split 'test' (by id hash)")
    p.add_argument("--batch_size", type=int, default=8)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")


def run_cli(args) -> int:
    out = Path(args.out)
    if args.merge:
        card = merge(out, args.name, args.motion_spec)
        print(f"{out}: {card['clips']} clips, {card['hours']} h, {card['skipped']} skipped")
        return 0
    if not args.input:
        raise UserError("input: expected a folder of videos or a video|text CSV, got none")
    if not args.weights:
        raise UserError("--weights: expected LivePortrait's pretrained_weights folder, got none")
    if not 0 <= args.test_fraction < 1:
        raise UserError(f"--test_fraction: expected a number in [0, 1), got {args.test_fraction}")
    shard = parse_shard(args.shard)
    clips = find_clips(Path(args.input))
    from jamflow.render.liveportrait.crop import HaarFaceDetector
    from jamflow.render.liveportrait.weights import load_liveportrait

    nets = load_liveportrait(args.weights, need="M", device=args.device)
    done, skipped = prepare_shard(clips, out, nets, HaarFaceDetector(), shard, args.batch_size, args.test_fraction)
    print(f"shard {shard[0]}/{shard[1]}: {done} clips prepared, {skipped} skipped "
          f"(listed in {out / 'shards'})")
    if shard[1] == 1:
        card = merge(out, args.name, args.motion_spec)
        print(f"{out / 'manifest.jsonl'}: {card['clips']} clips, {card['hours']} h; card.json written")
    else:
        print(f"when every shard is done: jamflow prepare-av --merge --out {out}")
    return 0
