"""The few-step student: guidance and step distillation of a trained model (`stage: distill`).

Sampling the teacher costs nfe x 2 model calls (the conditional and the null branch of classifier-free
guidance at every step). The student takes a fixed grid of a few steps (default 4, the sway-warped
uniform grid, every point of which is also a point of the teacher's 16-step grid) and one call per
step: at each grid point it predicts the average guided velocity that carries the teacher's guided
ODE to the next grid point. That is guidance distillation (Meng et al. 2023: the guided velocity as
the target of a single conditional pass) combined with a segment-wise trajectory target (the
progressive / shortcut / mean-flow family: the student learns the average velocity over a whole
interval instead of the instantaneous one, so Euler over the coarse grid lands where the teacher's
fine solve does).

One update, per batch:
  1. draw the task masks exactly as flow-matching training does (every task: tts, talk, animate,
     dub, edit) and a segment i of the student's grid;
  2. start from noise and run the student itself over segments 0..i-1 (no gradient), so it learns
     from the states it will meet at inference (the teacher would never correct its drift otherwise);
  3. solve the teacher's guided ODE over segment i on its own fine grid (Euler, adapters off, no
     gradient) -> target (x_end - x_start) / (t_end - t_start);
  4. MSE between that and the student's single velocity at (x_start, t_start) on the frames the task
     generates.
The student is the teacher plus LoRA adapters (model/lora.py), so the teacher needs no second copy
and the shipped student is the adapter alone.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from jamflow.errors import UserError
from jamflow.model.cfm import _masked_mse, _rand, sample_masks
from jamflow.model.lora import adapters_off
from jamflow.model.problem import SamplingProblem
from jamflow.model.sampler import make_time_grid


@dataclass
class DistillConfig:
    steps: int = 4  # the student's sampling steps (one model call each, no guidance pass)
    teacher_nfe: int = 16  # the teacher's steps; its grid must contain every point of the student's
    sway_sampling_coef: float = -1.0  # both grids are warped by it (F5's sway sampling)
    cfg_strength: float = 2.0  # the guidance the student bakes in (audio stream)
    cfg_strength_motion: float | None = None  # motion stream; None: cfg_strength
    lora_rank: int = 32  # adapter rank on every block linear of both streams
    rollout: bool = True  # start segment i from the student's own steps 0..i-1 (False: from the data path)
    init_adapters: str | None = None  # a student folder (`jamflow export`) to train on from; None: fresh (B = 0)


def student_grid(cfg: DistillConfig) -> torch.Tensor:
    """[steps + 1] flow times of the student."""
    return make_time_grid(cfg.steps, cfg.sway_sampling_coef, use_epss=False)


def teacher_segments(cfg: DistillConfig) -> list[torch.Tensor]:
    """For each student step the teacher's grid points from its start to its end (both included)."""
    fine = make_time_grid(cfg.teacher_nfe, cfg.sway_sampling_coef, use_epss=True)
    coarse = student_grid(cfg)
    where = []
    for t in coarse.tolist():
        hits = (fine - t).abs() < 1e-6
        if not bool(hits.any()):
            raise UserError(f"distill.steps: expected a student grid inside the teacher's {cfg.teacher_nfe}-step grid, "
                            f"got the point {t:.4f} that is not on it (try steps 2, 4 or 8 with teacher_nfe 16)")
        where.append(int(hits.nonzero()[0]))
    return [fine[a:b + 1] for a, b in zip(where[:-1], where[1:])]


def student_sampling(cfg: DistillConfig) -> dict:
    """What a student distilled with `cfg` records of its sampling and adapters (model/student.StudentSpec
    fields, all but the teacher's fingerprint)."""
    return {"steps": cfg.steps, "time_grid": [round(float(t), 6) for t in student_grid(cfg)],
            "cfg_strength": cfg.cfg_strength, "cfg_strength_motion": cfg.cfg_strength_motion,
            "lora_rank": cfg.lora_rank, "lora_alpha": float(cfg.lora_rank)}


def check_config(cfg: DistillConfig) -> None:
    if not 1 <= cfg.steps <= 16:
        raise UserError(f"distill.steps: expected 1..16, got {cfg.steps}")
    if cfg.lora_rank < 1:
        raise UserError(f"distill.lora_rank: expected >= 1, got {cfg.lora_rank}")
    teacher_segments(cfg)
    if cfg.init_adapters is not None:
        check_init_adapters(cfg)


