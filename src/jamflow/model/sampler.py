"""ODE sampler for JAMModel: Euler / midpoint over an EPSS or sway-sampled time grid.

The fixed inputs are packed once into a SamplingProblem (model/problem.py); each step asks the model
for its guided velocity (JAMModel.guided_velocity) and reports its progress (jamflow.progress), where
a cancelled job stops.
"""
from __future__ import annotations

import math

import torch

from jamflow.errors import UserError
from jamflow.model.problem import SamplingProblem
from jamflow.progress import report

# F5-TTS's empirically pruned step grids (EPSS), in units of 1/32
EPSS = {
    5: [0, 2, 4, 8, 16, 32],
    6: [0, 2, 4, 6, 8, 16, 32],
    7: [0, 2, 4, 6, 8, 16, 24, 32],
    10: [0, 2, 4, 6, 8, 12, 16, 20, 24, 28, 32],
    12: [0, 2, 4, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32],
    16: [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32],
}


def make_time_grid(nfe_step: int, sway_sampling_coef: float | None = -1.0, use_epss: bool = True) -> torch.Tensor:
    """[nfe_step + 1] times from 0 to 1: EPSS grid where one exists, else uniform; then sway
    t <- t + s (cos(pi t / 2) - 1 + t) (s < 0 packs steps near t = 0, as F5 does)."""
    if nfe_step < 1:
        raise UserError(f"nfe_step: expected >= 1, got {nfe_step}")
    if use_epss and nfe_step in EPSS:
        t = torch.tensor(EPSS[nfe_step], dtype=torch.float32) / 32
    else:
        t = torch.linspace(0, 1, nfe_step + 1)
    if sway_sampling_coef is not None:
        t = t + sway_sampling_coef * (torch.cos(math.pi / 2 * t) - 1 + t)
    return t


@torch.no_grad()
def sample(
    model,
    text: torch.Tensor,  # [b, nt] int, -1 padded
    mel_cond: torch.Tensor,  # [b, n, 100] clean mel where known (anything elsewhere)
    mel_known: torch.Tensor,  # [b, n] bool
    motion_cond: torch.Tensor | None = None,  # [b, m, dg] normalised, clean where known
    motion_known: torch.Tensor | None = None,  # [b, m] bool
    motion_context: torch.Tensor | None = None,  # [b, m, dc]
    mel_lens: torch.Tensor | None = None,  # [b] frames to produce per item (default: n)
    motion_lens: torch.Tensor | None = None,  # [b] (default: m)
    nfe_step: int = 32,
    cfg_strength: float = 2.0,
    cfg_strength_motion: float | None = None,
    cfg_until: float = 1.0,
    sway_sampling_coef: float | None = -1.0,
    method: str = "euler",
    seed: int | None = None,
    time_grid: torch.Tensor | None = None,
    use_epss: bool = True,
    progress: bool = False,
    text_index: torch.Tensor | None = None,  # [b, n] token position per mel frame (model/durations.py)
):
    """Generate the unknown frames of both streams -> (mel [b, n, 100], motion [b, m, dg] or None).

    Known frames (mel_known / motion_known) are given to the model as the condition at every step
    and pasted back exactly at the end; frames past mel_lens / motion_lens are 0. Pass
    motion_cond=None for audio only (or for a model without a motion stream).

    Guidance: v = v_cond + cfg_strength * (v_cond - v_null), null = text, audio condition and
    motion condition all dropped; both branches run packed in one batch of 2b. The motion stream
    uses cfg_strength_motion (default: cfg_strength). Strengths of 0 skip the null branch. cfg_until:
    guide only the model calls at flow times t < cfg_until (0 = noise, 1 = data); later calls run the
    conditional branch alone, at half the cost (guidance in a limited interval, Kynkaanniemi et al.
    2024). It trades quality for speed: docs/inference.md has the measured cost.
    method "euler" uses one model call per step, "midpoint" two.
    time_grid: explicit increasing times from 0 to 1 (then nfe_step/sway/EPSS are ignored).
    """
    if method not in ("euler", "midpoint"):
        raise UserError(f"method: expected 'euler' or 'midpoint', got {method!r}")
    problem = SamplingProblem.build(model, text, mel_cond, mel_known, motion_cond, motion_known, motion_context,
                                    mel_lens, motion_lens, text_index, cfg_strength=cfg_strength,
                                    cfg_strength_motion=cfg_strength_motion, cfg_until=cfg_until)
    ts = make_time_grid(nfe_step, sway_sampling_coef, use_epss) if time_grid is None else time_grid.float().cpu()
    y_a, y_m = problem.start_noise(seed)
    steps = range(len(ts) - 1)
    if progress:
        from tqdm import tqdm

        steps = tqdm(steps, desc="sampling", unit="step")
    for i in steps:
        t0, t1 = float(ts[i]), float(ts[i + 1])
        dt = t1 - t0
        va, vm = model.guided_velocity(problem, t0, y_a, y_m)
        if method == "midpoint":
            va, vm = model.guided_velocity(problem, t0 + dt / 2, y_a + va * dt / 2,
                                           None if y_m is None else y_m + vm * dt / 2)
        y_a = y_a + va * dt
        if y_m is not None:
            y_m = y_m + vm * dt
        report("sampling", i + 1, len(ts) - 1)
    return problem.paste_known(y_a, y_m)
