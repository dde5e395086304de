"""Forward-pass benchmark of the core model: audio-only vs joint, parameter counts, peak memory.

    python benchmarks/bench_model.py --preset base --seconds 10 --repeats 3 --threads 1

One model (random weights) is built once; the modes run interleaved, round after round, so a
change in machine load hits every mode alike. Times are the median (and min) over --repeats after
one warm-up round. Peak memory is the process's peak RSS during each mode (Linux VmHWM, reset
before each mode where the kernel allows it). On a shared machine, say so when quoting numbers.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

MODES = {
    "audio_only": "Audio-DiT alone (no motion input = plain F5 DiT)",
    "joint_window": "audio + motion, joint layers, +-window mask",
    "joint_global": "audio + motion, joint layers, global (no mask)",
}


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="base")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--modes", default=",".join(MODES))
    args = p.parse_args(argv)
    modes = args.modes.split(",")
    bad = [m for m in modes if m not in MODES]
    if bad:
        print(f"--modes: expected some of {sorted(MODES)}, got {bad}", file=sys.stderr)
        return 2

    import torch

    from jamflow.config import get_preset
    from jamflow.model.jam import JAMModel

    torch.set_num_threads(args.threads)
    cfg = get_preset(args.preset)
    model = JAMModel(cfg).eval()
    window = cfg.joint_window_s
    n, m = int(round(args.seconds * cfg.mel_fps)), int(round(args.seconds * cfg.motion_fps))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, n, cfg.audio.mel_dim, generator=g)
    text = torch.randint(0, cfg.audio.text_num_embeds, (1, int(args.seconds * 15)), generator=g)
    t = torch.rand(1, generator=g)
    motion = dict(motion_x=torch.randn(1, m, cfg.motion_gen_dim, generator=g),
                  motion_cond=torch.zeros(1, m, cfg.motion_gen_dim),
                  motion_context=torch.randn(1, m, cfg.motion_context_dim, generator=g))

    def call(mode):
        cfg.joint_window_s = None if mode == "joint_global" else window
        kwargs = {} if mode == "audio_only" else motion
        start = time.perf_counter()
        model(x, torch.zeros_like(x), text, t, **kwargs)
        return time.perf_counter() - start

    times = {mode: [] for mode in modes}
    peak = {}
    with torch.inference_mode():
        for round_ in range(args.repeats + 1):  # round 0 warms up allocator and kernels
            for mode in modes:
                fresh = _reset_peak_rss()
                seconds = call(mode)
                if round_:
                    times[mode].append(seconds)
                if fresh or mode not in peak:
                    peak[mode] = max(peak.get(mode, 0.0), _peak_rss_mb())
    cfg.joint_window_s = window

    counts = model.num_params()
    print(f"preset {args.preset}, batch 1, {args.seconds:g} s ({n} mel frames, {m} motion frames), CPU, "
          f"{args.threads} thread(s), {args.repeats} interleaved rounds after 1 warm-up")
    print(f"params: audio {counts['audio'] / 1e6:.1f}M, motion {counts['motion'] / 1e6:.1f}M, total "
          f"{counts['total'] / 1e6:.1f}M; {len(cfg.joint_layers)} joint layers; window +-{window} s")
    base = statistics.median(times["audio_only"]) if "audio_only" in times else None
    print(f"{'mode':<14} {'median s':>9} {'min s':>8} {'x audio-only':>13} {'peak RSS MB':>12}  description")
    for mode in modes:
        med = statistics.median(times[mode])
        ratio = f"{med / base:.2f}" if base else "-"
        print(f"{mode:<14} {med:>9.3f} {min(times[mode]):>8.3f} {ratio:>13} {peak[mode]:>12.0f}  {MODES[mode]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
