"""Test-time voice adaptation on an eval manifest: the package's fitted voice (`jamflow voice`,
infer/voice_fit.py), refitted to each clip's prompt, then clone from it.

    python recipes/voices_model/adapt.py unseen/librivox/manifest.jsonl adapt_librivox \
        --steps 40 --rank 8 --lr 1e-3 --strength 0.5 [--checkpoint DIR] [--samples 3] [--seed 0]
    jamflow eval --ref unseen/librivox/manifest.jsonl --gen adapt=adapt_librivox/manifest.jsonl \
        --metrics asr,speaker --out eval_adapt_librivox

For each clip of the manifest, the prompt is chosen as `jamflow eval --task tts --prompt_seconds 3,5`
chooses it (another 3-5 s clip of the same speaker). Before cloning from it, a voice is fitted to that
prompt as `jamflow voice` fits one (LoRA adapters on the block linears trained for `--steps` updates of
the training loss on the clip and its transcript alone) and folded into the model at `--strength`; the
base weights come back before the next fit, and consecutive clips that share a prompt share one fit.
Generation is the eval's own (`jamflow.eval.generate.generate_manifest`: tts, 16 NFE, seeds
seed + 1000 k + i, Griffin-Lim), which calls the fit whenever the prompt changes. The output is the
generated manifest `jamflow eval --gen` scores.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from jamflow.data.manifest import read_manifest
from jamflow.eval.generate import generate_manifest
from jamflow.infer.api import JAMFlow
from jamflow.infer.voice_fit import VoiceFitConfig, apply_voice, fit_voice, restore_weights


class PromptVoice:
    """A loaded JAMFlow's model with a voice fitted to the current prompt folded in (the package's
    `jamflow voice` fit, infer/voice_fit.py), refitted whenever the prompt changes."""

    def __init__(self, jam: JAMFlow, cfg: VoiceFitConfig):
        self.jam, self.cfg = jam, cfg.check()
        self.voice, self.replaced = None, {}

    def fit(self, wav: np.ndarray, text: str) -> dict:
        """Back to the base model, fit to the clip, fold the update in at the config's strength -> the fit's
        record (config, first and last losses, seconds)."""
        self.reset()
        self.voice = fit_voice(self.jam.engine, wav, text, self.cfg, show_progress=False)
        self.set_strength(self.cfg.strength)
        return self.voice.fit

    def set_strength(self, strength: float) -> None:
        """The fitted update applied times `strength` (1: as fitted), without refitting."""
        restore_weights(self.jam.model, self.replaced)
        self.replaced = apply_voice(self.jam.model, self.voice, strength)

    def reset(self) -> None:
        restore_weights(self.jam.model, self.replaced)
        self.voice, self.replaced = None, {}


def run(ref: str, out: str, checkpoint: str | None, steps: int, rank: int, lr: float, batch: int,
        samples: int, seed: int, prompt_seconds: tuple[float, float], layers: str = ".", strength: float = 1.0
        ) -> Path:
    """`jamflow eval --task tts`'s generation (the same prompts, seeds and manifest), adapted to each prompt."""
    jam = JAMFlow.from_pretrained(checkpoint, vocoder="griffinlim", progress=False)
    voice = PromptVoice(jam, VoiceFitConfig(max(steps, 1), rank, lr, batch, seed, strength, layers))

    def fit(prompt: dict, wav: np.ndarray) -> None:
        record = voice.fit(wav, prompt["text"])
        print(f"{Path(prompt['audio']).name}: {steps} updates in {record['seconds']:.1f} s, loss "
              f"{record['loss_first']:.3f} -> {record['loss_last']:.3f}", flush=True)

    rows = read_manifest(ref)
    return generate_manifest(jam, rows, rows, "tts", out, samples=samples, seed=seed, prompt_seconds=prompt_seconds,
                             on_prompt=fit if steps else None, nfe_step=16)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("ref", help="manifest of the clips to clone (jamflow eval --ref)")
    p.add_argument("out", help="output folder: wavs/ + manifest.jsonl")
    p.add_argument("--checkpoint", default=None, help="model folder (default: the shipped model)")
    p.add_argument("--steps", type=int, default=40, help="adapter updates per prompt (0: the base model)")
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch", type=int, default=4, help="copies of the clip per update (own masks, times, noise)")
    p.add_argument("--samples", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--prompt_seconds", default="3,5")
    p.add_argument("--layers", default=".", help="regex on the block linears' names whose adapters train, "
                   "e.g. 'audio\\.blocks\\.\\d+\\.ff\\.' (default: all)")
    p.add_argument("--strength", type=float, default=1.0, help="the fitted update is applied times this "
                   "(0.5: half of it)")
    a = p.parse_args(argv)
    if not 0 < a.strength <= 1:
        p.error(f"--strength: expected a number in (0, 1], got {a.strength}")
    if a.steps < 0 or a.rank < 1 or a.batch < 1 or a.samples < 1 or a.lr <= 0:
        p.error(f"expected --steps >= 0, --rank/--batch/--samples >= 1 and --lr > 0, got "
                f"{a.steps}/{a.rank}/{a.batch}/{a.samples}/{a.lr}")
    lo, hi = (float(x) for x in a.prompt_seconds.split(","))
    print("wrote", run(a.ref, a.out, a.checkpoint, a.steps, a.rank, a.lr, a.batch, a.samples, a.seed, (lo, hi),
                       a.layers, a.strength))


if __name__ == "__main__":
    main()
