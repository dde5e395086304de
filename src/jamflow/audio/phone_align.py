"""Forced alignment of a transcript's tokens to speech: the Viterbi core `jamflow align` fits a corpus
with (data/align.py), and the fitted means (PhoneAligner) that inference lays a known audio's
transcript out with.

A clip is a left-to-right chain of states: leading silence, its tokens, trailing silence. Phone
letters take at least one mel frame; the rest (word spaces, stress and length marks, punctuation) and
both silences may take none. A frame's emission is a Gaussian over per-clip normalised log-mel with
one diagonal variance and a mean per (voice group, state).

Why inference needs it: the model was trained on text laid out by these alignments (each mel frame is
shown the token it speaks). When the audio is given (animate), the model's duration predictor only
guesses where each token falls; the mouth follows the text layout closely, so a guessed layout moves
the lips off the voice. Aligning the transcript to the given audio shows the model the layout it was
trained on. On the seen-voice eval set (animate, three seeds) lips in sync within +-1 frame rise from
90% to 100% with the corpus's own alignments (docs/model_card.md has the figures of this aligner).
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jamflow.errors import UserError

ALIGNER_NAME = "aligner.safetensors"  # beside model.safetensors in a checkpoint folder
NEG = -1e30
LOGLIK_FRAMES = 128


def is_phone(token: str) -> bool:
    """A token that is a sound of its own (an IPA letter), not a mark on one or a pause."""
    return len(token) == 1 and unicodedata.category(token) in ("Ll", "Lo") and token not in "ˈˌːˑ"


def normalise(mel: np.ndarray) -> np.ndarray:
    """Per-clip mean/variance normalised log-mel [T, 100]: voices differ less."""
    return (mel - mel.mean(0)) / (mel.std(0) + 1e-3)


def clip_states(text: np.ndarray, vocab_size: int) -> np.ndarray:
    """Token ids [nt] -> the chain's states [nt + 2]: silence (= vocab_size), the tokens, silence."""
    return np.concatenate([[vocab_size], np.asarray(text, dtype=np.int64), [vocab_size]])


def path_to_durations(path: np.ndarray, states: int) -> np.ndarray:
    return np.bincount(path, minlength=states).astype(np.int64)


def viterbi(loglik: np.ndarray, skippable: np.ndarray) -> np.ndarray:
    """Best monotonic path. loglik [T, S], skippable [S] bool -> state of each frame [T].

    States are visited in order; a state may be jumped over only if it is skippable; every frame
    belongs to one state. A path starts in a state reachable by skipping only and ends likewise.
    """
    return viterbi_scored(loglik, skippable)[0]


def viterbi_scored(loglik: np.ndarray, skippable: np.ndarray) -> tuple[np.ndarray, float]:
    """`viterbi`, and the total log-likelihood of the path it returns."""
    T, S = loglik.shape
    hard = ~skippable
    if hard.sum() > T:
        raise ValueError(f"{int(hard.sum())} phones do not fit in {T} frames")
    # a state s is entered from any of [start[s - 1], s - 1]: back to the last phone, skippables between
    start = np.maximum.accumulate(np.where(hard, np.arange(S), 0))
    segment = np.cumsum(hard)
    big = 1e12 * segment  # segmented running maximum via an offset per segment
    first_hard = int(np.argmax(hard)) if hard.any() else S - 1
    last_hard = S - 1 - int(np.argmax(hard[::-1])) if hard.any() else 0
    dp = np.full((T, S), NEG)
    dp[0, : first_hard + 1] = loglik[0, : first_hard + 1]
    for t in range(1, T):
        prev = dp[t - 1]
        run = np.maximum.accumulate(prev + big) - big  # max of prev over [start[s], s]
        enter = np.full(S, NEG)
        enter[1:] = run[:-1]
        dp[t] = loglik[t] + np.maximum(prev, enter)
    s = last_hard + int(np.argmax(dp[T - 1, last_hard:]))
    score = float(dp[T - 1, s])
    path = np.empty(T, dtype=np.int64)
    path[T - 1] = s
    for t in range(T - 1, 0, -1):
        prev = dp[t - 1]
        if s > 0:
            lo = start[s - 1]
            best = lo + int(np.argmax(prev[lo:s]))
            if prev[s] < NEG / 2 or prev[best] > prev[s]:
                s = best
        path[t - 1] = s
    return path, score


