"""Test-time voice adaptation: fit low-rank adapters to the reference clip alone, then clone from it.

    python recipes/voices_model/adapt.py unseen/librivox/manifest.jsonl adapt_librivox \
        --steps 40 --rank 8 --lr 1e-3 [--checkpoint DIR] [--samples 3] [--seed 0]
    jamflow eval --ref unseen/librivox/manifest.jsonl --gen adapt=adapt_librivox/manifest.jsonl \
        --metrics asr,speaker --out eval_adapt_librivox

For each clip of the manifest, the prompt is chosen as `jamflow eval --task tts --prompt_seconds 3,5`
chooses it (another 3-5 s clip of the same speaker). Before cloning from it, LoRA adapters on every
linear of the DiT blocks (model/lora.py, the student's mechanism) are trained for `--steps` updates of
the training loss (model/cfm.py: flow matching, 70-100% of the clip masked, condition dropout as in
training) on that clip and its transcript alone, laid out by the model's phone aligner. The base weights
do not move; the adapters are reset for every prompt, and consecutive clips that share a prompt share
one fit (the fit is seeded, so refitting would give the same adapters). Generation is the eval's own
(`jamflow.eval.generate.generate_manifest`: tts, 16 NFE, seeds seed + 1000 k + i, Griffin-Lim), which
calls the fit whenever the prompt changes. The output is the generated manifest `jamflow eval --gen` scores.

Why: the shipped model has heard a few synthetic voice families, and a voice outside them comes out
nearer a seen voice than the prompt's (recipe README). The adapters see the new timbre itself.
"""
from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np
import torch

from jamflow.data.manifest import read_manifest
from jamflow.eval.generate import generate_manifest
from jamflow.infer.api import JAMFlow
from jamflow.infer.layout.tokens import aligned_durations
from jamflow.infer.prompt import reference_prompt
from jamflow.model.cfm import MaskConfig, cfm_loss
from jamflow.model.durations import text_index_for
from jamflow.model.lora import LoRALinear, add_lora


class VoiceAdapter:
    """LoRA adapters over a loaded JAMFlow's model, refitted to one reference clip at a time."""

    def __init__(self, jam: JAMFlow, rank: int = 8, lr: float = 1e-3, batch: int = 4, seed: int = 0,
                 layers: str = ".", strength: float = 1.0):
        self.jam, self.lr, self.batch, self.seed, self.strength = jam, lr, batch, seed, strength
        torch.manual_seed(seed)  # the adapters' A matrices: the same start for every prompt
        add_lora(jam.model, rank)
        # only the adapters whose module name matches `layers` train; the others keep B = 0 (no-op)
        self.layers = [m for name, m in jam.model.named_modules()
                       if isinstance(m, LoRALinear) and re.search(layers, name)]
        if not self.layers:
            raise ValueError(f"layers: expected a pattern matching some block linear, got {layers!r}")
        self.start = [m.lora_a.detach().clone() for m in self.layers]
        self.fit_scale = [m.scale for m in self.layers]

    def set_strength(self, strength: float) -> None:
        """Apply the fitted update times `strength` (1: as fitted); fit() ends at the adapter's own."""
        for layer, scale in zip(self.layers, self.fit_scale):
            layer.scale = scale * strength

    def reset(self) -> None:
        """Back to the base model: B = 0 makes every adapter a no-op."""
        with torch.no_grad():
            for layer, a0 in zip(self.layers, self.start):
                layer.lora_a.copy_(a0)
                layer.lora_b.zero_()

    def reference_batch(self, wav: np.ndarray, text: str) -> dict:
        """The reference clip as the training loader would give it, repeated `batch` times."""
        model, tokenizer = self.jam.model, self.jam.tokenizer
        prompt = reference_prompt(self.jam.engine, wav, text, None)  # trimmed, loudness-normalised
        mel = prompt.mel.float()  # [n, 100]
        n = mel.shape[0]
        ids = list(tokenizer.encode(prompt.text))
        b = self.batch
        batch = {"mel": mel[None].repeat(b, 1, 1), "mel_lens": torch.full((b,), n),  # [b, n, 100], [b]
                 "text": torch.tensor(ids)[None].repeat(b, 1)}  # [b, nt]
        table = model.cfg.audio.text_durations
        if table is not None:  # a model that lays text out by durations: where the clip speaks each token
            durations = aligned_durations(model, ids, mel)  # None without an aligner: the table's layout
            index = text_index_for(table, [(ids, n, True, True, durations, None)], n)
            batch["text_index"] = index[None].repeat(b, 1)  # [b, n]
        return batch

    def fit(self, wav: np.ndarray, text: str, steps: int) -> list[float]:
        """Reset, then `steps` AdamW updates of the adapters on the reference -> the losses. The fitted
        update is then applied at `strength` (0.5: half of it, which keeps most of the voice and costs fewer
        words: recipe README)."""
        self.reset()
        if steps == 0:
            return []
        self.set_strength(1.0)
        batch = self.reference_batch(wav, text)
        params = [p for layer in self.layers for p in (layer.lora_a, layer.lora_b)]
        optimizer = torch.optim.AdamW(params, lr=self.lr, weight_decay=0.0)
        generator = torch.Generator().manual_seed(self.seed)
        model, losses = self.jam.model, []
        model.train()  # dropout, as in training
        try:
            for _ in range(steps):
                loss = cfm_loss(model, batch, MaskConfig(), generator=generator)["loss"]
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
        finally:
            model.eval()
            self.set_strength(self.strength)
        return losses


def loss_span(losses: list[float]) -> tuple[float, float]:
    """Where a fit started and ended: the mean of its first and of its last five losses."""
    return float(np.mean(losses[:5])), float(np.mean(losses[-5:]))


def run(ref: str, out: str, checkpoint: str | None, steps: int, rank: int, lr: float, batch: int,
        samples: int, seed: int, prompt_seconds: tuple[float, float], layers: str = ".", strength: float = 1.0
        ) -> Path:
    """`jamflow eval --task tts`'s generation (the same prompts, seeds and manifest), adapted to each prompt."""
    jam = JAMFlow.from_pretrained(checkpoint, vocoder="griffinlim", progress=False)
    adapter = VoiceAdapter(jam, rank, lr, batch, seed, layers, strength)

    def fit(prompt: dict, wav: np.ndarray) -> None:
        start = time.time()
        losses = adapter.fit(wav, prompt["text"], steps)
        if losses:
            first, last = loss_span(losses)
            print(f"{Path(prompt['audio']).name}: {steps} updates in {time.time() - start:.1f} s, loss "
                  f"{first:.3f} -> {last:.3f}", flush=True)

    rows = read_manifest(ref)
    return generate_manifest(jam, rows, rows, "tts", out, samples=samples, seed=seed, prompt_seconds=prompt_seconds,
                             on_prompt=fit, nfe_step=16)


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
