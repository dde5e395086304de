"""Conditional flow matching: task masks, condition dropout and the loss.

Per sample: x_t = (1 - t) x0 + t x1 for both streams with one shared t ~ U(0, 1), target x1 - x0,
MSE over the unknown, valid frames of each stream. The known-frame condition is the clean data
where known and 0 elsewhere (F5's convention). One model learns every task because each sample
draws a task that decides which frames are known:

    joint            one time span unknown in both streams (everything else known: the time-aligned
                     prefix/suffix is the reference); tts / talk / edit
    audio_to_motion  audio fully known, a motion span unknown; animate
    motion_to_audio  motion fully known, an audio span unknown; dub
    independent      separate spans per stream
    text_only        nothing known in either stream (no audio prefix)

Time alignment: a motion frame k sits at mel position k * mel_fps / motion_fps; in the joint task
it is unknown iff that position falls inside the unknown mel span [s, e).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from jamflow.errors import UserError
from jamflow.motion.spec import POSE

TASKS = ("joint", "audio_to_motion", "motion_to_audio", "independent", "text_only")  # index = task code
JOINT, AUDIO_TO_MOTION, MOTION_TO_AUDIO, INDEPENDENT, TEXT_ONLY = range(len(TASKS))


@dataclass
class MaskConfig:
    # task probabilities (normalised); samples without motion use only span / text_only
    p_joint: float = 0.4
    p_audio_to_motion: float = 0.2
    p_motion_to_audio: float = 0.15
    p_independent: float = 0.15
    p_text_only: float = 0.1
    frac_lengths: tuple[float, float] = (0.7, 1.0)  # unknown span as a fraction of the length (F5)
    # condition dropout for CFG, drawn per sample: "all" drops text + audio + motion conditions
    p_drop_all: float = 0.2
    p_drop_audio_cond: float = 0.3
    p_drop_motion_cond: float = 0.3
    p_drop_text: float = 0.0
    # per-stream loss weights
    audio_loss_weight: float = 1.0
    motion_loss_weight: float = 1.0
    # head pose's (pitch, yaw, roll) weight against the other generated motion channels, renormalised
    # so the channels' mean weight stays 1: 3 of the `full` spec's 70 channels otherwise get 4% of it
    pose_loss_weight: float = 1.0

    def task_probs(self) -> torch.Tensor:
        p = torch.tensor([self.p_joint, self.p_audio_to_motion, self.p_motion_to_audio, self.p_independent,
                          self.p_text_only], dtype=torch.float64)
        if (p < 0).any() or p.sum() <= 0:
            raise UserError(f"mask config: expected non-negative task probabilities with a positive sum, got {p.tolist()}")
        return p / p.sum()


def lens_to_mask(lens: torch.Tensor, length: int) -> torch.Tensor:
    """lens [b] -> [b, length] bool, True for the first lens[i] frames."""
    return torch.arange(length, device=lens.device)[None, :] < lens[:, None]


def _rand(generator, *shape) -> torch.Tensor:
    return torch.rand(*shape, generator=generator)


def random_span(lens: torch.Tensor, frac: tuple[float, float], generator=None) -> tuple[torch.Tensor, torch.Tensor]:
    """One contiguous span per sample of frac * len frames at a uniform start -> (start [b], end [b])."""
    lo, hi = frac
    f = lo + (hi - lo) * _rand(generator, lens.shape[0])
    length = (f * lens.float().cpu()).long()
    start = (_rand(generator, lens.shape[0]) * (lens.cpu() - length).clamp(min=0).float()).long()
    return start.to(lens.device), (start + length).to(lens.device)


def span_to_mask(start, end, length: int, positions: torch.Tensor | None = None) -> torch.Tensor:
    """-> [b, length] bool, True where position in [start, end); positions default 0..length-1."""
    pos = torch.arange(length, device=start.device).float() if positions is None else positions
    return (pos[None, :] >= start[:, None].float()) & (pos[None, :] < end[:, None].float())


def sample_masks(mel_lens, motion_lens, n: int, m: int, cfg: MaskConfig, mel_per_motion: float, generator=None):
    """Draw a task per sample -> (audio_unknown [b, n], motion_unknown [b, m] or None, tasks [b] int).

    Unknown = to be generated (loss is taken there); known frames feed the condition.
    """
    b = mel_lens.shape[0]
    device = mel_lens.device
    audio_valid = lens_to_mask(mel_lens, n)
    probs = cfg.task_probs()
    if motion_lens is None:
        # audio-only data: a span (any motion-bearing task reduces to it) or text-only
        p_text = float(probs[TEXT_ONLY])
        tasks = torch.where(_rand(generator, b) < p_text, TEXT_ONLY, JOINT)
    else:
        tasks = torch.multinomial(probs.float(), b, replacement=True, generator=generator)
    tasks = tasks.to(device)

    a_start, a_end = random_span(mel_lens, cfg.frac_lengths, generator)
    audio_span = span_to_mask(a_start, a_end, n)
    all_true = torch.ones(b, n, dtype=torch.bool, device=device)
    none = torch.zeros(b, n, dtype=torch.bool, device=device)
    audio_unknown = torch.where((tasks == AUDIO_TO_MOTION)[:, None], none, audio_span)  # audio all known
    audio_unknown = torch.where((tasks == TEXT_ONLY)[:, None], all_true, audio_unknown)
    audio_unknown &= audio_valid
    if motion_lens is None:
        return audio_unknown, None, tasks

    motion_valid = lens_to_mask(motion_lens, m)
    m_start, m_end = random_span(motion_lens, cfg.frac_lengths, generator)
    own_span = span_to_mask(m_start, m_end, m)
    aligned = span_to_mask(a_start, a_end, m, torch.arange(m, device=device).float() * mel_per_motion)
    m_all = torch.ones(b, m, dtype=torch.bool, device=device)
    m_none = torch.zeros(b, m, dtype=torch.bool, device=device)
    choice = torch.stack((aligned, own_span, m_none, own_span, m_all), dim=1)  # [b, 5, m], rows in TASKS order
    motion_unknown = choice[torch.arange(b, device=device), tasks] & motion_valid
    return audio_unknown, motion_unknown, tasks


def sample_dropout(b: int, cfg: MaskConfig, generator=None, device=None):
    """Per-sample CFG dropout flags -> dict(drop_text, drop_audio_cond, drop_motion_cond), bool [b]."""
    drop_all = _rand(generator, b) < cfg.p_drop_all
    flags = {
        "drop_audio_cond": (_rand(generator, b) < cfg.p_drop_audio_cond) | drop_all,
        "drop_motion_cond": (_rand(generator, b) < cfg.p_drop_motion_cond) | drop_all,
        "drop_text": (_rand(generator, b) < cfg.p_drop_text) | drop_all,
    }
    return {k: v.to(device) for k, v in flags.items()}


def _masked_mse(pred, target, where, channel_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error over the frames where `where` [b, n] is True (0 with a graph if none);
    channel_weight [d] (mean 1) weighs the last dimension."""
    err = (pred - target) ** 2
    if channel_weight is not None:
        err = err * channel_weight.to(err)
    count = where.sum() * pred.shape[-1]
    if count == 0:
        return (err * 0).sum()
    return (err * where[..., None]).sum() / count


