import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from jamflow.audio.asr import resample, transcribe
from jamflow.errors import UserError
from jamflow.eval import asr


def test_wer_identical_is_zero_after_normalisation():
    assert asr.word_error_rate("Hello, World! It's 7.", "hello world it's seven") == 0.0


def test_wer_counts_one_substitution_in_four_words():
    assert asr.word_error_rate("the cat sat down", "the dog sat down") == pytest.approx(0.25)


def test_wer_counts_deletion_and_insertion():
    assert asr.word_error_rate("a b c d", "a c d e f") == pytest.approx(3 / 4)  # del b, ins e f


def test_phone_error_rate_is_finer_than_wer():
    # "cat" -> "cap": one word wrong of one, one phone wrong of three (K AE T vs K AE P)
    assert asr.word_error_rate("cat", "cap") == 1.0
    assert asr.phone_error_rate("cat", "cap") == pytest.approx(1 / 3)
    assert asr.phone_error_rate("the cat", "the cat") == 0.0


def test_numbers_are_spelled_out():
    assert asr.normalize_words("42 cats, 7 dogs") == "forty two cats seven dogs".split()
    assert asr.word_error_rate("I have 3 cats.", "i have three cats") == 0.0


def test_digits_left_by_the_front_end_are_read_as_cardinals(monkeypatch):
    monkeypatch.setattr(asr, "_front_end_normalize", lambda text: text)  # the fallback path alone
    assert asr.normalize_words("0, 21 and 1234; 100000") == (
        "zero twenty one and one thousand two hundred thirty four one hundred thousand".split())


def test_transcribe_rejects_bad_input():
    with pytest.raises(UserError, match="wav"):
        transcribe(np.zeros((2, 100)), 16000)
    with pytest.raises(UserError, match="sample_rate"):
        transcribe(np.zeros(100), -1)


@pytest.mark.skipif(shutil.which("flite") is None, reason="flite not installed")
def test_pocketsphinx_recognises_flite_speech(tmp_path):
    text = "The quick brown fox jumps over the lazy dog."
    path = tmp_path / "x.wav"
    subprocess.run(["flite", "-voice", "slt", "-t", text, "-o", str(path)], check=True)
    wav, sr = sf.read(path, dtype="float32")
    wav24 = resample(wav, sr, 24000)  # the project's rate: transcribe must resample to 16 kHz itself
    hyp = transcribe(wav24, 24000)
    assert asr.word_error_rate(text, hyp) <= 0.25, hyp
    # and silence is not recognised as that sentence
    assert asr.word_error_rate(text, transcribe(np.zeros(24000, np.float32), 24000)) >= 0.9


def test_missing_whisper_model_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="asr_model"):
        transcribe(np.zeros(16000, np.float32), 16000, model_path=str(tmp_path / "no-such-model"))
