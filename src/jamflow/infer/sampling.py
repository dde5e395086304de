"""Jobs -> the flow sampler -> per job the mel [n, 100] and the normalised generated motion [m, dg].

`generate` pads a batch of jobs to the longest, lays the text out over the frames (a model with a
durations table: `layout.encode_with_durations`), runs `model.sampler.sample` under autocast in the compute
dtype (the weights stay fp32) and unpads the results, known frames pasted back by the sampler.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from jamflow.dtypes import autocast
from jamflow.errors import UserError
from jamflow.infer.jobs import Job
from jamflow.infer.layout.tokens import encode_with_durations
from jamflow.infer.settings import InferSettings
from jamflow.infer.timbre import match_known_spectrum
from jamflow.model.sampler import sample


@dataclass
class JobResult:
    mel: torch.Tensor  # [n, 100]
    motion: torch.Tensor | None  # [m, dg] normalised


def generate(model, jobs: list[Job], settings: InferSettings, tokenizer, device=None, dtype=None,
             progress: bool = False) -> list[JobResult]:
    """Run the sampler on a batch of jobs (padded to the longest) and unpad the results."""
    device = device or next(model.parameters()).device
    dtype = dtype or next(model.parameters()).dtype
    b = len(jobs)
    n = max(j.mel_len for j in jobs)
    m = max(j.frames for j in jobs)
    has_motion = jobs[0].motion is not None

    mel = torch.zeros(b, n, 100)
    audio_known = torch.zeros(b, n, dtype=torch.bool)
    for i, j in enumerate(jobs):
        mel[i, : j.mel_len] = j.mel
        audio_known[i, : j.mel_len] = j.audio_known
    table = model.cfg.audio.text_durations
    if table is None:
        text, index = encode_texts(tokenizer, [j.text for j in jobs]), None
    else:
        text, index = encode_with_durations(model, tokenizer, jobs, n, table)
    vocab = model.cfg.audio.text_num_embeds
    if int(text.max()) >= vocab:
        raise UserError(f"ckpt: expected the {getattr(tokenizer, 'name', '')!s} tokenizer's ids to fit the model's "
                        f"{vocab}-token text vocabulary, got id {int(text.max())} (tokenizer/checkpoint mismatch)")

    kw = {}
    if has_motion:
        dg, dc = jobs[0].motion.shape[1], jobs[0].context.shape[1]
        motion = torch.zeros(b, m, dg)
        motion_known = torch.zeros(b, m, dtype=torch.bool)
        context = torch.zeros(b, m, dc)
        for i, j in enumerate(jobs):
            motion[i, : j.frames] = j.motion
            motion_known[i, : j.frames] = j.motion_known
            context[i, : j.frames] = j.context
        kw = dict(motion_cond=motion.to(device), motion_known=motion_known,
                  motion_context=context.to(device),
                  motion_lens=torch.tensor([j.frames for j in jobs]))
    if index is not None:
        kw["text_index"] = index
    if settings.cfg_strength_motion is not None and settings.cfg_strength_motion != settings.cfg_strength:
        kw["cfg_strength_motion"] = settings.cfg_strength_motion

    student = getattr(model, "student", None)
    if student is not None:  # a distilled student samples on its own grid, its guidance baked in
        settings = replace(settings, cfg_strength=0.0, ode_method="euler")
        kw.update(time_grid=torch.tensor(student.time_grid), cfg_strength_motion=None)
    # weights stay fp32; on CUDA the half-precision compute comes from autocast (sampler noise is fp32)
    with autocast(device, dtype):
        out_mel, out_motion = _sample(model, text, mel, audio_known, jobs, settings, device, dict(kw, progress=progress))
    results = []
    for i, j in enumerate(jobs):
        mo = out_motion[i, : j.frames].float().cpu() if (has_motion and out_motion is not None) else None
        mel_i = out_mel[i, : j.mel_len].float().cpu()
        if settings.timbre_match:
            mel_i = match_known_spectrum(mel_i, j.audio_known, settings.timbre_match)
        results.append(JobResult(mel_i, mo))
    return results


def encode_texts(tokenizer, texts: list[str]) -> torch.Tensor:
    """Token ids [b, nt], padded with -1 (F5 convention); an empty text becomes one filler token."""
    ids = [list(tokenizer.encode(t)) if t else [] for t in texts]
    nt = max(1, max(len(x) for x in ids))
    out = torch.full((len(ids), nt), -1, dtype=torch.long)
    for i, x in enumerate(ids):
        if x:
            out[i, : len(x)] = torch.as_tensor(x, dtype=torch.long)
    return out


def _sample(model, text, mel, audio_known, jobs, settings, device, kw):
    return sample(
        model,
        text=text,
        mel_cond=mel.to(device),
        mel_known=audio_known,
        mel_lens=torch.tensor([j.mel_len for j in jobs]),
        nfe_step=settings.nfe_step,
        cfg_strength=settings.cfg_strength,
        cfg_until=settings.cfg_until,
        sway_sampling_coef=settings.sway_sampling_coef,
        method=settings.ode_method,
        seed=settings.seed,
        **kw,
    )