def gaussian_loglik(means: np.ndarray, var: np.ndarray, feats: np.ndarray, states: np.ndarray) -> np.ndarray:
    """[T, S] log-likelihood of every frame of `feats` [T, d] under every state of the chain `states` [S]
    (means [V + 1, d] of one group, var [d]), LOGLIK_FRAMES frames at a time: a 30 s window with its
    transcript would otherwise hold T x S x d differences (~1 GB)."""
    mu = means[states]  # [S, d]
    out = np.empty((len(feats), len(states)))
    for a in range(0, len(feats), LOGLIK_FRAMES):
        diff = feats[a: a + LOGLIK_FRAMES, None, :] - mu[None]
        out[a: a + LOGLIK_FRAMES] = -0.5 * (diff * diff / var).sum(-1)
    return out


@dataclass
class PhoneAligner:
    """The Gaussian means `jamflow align` ended with, to align new transcripts to new audio.

    groups: the voice groups with means of their own; means [len(groups) + 1, V + 1, d]: a mean per
    (group, state), the last set pooled over every voice, state V silence; var [d]; phone [V] bool:
    which vocabulary tokens are phones (must take a frame)."""
    groups: list[str]
    means: np.ndarray
    var: np.ndarray
    phone: np.ndarray

    @property
    def vocab_size(self) -> int:
        return len(self.phone)

    def loglik(self, group: int, feats: np.ndarray, states: np.ndarray) -> np.ndarray:
        """[T, S] log-likelihood of every frame under every state of the chain (`gaussian_loglik`)."""
        return gaussian_loglik(self.means[group], self.var, feats, states)

    def align(self, ids, mel: np.ndarray) -> np.ndarray | None:
        """Token ids [nt] spoken in log-mel `mel` [T, 100] -> durations [nt + 2] (lead silence, one count
        per token, trail silence; sum T) under the mean set that explains the audio best, or None when
        a token is outside the vocabulary or the phones do not fit in T frames."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0 or len(mel) < 2 or ids.min() < 0 or ids.max() >= self.vocab_size:
            return None
        states = clip_states(ids, self.vocab_size)
        skippable = ~np.concatenate([[False], self.phone[ids], [False]])
        if (~skippable).sum() > len(mel):
            return None
        feats = normalise(np.asarray(mel, dtype=np.float32))  # float32 log-mel, as `jamflow align` read it
        best = max((viterbi_scored(self.loglik(g, feats, states), skippable) for g in range(len(self.means))),
                   key=lambda found: found[1])
        return path_to_durations(best[0], len(states))

    def save(self, path) -> None:
        from safetensors.numpy import save_file

        from jamflow.fileio import atomic_path

        # float64: the Viterbi path of a clip under its own means is then exactly its training layout
        tensors = {"means": self.means.astype(np.float64), "var": self.var.astype(np.float64),
                   "phone": self.phone.astype(np.uint8)}
        with atomic_path(Path(path)) as tmp:
            save_file(tensors, str(tmp), metadata={"format": "jamflow-aligner", "groups": "\n".join(self.groups)})

    @classmethod
    def load(cls, path) -> "PhoneAligner":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="numpy") as f:
                meta = f.metadata() or {}
                tensors = {k: f.get_tensor(k) for k in f.keys()}
        except Exception as e:  # safetensors raises its own error types for a damaged file
            raise UserError(f"checkpoint: expected a readable {ALIGNER_NAME} at {path}, got {type(e).__name__}: {e}") from None
        groups = [g for g in meta.get("groups", "").split("\n") if g]
        means, var, phone = (tensors.get(k) for k in ("means", "var", "phone"))
        ok = (meta.get("format") == "jamflow-aligner" and means is not None and var is not None and phone is not None
              and means.ndim == 3 and means.shape[0] == len(groups) + 1 and means.shape[1] == len(phone) + 1
              and var.shape == (means.shape[2],) and bool((var > 0).all()))
        if not ok:
            raise UserError(f"checkpoint: expected {ALIGNER_NAME} with means [groups + 1, vocab + 1, d], var [d] "
                            f"and phone [vocab] at {path}, got {sorted(tensors)} {[t.shape for t in tensors.values()]}")
        return cls(groups, means.astype(np.float64), var.astype(np.float64), phone.astype(bool))
