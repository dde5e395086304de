"""Which mel frames speak which token: the text index the sampler lays a job's text out with.

A model with a durations table (`audio.text_durations`) shows every mel frame the token it speaks
(jamflow.model.durations). Each part of a job's text (the prompt's, then the new one) is spread over
its own frames in proportion to the durations the model's duration predictor gives its tokens in the
voice of the known audio (`known_voice`), or to the table's means without a predictor; dub gives the
last part's durations from the lips (`Job.last_durations`, layout.lips), animate those the model's phone
aligner finds in the given audio (`aligned_durations`, infer/stream_animate.py): the layout the model
was trained on. A voice prompt's text keeps the predicted layout: aligned, talk's word error on the
seen-voice dev set rose from 0.208 to 0.244. A model without a table spreads the tokens evenly (F5),
which `token_start_frames` follows too.
"""
from __future__ import annotations

import numpy as np
import torch

from jamflow.infer.jobs import Job
from jamflow.model.duration_predictor import voice_features
from jamflow.model.durations import text_index_for

DIGITAL_SILENCE = -11.0  # log-mel of a zero signal is log(1e-5) = -11.5 in every band


def known_voice(job: Job) -> torch.Tensor | None:
    """The duration predictor's voice vector [200] of a job's known audio (None: no audio is known)."""
    known = job.mel[job.audio_known]
    return voice_features(known) if len(known) else None


def encode_with_durations(model, tokenizer, jobs: list[Job], n: int, table: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """-> token ids [b, nt] (-1 padded) and text index [b, n]: each part's phonemes spread over its own
    frames in proportion to the durations the model's predictor gives them in the voice of the known
    audio (without a predictor: the mean-duration table); a prompt's trailing silence is the pause
    before the new text, so a part after it starts speaking at once."""
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


def aligned_durations(model, ids: list[int], mel: torch.Tensor) -> np.ndarray | None:
    """Durations [nt + 2] of the tokens `ids` where the audio of log-mel `mel` [n, 100] speaks them: the
    model's phone aligner (audio.phone_align) over the frames up to the last that is not digital silence
    (a window's zero padding), those after it added to the trailing silence. None without an aligner,
    or when the tokens do not fit the audio."""
    aligner = getattr(model, "phone_aligner", None)
    if aligner is None or not len(ids):
        return None
    mel = mel.float().numpy()
    sound = np.nonzero(mel.max(1) > DIGITAL_SILENCE)[0]
    spoken = int(sound[-1]) + 1 if len(sound) else 0
    durations = aligner.align(ids, mel[:spoken])
    if durations is not None:
        durations[-1] += len(mel) - spoken
    return durations


def token_start_frames(model, tokenizer, job: Job, tokens: int) -> np.ndarray:
    """[tokens] the first mel frame of each token of the job's text (all parts, in order)."""
    table = model.cfg.audio.text_durations
    if table is not None:
        _, index = encode_with_durations(model, tokenizer, [job], job.mel_len, table)
        index = index[0].numpy()
        starts = np.full(tokens, job.mel_len, np.int64)
        for frame in range(len(index) - 1, -1, -1):  # first frame of each token position
            if 0 <= index[frame] < tokens:
                starts[index[frame]] = frame
        return np.minimum.accumulate(starts[::-1])[::-1]  # a token with no frame starts where the next does
    starts, offset = [], 0
    for text, frames in job.parts or ((job.text, job.mel_len),):
        n = len(tokenizer.encode(text)) if text else 0
        starts += [offset + frames * k / max(n, 1) for k in range(n)]
        offset += frames
    return np.asarray(starts)
