import shutil

import numpy as np
import pytest

from jamflow.data.speech_engines import SILENCE, Voice, synthesize, tidy_phones
from jamflow.errors import UserError
from jamflow.timeline import SAMPLE_RATE

needs_festival = pytest.mark.skipif(shutil.which("festival") is None, reason="festival not installed")
TEXT = "Please bring me a big cup of warm milk, and a map."


def _check_alignment(speech):
    phones = speech.phones
    assert phones[0][1] == 0.0
    assert phones[-1][2] == pytest.approx(len(speech.wav) / SAMPLE_RATE, abs=1e-5)
    for (_, _, end), (_, start, _) in zip(phones, phones[1:]):
        assert start == pytest.approx(end, abs=1e-6)  # contiguous: no gap, no overlap
    assert all(e > s for _, s, e in phones)
    spoken = [p for p, _, _ in phones if p != SILENCE]
    assert len(spoken) >= 20


def _energy(wav, start, end):
    seg = wav[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)]
    return float(np.sqrt(np.mean(seg ** 2))) if len(seg) else 0.0


def _silence_quieter_than_vowels(speech):
    vowels = [_energy(speech.wav, s, e) for p, s, e in speech.phones if p[0] in "aɑæʌɛeɪiɔoʊuə"]
    pauses = [_energy(speech.wav, s + 0.02, e - 0.02) for p, s, e in speech.phones if p == SILENCE and e - s > 0.1]
    assert pauses, "expected at least one pause (comma / sentence end)"
    assert max(pauses) < 0.2 * np.median(vowels)


def test_espeak_phone_timings_cover_audio_and_match_energy():
    speech = synthesize(TEXT, Voice("espeak", "en-us+m3"))
    assert speech.wav.dtype == np.float32 and 1.5 < speech.duration < 6
    _check_alignment(speech)
    _silence_quieter_than_vowels(speech)
    assert {"m", "b", "p"} <= {p for p, _, _ in speech.phones}


def test_espeak_rate_and_pitch_change_the_voice():
    slow = synthesize(TEXT, Voice("espeak", "en-us+f2", rate=0.8, pitch=40))
    fast = synthesize(TEXT, Voice("espeak", "en-us+f2", rate=1.4, pitch=40))
    assert fast.duration < 0.8 * slow.duration
    again = synthesize(TEXT, Voice("espeak", "en-us+f2", rate=0.8, pitch=40))
    assert np.array_equal(again.wav, slow.wav)  # deterministic


def test_espeak_output_does_not_depend_on_rand_calls_made_before_it():
    import ctypes

    voice = Voice("espeak", "en-us+f2", rate=0.8, pitch=40)
    first = synthesize(TEXT, voice)
    for _ in range(7):  # anything in the process may draw from libc's rand() between two clips
        ctypes.CDLL(None).rand()
    assert np.array_equal(synthesize(TEXT, voice).wav, first.wav)


@needs_festival
@pytest.mark.parametrize("name", ["slt_hts", "kal_diphone"])
def test_festival_voices_give_phone_timings(name):
    speech = synthesize(TEXT, Voice("festival", name, rate=1.0, pitch=0))
    _check_alignment(speech)
    _silence_quieter_than_vowels(speech)


@needs_festival
def test_festival_rate_changes_duration():
    a = synthesize(TEXT, Voice("festival", "slt_hts", rate=0.8, pitch=0))
    b = synthesize(TEXT, Voice("festival", "slt_hts", rate=1.3, pitch=0))
    assert b.duration < 0.8 * a.duration
    _check_alignment(b)


def test_bad_voice_and_text_are_user_errors():
    with pytest.raises(UserError, match="voice"):
        synthesize("hello", Voice("espeak", "no-such-voice-xx"))
    with pytest.raises(UserError, match="voice"):
        synthesize("hello", Voice("festival", "nope"))
    with pytest.raises(UserError, match="engine"):
        synthesize("hello", Voice("flite", "slt"))
    with pytest.raises(UserError, match="text"):
        synthesize("   ", Voice("espeak", "en-us"))


def test_tidy_phones_fills_gaps_and_clips_to_duration():
    out = tidy_phones([("a", 0.1, 0.3), ("b", 0.25, 0.5), ("sil", 0.6, 0.7), ("c", 0.7, 2.0)], 1.0)
    assert out == [("sil", 0.0, 0.1), ("a", 0.1, 0.3), ("b", 0.3, 0.5), ("sil", 0.5, 0.7), ("c", 0.7, 1.0)]


@needs_festival
def test_festival_batch_equals_single_runs():
    from jamflow.data.speech_engines import festival_batch

    items = [("Hello there.", Voice("festival", "kal_diphone", rate=1.1)),
             ("The cat sat on the mat.", Voice("festival", "slt_hts", rate=0.9, pitch=1.0)),
             ("We will go.", Voice("festival", "kal_diphone", rate=0.9))]
    batch = festival_batch(items)
    for (text, voice), got in zip(items, batch):
        alone = synthesize(text, voice)
        assert np.array_equal(got.wav, alone.wav) and got.phones == alone.phones
    assert batch[0].duration < synthesize("Hello there.", Voice("festival", "kal_diphone", rate=0.8)).duration


@needs_festival
def test_festival_unspeakable_text_is_a_user_error_even_in_a_batch():
    from jamflow.data.speech_engines import festival_batch

    with pytest.raises(UserError, match="festival's kal_diphone voice can speak"):
        festival_batch([("Hello.", Voice("festival", "kal_diphone")), ("...", Voice("festival", "kal_diphone"))])


def test_synthesiser_shares_the_phonemisers_espeak_initialisation():
    # a second espeak_Initialize freed the phoneme tables under the phonemiser's voice (random segfaults)
    from jamflow.audio.phonemize import espeak_library, phonemize
    from jamflow.data import speech_engines

    before = phonemize("Nobody knows why the cat looked at the moon.")
    speech = synthesize("Hello there.", Voice("espeak", "en-us"))
    assert speech.duration > 0.3 and speech.phones  # audio and phoneme events, as before the sharing
    lib, rate = espeak_library()
    assert speech_engines._pristine.lib is lib and speech_engines._pristine.sample_rate == rate > 0
    assert phonemize("Nobody knows why the cat looked at the moon.") == before
