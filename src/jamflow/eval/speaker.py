"""Voice similarity: cosine of resemblyzer speaker embeddings (its 17 MB encoder ships in the wheel).

A similarity number means little alone, so reports put it between two yardsticks measured with the
same encoder on real clips: the *ceiling* (two different clips of the same speaker) and the *floor*
(clips of different speakers). Zero-shot cloning is good when generated-vs-reference sits near the
ceiling and far above the floor.
"""
from __future__ import annotations

import functools
import itertools
import warnings

import numpy as np

from jamflow.audio.asr import resample
from jamflow.errors import UserError


@functools.lru_cache(maxsize=1)
def _encoder():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # resemblyzer's webrtcvad imports the deprecated pkg_resources
        try:
            from resemblyzer import VoiceEncoder
        except ImportError as e:
            raise UserError(f"speaker similarity: needs `pip install resemblyzer 'setuptools<81'` ({e})") from None
    return VoiceEncoder(device="cpu", verbose=False)


def speaker_embedding(wav, sample_rate: int) -> np.ndarray:
    """Mono waveform [samples] -> unit-norm speaker embedding [256]."""
    from resemblyzer import preprocess_wav

    wav = np.asarray(wav, dtype=np.float32).reshape(-1)
    if wav.size < sample_rate // 4:
        raise UserError(f"wav: expected at least 0.25 s of audio for a speaker embedding, got {wav.size / sample_rate:.3f} s")
    # preprocess = resample to 16 kHz, loudness-normalise and cut long silences (the encoder's training setup)
    clean = preprocess_wav(wav, source_sr=sample_rate)
    if clean.size < 1600:  # all silence: embed the raw audio rather than nothing
        clean = resample(wav, sample_rate, 16000)
    return _encoder().embed_utterance(clean).astype(np.float32)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def speaker_similarity(wav_a, sr_a: int, wav_b, sr_b: int) -> float:
    return cosine(speaker_embedding(wav_a, sr_a), speaker_embedding(wav_b, sr_b))


def similarity_bounds(embeddings: dict[str, list[np.ndarray]], max_pairs: int = 200) -> dict:
    """Same-speaker ceiling and different-speaker floor from real clips grouped by speaker.

    embeddings: speaker -> list of embeddings of *different* clips. Returns mean/std/count of cosine
    over same-speaker pairs (ceiling) and cross-speaker pairs (floor); NaN where no pair exists.
    """
    same = [cosine(a, b) for embs in embeddings.values() for a, b in itertools.combinations(embs, 2)]
    cross = [
        cosine(a, b)
        for s1, s2 in itertools.combinations(sorted(embeddings), 2)
        for a in embeddings[s1]
        for b in embeddings[s2]
    ]
    # keep an evenly spaced subset, so a cap never favours the first speakers in sort order
    same, cross = (v if len(v) <= max_pairs else [v[int(i)] for i in np.linspace(0, len(v) - 1, max_pairs)]
                   for v in (same, cross))

    def stats(v):
        return {"mean": float(np.mean(v)) if v else float("nan"), "std": float(np.std(v)) if v else float("nan"), "pairs": len(v)}

    return {"ceiling": stats(same), "floor": stats(cross)}
