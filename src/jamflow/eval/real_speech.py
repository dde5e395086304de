"""Real recorded speech that a Debian package ships, for judging on voices nobody here made.

`pocketsphinx-testdata` (`apt-get install pocketsphinx-testdata`) holds five LibriVox utterances of one
reader of "Sense and Sensibility" (public domain, 16 kHz, 3.0-7.1 s) with a `transcription` file of lines
`<s> words </s> (name)`.
"""
from __future__ import annotations

from pathlib import Path

LIBRIVOX_DIR = Path("/usr/share/pocketsphinx/test/data/librivox")


def librivox_utterances(root: Path = LIBRIVOX_DIR) -> list[tuple[Path, str]]:
    """(wav path, transcript) of each utterance, in the transcription's order; [] when not installed."""
    listing = Path(root) / "transcription"
    if not listing.is_file():
        return []
    utterances = []
    for line in listing.read_text().splitlines():
        words, _, name = line.rpartition("(")
        text = words.replace("<s>", "").replace("</s>", "").strip()
        utterances.append((Path(root) / f"{name.strip(') ')}.wav", text))
    return utterances
