"""Inference speed: real-time factor of tts / talk / animate and time-to-first-chunk of long text.

    python benchmarks/bench_infer.py                      # small preset, random weights, 16 and 32 NFE
    python benchmarks/bench_infer.py --ckpt DIR --device cuda

Random weights cost the same compute as trained ones. The vocoder is a randomly initialised Vocos
(the same network as charactr/vocos-mel-24khz) unless --vocoder names real weights or griffinlim.
RTF = wall seconds / seconds of output (lower is faster; < 1 is faster than real time).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

SENTENCE = "The quick brown fox jumps over the lazy dog, and then it runs back into the quiet forest."
LONG = " ".join(["Every chunk of this long text is a sentence of about this length, spoken one after another."] * 5)


def build(args):
    from jamflow.config import get_preset
    from jamflow.infer.api import JAMFlow
    from jamflow.model.jam import JAMModel
    from jamflow.vocoder import Vocos, load_vocoder

    if args.ckpt:
        folder = Path(args.ckpt)
    else:
        folder = Path(tempfile.mkdtemp()) / args.preset
        torch.manual_seed(0)
        JAMModel(get_preset(args.preset)).save_pretrained(folder)
    vocoder = Vocos().eval() if args.vocoder == "vocos-random" else load_vocoder(args.vocoder)
    return JAMFlow.from_pretrained(folder, device=args.device, vocoder=vocoder, progress=False)


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", help="checkpoint folder (default: random weights of --preset)")
    p.add_argument("--preset", default="small")
    p.add_argument("--device", default=None)
    p.add_argument("--vocoder", default="vocos-random", help="vocos-random | griffinlim | a Vocos folder")
    p.add_argument("--nfe", type=int, nargs="+", default=[16, 32])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    jam = build(args)
    out_dir = Path(tempfile.mkdtemp())
    params = sum(x.numel() for x in jam.model.parameters()) / 1e6
    print(f"device {jam.device}, {params:.1f}M parameters, vocoder {args.vocoder}, threads {args.threads}")
    jam.tts("Warm up.", nfe_step=2, seed=0)  # first-call overheads (phonemizer, allocator)

    rows = []
    for nfe in args.nfe:
        kw = dict(nfe_step=nfe, seed=0)
        for task in ("tts", "talk", "animate"):
            best = None
            for _ in range(args.repeats):
                if task == "tts":
                    dt, r = timed(lambda: jam.tts(SENTENCE, **kw))
                elif task == "talk":
                    dt, r = timed(lambda: jam.talk(SENTENCE, output=out_dir / "talk.mp4", **kw))
                else:
                    wav = jam.tts(SENTENCE, **kw).wav
                    dt, r = timed(lambda: jam.animate(wav, output=out_dir / "anim.mp4", **kw))
                best = dt if best is None else min(best, dt)
            rows.append((task, nfe, r.duration, best, best / r.duration, ""))
        # long text: time until the first final audio piece, and the whole
        t0 = time.perf_counter()
        first, total_s, n = None, 0.0, 0
        for wav, _ in jam.tts_stream(LONG, **kw):
            first = first or time.perf_counter() - t0
            total_s += len(wav) / 24000
            n += 1
        whole = time.perf_counter() - t0
        rows.append(("tts long", nfe, total_s, whole, whole / total_s, f"first chunk after {first:.2f} s ({n} pieces)"))

    print(f"{'task':<10} {'nfe':>4} {'audio s':>8} {'wall s':>8} {'RTF':>6}  note")
    for task, nfe, dur, wall, rtf, note in rows:
        print(f"{task:<10} {nfe:>4} {dur:>8.2f} {wall:>8.2f} {rtf:>6.3f}  {note}")


if __name__ == "__main__":
    main()
