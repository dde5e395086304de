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
