"""LivePortrait speed: per-network time, render fps at 512 px, extraction fps. Prints a table.

    python benchmarks/bench_liveportrait.py                 # CPU fp32 (and CUDA fp16 when present)
    python benchmarks/bench_liveportrait.py --device cuda --dtype bf16 --batch 8

Weights are random (official shapes), which does not change the cost. Render = W + G + stitching
per frame with F run once per source (I2V); extraction = face detection (Haar, 720p frame) + crop to
512 + M, per frame. LivePortrait reports ~13 ms/frame for F+M+W+G+S on an RTX 4090 (torch.compile).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from jamflow.render.liveportrait.crop import DRIVING_CROP, crop_face, crop_params, face_from_box
from jamflow.render.liveportrait.portrait import extract_motion, warp_decode
from jamflow.render.liveportrait.weights import LivePortraitNets, build_network

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def timed(fn, repeats: int, device: str) -> float:
    """Median seconds of fn() after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def build(device: str, dtype: torch.dtype) -> LivePortraitNets:
    nets = LivePortraitNets(*(build_network(n).eval() for n in "FMWGS")).to(device)
    for m in (nets.F, nets.W, nets.G):
        m.to(dtype=dtype)
    nets.G.to(memory_format=torch.channels_last)  # as load_liveportrait does
    return nets


@torch.no_grad()
def bench(device: str, dtype_name: str, batch: int, repeats: int) -> list[tuple[str, float, float]]:
    dtype = DTYPES[dtype_name]
    nets = build(device, dtype)
    rows = []
    img = torch.rand(batch, 3, 256, 256, device=device)
    vol = nets.F(img.to(dtype))
    kp = (torch.rand(batch, 21, 3, device=device) - 0.5) * 0.8
    feats = nets.W(vol, kp + 0.01, kp)["out"].contiguous(memory_format=torch.channels_last)
    for name, fn in [("F appearance", lambda: nets.F(img.to(dtype))), ("M motion", lambda: nets.M(img)),
                     ("W warping", lambda: nets.W(vol, kp + 0.01, kp)), ("G decoder 512px", lambda: nets.G(feats)),
                     ("S stitching", lambda: nets.S.stitch(kp, kp + 0.01))]:
        s = timed(fn, repeats, device)
        rows.append((name, 1000 * s / batch, batch / s))
    s = timed(lambda: warp_decode(nets, vol, kp, kp + 0.01, stitch=True), repeats, device)
    rows.append(("render W+G+S (I2V frame)", 1000 * s / batch, batch / s))

    frame = np.random.default_rng(0).integers(0, 255, (720, 1280, 3), dtype=np.uint8)
    params = crop_params(face_from_box(540, 200, 740, 400), DRIVING_CROP)
    crops = np.stack([crop_face(frame, params)[0] for _ in range(batch)])
    s = timed(lambda: extract_motion(nets, crops), repeats, device)
    rows.append(("extract: M on crops", 1000 * s / batch, batch / s))
    s_crop = timed(lambda: crop_face(frame, params), repeats, "cpu")
    rows.append(("extract: crop 720p -> 512", 1000 * s_crop, 1 / s_crop))
    try:
        from jamflow.render.liveportrait.crop import HaarFaceDetector

        det = HaarFaceDetector()
        s_det = timed(lambda: det.detect(frame), repeats, "cpu")
        rows.append(("extract: Haar detect 720p", 1000 * s_det, 1 / s_det))
    except Exception as e:  # opencv missing
        print(f"(no Haar timing: {e})")
        s_det = 0.0
    per_frame = s / batch + s_crop + s_det
    rows.append(("extract total per frame", 1000 * per_frame, 1 / per_frame))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default=None, help="cpu / cuda (default: cpu, plus cuda when available)")
    p.add_argument("--dtype", default=None, choices=list(DTYPES), help="default fp32 on CPU, fp16 on CUDA")
    p.add_argument("--batch", type=int, default=None, help="frames per call (default 2 on CPU, 8 on CUDA)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = [args.device] if args.device else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        dtype = args.dtype or ("fp16" if device.startswith("cuda") else "fp32")
        batch = args.batch or (8 if device.startswith("cuda") else 2)
        name = torch.cuda.get_device_name() if device.startswith("cuda") else f"CPU, {torch.get_num_threads()} threads"
        print(f"\n{name} | {dtype} | batch {batch} | median of {args.repeats}")
        print(f"{'stage':<28} {'ms/frame':>10} {'fps':>8}")
        for stage, ms, fps in bench(device, dtype, batch, args.repeats):
            print(f"{stage:<28} {ms:>10.1f} {fps:>8.2f}")


if __name__ == "__main__":
    main()
