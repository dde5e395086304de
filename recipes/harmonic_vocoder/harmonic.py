"""Train the harmonic-plus-noise vocoder (`jamflow.vocoder.harmonic`) on a jamflow corpus, without a GPU.

    python harmonic.py prep --manifest corpus/manifest.jsonl --split train --out data/train.pt
    python harmonic.py train --data data/train.pt --val data/test.pt --out stage1 --steps 4000 --gated
    python harmonic.py train --data data/train.pt --val data/test.pt --out stage2 --init stage1 --steps 5000
    python harmonic.py export --run stage2 --out vocoder          # -> config.json + model.safetensors (fp16)

prep: each clip's waveform, log-mel and F0 (WORLD's DIO + StoneMask on the mel's frame grid; 0 where
unvoiced). train: 1 s crops (96 mel frames), batch 16; the source is the clip's own F0, so the filter
learns with the right pulses while the F0 head learns to predict them:
- losses: multi-resolution STFT (log-magnitude L1 + spectral convergence at FFT 512 / 1024 / 2048) of the
  synthesised crop against the recording; L1 on log F0 (voiced frames; with --gated off, unvoiced frames
  too at a tenth of the weight, against the contour interpolated through them); voicing BCE (x 0.2);
- `--gated`: the pulses are silenced where the recording is unvoiced. The shipped vocoder starts so
  (stage 1) and is then trained with the continuous contour (stage 2), which is how it decodes;
- AdamW (betas 0.8 / 0.99, weight decay 0.01), linear warm-up, cosine decay over `--schedule_steps`,
  gradient clipping 1.0, EMA 0.998 (the EMA weights are validated and exported), bf16 autocast on a CPU
  with bf16 hardware or a GPU. A run folder gets `run.safetensors` + `run.json` at every validation.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from jamflow.timeline import HOP_LENGTH, SAMPLE_RATE
from jamflow.vocoder.harmonic import HarmonicConfig, HarmonicNoiseNet, HarmonicVocoder, synthesize

CROP = 96  # mel frames per training crop (~1 s)
RESOLUTIONS = ((512, 128), (1024, 256), (2048, 512))
EMA_DECAY = 0.998


# ---------------------------------------------------------------------------------------------
# data

def clip_features(path: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A 24 kHz clip -> (wav int16 [s], log-mel fp16 [100, n], F0 [n] Hz, 0 where unvoiced)."""
    import pyworld
    import soundfile as sf

    from jamflow.audio.mel import mel_spectrogram

    wav, rate = sf.read(path, dtype="float32")
    if rate != SAMPLE_RATE or wav.ndim != 1:
        raise ValueError(f"{path}: expected mono {SAMPLE_RATE} Hz, got {rate} Hz, shape {wav.shape}")
    n = len(wav) // HOP_LENGTH + 1
    mel = mel_spectrogram(torch.from_numpy(wav))[0]
    x = wav.astype(np.float64)
    f0, times = pyworld.dio(x, SAMPLE_RATE, f0_floor=50.0, f0_ceil=800.0, frame_period=HOP_LENGTH / SAMPLE_RATE * 1000)
    f0 = pyworld.stonemask(x, f0, times, SAMPLE_RATE)
    f0 = np.pad(f0, (0, max(0, n - len(f0))))[:n]
    pcm = torch.from_numpy((np.clip(wav, -1, 1) * 32767).astype(np.int16))
    return pcm, mel.to(torch.float16), torch.from_numpy(f0.astype(np.float32))


def prep(manifest: Path, split: str, out: Path, workers: int) -> None:
    from multiprocessing import Pool

    rows = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    paths = [manifest.parent / r["audio"] for r in rows if r.get("split") == split]
    if workers <= 1:  # in this process: a fork after torch has started its OpenMP threads can hang the child
        feats = [clip_features(p) for p in paths]
    else:
        with Pool(workers) as pool:
            feats = pool.map(clip_features, paths, chunksize=16)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"wav": [f[0] for f in feats], "mel": [f[1] for f in feats], "f0": [f[2] for f in feats]}, out)
    print(f"prep: {len(feats)} {split} clips -> {out}")


