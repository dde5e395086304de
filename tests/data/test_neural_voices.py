import numpy as np
import pytest

from jamflow.data.neural_voices import hibari_available, hibari_speech
from jamflow.errors import UserError

pytestmark = pytest.mark.skipif(not hibari_available(), reason="hibari-tts not installed")


def test_hibari_speaks_at_24k_reproducibly():
    a = hibari_speech("The cat sat on the mat.", seed=1)
    b = hibari_speech("The cat sat on the mat.", seed=1)
    assert a.dtype == np.float32 and 0.8 < len(a) / 24000 < 4.0
    np.testing.assert_array_equal(a, b)
    assert np.abs(a).max() > 0.05  # speech, not silence


def test_speed_changes_duration():
    slow = hibari_speech("Read verse out loud for pleasure.", speed=0.8)
    fast = hibari_speech("Read verse out loud for pleasure.", speed=1.25)
    assert len(fast) < 0.8 * len(slow)


def test_nothing_to_say_is_a_user_error():
    with pytest.raises(UserError, match="text"):
        hibari_speech("   ")


def test_batch_times_the_phones_on_hibari_audio():
    import shutil

    from jamflow.data.neural_voices import hibari_batch
    from jamflow.data.speech_engines import Voice

    if shutil.which("festival") is None:
        pytest.skip("festival not installed")
    texts = ["The cat sat on the mat.", "Two blue fish swam in the tank."]
    out = hibari_batch([(t, Voice("hibari", "heart", rate=r)) for t, r in zip(texts, (1.0, 1.2))])
    for speech in out:
        phones = speech.phones
        assert phones[0][1] == 0.0 and abs(phones[-1][2] - speech.duration) < 1e-4
        assert all(abs(a[2] - b[1]) < 1e-9 for a, b in zip(phones, phones[1:]))
        spoken = [p for p in phones if p[0] != "sil"]
        assert len(spoken) >= 12  # every word's phones survive the transfer
        # speech sits where the phones say: louder inside spoken phones than inside pauses
        wav = speech.wav
        inside = np.concatenate([wav[int(s * 24000):int(e * 24000)] for _, s, e in spoken])
        assert np.sqrt(np.mean(inside ** 2)) > 2 * np.sqrt(np.mean(wav[:int(phones[0][2] * 24000)] ** 2) + 1e-12)
    with pytest.raises(UserError, match="hibari"):
        hibari_batch([("Hi.", Voice("festival", "slt_hts"))])
