import subprocess

import numpy as np
import pytest
import soundfile as sf

from jamflow.audio.io import (frame_db, load_audio, normalize_loudness, resample, restore_loudness, rms,
                              save_wav, silences, trim_silence)
from jamflow.errors import UserError


def _tone(freq, sr, seconds=0.5, amp=0.5):
    t = np.arange(int(sr * seconds)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_freq(wav, sr):
    spec = np.abs(np.fft.rfft(wav * np.hanning(len(wav))))
    return np.argmax(spec) * sr / len(wav)


def test_save_and_load_roundtrip_is_atomic(tmp_path):
    wav = _tone(440, 24000)
    out = save_wav(tmp_path / "sub" / "a.wav", wav)
    assert out.exists() and [p.name for p in out.parent.iterdir()] == ["a.wav"]  # no temp file left
    back = load_audio(out)
    assert back.dtype == np.float32 and back.shape == wav.shape
    assert np.abs(back - wav).max() < 1e-3  # 16-bit quantisation
    with pytest.raises(UserError, match="finite"):
        save_wav(tmp_path / "bad.wav", np.array([0.0, np.nan], np.float32))
    assert not (tmp_path / "bad.wav").exists() and len(list(tmp_path.iterdir())) == 1


@pytest.mark.parametrize("fmt", ["flac", "ogg"])
def test_loads_other_formats_mixes_to_mono_and_resamples(tmp_path, fmt):
    left, right = _tone(440, 16000), _tone(440, 16000, amp=0.1)
    path = tmp_path / f"x.{fmt}"
    sf.write(path, np.stack([left, right], axis=1), 16000)
    wav = load_audio(path)
    assert wav.ndim == 1 and abs(len(wav) - 12000) <= 1
    assert abs(_peak_freq(wav, 24000) - 440) < 5
    assert abs(rms(wav) - rms((left + right) / 2)) < 0.02  # mono = channel mean


def test_ffmpeg_fallback_decodes_mp3(tmp_path):
    import imageio_ffmpeg

    src = tmp_path / "x.wav"
    sf.write(src, _tone(660, 44100, seconds=1.0), 44100)
    mp3 = tmp_path / "x.mp3"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(src), str(mp3)], check=True)
    wav = load_audio(mp3)
    assert abs(len(wav) / 24000 - 1.0) < 0.1
    assert abs(_peak_freq(wav, 24000) - 660) < 5


def test_ffmpeg_decodes_what_soundfile_cannot_and_fails_in_one_line(tmp_path):
    import imageio_ffmpeg

    from jamflow.ffmpeg import run_ffmpeg

    src = tmp_path / "x.wav"
    sf.write(src, _tone(330, 48000, seconds=1.0), 48000)
    m4a = tmp_path / "x.m4a"  # AAC in MP4: libsndfile has no reader for it
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(src), "-c:a", "aac", str(m4a)], check=True)
    wav = load_audio(m4a)
    assert abs(len(wav) / 24000 - 1.0) < 0.1 and abs(_peak_freq(wav, 24000) - 330) < 5
    with pytest.raises(UserError, match=r"^x: expected y \(ffmpeg said: .+\)$") as err:
        run_ffmpeg(["-i", str(tmp_path / "missing.m4a"), "-f", "null", "-"], "x: expected y")
    assert "\n" not in str(err.value)


def test_resampler_is_band_limited():
    wav = _tone(1000, 48000, seconds=1.0) + _tone(13000, 48000, seconds=1.0)  # 13 kHz > new Nyquist
    out = resample(wav, 48000, 24000)
    assert len(out) == 24000
    spec = np.abs(np.fft.rfft(out * np.hanning(len(out))))
    freqs = np.fft.rfftfreq(len(out), 1 / 24000)
    kept = spec[np.abs(freqs - 1000) < 20].max()
    alias = spec[np.abs(freqs - 11000) < 20].max()  # where 13 kHz would fold to without filtering
    assert 20 * np.log10(alias / kept) < -40


def test_bad_files_raise_user_errors(tmp_path):
    with pytest.raises(UserError, match="existing"):
        load_audio(tmp_path / "missing.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(UserError, match="non-empty"):
        load_audio(tmp_path / "empty.wav")
    (tmp_path / "junk.wav").write_bytes(b"RIFF\x00\x00garbage" * 20)
    with pytest.raises(UserError, match="readable"):
        load_audio(tmp_path / "junk.wav")
    (tmp_path / "notes.txt").write_text("not audio at all\n" * 20)
    with pytest.raises(UserError, match="readable"):
        load_audio(tmp_path / "notes.txt")
    sf.write(tmp_path / "zero.wav", np.zeros((0,), np.float32), 24000)
    with pytest.raises(UserError, match="zero-length"):
        load_audio(tmp_path / "zero.wav")
    sf.write(tmp_path / "nan.wav", np.array([0.1, np.nan, 0.2] * 100, np.float32), 24000, subtype="FLOAT")
    with pytest.raises(UserError, match="NaN"):
        load_audio(tmp_path / "nan.wav")
    sf.write(tmp_path / "ok.wav", _tone(440, 24000), 24000)
    with pytest.raises(UserError, match="sample_rate"):
        load_audio(tmp_path / "ok.wav", sample_rate=10)
    with pytest.raises(UserError, match="sample_rate"):
        load_audio(tmp_path / "ok.wav", sample_rate=24000.5)


def test_loudness_normalise_and_restore():
    quiet = _tone(440, 24000, amp=0.01)
    norm, level = normalize_loudness(quiet)
    assert abs(rms(norm) - 0.1) < 1e-4 and abs(level - 0.01 / np.sqrt(2)) < 1e-4
    assert abs(rms(restore_loudness(norm, level)) - level) < 1e-5
    loud = _tone(440, 24000, amp=0.5)
    same, level = normalize_loudness(loud)  # F5 only raises quiet references
    assert np.array_equal(same, loud) and np.array_equal(restore_loudness(same, level), same)
    with pytest.raises(UserError, match="silence"):
        normalize_loudness(np.zeros(1000, np.float32))


def test_trim_and_find_silences():
    sr = 24000
    gap = np.zeros(int(0.5 * sr), np.float32)
    wav = np.concatenate([gap, _tone(300, sr, 0.3), gap, _tone(300, sr, 0.3), gap])
    trimmed = trim_silence(wav, sr, keep_ms=20)
    assert abs(len(trimmed) / sr - (0.3 + 0.5 + 0.3 + 0.04)) < 0.03
    found = silences(wav, sr, min_silence_ms=100)
    assert len(found) == 3
    assert abs(found[1][0] / sr - 0.8) < 0.02 and abs(found[1][1] / sr - 1.3) < 0.02
    assert frame_db(np.full(240, 0.5, np.float32)).round(2)[0] == round(20 * np.log10(0.5), 2)
    with pytest.raises(UserError, match="below"):
        trim_silence(np.zeros(sr, np.float32))
    quiet = wav * 0.01  # speech at about -43 dBFS: F5's absolute -42 dBFS would call it all silence
    assert abs(len(trim_silence(quiet, sr)) - len(trimmed)) < 0.01 * sr
    assert [(a // 240, b // 240) for a, b in silences(quiet, sr)] == [(a // 240, b // 240) for a, b in found]