def crops(data: dict, count: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random aligned crops -> mel [count, 100, CROP], wav [count, (CROP - 1) * 256], F0 [count, CROP]."""
    mels, wavs, f0s = [], [], []
    while len(mels) < count:
        i = int(torch.randint(len(data["mel"]), (1,), generator=gen))
        mel = data["mel"][i]
        if mel.shape[1] <= CROP:
            continue
        k = int(torch.randint(mel.shape[1] - CROP, (1,), generator=gen))
        mels.append(mel[:, k: k + CROP].float())
        f0s.append(data["f0"][i][k: k + CROP])
        wav = data["wav"][i][k * HOP_LENGTH: (k + CROP - 1) * HOP_LENGTH].float() / 32767
        wavs.append(F.pad(wav, (0, (CROP - 1) * HOP_LENGTH - len(wav))))
    return torch.stack(mels), torch.stack(wavs), torch.stack(f0s)


def continuous_f0(f0: torch.Tensor) -> torch.Tensor:
    """F0 [b, n] with 0 where unvoiced -> each unvoiced run interpolated between its voiced neighbours (the
    nearest one at an end; 120 Hz for a crop with no voiced frame)."""
    out = f0.clone()
    frames = np.arange(f0.shape[1], dtype=np.float64)
    for row in out:
        voiced = torch.nonzero(row > 0).flatten().numpy()
        if len(voiced) == 0:
            row.fill_(120.0)
        else:
            row.copy_(torch.from_numpy(np.interp(frames, voiced.astype(np.float64), row.numpy()[voiced])))
    return out


# ---------------------------------------------------------------------------------------------
# losses and training

def stft_magnitude(x: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    window = torch.hann_window(n_fft, device=x.device)
    return torch.stft(x, n_fft, hop, n_fft, window, center=True, return_complex=True).abs()


def multi_resolution_stft_loss(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean over RESOLUTIONS of log-magnitude L1 + spectral convergence, y against the recording x [b, s]."""
    total = y.new_zeros(())
    for n_fft, hop in RESOLUTIONS:
        a, b = stft_magnitude(y, n_fft, hop), stft_magnitude(x, n_fft, hop)
        total = total + (torch.log(a + 1e-5) - torch.log(b + 1e-5)).abs().mean()
        total = total + torch.linalg.norm(a - b) / (torch.linalg.norm(b) + 1e-7)
    return total / len(RESOLUTIONS)


def losses(net: HarmonicNoiseNet, mel, wav, f0, gated: bool, predicted_source: bool = False,
           bf16: bool | None = None) -> dict:
    """-> dict(spec, f0, voicing, total, wave: the synthesised crop [b, s]); bf16 None: where the hardware has it."""
    with torch.autocast(mel.device.type, dtype=torch.bfloat16, enabled=_bf16_ok(mel.device) if bf16 is None else bf16):
        parts = net(mel)
    voiced = f0 > 0
    contour = continuous_f0(f0)
    err = (parts["log_f0"] - torch.log(contour)).abs()
    weight = voiced.float() if gated else 0.1 + 0.9 * voiced.float()
    f0_loss = (err * weight).sum() / weight.sum().clamp_min(1.0)
    voicing = F.binary_cross_entropy_with_logits(parts["voiced_logit"], voiced.float())
    source = torch.exp(parts["log_f0"]).detach() if predicted_source else contour
    y = synthesize(parts, source, wav.shape[1], net.cfg.pulse_fmax, voiced=voiced if gated else None)
    spec = multi_resolution_stft_loss(y, wav)
    return {"spec": spec, "f0": f0_loss, "voicing": voicing, "total": spec + 0.5 * f0_loss + 0.2 * voicing, "wave": y}


def _bf16_ok(device: torch.device) -> bool:
    from jamflow.dtypes import cpu_has_fast_bf16

    return device.type == "cuda" or cpu_has_fast_bf16()


def learning_rate(step: int, peak: float, warmup: int, schedule: int) -> float:
    cosine = 0.5 * (1 + math.cos(math.pi * min(step, schedule) / schedule)) * 0.99 + 0.01
    return peak * min(1.0, step / warmup) * cosine


@torch.no_grad()
def ema_update(ema, net) -> None:
    for pe, p in zip(ema.parameters(), net.parameters()):
        pe.lerp_(p, 1 - EMA_DECAY)


def save_run(folder: Path, net, ema, log: list, args) -> None:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    state = {f"net.{k}": v.contiguous() for k, v in net.state_dict().items()}
    state.update({f"ema.{k}": v.contiguous() for k, v in ema.state_dict().items()})
    save_file(state, str(folder / "run.safetensors"))
    meta = {"config": net.cfg.__dict__, "args": {k: str(v) for k, v in vars(args).items()}, "log": log}
    (folder / "run.json").write_text(json.dumps(meta, indent=1))


def load_run(folder: Path) -> tuple[HarmonicNoiseNet, HarmonicNoiseNet]:
    from safetensors.torch import load_file

    cfg = HarmonicConfig.from_dict(json.loads((folder / "run.json").read_text())["config"])
    state = load_file(str(folder / "run.safetensors"))
    nets = []
    for prefix in ("net.", "ema."):
        net = HarmonicNoiseNet(cfg)
        net.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
        nets.append(net)
    return nets[0], nets[1]


def validate(ema, val, gated: bool) -> dict:
    with torch.no_grad():
        rows = [losses(ema, *(t[i:i + 16] for t in val), gated, predicted_source=p)
                for p in (False, True) for i in range(0, len(val[0]), 16)]
    half = len(rows) // 2
    mean = lambda rs, key: sum(float(r[key]) for r in rs) / len(rs)
    return {"spec_own_f0": mean(rows[:half], "spec"), "spec_predicted_f0": mean(rows[half:], "spec"),
            "f0": mean(rows[:half], "f0"), "voicing": mean(rows[:half], "voicing")}


def train(args) -> list[float]:
    """Train; returns every update's total loss."""
    torch.manual_seed(args.seed)
    data, val_data = torch.load(args.data, weights_only=True), torch.load(args.val, weights_only=True)
    fresh = HarmonicConfig(dim=args.dim, layers=args.layers)
    net, ema = load_run(args.init) if args.init else (HarmonicNoiseNet(fresh), None)
    ema = copy.deepcopy(net) if ema is None else ema
    ema.eval()
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=0.01, betas=(0.8, 0.99))
    val = crops(val_data, 64, torch.Generator().manual_seed(123))
    gen, log, start, totals = torch.Generator().manual_seed(args.seed), [], time.time(), []
    schedule = args.schedule_steps or args.steps
    for step in range(1, args.steps + 1):
        for group in opt.param_groups:
            group["lr"] = learning_rate(step, args.lr, args.warmup, schedule)
        loss = losses(net, *crops(data, args.batch, gen), args.gated)
        opt.zero_grad(set_to_none=True)
        loss["total"].backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        totals.append(float(loss["total"]))
        ema_update(ema, net)
        if step % 50 == 0:
            print(f"step {step} " + " ".join(f"{k} {float(v):.4f}" for k, v in loss.items() if k != "wave")
                  + f" {(time.time() - start) / step:.2f} s/step", flush=True)
        if step % args.every == 0 or step == args.steps:
            log.append({"step": step, **validate(ema, val, args.gated)})
            print("validation", json.dumps(log[-1]), flush=True)
            save_run(args.out, net, ema, log, args)
    return totals


