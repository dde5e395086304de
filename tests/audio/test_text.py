import pytest

from jamflow.audio.numbers import cardinal, ordinal, year
from jamflow.audio.text import chunk_text, normalize_text
from jamflow.errors import UserError


@pytest.mark.parametrize("n, words", [
    (0, "zero"), (7, "seven"), (13, "thirteen"), (40, "forty"), (21, "twenty-one"), (100, "one hundred"),
    (105, "one hundred five"), (999, "nine hundred ninety-nine"), (1000, "one thousand"),
    (2024, "two thousand twenty-four"), (1_000_001, "one million one"), (-3, "minus three"),
    (12_345_678, "twelve million three hundred forty-five thousand six hundred seventy-eight"),
])
def test_cardinals(n, words):
    assert cardinal(n) == words


@pytest.mark.parametrize("n, words", [(1, "first"), (2, "second"), (3, "third"), (5, "fifth"), (9, "ninth"),
                                      (12, "twelfth"), (20, "twentieth"), (21, "twenty-first"),
                                      (103, "one hundred third"), (1000, "one thousand")])
def test_ordinals(n, words):
    assert ordinal(n) == (words if n != 1000 else "one thousandth")


@pytest.mark.parametrize("n, words", [(1999, "nineteen ninety-nine"), (1905, "nineteen oh five"),
                                      (1900, "nineteen hundred"), (2005, "two thousand five"),
                                      (2019, "twenty nineteen"), (1066, "ten sixty-six")])
def test_years(n, words):
    assert year(n) == words


@pytest.mark.parametrize("raw, expected", [
    ("It costs $12.50.", "It costs twelve dollars and fifty cents."),
    ("A $1 coin and 1 \u00a3 note.", "A one dollar coin and one \u00a3 note."),
    ("\u20ac3 million", "three million euros"),
    ("Up 15% or 2.5%.", "Up fifteen percent or two point five percent."),
    ("Meet at 10:30 pm, or 7:05.", "Meet at ten thirty p m, or seven oh five."),
    ("At 9:00 we start.", "At nine o'clock we start."),
    ("The 21st of May, 1999.", "The twenty-first of May, nineteen ninety-nine."),
    ("In the 1980s.", "In the nineteen eighties."),
    ("Dr. Smith and Mr. Jones vs. Mrs. Brown.", "Doctor Smith and Mister Jones versus Missus Brown."),
    ("Fruit, e.g. apples & pears.", "Fruit, for example apples and pears."),
    ("\u201cHi\u201d \u2014 she said\u2026 it\u2019s 1,234 km.", "\"Hi\" - she said... it's one thousand two hundred thirty-four km."),
    ("Agent 007 has 3.14 lives.", "Agent zero zero seven has three point one four lives."),
])
def test_normalize_text(raw, expected):
    assert normalize_text(raw) == expected


def test_normalize_leaves_plain_text_alone():
    text = "Hello there, General Kenobi! Isn't it a lovely day?"
    assert normalize_text(text) == text
    assert not any(c.isdigit() for c in normalize_text("1 2 3 4th 5% $6 7:30 1999 2.5"))


def test_chunk_text_respects_budget_and_keeps_words_whole():
    text = ("The quick brown fox jumps over the lazy dog. " * 6 + "Supercalifragilisticexpialidocious! "
            "A very long sentence without any punctuation at all that just keeps going and going on and on")
    chunks = chunk_text(text, max_bytes=50)
    assert " ".join(chunks).split() == text.split()  # nothing lost, no word cut
    for c in chunks:
        assert len(c.encode("utf-8")) <= 50 or " " not in c
    assert chunks[0] == "The quick brown fox jumps over the lazy dog."
    assert max(len(c.encode("utf-8")) for c in chunks) > 30  # sentences are packed, not one per chunk


def test_chunk_text_packs_sentences_and_handles_cjk():
    assert chunk_text("One. Two. Three.", max_bytes=10) == ["One. Two.", "Three."]
    assert chunk_text("One. Two. Three.", max_bytes=100) == ["One. Two. Three."]
    assert chunk_text("\u4f60\u597d\u3002\u4e16\u754c\u3002", max_bytes=9) == ["\u4f60\u597d\u3002", "\u4e16\u754c\u3002"]
    assert chunk_text("Word", max_bytes=2) == ["Word"]


def test_chunk_text_bad_input():
    with pytest.raises(UserError, match="gen_text"):
        chunk_text("   \n ", 100)
    with pytest.raises(UserError, match="max_bytes"):
        chunk_text("hello", 0)
    with pytest.raises(UserError, match="text"):
        normalize_text(None)
