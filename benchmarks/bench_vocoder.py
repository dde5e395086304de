"""Vocoders on real and corpus speech resynthesised from jamflow's mel: naturalness (DNSMOS P.808 / OVRL),
intelligibility (pocketsphinx word error), speaker similarity to the original, and speed.

    python benchmarks/bench_vocoder.py                                  # LibriVox clips only
    python benchmarks/bench_vocoder.py --manifest corpus/manifest.jsonl --clips 20   # + corpus test clips
    python benchmarks/bench_vocoder.py --model 8       # + the shipped model's speech (8 sentences x 2 voices)
    python benchmarks/bench_vocoder.py --vocos runs/vocoder/vocoder     # + a Vocos folder (e.g. recipes/vocoder's)
    python benchmarks/bench_vocoder.py --griffinlim_iters 64,32,16     # Griffin-Lim at several iteration counts
    python benchmarks/bench_vocoder.py --hifigan_bf16                  # + HiFi-GAN computed in bf16
    python benchmarks/bench_vocoder.py --harmonic runs/harmonic_vocoder  # + a harmonic-plus-noise vocoder folder

Real speech: Debian's pocketsphinx-testdata LibriVox utterances (public domain, one reader, 3-7 s);
`apt-get install pocketsphinx-testdata`. Every vocoder decodes the same mel (`mel_spectrogram` of the
original); "original" is the recording itself. With --model, the shipped model speaks Harvard sentences
(outside its corpus) in the two shipped example voices; each vocoder decodes the same generated mel, and
"sim to original" is then the similarity to the reference clip. RTF: decode seconds per second of audio, this machine's
threads (set with --threads).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from jamflow.audio.io import load_audio
from jamflow.audio.mel import mel_spectrogram
from jamflow.audio.asr import transcribe
from jamflow.eval.asr import word_error_rate
from jamflow.eval.quality import dnsmos
from jamflow.eval.real_speech import librivox_utterances
from jamflow.eval.speaker import speaker_similarity
from jamflow.timeline import SAMPLE_RATE
from jamflow.vocoder import FallbackConfig, GriffinLimVocoder, HiFiGANVocoder, Vocos
from jamflow.vocoder.harmonic import HarmonicVocoder

# Harvard sentences, list 5 (IEEE 1969), public domain: text the shipped model never trained on
SENTENCES = ["A king ruled the state in the early days.", "The ship was torn apart on the sharp reef.",
             "Sickness kept him home the third week.", "The wide road shimmered in the hot sun.",
             "The lazy cow lay in the cool grass.", "Lift the square stone over the fence.",
             "The rope will bind the seven books at once.", "Hop over the fence and plunge in."]


def librivox_clips() -> list[tuple[str, Path, str]]:
    return [("librivox", path, text) for path, text in librivox_utterances()]


def corpus_clips(manifest: Path, count: int) -> list[tuple[str, Path, str]]:
    rows = [json.loads(x) for x in manifest.read_text().splitlines() if x.strip()]
    rows = [r for r in rows if r.get("split") == "test"][:count]
    return [(manifest.parent.name, manifest.parent / r["audio"], r["text"]) for r in rows]


class Recorder:
    """A vocoder that keeps every mel it is asked to decode (and decodes it with Griffin-Lim)."""

    def __init__(self):
        self.inner, self.mels = GriffinLimVocoder(), []

    def decode(self, mel):
        self.mels.append(mel.detach().clone())
        return self.inner.decode(mel)


def model_clips(count: int) -> list[tuple[str, torch.Tensor, str, np.ndarray]]:
    """(group, generated mel [1, 100, n], text, reference wav) for the shipped model's speech."""
    from importlib.resources import files

    from jamflow.infer.api import JAMFlow

    examples = json.loads((files("jamflow.assets") / "examples" / "examples.json").read_text())["voices"]
    recorder = Recorder()
    jam = JAMFlow.from_pretrained(None, vocoder=recorder, progress=False)
    clips = []
    for voice in examples:
        ref_path = files("jamflow.assets") / "examples" / voice["audio"]
        for i, text in enumerate(SENTENCES[:count]):
            result = jam.tts(text, str(ref_path), voice["text"], seed=i)
            generated = len(result.wav) // 256 + 1  # the decoded mel holds the reference first: keep what is new
            clips.append((f"model, {voice['name']} voice", recorder.mels[-1][..., -generated:], text,
                          load_audio(ref_path)))
    return clips


