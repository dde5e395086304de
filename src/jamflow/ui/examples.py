"""The example voices and texts shipped in jamflow/assets/examples (examples.json), for the page."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "assets" / "examples"


@dataclass(frozen=True)
class Voice:
    name: str
    audio: Path  # 24 kHz wav
    text: str  # its transcript
    licence: str
    source: str


@dataclass(frozen=True)
class Examples:
    voices: tuple[Voice, ...]
    texts: tuple[str, ...]

    def rows(self, columns: int = 3) -> list[list]:
        """[voice audio, transcript, text] rows: every text with a voice, voices taking turns."""
        rows = []
        for k, text in enumerate(self.texts):
            voice = self.voices[k % len(self.voices)]
            rows.append([str(voice.audio), voice.text, text][:columns])
        return rows

    def licence_markdown(self) -> str:
        lines = ["**Example voices** (shipped with jamflow):"]
        for v in self.voices:
            lines.append(f"- `{v.audio.name}`: {v.source}. Licence: {v.licence}.")
        return "\n".join(lines)


def load_examples(folder: Path = EXAMPLES_DIR) -> Examples:
    data = json.loads((folder / "examples.json").read_text(encoding="utf-8"))
    voices = tuple(Voice(v["name"], folder / v["audio"], v["text"], v["licence"], v["source"])
                   for v in data["voices"])
    return Examples(voices, tuple(data["texts"]))
