"""Text -> token ids, F5-TTS compatible.

- "char": one id per character from a vocab file (line index = id, line 0 must be a space, unknown
  characters -> 0). Our shipped `assets/vocab_char.txt`, or any F5 `vocab.txt` via vocab_path.
- "byte": UTF-8 bytes, vocab size 256 (F5's "byte").
- "phoneme": espeak-ng IPA (en-us by default), one id per IPA character from
  `assets/vocab_phoneme.txt`; word spaces, stress and length marks and , . ! ? ; : are kept.

Batches pad with -1 (F5's text embedding shifts ids by +1 so the pad becomes its filler row 0).
"""
from __future__ import annotations

from pathlib import Path

import torch

from jamflow.errors import UserError

ASSETS = Path(__file__).resolve().parent.parent / "assets"
TOKENIZERS = ("char", "byte", "phoneme")
# What F5's own text cleaning maps before lookup, used when the vocab lacks the original character.
_FALLBACKS = {";": ",", "\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"}


def read_vocab(path) -> list[str]:
    """Read an F5-style vocab file: one token per line, line index = id, line 0 must be ' '."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"vocab_path: expected a vocab.txt file, got {str(path)!r}")
    # split on "\n" only: str.splitlines() would also break on exotic characters that are tokens
    tokens = path.read_text(encoding="utf-8").split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()
    tokens = [t[:-1] if t.endswith("\r") else t for t in tokens]
    if not tokens or tokens[0] != " ":
        raise UserError(f"vocab_path: expected line 0 of {path.name} to be a single space, got {tokens[:1]!r}")
    return tokens


def _check_text(text) -> str:
    if not isinstance(text, str):
        raise UserError(f"text: expected a string, got {type(text).__name__}")
    if not text.strip():
        raise UserError("text: expected some words, got empty or whitespace-only text")
    return text


class CharTokenizer:
    """One id per character; unknown -> 0 (the space), as F5 does."""

    name = "char"

    def __init__(self, vocab_path=None):
        self.vocab_path = Path(vocab_path) if vocab_path else ASSETS / "vocab_char.txt"
        self.tokens = read_vocab(self.vocab_path)
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self.vocab_size = len(self.tokens)

    def _id(self, c: str) -> int:
        if c in self.index:
            return self.index[c]
        alt = _FALLBACKS.get(c) or (c.lower() if c.lower() in self.index else c.upper())
        return self.index.get(alt, 0)

    def tokenize(self, text: str) -> list[str]:
        return list(_check_text(text))

    def encode(self, text: str) -> list[int]:
        symbols = self.tokenize(text)
        ids = [self._id(c) for c in symbols]
        if not any(i != 0 for i in ids):  # nothing but spaces and unknowns would be silence to the model
            raise UserError(f"text: expected characters the {self.name} vocabulary ({self.vocab_path.name}) "
                            f"knows, got only unsupported ones: {text[:40]!r}")
        return ids

    def decode(self, ids) -> str:
        return "".join(self.tokens[i] for i in ids if 0 <= i < self.vocab_size)


class PhonemeTokenizer(CharTokenizer):
    """espeak-ng IPA, one id per IPA character (diacritics and stress marks are their own tokens)."""

    name = "phoneme"

    def __init__(self, vocab_path=None, language: str = "en-us"):
        super().__init__(vocab_path or ASSETS / "vocab_phoneme.txt")
        self.language = language

    def tokenize(self, text: str) -> list[str]:
        from jamflow.audio.phonemize import phonemize

        ipa = phonemize(_check_text(text), self.language)
        if not ipa.strip():
            raise UserError(f"text: expected words espeak-ng can pronounce, got {text[:40]!r}")
        return list(ipa)


class ByteTokenizer:
    """UTF-8 bytes (F5's "byte" tokenizer): every text is representable, vocab size 256."""

    name = "byte"
    vocab_size = 256

    def tokenize(self, text: str) -> list[str]:
        return [chr(b) for b in _check_text(text).encode("utf-8")]

    def encode(self, text: str) -> list[int]:
        return list(_check_text(text).encode("utf-8"))

    def decode(self, ids) -> str:
        return bytes(i for i in ids if 0 <= i < 256).decode("utf-8", errors="replace")


def get_tokenizer(name: str, vocab_path=None, language: str = "en-us"):
    """'char' (our vocab, or an F5 vocab.txt at vocab_path; 'custom' is F5's alias), 'byte', or
    'phoneme' (espeak-ng IPA)."""
    if name == "char":
        return CharTokenizer(vocab_path)
    if name == "custom":  # F5's name for "char with my vocab.txt"
        if not vocab_path:
            raise UserError("vocab_path: the 'custom' tokenizer needs a vocab.txt path")
        return CharTokenizer(vocab_path)
    if name == "byte":
        if vocab_path:
            raise UserError("vocab_path: the byte tokenizer takes no vocab file")
        return ByteTokenizer()
    if name == "phoneme":
        return PhonemeTokenizer(vocab_path, language)
    raise UserError(f"tokenizer: expected one of {TOKENIZERS}, got {name!r}")


def pad_token_ids(ids: list[list[int]], pad: int = -1) -> torch.Tensor:
    """Ragged id lists -> LongTensor [b, max_len], right-padded with `pad` (-1: F5's convention)."""
    if not ids:
        raise UserError("ids: expected at least one token sequence, got an empty batch")
    width = max(len(x) for x in ids)
    out = torch.full((len(ids), width), pad, dtype=torch.long)
    for row, seq in enumerate(ids):
        if len(seq):
            out[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
    return out
