"""Training throughput of the presets: one full update (CFM loss over every task, backward, clipping,
AdamW, EMA) on synthetic batches of equal-length clips, as the trainer runs it.

    python benchmarks/bench_train.py                                # tiny + small on CPU, fp32
    python benchmarks/bench_train.py --device cuda --presets small,base --precision bf16 --max_frames_search

Prints: preset, parameters, batch (clips x mel frames), step time, mel frames/s, samples/s, CPU seconds
per step and mel frames per CPU second (the figure to trust on a shared machine), and on CUDA
model FLOPs utilisation (jamflow.train.metrics.train_flops / device peak), peak memory, and with
--max_frames_search the largest per-process frame budget that fits in memory.
"""
from __future__ import annotations

import argparse
import time

import torch

from jamflow.config import get_preset
from jamflow.data.prepare import motion_frames_for
from jamflow.model.cfm import MaskConfig, cfm_loss
from jamflow.model.jam import JAMModel
from jamflow.train.config import EMAConfig, OptimConfig
from jamflow.train.ema import EMA
from jamflow.train.metrics import peak_flops, train_flops
from jamflow.train.optim import make_optimizer


def make_batch(cfg, clips: int, mel_frames: int, device) -> dict:
    m = motion_frames_for(mel_frames)
    text_len = mel_frames // 8
    return {"mel": torch.randn(clips, mel_frames, 100, device=device),
            "mel_lens": torch.full((clips,), mel_frames, device=device),
            "text": torch.randint(0, min(cfg.audio.text_num_embeds, 200), (clips, text_len), device=device),
            "motion": torch.randn(clips, m, cfg.motion_gen_dim, device=device),
            "motion_context": torch.randn(clips, m, cfg.motion_context_dim, device=device),
            "motion_lens": torch.full((clips,), m, device=device)}


def run(preset: str, clips: int, mel_frames: int, steps: int, device: torch.device, precision: str) -> dict:
    cfg = get_preset(preset)
    torch.manual_seed(0)
    model = JAMModel(cfg).to(device).train()
    opt = make_optimizer(model, OptimConfig(lr=1e-4), device)
    ema = EMA(model, EMAConfig(update_after_step=0, update_every=1))
    batch = make_batch(cfg, clips, mel_frames, device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    gen = torch.Generator().manual_seed(0)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    def step():
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            out = cfm_loss(model, batch, MaskConfig(), generator=gen)
        out["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        ema.update(model)

    step()  # warm-up (allocator, kernels)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    dt = (time.perf_counter() - t0) / steps
    cpu = (time.process_time() - c0) / steps  # CPU seconds: robust to other jobs on a shared machine
    row = {"preset": preset, "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
           "batch": f"{clips}x{mel_frames}", "step_s": dt, "frames_per_s": clips * mel_frames / dt,
           "samples_per_s": clips / dt, "cpu_s": cpu, "frames_per_cpu_s": clips * mel_frames / cpu}
    peak = peak_flops(device)
    if peak is not None:
        row["mfu"] = train_flops(cfg, batch["mel_lens"].cpu(), batch["motion_lens"].cpu()) / dt / peak
        row["peak_mem_GiB"] = torch.cuda.max_memory_allocated(device) / 2**30
    return row


def max_frames_that_fit(preset: str, mel_frames: int, device, precision: str) -> int:
    """Largest clips x mel_frames budget (whole clips) that trains without running out of memory."""
    lo, hi = 0, 1
    while True:
        try:
            run(preset, hi, mel_frames, 1, device, precision)
            lo, hi = hi, hi * 2
        except torch.OutOfMemoryError:
            break
        finally:
            torch.cuda.empty_cache()
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            run(preset, mid, mel_frames, 1, device, precision)
            lo = mid
        except torch.OutOfMemoryError:
            hi = mid
        finally:
            torch.cuda.empty_cache()
    return lo * mel_frames


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default="tiny,small")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--mel_frames", type=int, default=400, help="frames per clip (400 = 4.3 s)")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max_frames_search", action="store_true", help="CUDA: find the largest batch that fits")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rows = []
    for preset in args.presets.split(","):
        row = run(preset, args.clips, args.mel_frames, args.steps, device, args.precision)
        if args.max_frames_search and device.type == "cuda":
            row["max_frames"] = max_frames_that_fit(preset, args.mel_frames, device, args.precision)
        rows.append(row)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    print(f"device {device} ({torch.cuda.get_device_name(device) if device.type == 'cuda' else 'CPU'}), "
          f"{args.precision}, {args.threads} threads, {args.steps} timed steps")
    print(" | ".join(f"{k:>13}" for k in keys))
    for r in rows:
        print(" | ".join(f"{r[k]:>13.4g}" if isinstance(r.get(k), float) else f"{str(r.get(k, '')):>13}" for k in keys))


if __name__ == "__main__":
    main()
