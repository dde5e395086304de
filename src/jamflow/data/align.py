"""Phoneme durations for a prepared cache, by flat-start Viterbi forced alignment (`jamflow align`).

    jamflow align --cache corpus/cache_phoneme [--iterations 8] [--workers 2]

Any tokenizer works (a token is a "phone" when it is a letter); espeak phonemes are what it is for.

Why. F5's text layout (filler-padded, or spread evenly over the mel frames) leaves the model to
discover where each phoneme sits; at the scale of the default model (30 M parameters, 90 minutes of
speech, a CPU) it does not find out in any budget we can afford. With durations the text embedding
shows each mel frame its own phoneme (TextEmbedding's text index, `audio.text_durations`) and the model only
has to learn how phonemes sound.

How. Each clip is a left-to-right chain: leading silence, its tokens, trailing silence. Phone letters
take at least one frame; the rest (word spaces, stress and length marks, diacritics, punctuation) and
both silences may take none. Emissions are Gaussians with one diagonal variance over per-clip
normalised log-mel frames, a mean per (voice group, state): `festival:slt_hts`, `festival:kal_diphone`
and "the rest". A flat start (energy-trimmed silences, phone letters evenly spread) is followed by
rounds of Viterbi alignment and mean re-estimation.

Output, in the cache folder:
    durations.npz          per clip id: int32 [nt + 2] = lead silence, one count per token, trail silence
    duration_stats.json    per-token mean frames over the train split + mean lead / trail silence:
                           what inference lays out a new text with (jamflow.model.durations)
    aligner.safetensors    the final Gaussian means (audio.phone_align.PhoneAligner): `jamflow fit-durations`
                           puts it into the model, whose animate then aligns its transcript to the audio
"""
from __future__ import annotations

from multiprocessing import get_context
from pathlib import Path

import numpy as np
from tqdm import tqdm

from jamflow.audio.phone_align import (ALIGNER_NAME, PhoneAligner, clip_states, gaussian_loglik, is_phone,  # noqa: F401
                                       normalise, path_to_durations, viterbi)
from jamflow.data.batching import load_cache_index
from jamflow.errors import UserError
from jamflow.fileio import atomic_path, write_json_atomic

ALIGN_VERSION = 1


def flat_start(mel: np.ndarray, phone: np.ndarray) -> np.ndarray:
    """Durations [nt + 2]: silence where the energy is 30 dB under the peak at either end, phones even."""
    energy = mel.mean(1)
    loud = np.nonzero(energy > energy.max() - 3.0)[0]  # log-mel is natural log: 3 ~ 26 dB
    lead, trail = int(loud[0]), len(mel) - 1 - int(loud[-1])
    nphones = max(1, int(phone.sum()))
    speech = max(len(mel) - lead - trail, nphones)
    lead = min(lead, len(mel) - speech)
    trail = len(mel) - speech - lead
    per = np.zeros(len(phone), dtype=np.int64)
    base, extra = divmod(speech, nphones)
    counts = np.full(nphones, base)
    counts[:extra] += 1
    per[phone] = counts
    return np.concatenate([[lead], per, [trail]])


class Aligner:
    """Gaussian means per (group, state); state V is silence, 0..V-1 the vocabulary."""

    def __init__(self, vocab_size: int, dim: int, groups: list[str]):
        self.groups = groups
        self.sums = np.zeros((len(groups) + 1, vocab_size + 1, dim))  # last group = pooled
        self.counts = np.zeros((len(groups) + 1, vocab_size + 1))
        self.means = None
        self.var = np.ones(dim)

    def accumulate(self, group: int, feats: np.ndarray, states: np.ndarray) -> None:
        for g in (group, len(self.groups)):
            np.add.at(self.sums[g], states, feats)
            np.add.at(self.counts[g], states, 1)

    def finish(self, sq_sum: np.ndarray, frames: int) -> None:
        pooled = self.sums[-1] / np.maximum(self.counts[-1], 1)[:, None]
        means = self.sums / np.maximum(self.counts, 1)[..., None]
        few = self.counts < 20  # too little of a state in a group: use the pooled mean
        means[few] = np.broadcast_to(pooled, means.shape)[few]
        self.means = means
        self.var = np.maximum(sq_sum / max(frames, 1), 1e-2)
        self.sums[:] = 0
        self.counts[:] = 0

    def loglik(self, group: int, feats: np.ndarray, states: np.ndarray) -> np.ndarray:
        """[T, S] log-likelihood of every frame under every state of the chain (the one inference uses)."""
        return gaussian_loglik(self.means[group], self.var, feats, states)


def realign(aligner: "Aligner", clip: dict) -> np.ndarray:
    """One clip's durations [nt + 2] under the current means."""
    ll = aligner.loglik(clip["group"], clip["feats"], clip["states"])
    return path_to_durations(viterbi(ll, clip["skippable"]), len(clip["states"]))


