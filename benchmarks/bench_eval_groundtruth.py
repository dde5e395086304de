"""Ground-truth yardsticks on the procedural corpus: what a perfect model would score with our metrics.

    python benchmarks/bench_eval_groundtruth.py --num_clips 40          # synthesise a corpus in a temp dir
    python benchmarks/bench_eval_groundtruth.py --corpus data/synth      # or score an existing one

Per voice family (espeak-ng, festival SLT HTS, festival kal/ked diphone): pocketsphinx WER/PER of the
corpus speech against its own text, lip-sync offset/confidence of the corpus motion against its audio,
then the mismatched-pair control and resemblyzer's same-speaker ceiling / different-speaker floor.
A trained model is judged against these rows, not against 0 WER.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch


def family(speaker: str) -> str:
    if speaker.startswith("espeak"):
        return "espeak-ng"
    if "hts" in speaker:
        return "festival slt_hts"
    return "festival diphone" if speaker.startswith("festival") else speaker


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=None, help="folder with manifest.jsonl (default: synthesise one)")
    ap.add_argument("--num_clips", type=int, default=40)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--split", default="all", choices=["all", "train", "test"])
    args = ap.parse_args()
    torch.set_num_threads(1)

    from jamflow.data.manifest import read_manifest
    from jamflow.eval import sync
    from jamflow.eval.evaluate import GROUND_TRUTH, evaluate, make_system

    tmp = None
    if args.corpus is None:
        from jamflow.data.synth import synth_corpus

        tmp = tempfile.TemporaryDirectory(prefix="jamflow-gt-")
        corpus = Path(tmp.name)
        synth_corpus(corpus, args.num_clips, seed=args.seed, workers=1, progress=False)
    else:
        corpus = Path(args.corpus)
    pool = read_manifest(corpus / "manifest.jsonl")
    rows = [r for r in pool if args.split == "all" or r["split"] == args.split]
    start = time.time()
    report = evaluate(rows, [make_system(GROUND_TRUTH, rows, {r["id"] for r in rows})],
                      groups=("asr", "speaker", "timing", "sync"), pool=pool)
    took = time.time() - start

    speaker_of = {r["id"]: r["speaker"] for r in rows}
    groups = defaultdict(list)
    for clip in report["clips"][GROUND_TRUTH]:
        groups[family(speaker_of[clip["id"]])].append(clip)
        groups["all"].append(clip)
    print(f"corpus {corpus} ({len(rows)} clips, split {args.split}); scored in {took:.0f} s")
    print(f"{'voices':18} {'clips':>5} {'WER':>6} {'PER':>6} {'sim':>6} {'off':>6} {'|off|':>6} {'in±1%':>6} "
          f"{'conf':>6} {'pooled off':>10} {'pooled conf':>11}")
    for name in sorted(groups, key=lambda g: (g == "all", g)):
        clips = groups[name]
        s = sync.summarise([c["_sync"] for c in clips])
        mean = lambda k: np.nanmean([c[k] for c in clips if c.get(k) is not None])  # noqa: E731
        print(f"{name:18} {len(clips):5d} {mean('wer'):6.3f} {mean('per'):6.3f} {mean('sim'):6.3f} "
              f"{s['offset_mean']:+6.2f} {s['offset_abs_mean']:6.2f} {s['in_sync_pct']:6.0f} "
              f"{s['confidence_mean']:6.3f} {s['pooled_offset']:+10d} {s['pooled_confidence']:11.3f}")
    c = report["control"]
    print(f"{'control: mismatch':18} {c['clips']:5d} {'':>6} {'':>6} {'':>6} {c['sync_offset']:+6.2f} "
          f"{c['sync_abs_offset']:6.2f} {c['sync_in_pct']:6.0f} {c['sync_conf']:6.3f} {c['sync_pooled_offset']:+10d} "
          f"{c['sync_pooled_conf']:11.3f}")
    b = report["speaker_bounds"]
    print(f"resemblyzer: same-speaker ceiling {b['ceiling']['mean']:.3f} ± {b['ceiling']['std']:.3f} "
          f"({b['ceiling']['pairs']} pairs), different-speaker floor {b['floor']['mean']:.3f} ± {b['floor']['std']:.3f} "
          f"({b['floor']['pairs']} pairs)")
    print("sim = cosine to another clip of the same voice (only clips whose voice has >= 2 clips)")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
