"""The page's server-side limits: text length, upload size, seconds of audio and motion."""
import numpy as np
import pytest
import soundfile as sf

from jamflow.errors import UserError
from jamflow.ui.limits import Limits


def test_text_limits_name_the_field():
    limits = Limits(max_text_chars=10)
    assert limits.text("  hello  ", "gen_text") == "hello"
    assert limits.text("", "ref_text", required=False) is None
    with pytest.raises(UserError, match=r"^gen_text: expected non-empty text, got nothing"):
        limits.text("   ", "gen_text")
    with pytest.raises(UserError, match=r"^gen_text: expected at most 10 characters, got 11"):
        limits.text("x" * 11, "gen_text")


def test_upload_size_and_audio_length(tmp_path):
    limits = Limits(max_upload_mb=0.05, max_audio_s=2.0)
    short, long, big = tmp_path / "short.wav", tmp_path / "long.wav", tmp_path / "big.bin"
    sf.write(short, np.zeros(24000, np.float32), 24000)
    sf.write(long, np.zeros(8000 * 3, np.float32), 8000)  # 3 s at another rate: seconds, not samples
    big.write_bytes(b"\0" * 60_000)
    assert limits.audio(short, "ref_audio") == short
    assert limits.audio(None, "ref_audio", required=False) is None
    with pytest.raises(UserError, match=r"^audio: expected at most 2 s, got 3.00 s"):
        limits.audio(long, "audio")
    with pytest.raises(UserError, match=r"^ref_audio: expected at most 0.05 MB, got 0.1 MB"):
        limits.audio(big, "ref_audio")
    with pytest.raises(UserError, match=r"^audio: expected a file, got nothing"):
        limits.audio(None, "audio")


def test_motion_length_and_type(tmp_path):
    limits = Limits(max_audio_s=2.0)
    ok, long, text = tmp_path / "ok.npy", tmp_path / "long.npy", tmp_path / "m.txt"
    np.save(ok, np.zeros((50, 70), np.float32))
    np.save(long, np.zeros((51, 70), np.float32))
    text.write_text("0")
    assert limits.motion(ok, "motion") == ok
    with pytest.raises(UserError, match=r"^motion: expected at most 2 s, got 2.04 s"):
        limits.motion(long, "motion")
    with pytest.raises(UserError, match=r"^motion: expected a \.npy or \.pkl"):
        limits.motion(text, "motion")


@pytest.mark.parametrize("kwargs, flag", [(dict(max_upload_mb=0), "--max_upload_mb"),
                                          (dict(max_audio_s=-1), "--max_audio_s"),
                                          (dict(max_text_chars=0), "--max_text_chars")])
def test_bad_limits_name_the_flag(kwargs, flag):
    with pytest.raises(UserError, match=f"^{flag}: expected"):
        Limits(**kwargs)
