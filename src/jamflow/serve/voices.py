"""Named reference voices: the shipped examples (assets/examples/examples.json) and, in the server's
`--voices` folder, every `NAME.wav` (or `.flac`) + `NAME.txt` transcript and every fitted voice
`NAME.safetensors` (`jamflow voice`: its clip, transcript and adapters; infer/voice_fit.py).

Voices are read and checked once at start-up, before the model loads (a fitted voice's model right
after), so a bad file stops the server with a one-line error instead of failing requests later. A fitted
voice's update is folded into the model for each request that names it (`reference`): requests run one at
a time on the inference thread, so no other request sees it.
"""
from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jamflow.errors import UserError
from jamflow.timeline import SAMPLE_RATE

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "assets" / "examples"
AUDIO_SUFFIXES = (".wav", ".flac")
FITTED_SUFFIX = ".safetensors"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_REFERENCE_S = 30.0  # the API trims references to 12 s; a longer file is a mistake


@dataclass(frozen=True)
class Voice:
    name: str
    wav: np.ndarray  # [samples] float32 at 24 kHz
    transcript: str
    licence: str | None = None
    source: str | None = None
    shipped: bool = False
    fitted: object = None  # the FittedVoice of a NAME.safetensors voice, else None

    @property
    def duration(self) -> float:
        return len(self.wav) / SAMPLE_RATE

    def describe(self) -> dict:
        return {"name": self.name, "transcript": self.transcript, "licence": self.licence, "source": self.source,
                "duration_s": round(self.duration, 3), "shipped": self.shipped, "fitted": self.fitted is not None}


def _load_wav(path: Path, flag: str) -> np.ndarray:
    from jamflow.audio.io import load_audio

    try:
        wav = load_audio(path)
    except UserError as e:
        raise UserError(f"{flag}: expected a readable audio file, got {path.name} ({e})") from None
    return _short_enough(wav, path, flag)


def _short_enough(wav: np.ndarray, path: Path, flag: str) -> np.ndarray:
    if len(wav) / SAMPLE_RATE > MAX_REFERENCE_S:
        raise UserError(f"{flag}: expected reference clips of at most {MAX_REFERENCE_S:.0f} s, got "
                        f"{len(wav) / SAMPLE_RATE:.1f} s in {path.name}")
    return wav


def shipped_voices(folder: Path = EXAMPLES_DIR) -> list[Voice]:
    data = json.loads((folder / "examples.json").read_text(encoding="utf-8"))
    return [Voice(v["name"], _load_wav(folder / v["audio"], "voices"), v["text"], v.get("licence"), v.get("source"),
                  shipped=True) for v in data["voices"]]


def folder_voices(folder: Path) -> list[Voice]:
    """NAME.wav|flac + NAME.txt pairs of `folder` (sorted by name); a clip without its transcript is an error."""
    folder = Path(folder)
    suffixes = (*AUDIO_SUFFIXES, FITTED_SUFFIX)
    clips = sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes and p.is_file())
    voices, seen = [], set()
    for clip in clips:
        name = clip.stem
        if not NAME.match(name):
            raise UserError(f"--voices: expected voice names of letters, digits, '_', '.', '-', got {clip.name!r}")
        if name in seen:
            raise UserError(f"--voices: expected one audio or voice file per voice, got two for {name!r}")
        seen.add(name)
        if clip.suffix.lower() == FITTED_SUFFIX:
            voices.append(_fitted_voice(clip))
            continue
        txt = clip.with_suffix(".txt")
        if not txt.is_file():
            raise UserError(f"--voices: expected the transcript {txt.name} beside {clip.name}, got none")
        transcript = " ".join(txt.read_text(encoding="utf-8").split())
        if not transcript:
            raise UserError(f"--voices: expected the words of {clip.name} in {txt.name}, got an empty file")
        voices.append(Voice(name, _load_wav(clip, "--voices"), transcript, source=str(clip)))
    return voices


def _fitted_voice(path: Path) -> Voice:
    from jamflow.infer.voice_fit import load_voice

    fitted = load_voice(path, "--voices")
    return Voice(path.stem, _short_enough(fitted.wav, path, "--voices"), fitted.text, source=str(path), fitted=fitted)


@contextlib.contextmanager
def reference(jam, voice: Voice):
    """-> (ref_audio, ref_text) of `voice` for one task call; a fitted voice's update is folded into the
    model until the block ends (its model was checked at start-up: `VoiceRegistry.check_model`)."""
    if voice.fitted is None:
        yield voice.wav, voice.transcript
        return
    from jamflow.infer.voice_fit import apply_voice, restore_weights

    replaced = apply_voice(jam.model, voice.fitted, check=False)
    try:
        yield voice.wav, voice.transcript
    finally:
        restore_weights(jam.model, replaced)


class VoiceRegistry:
    """name -> Voice; the default is the first shipped voice."""

    def __init__(self, voices: list[Voice]):
        if not voices:
            raise UserError("voices: expected at least one voice, got none")
        self.voices: dict[str, Voice] = {}
        for v in voices:
            if v.name in self.voices:
                raise UserError(f"--voices: expected names distinct from the shipped voices "
                                f"{sorted(self.voices)}, got {v.name!r} again")
            self.voices[v.name] = v
        self.default = voices[0].name

    @classmethod
    def load(cls, voices_dir: Path | None = None) -> "VoiceRegistry":
        return cls(shipped_voices() + (folder_voices(voices_dir) if voices_dir is not None else []))

    def check_model(self, model) -> None:
        """Every fitted voice against the served model, once (the fingerprint takes ~1 s)."""
        fitted = [v for v in self.voices.values() if v.fitted is not None]
        if not fitted:
            return
        from jamflow.infer.voice_fit import voice_fingerprint

        found = voice_fingerprint(model)
        for v in fitted:
            if v.fitted.fingerprint != found:
                raise UserError(f"--voices: expected fitted voices of the served model, got {Path(v.source).name} "
                                f"fitted to another (fingerprint {v.fitted.fingerprint[:12]}, this model {found[:12]})")

    def names(self) -> list[str]:
        return list(self.voices)

    def get(self, name: str | None) -> Voice:
        from jamflow.serve.errors import ApiError

        if name is None:
            return self.voices[self.default]
        if name not in self.voices:
            raise ApiError(400, f"voice: expected one of {self.names()}, got {name!r}", "voice")
        return self.voices[name]
