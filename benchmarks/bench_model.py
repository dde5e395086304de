"""Forward-pass benchmark of the core model: audio-only vs joint, parameter counts, peak memory.

    python benchmarks/bench_model.py --preset base --seconds 10 --repeats 3

Each mode runs in its own subprocess so its peak RSS is its own. Prints a table; times are
medians over --repeats after one warm-up call. On a shared machine, say so when quoting numbers.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

MODES = {
    "audio_only": "Audio-DiT alone (motion stream off = plain F5 DiT)",
    "joint_window": "audio + motion, joint layers, +-window mask",
    "joint_global": "audio + motion, joint layers, global (no mask)",
}


def run_mode(mode: str, preset: str, seconds: float, repeats: int, threads: int) -> dict:
    import torch

    from jamflow.config import get_preset
    from jamflow.model.jam import JAMModel

    torch.set_num_threads(threads)
    overrides = {"joint_window_s": None} if mode == "joint_global" else {}
    cfg = get_preset(preset, **overrides)
    model = JAMModel(cfg).eval()
    n = int(round(seconds * cfg.mel_fps))
    m = int(round(seconds * cfg.motion_fps))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, n, cfg.audio.mel_dim, generator=g)
    text = torch.randint(0, cfg.audio.text_num_embeds, (1, int(seconds * 15)), generator=g)
    t = torch.rand(1, generator=g)
    kwargs = {}
    if mode != "audio_only":
        kwargs = dict(motion_x=torch.randn(1, m, cfg.motion_gen_dim, generator=g),
                      motion_cond=torch.zeros(1, m, cfg.motion_gen_dim),
                      motion_context=torch.randn(1, m, cfg.motion_context_dim, generator=g))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    with torch.inference_mode():
        for i in range(repeats + 1):
            start = time.perf_counter()
            model(x, torch.zeros_like(x), text, t, **kwargs)
            if i:  # the first call warms up allocator and kernels
                times.append(time.perf_counter() - start)
    counts = model.num_params()
    return {"mode": mode, "n_mel": n, "n_motion": m if mode != "audio_only" else 0, "median_s": statistics.median(times),
            "min_s": min(times), "params_audio": counts["audio"], "params_motion": counts["motion"],
            "params_total": counts["total"], "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_before_mb": rss_before / 1024, "joint_layers": len(cfg.joint_layers)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="base")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: run one mode, print JSON
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(run_mode(args.one, args.preset, args.seconds, args.repeats, args.threads)))
        return 0
    rows = []
    for mode in args.modes.split(","):
        if mode not in MODES:
            print(f"--modes: expected some of {sorted(MODES)}, got {mode!r}", file=sys.stderr)
            return 2
        out = subprocess.run([sys.executable, __file__, "--one", mode, "--preset", args.preset, "--seconds",
                              str(args.seconds), "--repeats", str(args.repeats), "--threads", str(args.threads)],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    base = next((r["median_s"] for r in rows if r["mode"] == "audio_only"), None)
    print(f"preset {args.preset}, batch 1, {args.seconds:g} s ({rows[0]['n_mel']} mel frames, "
          f"{int(round(args.seconds * 25))} motion frames), CPU, {args.threads} threads, median of {args.repeats}")
    print(f"params: audio {rows[0]['params_audio'] / 1e6:.1f}M, motion {rows[0]['params_motion'] / 1e6:.1f}M, "
          f"total {rows[0]['params_total'] / 1e6:.1f}M; joint layers {rows[0]['joint_layers']}")
    print(f"{'mode':<14} {'forward s (median)':>19} {'min s':>8} {'x audio-only':>13} {'peak RSS MB':>12}  description")
    for r in rows:
        ratio = f"{r['median_s'] / base:.2f}" if base else "-"
        print(f"{r['mode']:<14} {r['median_s']:>19.3f} {r['min_s']:>8.3f} {ratio:>13} {r['peak_rss_mb']:>12.0f}  {MODES[r['mode']]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
