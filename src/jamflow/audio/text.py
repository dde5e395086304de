"""English text normalisation (numbers, money, times, abbreviations -> words) and long-text chunking.

normalize_text is deliberately conservative: it rewrites what a speech model cannot read (digits,
symbols, abbreviations, typographic punctuation) and leaves everything else, case included, alone.
"""
from __future__ import annotations

import re
import unicodedata

from jamflow.audio.numbers import cardinal, decimal, digits_to_words, ordinal, year
from jamflow.errors import UserError

# Typographic characters -> what a speaker reads; F5's vocab has the plain forms.
_PUNCT_MAP = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "`": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u00ab": '"', "\u00bb": '"', "\u2033": '"',
    "\u2013": " - ", "\u2014": " - ", "\u2015": " - ", "\u2212": "-", "\u2010": "-", "\u2011": "-",
    "\u2026": "...", "\u00a0": " ", "\u2009": " ", "\u202f": " ", "\u200b": "", "\ufeff": "",
}
_ABBREVIATIONS = {
    "mr": "Mister", "mrs": "Missus", "ms": "Miss", "dr": "Doctor", "prof": "Professor", "st": "Saint",
    "jr": "Junior", "sr": "Senior", "vs": "versus", "etc": "et cetera", "approx": "approximately",
    "dept": "department", "est": "established", "gen": "General", "gov": "Governor", "lt": "Lieutenant",
    "capt": "Captain", "col": "Colonel", "sgt": "Sergeant", "mt": "Mount", "ft": "feet", "no": "number",
}
_LATIN = {"e.g.": "for example", "i.e.": "that is", "a.m.": "a m", "p.m.": "p m"}
_CURRENCY = {"$": ("dollar", "dollars", "cent", "cents"), "\u00a3": ("pound", "pounds", "penny", "pence"),
             "\u20ac": ("euro", "euros", "cent", "cents"), "\u00a5": ("yen", "yen", "sen", "sen")}
_SYMBOLS = {"&": " and ", "@": " at ", "+": " plus ", "=": " equals ", "#": " number ", "%": " percent ",
            "\u00b0": " degrees "}
_MAGNITUDE = r"(?:\s?(thousand|million|billion|trillion|[kKmMbB]n?)\b)?"
_MAGNITUDE_WORDS = {"k": "thousand", "m": "million", "mn": "million", "b": "billion", "bn": "billion"}

_RE_CURRENCY = re.compile(r"([$\u00a3\u20ac\u00a5])\s?(\d[\d,]*(?:\.\d+)?)" + _MAGNITUDE)
_RE_PERCENT = re.compile(r"(-?\d[\d,]*(?:\.\d+)?)\s?%")
_RE_TIME = re.compile(r"\b(\d{1,2}):(\d{2})(?:\s*([aApP])\s?[mM]\b)?(?!\d)")
_RE_ORDINAL = re.compile(r"\b(\d[\d,]*)(st|nd|rd|th)\b", re.IGNORECASE)
_RE_YEAR = re.compile(r"(?<![\d.,])(1[1-9]\d\d|20\d\d)(s)?(?![\d.,]\d)")
_RE_DECIMAL = re.compile(r"(?<![\d.])(\d[\d,]*)?\.(\d+)")
_RE_NUMBER = re.compile(r"(?<![\w])-?\d{1,3}(?:,\d{3})+(?!\d)|-?\d+")
_RE_ABBREV = re.compile(r"\b(" + "|".join(_ABBREVIATIONS) + r")\.(?=\s|$)", re.IGNORECASE)
_RE_SPACES = re.compile(r"[ \t\r\f\v]+")


def _money(m: re.Match) -> str:
    one, many, sub_one, sub_many = _CURRENCY[m.group(1)]
    amount, magnitude = m.group(2).replace(",", ""), m.group(3)
    if magnitude:
        words = _MAGNITUDE_WORDS.get(magnitude.lower(), magnitude.lower())
        return f"{decimal(amount) if '.' in amount else cardinal(int(amount))} {words} {many}"
    whole, _, frac = amount.partition(".")
    whole_n = int(whole or 0)
    parts = [f"{cardinal(whole_n)} {one if whole_n == 1 else many}"] if whole_n or not frac else []
    if frac:
        cents = int((frac + "0")[:2])
        if cents:
            parts.append(f"{cardinal(cents)} {sub_one if cents == 1 else sub_many}")
    return " and ".join(parts) if parts else f"zero {many}"


