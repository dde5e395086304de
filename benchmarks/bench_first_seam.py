"""The first chunk's seam in a stream: how long the speech pauses there, and whether it stays intelligible.

    python benchmarks/bench_first_seam.py                    # shipped student, default vocoder
    python benchmarks/bench_first_seam.py --teacher --nfe 16 --vocoder griffinlim

A stream's first chunk is a one-second clause (`first_chunk_s`); when a sentence's first clause is
longer, the chunk ends between two words. Each Harvard sentence below (lists 1-2, IEEE 1969, public
domain: outside the shipped corpus) is spoken in the shipped model's own voice with `first_chunk_s=1`,
as a stream speaks it, at two seeds. Printed: pocketsphinx WER, and the longest pause (consecutive 10 ms
frames 40 dB under the loudest) between 0.6 s and 2.0 s, where the first seam falls.
"""
from __future__ import annotations

import argparse

import numpy as np

from jamflow.audio.asr import transcribe
from jamflow.eval.asr import word_error_rate
from jamflow.infer.api import JAMFlow
from jamflow.timeline import SAMPLE_RATE

SENTENCES = ["The birch canoe slid on the smooth planks.", "Glue the sheet to the dark blue background.",
             "It's easy to tell the depth of a well.", "These days a chicken leg is a rare dish.",
             "Rice is often served in round bowls.", "The juice of lemons makes fine punch.",
             "The box was thrown beside the parked truck.", "The hogs were fed chopped corn and garbage.",
             "Four hours of steady work faced us.", "A large size in stockings is hard to sell.",
             "The boy was there when the sun rose.", "A rod is used to catch pink salmon."]
FRAME = SAMPLE_RATE // 100  # 10 ms


def longest_pause_ms(wav: np.ndarray, start_s: float = 0.6, end_s: float = 2.0) -> int:
    frames = wav[: len(wav) // FRAME * FRAME].reshape(-1, FRAME)
    level = 10 * np.log10((frames ** 2).mean(1) + 1e-10)
    quiet = level < level.max() - 40
    run = best = 0
    for q in quiet[int(start_s * 100): int(end_s * 100)]:
        run = run + 1 if q else 0
        best = max(best, run)
    return best * 10


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teacher", action="store_true", help="the shipped model itself instead of its student")
    ap.add_argument("--nfe", type=int, default=16, help="teacher steps")
    ap.add_argument("--vocoder", default=None, help="griffinlim / hifigan (default: what inference loads)")
    ap.add_argument("--seeds", type=int, default=2)
    args = ap.parse_args()
    jam = JAMFlow.from_pretrained(None, progress=False, vocoder=args.vocoder,
                                  student=None if args.teacher else "shipped")
    wers, pauses = [], []
    for text in SENTENCES:
        for seed in range(args.seeds):
            wav = jam.tts(text, seed=seed, first_chunk_s=1.0, nfe_step=args.nfe).wav
            wers.append(word_error_rate(text, transcribe(wav, SAMPLE_RATE)))
            pauses.append(longest_pause_ms(wav))
    print("| model | clips | WER | longest pause 0.6-2.0 s, ms: median | mean | max |")
    print("|---|---|---|---|---|---|")
    print(f"| {'teacher' if args.teacher else 'student'} | {len(wers)} | {np.mean(wers):.3f} | "
          f"{np.median(pauses):.0f} | {np.mean(pauses):.0f} | {max(pauses)} |")


if __name__ == "__main__":
    main()
