"""Stage 3 of the harmonic-plus-noise vocoder: an adversarial fine-tune of an exported vocoder.

    python adversarial.py --data data/train.pt --init stage2_vocoder --out stage3 --steps 2000
    python harmonic.py export --run stage3 --out vocoder

Stages 1-2 (harmonic.py) regress the STFT magnitude, which leaves the noise and the harmonics' fine
structure a little too smooth: speech that a listener, or DNSMOS, hears as processed. Here three
spectrogram discriminators (one per STFT resolution of the regression loss) learn to tell the
vocoder's crops from the recordings, and the vocoder learns from their hinge loss and from matching
their features on the recording, beside the stages' own losses (the STFT term weighted x15 so it still
leads). The discriminators train alone for `--disc_warmup` updates first, so the vocoder's first
adversarial gradients come from a discriminator that already knows something. fp32 throughout; 1 s
crops, batch 8; AdamW (0.8, 0.99): 5e-5 for the vocoder, 2e-4 for the discriminators; EMA 0.998 of
the vocoder, which is what `harmonic.py export` writes.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harmonic  # noqa: E402  (the recipe's stage 1-2 module, beside this file)

from jamflow.vocoder.harmonic import HarmonicVocoder  # noqa: E402

SPEC_WEIGHT = 15.0
FEATURE_MATCHING_WEIGHT = 2.0


class SpectrogramDiscriminator(nn.Module):
    """2-D convolutions over one resolution's log-magnitude STFT (time x frequency, the frequency axis
    strided down 8x) -> a score per cell, plus every layer's activations for feature matching."""

    def __init__(self, n_fft: int, hop: int, channels: int = 16):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        norm = nn.utils.parametrizations.weight_norm
        strided = [norm(nn.Conv2d(channels, channels, (3, 9), stride=(1, 2), padding=(1, 4))) for _ in range(3)]
        self.convs = nn.ModuleList([norm(nn.Conv2d(1, channels, (3, 9), padding=(1, 4))), *strided,
                                    norm(nn.Conv2d(channels, channels, (3, 3), padding=1))])
        self.post = norm(nn.Conv2d(channels, 1, (3, 3), padding=1))

    def forward(self, wave: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """wave [b, s] -> (scores [b, 1, frames, bins'], activations)."""
        h = torch.log(harmonic.stft_magnitude(wave, self.n_fft, self.hop).clamp_min(1e-5))
        h = h.transpose(1, 2)[:, None]  # [b, 1, frames, bins]
        activations = []
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.1)
            activations.append(h)
        return self.post(h), activations


def discriminators() -> nn.ModuleList:
    return nn.ModuleList(SpectrogramDiscriminator(n_fft, hop) for n_fft, hop in harmonic.RESOLUTIONS)


def discriminator_loss(discs: nn.ModuleList, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Hinge: real scores pushed above 1, the vocoder's below -1 (fake is detached by the caller)."""
    total = real.new_zeros(())
    for disc in discs:
        total = total + F.relu(1 - disc(real)[0]).mean() + F.relu(1 + disc(fake)[0]).mean()
    return total


def generator_loss(discs: nn.ModuleList, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (adversarial: minus the mean score of the vocoder's crop, feature matching: L1 between the layers'
    activations on it and on the recording, a mean per discriminator), each summed over discriminators."""
    adversarial, matching = real.new_zeros(()), real.new_zeros(())
    for disc in discs:
        score, fake_acts = disc(fake)
        _, real_acts = disc(real)
        adversarial = adversarial - score.mean()
        matching = matching + sum((a - b.detach()).abs().mean() for a, b in zip(fake_acts, real_acts)) / len(fake_acts)
    return adversarial, matching


def finetune(args) -> list[dict]:
    """Train; returns the log (every `--log_every` updates)."""
    torch.manual_seed(args.seed)
    data = torch.load(args.data, weights_only=True)
    net = HarmonicVocoder.from_pretrained(args.init).net.float().train()
    ema = copy.deepcopy(net).eval()
    discs = discriminators()
    opt_g = torch.optim.AdamW(net.parameters(), lr=args.lr, betas=(0.8, 0.99), weight_decay=0.01)
    opt_d = torch.optim.AdamW(discs.parameters(), lr=args.disc_lr, betas=(0.8, 0.99), weight_decay=0.01)
    gen, log, start = torch.Generator().manual_seed(args.seed + 1), [], time.time()
    for step in range(1, args.steps + 1):
        mel, wav, f0 = harmonic.crops(data, args.batch, gen)
        parts = harmonic.losses(net, mel, wav, f0, gated=False, bf16=False)
        loss_d = discriminator_loss(discs, wav, parts["wave"].detach())
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()

        adversarial = matching = torch.zeros(())
        if step > args.disc_warmup:
            adversarial, matching = generator_loss(discs, wav, parts["wave"])
        # the stages' total with its STFT term raised to SPEC_WEIGHT
        total = (parts["total"] + (SPEC_WEIGHT - 1) * parts["spec"] + adversarial
                 + FEATURE_MATCHING_WEIGHT * matching)
        opt_g.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt_g.step()
        harmonic.ema_update(ema, net)
        if step % args.log_every == 0:
            log.append({"step": step, "disc": float(loss_d), "spec": float(parts["spec"]), "adv": float(adversarial),
                        "fm": float(matching), "s_per_step": (time.time() - start) / step})
            print(json.dumps(log[-1]), flush=True)
        if step % args.every == 0 or step == args.steps:
            harmonic.save_run(args.out, net, ema, log, args)
    return log


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="harmonic.py prep's train features")
    ap.add_argument("--init", type=Path, required=True, help="an exported vocoder folder (harmonic.py export)")
    ap.add_argument("--out", type=Path, required=True, help="run folder (harmonic.py export reads it)")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--disc_warmup", type=int, default=300, help="updates that train the discriminators alone")
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--disc_lr", type=float, default=2e-4)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--every", type=int, default=250, help="save every N updates")
    ap.add_argument("--log_every", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    return ap


def main(argv=None) -> None:
    finetune(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