_ROUND: dict = {}  # what a forked worker of this round reads: the aligner and the clips, inherited, not pickled


def _realign_range(bounds: tuple[int, int]) -> list[np.ndarray]:
    return [realign(_ROUND["aligner"], c) for c in _ROUND["clips"][bounds[0]: bounds[1]]]


def realign_all(aligner: "Aligner", clips: list[dict], workers: int) -> list[np.ndarray]:
    if workers <= 1 or len(clips) < 2 * workers:
        return [realign(aligner, c) for c in clips]
    _ROUND.update(aligner=aligner, clips=clips)
    step = -(-len(clips) // (4 * workers))
    ranges = [(i, min(i + step, len(clips))) for i in range(0, len(clips), step)]
    pool = get_context("fork").Pool(workers)  # a fresh fork per round: the workers see this round's means
    try:
        found = [d for part in pool.map(_realign_range, ranges) for d in part]
        # close, not the context manager's terminate(): with terminate() a round's end now and then
        # waited for ever on a worker blocked on the task queue's lock
        pool.close()
        return found
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
        _ROUND.clear()


def align_cache(cache_dir, iterations: int = 8, groups=("festival:slt_hts", "festival:kal_diphone"),
                workers: int = 1) -> dict:
    """Align every clip of the cache; write durations.npz + duration_stats.json. -> the stats."""
    from jamflow.audio.tokenizers import get_tokenizer

    cache_dir = Path(cache_dir)
    meta, lines = load_cache_index(cache_dir)
    tokenizer = get_tokenizer(meta["tokenizer"], meta.get("vocab"))
    vocab = getattr(tokenizer, "tokens", None) or [chr(i) for i in range(tokenizer.vocab_size)]  # byte: latin-1
    V = len(vocab)
    phone_of = np.array([is_phone(t) for t in vocab] + [False])
    groups = list(groups)
    clips = []
    for line in tqdm(sorted(lines, key=lambda l: l["id"]), desc="align: load", unit="clip"):
        with np.load(cache_dir / line["file"]) as f:
            mel, text = f["mel"], f["text"]
        if len(text) == 0:
            continue
        states = clip_states(text, V)
        phone = phone_of[states]
        if phone.sum() > len(mel):
            continue
        group = groups.index(line["speaker"]) if line.get("speaker") in groups else len(groups)
        clips.append(dict(id=line["id"], split=line.get("split", "train"), group=group, feats=normalise(mel),
                          states=states, skippable=~phone, durations=flat_start(mel, phone_of[text])))
    if not clips:
        raise UserError(f"--cache: expected transcribed clips in {cache_dir}, got none")
    aligner = Aligner(V, clips[0]["feats"].shape[1], groups)
    for _ in tqdm(range(iterations), desc="align: rounds", unit="round"):
        sq, frames = np.zeros(clips[0]["feats"].shape[1]), 0
        for c in clips:
            if c["split"] != "train":
                continue
            path = np.repeat(c["states"], c["durations"])
            aligner.accumulate(c["group"], c["feats"], path)
            if aligner.means is not None:
                sq += ((c["feats"] - aligner.means[c["group"]][path]) ** 2).sum(0)
                frames += len(path)
        aligner.finish(sq if frames else np.ones_like(sq), frames or 1)
        for c, d in zip(clips, realign_all(aligner, clips, workers)):
            c["durations"] = d
    stats = {**duration_stats(clips, V), "tokenizer": meta["tokenizer"], "iterations": iterations}
    with atomic_path(cache_dir / "durations.npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **{c["id"]: c["durations"].astype(np.int32) for c in clips})
    write_json_atomic(cache_dir / "duration_stats.json", stats, indent=1)
    # the means the last alignment used: what inference aligns a known audio's transcript with
    PhoneAligner(groups, aligner.means, aligner.var, phone_of[:V]).save(cache_dir / ALIGNER_NAME)
    return stats


def duration_stats(clips: list[dict], V: int) -> dict:
    """Mean frames of each token (train split), silences apart; tokens never seen get the overall mean."""
    total, count = np.zeros(V), np.zeros(V)
    lead, trail = [], []
    for c in clips:
        if c["split"] != "train":
            continue
        d, s = c["durations"], c["states"]
        np.add.at(total, s[1:-1], d[1:-1])
        np.add.at(count, s[1:-1], 1)
        lead.append(d[0])
        trail.append(d[-1])
    seen = count > 0
    mean = np.where(seen, total / np.maximum(count, 1), total[seen].sum() / max(count[seen].sum(), 1))
    return {"format": "jamflow-durations", "version": ALIGN_VERSION,
            "frames_per_token": [round(float(x), 3) for x in mean], "token_counts": [int(x) for x in count],
            "lead_frames": round(float(np.mean(lead)), 2), "trail_frames": round(float(np.mean(trail)), 2),
            "clips": len(lead)}
