"""Intelligibility: word and phone error rates of what the recogniser (`audio.asr`) heard.

The default recogniser, pocketsphinx, is weak on formant voices (espeak-ng) and fine on natural-sounding
ones; the number that matters is the *difference* between ground-truth and generated clips scored by
the same recogniser.

Both sides of every comparison go through `normalize_words`, so casing, punctuation and digits never
count as errors. Phone error rate maps both word strings to CMU-dictionary phones (stress removed) and
scores the phone sequences: it credits near-misses ("cat" for "cap") that WER counts as whole errors.
"""
from __future__ import annotations

import functools
import os
import re

from jamflow.audio.numbers import cardinal


def _front_end_normalize(text: str) -> str:
    # The front end's normaliser (abbreviations, symbols) when it exists; ours below runs on top of it.
    try:
        from jamflow.audio.text import normalize_text
    except ImportError:
        return text
    try:
        return normalize_text(text)
    except Exception:  # a front-end bug must not change what the metric means
        return text


def normalize_words(text: str) -> list[str]:
    """Text -> lowercase words: digits spelled out, punctuation dropped, apostrophes kept inside words."""
    text = _front_end_normalize(text).lower()
    # digits the front end left (or all of them, without it); cardinal's hyphens become spaces below
    text = re.sub(r"\d+", lambda m: " " + cardinal(int(m.group())) + " ", text)
    text = re.sub(r"[^a-z']+", " ", text)
    return [w.strip("'") for w in text.split() if w.strip("'")]


def normalize_for_scoring(text: str) -> str:
    return " ".join(normalize_words(text))


def _edit_counts(ref: list[str], hyp: list[str]) -> tuple[int, int]:
    """(errors, reference length) with jiwer's alignment; empty reference -> errors = len(hyp)."""
    if not ref:
        return len(hyp), 0
    import jiwer

    out = jiwer.process_words(" ".join(ref), " ".join(hyp) if hyp else "")
    return out.substitutions + out.deletions + out.insertions, len(ref)


def word_error_rate(ref: str, hyp: str) -> float:
    """Word error rate of hypothesis `hyp` against reference `ref` (both normalised the same way)."""
    errors, n = _edit_counts(normalize_words(ref), normalize_words(hyp))
    return errors / n if n else float(errors > 0)


@functools.lru_cache(maxsize=1)
def _cmudict() -> dict[str, list[str]]:
    from pocketsphinx import get_model_path

    table: dict[str, list[str]] = {}
    with open(os.path.join(get_model_path(), "en-us", "cmudict-en-us.dict"), encoding="utf-8") as f:
        for line in f:
            word, *phones = line.split()
            if "(" in word:  # alternate pronunciations "read(2)": keep the first
                continue
            table[word] = [re.sub(r"\d", "", p) for p in phones]
    return table


def words_to_phones(words: list[str]) -> list[str]:
    """CMU phones for each word; a word not in the dictionary falls back to its letters."""
    table = _cmudict()
    phones: list[str] = []
    for w in words:
        phones.extend(table.get(w) or list(w.upper()))
    return phones


def phone_error_rate(ref: str, hyp: str) -> float:
    """Edit distance between the dictionary phone strings of `ref` and `hyp`, over the reference length."""
    errors, n = _edit_counts(words_to_phones(normalize_words(ref)), words_to_phones(normalize_words(hyp)))
    return errors / n if n else float(errors > 0)
