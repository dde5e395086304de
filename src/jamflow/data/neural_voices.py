"""Neural voices that ship inside pip packages: natural-sounding speakers for the corpus, no download.

    wav = hibari_speech("The cat sat.", speed=1.0, seed=3)   # float32 [samples] at 24 kHz
    speeches = hibari_batch([("The cat sat.", Voice("hibari", "heart", rate=1.1))])   # + phone timings

`hibari-tts` (Apache-2.0; an ONNX model distilled from Kokoro-82M, Apache-2.0) bundles one voice,
"heart" (American English, female), in its wheel; its other voices download at run time and are never
used here. It reports no phone timings, so `hibari_batch` carries them over from festival's SLT voice
saying the same text (`timing_transfer`, dynamic time warping: 94% of boundaries within one motion frame
between two festival voices). Licences and what each archive holds are recorded in docs/corpus.md.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from jamflow.data.speech_engines import Speech, Voice, festival_batch, tidy_phones
from jamflow.data.timing_transfer import transfer_phones
from jamflow.errors import UserError
from jamflow.timeline import SAMPLE_RATE

HIBARI_VOICE = "heart"  # the only voice inside the wheel
HIBARI_INSTALL = "pip install hibari-tts==0.2.1"
TIMING_VOICE = Voice("festival", "slt_hts")  # a US English voice that reports its phone timings


def hibari_available() -> bool:
    try:
        import hibari  # noqa: F401
    except ImportError:
        return False
    return True


@lru_cache(maxsize=1)
def _hibari():
    try:
        from hibari import Hibari
    except ImportError as e:
        raise UserError(f"voice: expected the hibari-tts package for the 'hibari' engine ({HIBARI_INSTALL})") from e
    tts = Hibari(voice=HIBARI_VOICE, threads=1)
    if tts.sample_rate != SAMPLE_RATE:
        raise UserError(f"voice: expected hibari at {SAMPLE_RATE} Hz, got {tts.sample_rate}")
    return tts


def hibari_speech(text: str, speed: float = 1.0, seed: int = 0) -> np.ndarray:
    """Text -> float32 [samples] at 24 kHz in hibari's bundled voice; seed fixes its noise component."""
    wav = _hibari()(text, speed=speed, seed=seed)
    if wav.size == 0:
        raise UserError(f"text: expected something hibari can pronounce, got {text!r}")
    return np.asarray(wav, np.float32)


def hibari_batch(items: list[tuple[str, Voice]], seeds: list[int] | None = None) -> list[Speech]:
    """(text, Voice("hibari", "heart", rate)) pairs -> Speech with phone timings; one festival run for all.
    seeds: each item's noise seed (default 0, 1, ...), so that a clip depends only on its own plan."""
    for _, voice in items:
        if voice.engine != "hibari" or voice.name != HIBARI_VOICE:
            raise UserError(f"voice: expected hibari:{HIBARI_VOICE}, got {voice.speaker}")
    references = festival_batch([(text, TIMING_VOICE) for text, _ in items])
    out = []
    for i, ((text, voice), ref) in enumerate(zip(items, references)):
        wav = hibari_speech(text, speed=voice.rate, seed=i if seeds is None else seeds[i])
        phones = transfer_phones(ref.wav, ref.phones, wav)
        out.append(Speech(wav, tidy_phones(phones, len(wav) / SAMPLE_RATE)))
    return out
