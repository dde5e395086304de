"""Front-end figures: mel throughput, vocoder real-time factors, and what the offline vocoder costs in
intelligibility (pocketsphinx WER, original vs mel -> Griffin-Lim fallback -> wav).

    python benchmarks/bench_frontend.py                 # everything (~3-5 min on 2 cores)
    python benchmarks/bench_frontend.py --sentences 5   # quicker, noisier WER
    python benchmarks/bench_frontend.py --skip-wer

Speech comes from espeak-ng (en-us) and festival's HTS SLT voice; pocketsphinx barely recognises
espeak-ng's formant voice, so the SLT rows are the ones that show what the fallback costs.
Vocos runs with random weights in the released 24 kHz architecture (speed only: no weights offline).
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from jamflow.audio import mel_spectrogram
from jamflow.audio.io import load_audio
from jamflow.vocoder import GriffinLimVocoder, Vocos

SR = 24000
# Harvard sentences, lists 1-2 (IEEE 1969), public domain
SENTENCES = [
    "The birch canoe slid on the smooth planks.", "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.", "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.", "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.", "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.", "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.", "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.", "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.", "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.", "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.", "The girl at the booth sold fifty bonds.",
]


def timed(fn, repeats=5):
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def bench_mel():
    rows = []
    for batch, seconds in [(1, 10.0), (8, 10.0)]:
        wav = torch.randn(batch, int(seconds * SR)) * 0.1
        dt = timed(lambda: mel_spectrogram(wav))
        rows.append((f"mel vocos, batch {batch} x {seconds:.0f} s", batch * seconds / dt))
    wav = torch.randn(1, 10 * SR) * 0.1
    rows.append(("mel bigvgan, batch 1 x 10 s", 10 / timed(lambda: mel_spectrogram(wav, kind="bigvgan"))))
    print("\n| mel extraction (CPU) | seconds of audio per second |\n|---|---|", flush=True)
    for name, v in rows:
        print(f"| {name} | {v:,.0f} |")


def bench_tokenizers():
    from jamflow.audio.text import normalize_text
    from jamflow.audio.tokenizers import get_tokenizer

    print("\n| text front end | sentences per second |\n|---|---|")
    n = len(SENTENCES) * 10
    print(f"| normalize_text | {n / timed(lambda: [normalize_text(s) for s in SENTENCES * 10]):,.0f} |")
    for name in ("char", "byte", "phoneme"):
        tok = get_tokenizer(name)
        print(f"| {name} tokenizer | {n / timed(lambda: [tok.encode(s) for s in SENTENCES * 10]):,.0f} |", flush=True)


def bench_vocoders(seconds=10.0):
    mel = mel_spectrogram(torch.randn(1, int(seconds * SR)) * 0.1)
    vocos = Vocos()  # released architecture: dim 512, 1536, 8 layers (random weights)
    fallback = GriffinLimVocoder()
    print(f"\n| vocoder ({seconds:.0f} s of audio, batch 1) | params | RTF (lower is faster) |\n|---|---|---|")
    n_params = sum(p.numel() for p in vocos.parameters())
    print(f"| Vocos architecture, random weights | {n_params / 1e6:.2f} M | {timed(lambda: vocos.decode(mel)) / seconds:.4f} |")
    print(f"| fallback: NNLS + fast Griffin-Lim ({fallback.cfg.gl_iters} it) | 0 | "
          f"{timed(lambda: fallback.decode(mel), repeats=1) / seconds:.4f} |")


def synthesize(folder: Path, n: int, which: set[str]) -> dict[str, list[Path]]:
    voices = {}
    if "espeak" in which and shutil.which("espeak-ng"):
        paths = []
        for i, s in enumerate(SENTENCES[:n]):
            p = folder / f"espeak_{i}.wav"
            subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(p), s], check=True)
            paths.append(p)
        voices["espeak-ng en-us"] = paths
    if "slt" in which and shutil.which("text2wave"):
        paths = []
        for i, s in enumerate(SENTENCES[:n]):
            p = folder / f"slt_{i}.wav"
            subprocess.run(["text2wave", "-eval", "(voice_cmu_us_slt_arctic_hts)", "-o", str(p)],
                           input=s.encode(), check=True, capture_output=True)
            paths.append(p)
        voices["festival SLT (HTS)"] = paths
    return voices


def bench_wer(n: int, keep: Path | None, which: set[str]):
    try:
        from jamflow.audio.asr import transcribe
        from jamflow.eval.asr import word_error_rate
    except ImportError as e:
        print(f"\n(WER skipped: {e})")
        return
    fallback = GriffinLimVocoder()
    with tempfile.TemporaryDirectory() as tmp:
        voices = synthesize(Path(tmp), n, which)
        print(f"\n| voice ({n} Harvard sentences) | WER original | WER mel -> fallback -> wav | added |\n|---|---|---|---|")
        for voice, paths in voices.items():
            ref_err = gen_err = words = 0.0
            for i, (s, p) in enumerate(zip(SENTENCES, paths)):
                wav = load_audio(p, SR)
                out = fallback.decode(mel_spectrogram(torch.from_numpy(wav)))[0].numpy()
                if keep is not None and i < 3:
                    from jamflow.audio.io import save_wav
                    save_wav(keep / f"{p.stem}_orig.wav", wav)
                    save_wav(keep / f"{p.stem}_fallback.wav", out)
                k = len(s.split())
                ref_err += word_error_rate(s, transcribe(wav, SR)) * k
                gen_err += word_error_rate(s, transcribe(out, SR)) * k
                words += k
            a, b = ref_err / words, gen_err / words
            print(f"| {voice} | {a:.3f} | {b:.3f} | {100 * (b - a):+.1f} points |", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sentences", type=int, default=20)
    ap.add_argument("--skip-wer", action="store_true")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--voices", default="espeak,slt", help="comma list of espeak, slt")
    ap.add_argument("--keep", type=Path, default=None, help="write a few original/fallback wavs here to listen to")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads")
    if not args.skip_speed:
        bench_mel()
        bench_tokenizers()
        bench_vocoders()
    if not args.skip_wer:
        bench_wer(min(args.sentences, len(SENTENCES)), args.keep, set(args.voices.split(",")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