def motion_channel_weights(spec, pose_weight: float) -> torch.Tensor | None:
    """-> [gen_dim] weights with mean 1, `pose_weight` times as large on head-pose channels; None when
    uniform (the weight is 1 or the spec generates no head pose)."""
    pose = [i in range(POSE.start, POSE.stop) for i in spec.generate]
    if pose_weight == 1.0 or not any(pose):
        return None
    w = torch.tensor([pose_weight if p else 1.0 for p in pose])
    return w / w.mean()


def cfm_loss(model, batch: dict, mask_cfg: MaskConfig | None = None, generator: torch.Generator | None = None) -> dict:
    """Flow-matching loss over a batch dict.

    batch: mel [b, n, 100], mel_lens [b], text [b, nt] (-1 pad), and for audio+motion data also
    motion [b, m, dg], motion_context [b, m, dc] (optional when dc = 0), motion_lens [b]; text_index
    [b, n] when the text is laid out by durations.
    generator: a CPU torch.Generator for the mask / time / noise draws (reproducible steps).
    -> dict(loss (with graph), loss_audio, loss_motion (detached), plus the drawn masks for logging).
    """
    cfg = mask_cfg or MaskConfig()
    mel, mel_lens, text = batch["mel"], batch["mel_lens"], batch["text"]
    b, n, _ = mel.shape
    device = mel.device
    motion = batch.get("motion") if getattr(model, "motion", None) is not None else None
    motion_lens = batch.get("motion_lens") if motion is not None else None
    if motion is not None and motion_lens is None:
        raise UserError("batch: expected motion_lens with motion")
    m = motion.shape[1] if motion is not None else 0
    mel_per_motion = model.cfg.mel_per_motion

    audio_unknown, motion_unknown, tasks = sample_masks(
        mel_lens, motion_lens, n, m, cfg, mel_per_motion, generator)
    drops = sample_dropout(b, cfg, generator, device)

    t = _rand(generator, b).to(device=device, dtype=mel.dtype)
    noise_a = torch.randn(mel.shape, generator=generator).to(device=device, dtype=mel.dtype)
    x_a = (1 - t[:, None, None]) * noise_a + t[:, None, None] * mel
    cond_a = torch.where(audio_unknown[..., None], torch.zeros_like(mel), mel)
    audio_valid = lens_to_mask(mel_lens, n)

    kwargs = {}
    if motion is not None:
        noise_m = torch.randn(motion.shape, generator=generator).to(device=device, dtype=motion.dtype)
        x_m = (1 - t[:, None, None]) * noise_m + t[:, None, None] * motion
        cond_m = torch.where(motion_unknown[..., None], torch.zeros_like(motion), motion)
        kwargs = dict(motion_x=x_m, motion_cond=cond_m, motion_context=batch.get("motion_context"),
                      motion_mask=lens_to_mask(motion_lens, m))

    v_a, v_m = model(x_a, cond_a, text, t, audio_mask=audio_valid, text_index=batch.get("text_index"), **kwargs, **drops)
    loss_audio = _masked_mse(v_a, mel - noise_a, audio_unknown)
    if motion is not None:
        weights = motion_channel_weights(model.cfg.spec, cfg.pose_loss_weight)
        loss_motion = _masked_mse(v_m, motion - noise_m, motion_unknown, weights)
    else:
        loss_motion = v_a.sum() * 0
    loss = cfg.audio_loss_weight * loss_audio + cfg.motion_loss_weight * loss_motion
    return {"loss": loss, "loss_audio": loss_audio.detach(), "loss_motion": loss_motion.detach(),
            "audio_unknown": audio_unknown, "motion_unknown": motion_unknown, "tasks": tasks, **drops}
