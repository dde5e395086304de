"""Every task is one masked-inpainting problem on a shared timeline; this module builds it and solves it.

A `Job` is a timeline of m motion frames (n = mel_frames_for(m) = floor(3.75 m + 1/2) mel frames) with, per stream, what is
known (condition) and what is to be generated:

    task       audio known               motion known
    tts/talk   reference prefix          reference prefix (if any)
    animate    everything                carried-over window prefix (if any)
    dub        reference voice prefix    the given motion (after the prefix)
    edit       outside the chosen spans  outside the chosen spans

`generate(model, jobs, settings)` batches jobs, runs the flow sampler and returns, per job, the full
mel [n, 100] and normalised generated motion channels [m, dg] with known frames pasted back.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from jamflow.dtypes import autocast
from jamflow.errors import UserError
from jamflow.infer.settings import SAMPLES_PER_MOTION, InferSettings
from jamflow.motion.spec import mel_frames_for


def mel_frames(motion_frames: int) -> int:
    """Mel frames spanned by m motion frames: the same rule as training data (half rounds up)."""
    return mel_frames_for(motion_frames)


@dataclass
class Job:
    text: str  # transcript of the whole timeline (prompt text + new text); "" = no text
    frames: int  # m motion frames
    mel: torch.Tensor  # [n, 100] known log-mel (zeros where unknown)
    audio_known: torch.Tensor  # [n] bool
    motion: torch.Tensor | None  # [m, dg] normalised known motion (zeros where unknown)
    motion_known: torch.Tensor | None  # [m] bool
    context: torch.Tensor | None  # [m, dc] normalised context channels
    # (text, mel frames) of consecutive parts of the timeline, e.g. the prompt then the new text: a
    # model that lays text out by durations places each part's phonemes in its own frames.
    # None = the whole text over the whole timeline.
    parts: tuple[tuple[str, int], ...] | None = None
    # durations [nt + 2] (lead silence, per token, trail silence; mel frames) of the last part, when
    # known from elsewhere (dub: the given lips), instead of the model's mean-duration table
    last_durations: np.ndarray | None = None

    @property
    def mel_len(self) -> int:
        return mel_frames(self.frames)


def make_job(text: str, frames: int, *, mel=None, audio_known=None, motion=None, motion_known=None,
             context=None, gen_dim: int = 0, context_dim: int = 0, prompt: tuple[str, int] | None = None) -> Job:
    """Fill the parts a task does not give: unknown audio/motion (zeros), neutral context (zeros =
    the dataset mean after normalisation). prompt: (its text, its motion frames) when `text` is that
    text followed by the new one."""
    n = mel_frames(frames)
    parts = None
    if prompt is not None and prompt[1] and prompt[0]:
        p_text, p_frames = prompt
        rest = text[len(p_text):].strip()
        if not text.startswith(p_text) or not rest:
            raise ValueError("make_job: the text must be the prompt's text followed by new text")
        parts = ((p_text, mel_frames(p_frames)), (rest, n - mel_frames(p_frames)))
    if mel is None:
        mel = torch.zeros(n, 100)
        audio_known = torch.zeros(n, dtype=torch.bool)
    mel = _fit(mel, n)
    audio_known = _fit(audio_known, n)
    if gen_dim:
        if motion is None:
            motion = torch.zeros(frames, gen_dim)
            motion_known = torch.zeros(frames, dtype=torch.bool)
        motion, motion_known = _fit(motion, frames), _fit(motion_known, frames)
        context = torch.zeros(frames, context_dim) if context is None else _fit(context, frames)
    else:
        motion = motion_known = context = None
    return Job(text, frames, mel, audio_known, motion, motion_known, context, parts)


def _fit(x: torch.Tensor, length: int) -> torch.Tensor:
    """Cut or zero-pad (False-pad for masks) along time to `length`."""
    x = torch.as_tensor(x)
    if len(x) >= length:
        return x[:length]
    pad = x.new_zeros((length - len(x),) + tuple(x.shape[1:]))
    return torch.cat([x, pad])


# --------------------------------------------------------------------------------------------
# reference audio -> mel, aligned on motion frames


def ref_to_mel(wav: np.ndarray) -> tuple[torch.Tensor, int]:
    """wav [s] at 24 kHz -> (log-mel [n, 100], m motion frames), cut to whole motion frames."""
    from jamflow.audio.mel import mel_spectrogram

    m = len(wav) // SAMPLES_PER_MOTION
    if m < 1:
        raise UserError(f"ref_audio: expected at least 40 ms of audio, got {len(wav)} samples")
    wav = torch.as_tensor(np.ascontiguousarray(wav[: m * SAMPLES_PER_MOTION]), dtype=torch.float32)
    mel = mel_spectrogram(wav[None])[0].transpose(0, 1)  # [n', 100]
    return _fit(mel, mel_frames(m)), m


# --------------------------------------------------------------------------------------------
# sampling


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

    # weights stay fp32; on CUDA the half-precision compute comes from autocast (sampler noise is fp32)
    with autocast(device, dtype):
        out_mel, out_motion = _sample(model, text, mel, audio_known, jobs, settings, device, dict(kw, progress=progress))
    results = []
    for i, j in enumerate(jobs):
        mo = out_motion[i, : j.frames].float().cpu() if (has_motion and out_motion is not None) else None
        mel_i = out_mel[i, : j.mel_len].float().cpu()
        if settings.timbre_match:
            from jamflow.infer.timbre import match_known_spectrum

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


def known_voice(job: Job) -> torch.Tensor | None:
    """The duration predictor's voice vector [200] of a job's known audio (None: no audio is known)."""
    from jamflow.model.duration_predictor import voice_features

    known = job.mel[job.audio_known]
    return voice_features(known) if len(known) else None


def encode_with_durations(model, tokenizer, jobs: list[Job], n: int, table: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """-> token ids [b, nt] (-1 padded) and text index [b, n]: each part's phonemes spread over its own
    frames in proportion to the durations the model's predictor gives them in the voice of the known
    audio (without a predictor: the mean-duration table); a prompt's trailing silence is the pause
    before the new text, so a part after it starts speaking at once."""
    from jamflow.model.durations import text_index_for

    predictor = getattr(model, "duration_predictor", None)
    ids, index = [], torch.full((len(jobs), n), -1, dtype=torch.long)
    for i, j in enumerate(jobs):
        parts = j.parts or ((j.text, j.mel_len),)
        pieces = [(list(tokenizer.encode(t)) if t else [], f) for t, f in parts]
        ids.append([t for p, _ in pieces for t in p])
        given = j.last_durations
        if given is not None and not (len(given) == len(pieces[-1][0]) + 2 and int(np.sum(given)) == pieces[-1][1]):
            given = None
        voice = known_voice(j) if predictor is not None else None
        spec = []
        for k, (p, f) in enumerate(pieces):
            if given is not None and k == len(pieces) - 1:
                spec.append((p, f, k == 0, True, given, None))
            else:
                spec.append((p, f, k == 0, True, None, predictor.frames(p, voice) if predictor is not None else None))
        index[i, : j.mel_len] = text_index_for(table, spec, j.mel_len)
    nt = max(1, max(len(x) for x in ids))
    text = torch.full((len(jobs), nt), -1, dtype=torch.long)
    for i, x in enumerate(ids):
        text[i, : len(x)] = torch.as_tensor(x, dtype=torch.long)
    return text, index


def _sample(model, text, mel, audio_known, jobs, settings, device, kw):
    from jamflow.model.sampler import sample

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