def check_init_adapters(cfg: DistillConfig) -> None:
    """A student to train on from must have been distilled for the same sampling and adapter rank."""
    from jamflow.model.student import read_student

    try:
        spec = read_student(cfg.init_adapters)
    except UserError as e:
        raise UserError(f"distill.init_adapters: {str(e).removeprefix('student: ')}") from None
    for key, value in student_sampling(cfg).items():
        got = getattr(spec, key)
        same = (all(abs(a - b) < 1e-5 for a, b in zip(got, value)) and len(got) == len(value)
                if key == "time_grid" else got == value)
        if not same:
            raise UserError(f"distill.init_adapters: expected a student with {key} {value!r} (this run's "
                            f"distill settings), got {got!r} in {cfg.init_adapters}")


def distill_loss(view, model, batch: dict, mask_cfg, cfg: DistillConfig, generator: torch.Generator) -> dict:
    """The student's loss on one batch (same keys as cfm_loss's batch).

    view: what the gradient-carrying call goes through (the DDP wrapper in training); model: the bare
    JAMModel with adapters. Dropout is off in every call: the targets are deterministic.
    """
    model.eval()
    mel, mel_lens, text = batch["mel"], batch["mel_lens"], batch["text"]
    b, n, _ = mel.shape
    motion = batch.get("motion") if model.motion is not None else None
    motion_lens = batch.get("motion_lens") if motion is not None else None
    m = motion.shape[1] if motion is not None else 0
    audio_unknown, motion_unknown, _ = sample_masks(mel_lens, motion_lens, n, m, mask_cfg, model.cfg.mel_per_motion,
                                                    generator)
    with torch.no_grad():
        problems = {w: SamplingProblem.build(
            model, text, mel, ~audio_unknown, motion, None if motion is None else ~motion_unknown,
            batch.get("motion_context"), mel_lens, motion_lens, batch.get("text_index"), cfg_strength=w,
            cfg_strength_motion=None if w == 0 else cfg.cfg_strength_motion) for w in (0.0, cfg.cfg_strength)}
    grid, segments = student_grid(cfg), teacher_segments(cfg)
    segment = int(_rand(generator, 1) * cfg.steps)
    x_a, x_m = _start_state(model, problems[0.0], batch, grid, segment, cfg.rollout, generator)
    t0, t1 = float(grid[segment]), float(grid[segment + 1])
    with torch.no_grad(), adapters_off(model):
        end_a, end_m = _euler(model, problems[cfg.cfg_strength], segments[segment], x_a, x_m)
    time = torch.full((b,), t0, device=mel.device)
    v_a, v_m = view(audio_x=x_a, time=time, motion_x=x_m, **problems[0.0].inputs)
    loss_audio = _masked_mse(v_a.float(), (end_a - x_a) / (t1 - t0), audio_unknown)
    loss_motion = v_a.sum() * 0
    if motion is not None:
        loss_motion = _masked_mse(v_m.float(), (end_m - x_m) / (t1 - t0), motion_unknown)
    loss = mask_cfg.audio_loss_weight * loss_audio + mask_cfg.motion_loss_weight * loss_motion
    return {"loss": loss, "loss_audio": loss_audio.detach(), "loss_motion": loss_motion.detach(), "segment": segment}


def _euler(model, problem: SamplingProblem, times: torch.Tensor, x_a, x_m):
    """Euler over `times` with the model's guided velocity (fp32 state) -> (audio, motion or None)."""
    for t0, t1 in zip(times[:-1].tolist(), times[1:].tolist()):
        v_a, v_m = model.guided_velocity(problem, t0, x_a, x_m)
        x_a = x_a + v_a.float() * (t1 - t0)
        if x_m is not None:
            x_m = x_m + v_m.float() * (t1 - t0)
    return x_a, x_m


def _start_state(model, problem: SamplingProblem, batch: dict, grid, segment: int, rollout: bool, generator):
    """The state at the start of `segment` -> (audio [b, n, 100], motion [b, m, dg] or None): noise run
    through the student's own first steps, or (rollout False) the flow-matching path at that time."""
    mel = batch["mel"]
    noise_a = torch.randn(mel.shape, generator=generator).to(mel.device)
    noise_m = None
    if problem.with_motion:
        noise_m = torch.randn(batch["motion"].shape, generator=generator).to(mel.device)
    if rollout:
        with torch.no_grad():
            return _euler(model, problem, grid[:segment + 1], noise_a, noise_m)
    t = float(grid[segment])
    x_a = (1 - t) * noise_a + t * mel
    x_m = None if noise_m is None else (1 - t) * noise_m + t * batch["motion"]
    return x_a, x_m