def score(wav: np.ndarray, original: np.ndarray, text: str) -> dict:
    mos = dnsmos(wav, SAMPLE_RATE) or {}
    return {"p808": mos.get("p808", float("nan")), "ovrl": mos.get("ovrl", float("nan")),
            "wer": word_error_rate(text, transcribe(wav, SAMPLE_RATE)),
            "sim": speaker_similarity(wav, SAMPLE_RATE, original, SAMPLE_RATE)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", type=Path, action="append", default=[],
                    help="a jamflow corpus manifest: its test clips are scored too (a group named by its folder)")
    ap.add_argument("--clips", type=int, default=20)
    ap.add_argument("--model", type=int, default=0, help="also score the shipped model's speech on N sentences")
    ap.add_argument("--vocos", type=Path, action="append", default=[], help="also score this Vocos folder")
    ap.add_argument("--harmonic", type=Path, action="append", default=[],
                    help="also score this harmonic-plus-noise vocoder folder (the shipped one is always scored)")
    ap.add_argument("--griffinlim_iters", default=str(FallbackConfig.gl_iters),
                    help="Griffin-Lim iteration counts to score, comma list (default: the shipped setting)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--hifigan_bf16", action="store_true", help="also score HiFi-GAN computed in bf16")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    iters = [int(n) for n in args.griffinlim_iters.split(",")]
    vocoders = {("griffin-lim" if len(iters) == 1 else f"griffin-lim {n} it"): GriffinLimVocoder(FallbackConfig(gl_iters=n))
                for n in iters}
    vocoders["hifigan"] = HiFiGANVocoder.shipped()
    if args.hifigan_bf16:
        vocoders["hifigan bf16"] = HiFiGANVocoder.shipped(dtype=torch.bfloat16)
    vocoders["harmonic"] = HarmonicVocoder.shipped()
    vocoders.update({f"vocos {folder.name}": Vocos.from_pretrained(folder) for folder in args.vocos})
    vocoders.update({f"harmonic {folder.name}": HarmonicVocoder.from_pretrained(folder) for folder in args.harmonic})
    vocoders = {name: v for name, v in vocoders.items() if v is not None}
    clips = librivox_clips() + [clip for m in args.manifest for clip in corpus_clips(m, args.clips)]
    rows: dict[tuple[str, str], list[dict]] = {}
    seconds = {name: [0.0, 0.0] for name in vocoders}
    sources = []  # (group, mel [1, 100, n], text, the wav similarity is measured against)
    for group, path, text in clips:
        original = load_audio(path)
        rows.setdefault((group, "original"), []).append(score(original, original, text))
        sources.append((group, mel_spectrogram(torch.from_numpy(original)[None]), text, original))
    sources += model_clips(args.model) if args.model else []
    for group, mel, text, reference in sources:
        for name, vocoder in vocoders.items():
            start = time.perf_counter()
            wav = vocoder.decode(mel)[0].numpy()
            seconds[name][0] += time.perf_counter() - start
            seconds[name][1] += len(wav) / SAMPLE_RATE
            rows.setdefault((group, name), []).append(score(wav, reference, text))
    print(f"| set | vocoder | clips | DNSMOS P.808 | DNSMOS OVRL | WER | sim to original | RTF ({args.threads} threads) |")
    print("|---|---|---|---|---|---|---|---|")
    groups = list(dict.fromkeys(group for group, _ in rows))
    for (group, name), scores in sorted(rows.items(), key=lambda item: groups.index(item[0][0])):
        mean = {k: float(np.mean([s[k] for s in scores])) for k in scores[0]}
        rtf = f"{seconds[name][0] / seconds[name][1]:.3f}" if name in seconds else "-"
        print(f"| {group} | {name} | {len(scores)} | {mean['p808']:.2f} | {mean['ovrl']:.2f} | {mean['wer']:.3f} | "
              f"{mean['sim']:.3f} | {rtf} |")


if __name__ == "__main__":
    main()
