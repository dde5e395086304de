import numpy as np
import pytest

from jamflow.audio.io import rms
from jamflow.audio.reference import clip_reference, ensure_sentence_end, prepare_reference
from jamflow.errors import UserError

SR = 24000
SENTENCES = ["The birch canoe slid on the smooth planks.", "Glue the sheet to the dark blue background.",
             "It is easy to tell the depth of a well.", "These days a chicken leg is a rare dish.",
             "Rice is often served in round bowls.", "The juice of lemons makes fine punch."]


def _fake_speech(sentences, per_letter=0.075, word_gap=0.04, sentence_gap=0.45, seed=0):
    """Noise bursts as words (length ~ letters), short gaps inside sentences, long pauses between."""
    rng = np.random.default_rng(seed)
    parts, ends = [], []
    for s in sentences:
        for w in s.split():
            letters = sum(c.isalnum() for c in w)
            parts.append(0.2 * rng.standard_normal(int(letters * per_letter * SR)).astype(np.float32))
            parts.append(np.zeros(int(word_gap * SR), np.float32))
        parts[-1] = np.zeros(int(sentence_gap * SR), np.float32)
        ends.append(sum(len(p) for p in parts))
    return np.concatenate(parts), ends


def test_clip_cuts_audio_and_transcript_at_the_same_sentence():
    wav, ends = _fake_speech(SENTENCES)
    assert len(wav) / SR > 12
    clipped, text = clip_reference(wav, " ".join(SENTENCES), SR, max_seconds=12.0)
    kept = [i for i, e in enumerate(ends) if e - int(0.45 * SR) < len(clipped)]  # sentences whose speech is in
    assert 6 * SR < len(clipped) <= 12 * SR
    assert text == " ".join(SENTENCES[: len(kept)])
    assert len(kept) < len(SENTENCES)


def test_clip_leaves_short_references_alone():
    wav, _ = _fake_speech(SENTENCES[:2])
    out, text = clip_reference(wav, "Two sentences.", SR)
    assert out is wav and text == "Two sentences."


def test_prepare_reference_trims_normalises_and_ends_the_sentence():
    wav, _ = _fake_speech(SENTENCES[:2])
    wav = np.concatenate([np.zeros(SR, np.float32), 0.05 * wav, np.zeros(SR, np.float32)])
    ref = prepare_reference(wav, "  " + " ".join(SENTENCES[:2]))
    assert not ref.clipped and ref.text.endswith(". ") and ref.text.startswith("The birch")
    assert abs(rms(ref.wav) - 0.1) < 1e-3 and ref.rms < 0.05
    assert len(ref.wav) < len(wav) - 1.8 * SR  # leading and trailing second of silence trimmed

    long_wav, _ = _fake_speech(SENTENCES)
    ref = prepare_reference(long_wav, " ".join(SENTENCES))
    assert ref.clipped and len(ref.wav) <= 12.05 * SR and ref.text.count(".") < len(SENTENCES)


def test_prepare_reference_rejects_bad_input():
    with pytest.raises(UserError, match="30 s"):
        prepare_reference(np.full(31 * SR, 0.1, np.float32), "text")
    with pytest.raises(UserError, match="ref_text"):
        prepare_reference(np.full(SR, 0.1, np.float32), "   ")
    with pytest.raises(UserError, match="ref_audio"):
        prepare_reference(np.zeros(0, np.float32), "text")
    with pytest.raises(UserError, match="finite"):
        prepare_reference(np.array([0.1, np.nan] * SR, np.float32), "text")
    with pytest.raises(UserError, match="dBFS"):
        prepare_reference(np.zeros(SR, np.float32), "text")


def test_ensure_sentence_end():
    assert ensure_sentence_end("Hello") == "Hello. "
    assert ensure_sentence_end("Hello.") == "Hello. "
    assert ensure_sentence_end("Really? ") == "Really? "
