"""Neural voices that ship inside pip packages: natural-sounding speakers for the corpus, no download.

    wav = hibari_speech("The cat sat.", speed=1.0, seed=3)   # float32 [samples] at 24 kHz

`hibari-tts` (Apache-2.0; an ONNX model distilled from Kokoro-82M, Apache-2.0) bundles one voice,
"heart" (American English, female), in its wheel; its other voices download at run time and are never
used here. It reports no phone timings: the corpus gets them from `jamflow align`. Licences and what each
archive holds are recorded in docs/corpus.md.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from jamflow.errors import UserError
from jamflow.timeline import SAMPLE_RATE

HIBARI_VOICE = "heart"  # the only voice inside the wheel
HIBARI_INSTALL = "pip install hibari-tts==0.2.1"


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