def _time(m: re.Match) -> str:
    hour, minute = int(m.group(1)), int(m.group(2))
    if hour > 24 or minute > 59:
        return m.group(0)
    if minute == 0:
        words = f"{cardinal(hour)} o'clock" if not m.group(3) else cardinal(hour)
    elif minute < 10:
        words = f"{cardinal(hour)} oh {cardinal(minute)}"
    else:
        words = f"{cardinal(hour)} {cardinal(minute)}"
    if m.group(3):
        words += f" {m.group(3).lower()} m"
    return words


def _number(m: re.Match) -> str:
    s = m.group(0).replace(",", "")
    digits = s.lstrip("-")
    if len(digits) > 1 and digits.startswith("0"):  # codes like 007 or 0420 are read digit by digit
        return ("minus " if s.startswith("-") else "") + digits_to_words(digits)
    return cardinal(int(s))


def normalize_text(text: str) -> str:
    """Rewrite digits, symbols, abbreviations and typographic punctuation as plain English words.

    '"Dr. Smith paid $12.50 on May 3rd, 1999 at 10:30 pm - 15% more."' ->
    '"Doctor Smith paid twelve dollars and fifty cents on May third, nineteen ninety-nine at ten thirty
    p m - fifteen percent more."'
    """
    if not isinstance(text, str):
        raise UserError(f"text: expected a string, got {type(text).__name__}")
    text = unicodedata.normalize("NFC", text)
    text = "".join(_PUNCT_MAP.get(c, c) for c in text)
    for k, v in _LATIN.items():
        text = re.sub(re.escape(k), v, text, flags=re.IGNORECASE)
    text = _RE_ABBREV.sub(lambda m: _ABBREVIATIONS[m.group(1).lower()], text)
    text = _RE_CURRENCY.sub(_money, text)
    text = _RE_PERCENT.sub(lambda m: f"{_num_or_decimal(m.group(1))} percent", text)
    text = _RE_TIME.sub(_time, text)
    text = _RE_ORDINAL.sub(lambda m: ordinal(int(m.group(1).replace(",", ""))), text)
    text = _RE_YEAR.sub(lambda m: _decade(m.group(1)) if m.group(2) else year(int(m.group(1))), text)
    text = _RE_DECIMAL.sub(lambda m: decimal((m.group(1) or "0") + "." + m.group(2)), text)
    text = _RE_NUMBER.sub(_number, text)
    for k, v in _SYMBOLS.items():
        text = text.replace(k, v)
    text = _RE_SPACES.sub(" ", text)
    text = re.sub(r" ?\n ?", "\n", text)
    text = re.sub(r" ([,.!?;:])", r"\1", text)
    return text.strip()


def _num_or_decimal(s: str) -> str:
    s = s.replace(",", "")
    return decimal(s) if "." in s else cardinal(int(s))


def _decade(s: str) -> str:
    """'1990' + 's' -> 'nineteen nineties'."""
    words = year(int(s))
    return words[:-1] + "ies" if words.endswith("y") else words + "s"


# ---------------------------------------------------------------------------------------------
# chunking

_SENTENCE_END = re.compile(r"(?<=[;:,.!?])\s+|(?<=[\u3002\uff0c\uff01\uff1f\uff1b\uff1a])")


def _pack(parts, max_bytes: int) -> list[str]:
    """Greedy packing of parts joined by spaces into chunks of at most `max_bytes` UTF-8 bytes;
    a part is never cut (one over the budget becomes its own chunk)."""
    out, cur = [], ""
    for part in parts:
        cand = f"{cur} {part}" if cur else part
        if cur and len(cand.encode("utf-8")) > max_bytes:
            out.append(cur)
            cand = part
        cur = cand
    if cur:
        out.append(cur)
    return out


def chunk_text(text: str, max_bytes: int = 135) -> list[str]:
    """Split long text into chunks of at most `max_bytes` UTF-8 bytes, F5-style.

    Splits after ; : , . ! ? (followed by whitespace) and CJK punctuation, packs whole sentences
    greedily; a sentence over the budget is split between words. A single word longer than the
    budget becomes its own chunk (never split inside a word).
    """
    if not isinstance(text, str) or not text.strip():
        raise UserError("gen_text: expected non-empty text, got only whitespace" if isinstance(text, str)
                        else f"gen_text: expected a string, got {type(text).__name__}")
    if int(max_bytes) < 1:
        raise UserError(f"max_bytes: expected a positive byte budget, got {max_bytes}")
    pieces = [p.strip() for p in _SENTENCE_END.split(text.strip()) if p.strip()]
    # sentences packed whole; a sentence over the budget is first packed word by word
    parts = [part for piece in pieces
             for part in ([piece] if len(piece.encode("utf-8")) <= max_bytes else _pack(piece.split(), max_bytes))]
    return _pack(parts, max_bytes)
