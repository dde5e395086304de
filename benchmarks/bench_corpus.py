"""Corpus and renderer figures: synth-data speed per voice family, avatar fps, corpus size on disk.

    python benchmarks/bench_corpus.py --clips 40 --workers 2

Prints one table. Rows:
  synth-data <family>   clips/s and real-time factor (seconds of speech per wall second), `workers` processes
  avatar <size>px       frames/s on one thread (motion from the corpus)
  disk / hour           bytes of wav + motion + alignment per hour of speech, from the generated clips
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", type=int, default=40, help="clips per voice family")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--frames", type=int, default=250, help="frames rendered per size")
    p.add_argument("--families", default="espeak,festival")
    args = p.parse_args()

    import torch

    torch.set_num_threads(1)
    from jamflow.data.synth import synth_corpus
    from jamflow.render.base import get_renderer

    rows_out = []
    tmp = Path(tempfile.mkdtemp(prefix="jamflow-bench-"))
    try:
        sizes, seconds_total, motions = 0, 0.0, []
        for family in args.families.split(","):
            out = tmp / family
            start = time.perf_counter()
            rows = synth_corpus(out, args.clips, families=[family], seed=0, workers=args.workers, progress=False)
            took = time.perf_counter() - start
            speech = sum(r["duration"] for r in rows)
            rows_out.append((f"synth-data {family}", f"{len(rows) / took:.1f} clips/s",
                             f"{speech / took:.1f}x real time", f"{speech / len(rows):.2f} s/clip, {args.workers} workers"))
            data = sum(dir_bytes(out / sub) for sub in ("wavs", "motion", "align"))
            sizes += data
            seconds_total += speech
            motions += [np.load(r["motion"]) for r in rows]
        per_hour = sizes / seconds_total * 3600
        motion = np.concatenate(motions)
        reps = int(np.ceil(args.frames / len(motion)))
        motion = np.concatenate([motion] * reps)[: args.frames]
        for size in (256, 512):
            renderer = get_renderer("avatar", size=size)
            next(renderer.frames(motion[:1]))  # warm-up
            start = time.perf_counter()
            n = sum(1 for _ in renderer.frames(motion))
            fps = n / (time.perf_counter() - start)
            rows_out.append((f"avatar {size}px", f"{fps:.0f} frames/s", f"{fps / 25:.1f}x real time", "1 thread"))
        rows_out.append(("corpus on disk", f"{per_hour / 1e9:.2f} GB/hour", "", "wav 16-bit 24 kHz + motion + align"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    widths = [max(len(r[i]) for r in rows_out + [("what", "speed", "rate", "notes")]) for i in range(4)]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths))
    print(line(("what", "speed", "rate", "notes")))
    print(line(tuple("-" * w for w in widths)))
    for r in rows_out:
        print(line(r))
    print(f"(cpu cores: {os.cpu_count()}; shared machine, figures are indicative)")


if __name__ == "__main__":
    main()