def export(run: Path, out: Path) -> None:
    _, ema = load_run(run)
    HarmonicVocoder(ema).save_pretrained(out)
    print(f"export: {run} (EMA weights, fp16) -> {out}")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prep")
    p.add_argument("--manifest", type=Path, required=True)
    p.add_argument("--split", default="train")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--workers", type=int, default=2)
    t = sub.add_parser("train")
    t.add_argument("--data", type=Path, required=True)
    t.add_argument("--val", type=Path, required=True)
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--init", type=Path, default=None, help="a run folder to start from (its net and EMA)")
    t.add_argument("--steps", type=int, default=5000)
    t.add_argument("--schedule_steps", type=int, default=None, help="cosine length (default: --steps)")
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--warmup", type=int, default=200)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--every", type=int, default=500, help="validate and save every N steps")
    t.add_argument("--gated", action="store_true", help="silence the pulses where the recording is unvoiced")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--dim", type=int, default=HarmonicConfig.dim, help="width of a new network (not with --init)")
    t.add_argument("--layers", type=int, default=HarmonicConfig.layers, help="blocks of a new network")
    e = sub.add_parser("export")
    e.add_argument("--run", type=Path, required=True)
    e.add_argument("--out", type=Path, required=True)
    return ap


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    if args.command == "prep":
        prep(args.manifest, args.split, args.out, args.workers)
    elif args.command == "train":
        train(args)
    else:
        export(args.run, args.out)


if __name__ == "__main__":
    sys.exit(main())
