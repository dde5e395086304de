"""ODE sampler for JAMModel: Euler / midpoint, sway sampling, EPSS grids, packed CFG, seeds."""
from __future__ import annotations

import math

import torch

from jamflow.errors import UserError
from jamflow.model.cfm import lens_to_mask
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


def initial_noise(lens, length: int, dim: int, seed: int | None, generator_offset: int = 0) -> torch.Tensor:
    """[b, length, dim] N(0, 1) for the first lens[i] frames of each item, 0 after.

    With a seed every item draws from its own generator seeded with `seed` (as F5 does), so an
    item gets the same start noise alone or in any batch.
    """
    out = torch.zeros(len(lens), length, dim)
    for i, n_i in enumerate(lens.tolist()):
        g = None
        if seed is not None:
            g = torch.Generator().manual_seed(int(seed) + generator_offset)
        out[i, :n_i] = torch.randn(n_i, dim, generator=g)
    return out


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
    device = next(model.parameters()).device
    b, n, mel_dim = mel_cond.shape
    if mel_known.shape != (b, n):
        raise UserError(f"mel_known: expected shape {(b, n)}, got {tuple(mel_known.shape)}")
    mel_lens = torch.full((b,), n, dtype=torch.long) if mel_lens is None else mel_lens.long().cpu()
    if int(mel_lens.max()) > n:
        raise UserError(f"mel_lens: expected <= {n} frames (mel_cond length), got {int(mel_lens.max())}")
    with_motion = motion_cond is not None and getattr(model, "motion", None) is not None
    m = motion_cond.shape[1] if with_motion else 0
    if with_motion:
        if motion_known is None:
            motion_known = torch.zeros(b, m, dtype=torch.bool)
        if motion_known.shape != (b, m):
            raise UserError(f"motion_known: expected shape {(b, m)}, got {tuple(motion_known.shape)}")
        motion_lens = torch.full((b,), m, dtype=torch.long) if motion_lens is None else motion_lens.long().cpu()
        if int(motion_lens.max()) > m:
            raise UserError(f"motion_lens: expected <= {m} frames (motion_cond length), got {int(motion_lens.max())}")

    ts = make_time_grid(nfe_step, sway_sampling_coef, use_epss) if time_grid is None else time_grid.float().cpu()
    audio_valid = lens_to_mask(mel_lens, n).to(device)
    mel_known = mel_known.to(device) & audio_valid
    cond_a = torch.where(mel_known[..., None], mel_cond.to(device), torch.zeros((), device=device))
    text = text.to(device)
    y_a = initial_noise(mel_lens, n, mel_dim, seed).to(device)
    if with_motion:
        motion_valid = lens_to_mask(motion_lens, m).to(device)
        motion_known = motion_known.to(device) & motion_valid
        cond_m = torch.where(motion_known[..., None], motion_cond.to(device), torch.zeros((), device=device))
        context = motion_context.to(device) if motion_context is not None else None
        y_m = initial_noise(motion_lens, m, motion_cond.shape[-1], seed, generator_offset=1).to(device)
    else:
        y_m = None

    cfg_motion = cfg_strength if cfg_strength_motion is None else cfg_strength_motion
    guided = max(cfg_strength, cfg_motion) > 1e-5
    reps = 2 if guided else 1
    drop = torch.tensor([False] * b + [True] * b if guided else [False] * b, device=device)
    pack = lambda x: None if x is None else (torch.cat([x] * reps) if guided else x)  # noqa: E731
    if text_index is not None:
        if text_index.shape != (b, n):
            raise UserError(f"text_index: expected shape {(b, n)}, got {tuple(text_index.shape)}")
        text_index = text_index.to(device)
    fixed = dict(audio_cond=pack(cond_a), text=pack(text), text_index=pack(text_index), audio_mask=pack(audio_valid),
                 drop_audio_cond=drop, drop_text=drop, drop_motion_cond=drop)
    if with_motion:
        fixed.update(motion_cond=pack(cond_m), motion_context=pack(context), motion_mask=pack(motion_valid))
    # masks and RoPE angles depend only on the lengths: built once here, not at every model call
    fixed["layout"] = model.prepare(b * reps, n, m if with_motion else None, fixed["audio_mask"],
                                    fixed.get("motion_mask"), device)
    fixed["text_features"] = model.text_features(fixed["text"], fixed["layout"], drop, fixed["text_index"])
    if guided and cfg_until < 1:  # late calls may run unguided: on the conditional half of each input
        alone = {k: v[:b] if isinstance(v, torch.Tensor) else v for k, v in fixed.items() if k != "layout"}
        alone["layout"] = model.prepare(b, n, m if with_motion else None, alone["audio_mask"],
                                        alone.get("motion_mask"), device)

    def velocity(t: float, ya, ym):
        if guided and t >= cfg_until:
            time = torch.full((b,), float(t), device=device)
            return model(audio_x=ya, time=time, motion_x=ym, **alone)
        time = torch.full((b * reps,), float(t), device=device)
        va, vm = model(audio_x=pack(ya), time=time, motion_x=pack(ym), **fixed)
        if guided:
            va_c, va_u = va.chunk(2)
            va = va_c + (va_c - va_u) * cfg_strength
            if vm is not None:
                vm_c, vm_u = vm.chunk(2)
                vm = vm_c + (vm_c - vm_u) * cfg_motion
        return va, vm

    steps = range(len(ts) - 1)
    if progress:
        from tqdm import tqdm

        steps = tqdm(steps, desc="sampling", unit="step")
    for i in steps:
        t0, t1 = float(ts[i]), float(ts[i + 1])
        dt = t1 - t0
        va, vm = velocity(t0, y_a, y_m)
        if method == "midpoint":
            va, vm = velocity(t0 + dt / 2, y_a + va * dt / 2, None if y_m is None else y_m + vm * dt / 2)
        y_a = y_a + va * dt
        if y_m is not None:
            y_m = y_m + vm * dt
        report("sampling", i + 1, len(ts) - 1)

    mel = torch.where(mel_known[..., None], cond_a, y_a) * audio_valid[..., None]
    motion = None
    if with_motion:
        motion = torch.where(motion_known[..., None], cond_m, y_m) * motion_valid[..., None]
    return mel, motion
