import shutil

import pytest
import torch

from jamflow.audio.tokenizers import ASSETS, get_tokenizer, pad_token_ids, read_vocab
from jamflow.errors import UserError


def test_shipped_vocabs_are_stable():
    # Their sizes fix the text-embedding size of our models: changing a file breaks checkpoints.
    char, phoneme = read_vocab(ASSETS / "vocab_char.txt"), read_vocab(ASSETS / "vocab_phoneme.txt")
    assert (len(char), len(phoneme)) == (156, 143)
    for vocab in (char, phoneme):
        assert vocab[0] == " " and len(set(vocab)) == len(vocab) and all(len(t) == 1 for t in vocab)
    assert char.index("a") == 1 + 32 + 10 and char.index("A") == 1 + 32 + 10 + 26


def test_char_tokenizer_is_f5_compatible(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text(" \nh\ni\n!\n,\n", encoding="utf-8")
    tok = get_tokenizer("char", vocab_path=vocab)
    assert tok.vocab_size == 5
    assert tok.encode("hi!") == [1, 2, 3]
    assert tok.encode("hi x;") == [1, 2, 0, 0, 4]  # unknown -> 0 (space), ';' -> ',' as F5 cleans it
    assert tok.encode("HI") == [1, 2]  # case folds only when the vocab lacks the case
    assert get_tokenizer("custom", vocab_path=vocab).encode("hi!") == [1, 2, 3]  # F5's name for it
    with pytest.raises(UserError, match="vocab_path"):
        get_tokenizer("custom")
    ours = get_tokenizer("char")
    assert ours.decode(ours.encode("Hello, World!")) == "Hello, World!"
    assert ours.encode("Hello")[0] != ours.encode("hello")[0]


def test_bad_vocab_and_text(tmp_path):
    bad = tmp_path / "vocab.txt"
    bad.write_text("a\nb\n", encoding="utf-8")
    with pytest.raises(UserError, match="line 0"):
        get_tokenizer("char", vocab_path=bad)
    with pytest.raises(UserError, match="vocab_path"):
        get_tokenizer("char", vocab_path=tmp_path / "missing.txt")
    with pytest.raises(UserError, match="tokenizer"):
        get_tokenizer("pinyin")
    tok = get_tokenizer("char")
    with pytest.raises(UserError, match="empty"):
        tok.encode("  \n")
    with pytest.raises(UserError, match="unsupported"):
        tok.encode("\u4f60\u597d \u4e16\u754c")


def test_byte_tokenizer():
    tok = get_tokenizer("byte")
    assert tok.vocab_size == 256
    assert tok.encode("h\u00e9") == [104, 0xC3, 0xA9]
    assert tok.decode(tok.encode("na\u00efve")) == "na\u00efve"


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_phoneme_tokenizer_uses_espeak_ipa():
    tok = get_tokenizer("phoneme")
    text = "Hello, world. The cat sat on the mat!"
    ipa = "".join(tok.tokenize(text))
    assert ipa.startswith("h") and "\u02c8" in ipa and "\u00e6" in ipa  # stress mark, the 'a' of cat
    assert ipa.count(",") == 1 and ipa.endswith("!") and "." in ipa
    ids = tok.encode(text)
    assert ids == tok.encode(text)  # deterministic
    assert 0 not in [i for i, s in zip(ids, tok.tokenize(text)) if s != " "]  # every symbol in the vocab
    assert tok.vocab_size == 143
    assert "".join(tok.tokenize("cat")) != "".join(tok.tokenize("cut"))
    assert get_tokenizer("phoneme", language="en-gb").tokenize("go") != tok.tokenize("go")  # a language code
    with pytest.raises(UserError, match="language"):
        get_tokenizer("phoneme", language="xx-nope").encode("hello")


def test_pad_token_ids():
    out = pad_token_ids([[1, 2, 3], [4], []])
    assert out.dtype == torch.long
    assert out.tolist() == [[1, 2, 3], [4, -1, -1], [-1, -1, -1]]
    assert pad_token_ids([[5]], pad=0).tolist() == [[5]]
    with pytest.raises(UserError):
        pad_token_ids([])
