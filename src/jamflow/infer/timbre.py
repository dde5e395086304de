"""Timbre match: pull the generated speech's long-term spectrum towards the known audio's.

A small model trained on few voices clones a new one only roughly: on the held-out voice the shipped
model's speech sat nearer a seen voice than the prompt's (resemblyzer 0.82 against 0.61). The log-mel
averaged over speech frames (the long-term average spectrum) carries much of a voice's colour, so the
generated frames get a per-band shift of `strength` times the difference between the known audio's
mean and their own: 0 leaves them alone, 1 gives them the prompt's average spectrum. Phonetic detail,
timing and loudness contour are untouched; only the spectral tilt and formant region averages move.
"""
from __future__ import annotations

import torch

from jamflow.audio.mel import speech_frames

MIN_FRAMES = 20  # ~0.2 s of speech on either side, else the averages are too noisy to match


def match_known_spectrum(mel: torch.Tensor, known: torch.Tensor, strength: float) -> torch.Tensor:
    """mel [n, d] log-mel with known frames [n] bool -> mel with the unknown frames shifted per band."""
    if strength == 0 or known.all() or not known.any():
        return mel
    ref, gen = speech_frames(mel[known]), speech_frames(mel[~known])
    if len(ref) < MIN_FRAMES or len(gen) < MIN_FRAMES:
        return mel
    out = mel.clone()
    out[~known] = mel[~known] + strength * (ref.mean(0) - gen.mean(0))
    return out
