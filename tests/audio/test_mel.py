import numpy as np
import pytest
import torch
from scipy.signal import get_window

from jamflow.audio import mel_spectrogram
from jamflow.audio.mel import LOG_FLOOR, mel_filterbank, num_frames
from jamflow.errors import UserError

librosa = pytest.importorskip("librosa")


def _reference_log_mel(wav: np.ndarray, kind: str) -> np.ndarray:
    """Independent numpy computation: librosa filterbank + framed rfft, written from the F5 recipe."""
    wav = wav.astype(np.float64)
    if kind == "vocos":
        fb = librosa.filters.mel(sr=24000, n_fft=1024, n_mels=100, fmin=0, fmax=12000, htk=True, norm=None)
        x = np.pad(wav, 512, mode="reflect")
    else:
        fb = librosa.filters.mel(sr=24000, n_fft=1024, n_mels=100, fmin=0, fmax=None)  # slaney + slaney norm
        x = np.pad(wav, 384, mode="reflect")
    window = get_window("hann", 1024, fftbins=True)  # periodic Hann
    n = 1 + (len(x) - 1024) // 256
    frames = np.stack([x[i * 256: i * 256 + 1024] * window for i in range(n)], axis=1)  # [1024, n]
    spec = np.fft.rfft(frames, axis=0)
    mag = np.abs(spec) if kind == "vocos" else np.sqrt(spec.real ** 2 + spec.imag ** 2 + 1e-9)
    return np.log(np.maximum(fb.astype(np.float64) @ mag, 1e-5))


@pytest.mark.parametrize("kind", ["vocos", "bigvgan"])
def test_mel_matches_independent_numpy_computation(kind):
    rng = np.random.default_rng(0)
    t = np.arange(24000 + 123) / 24000
    wav = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) + 0.05 * rng.standard_normal(t.size)
    ours = mel_spectrogram(torch.tensor(wav, dtype=torch.float32), kind=kind)[0].double().numpy()
    ref = _reference_log_mel(wav.astype(np.float32), kind)
    assert ours.shape == ref.shape == (100, num_frames(len(wav), kind))
    assert np.abs(ours - ref).max() <= 1e-4


def test_filterbanks_match_librosa():
    htk = librosa.filters.mel(sr=24000, n_fft=1024, n_mels=100, fmin=0, fmax=12000, htk=True, norm=None).T
    slaney = librosa.filters.mel(sr=24000, n_fft=1024, n_mels=100).T
    assert np.abs(mel_filterbank(scale="htk").numpy() - htk).max() < 1e-6
    assert np.abs(mel_filterbank(scale="slaney").numpy() - slaney).max() < 1e-7


@pytest.mark.parametrize("samples", [513, 1000, 24000, 24000 * 3 + 255, 24000 * 3 + 256])
def test_frame_count_rule(samples):
    wav = torch.randn(samples) * 0.1
    assert mel_spectrogram(wav).shape == (1, 100, 1 + samples // 256)
    assert mel_spectrogram(wav, kind="bigvgan").shape[-1] == samples // 256


def test_batched_equals_one_by_one_and_float64():
    wav = torch.randn(3, 5000) * 0.2
    batched = mel_spectrogram(wav)
    for i in range(3):
        assert torch.allclose(batched[i], mel_spectrogram(wav[i])[0], atol=1e-5)
    assert torch.allclose(mel_spectrogram(wav.double()).float(), batched, atol=1e-4)
    assert mel_spectrogram(wav[:, None]).shape == batched.shape  # [b, 1, s] as F5 accepts


def test_silence_hits_the_log_floor_and_gradients_stay_finite():
    out = mel_spectrogram(torch.zeros(4000))
    assert torch.allclose(out, torch.full_like(out, float(np.log(1e-5))))
    wav = torch.cat([torch.zeros(2000), 0.1 * torch.randn(2000)]).requires_grad_()
    mel_spectrogram(wav).sum().backward()
    assert torch.isfinite(wav.grad).all() and wav.grad.abs().sum() > 0


def test_bad_inputs_raise_user_errors():
    with pytest.raises(UserError, match="kind"):
        mel_spectrogram(torch.zeros(4000), kind="hifigan")
    with pytest.raises(UserError, match="wav"):
        mel_spectrogram(torch.zeros(2, 2, 4000))
    with pytest.raises(UserError, match="samples"):
        mel_spectrogram(torch.zeros(100))
    with pytest.raises(UserError, match="floating"):
        mel_spectrogram(torch.zeros(4000, dtype=torch.int16))


def test_recording_floor_is_where_a_16_bit_files_silence_sits():
    from jamflow.audio.mel import QUANTIZATION_STEP, recording_floor

    rng = np.random.default_rng(7)  # not the floor's own noise
    dither = (rng.random(96000) - rng.random(96000)) * QUANTIZATION_STEP
    measured = mel_spectrogram(torch.from_numpy(dither))[0].mean(1)
    floor = recording_floor()
    assert floor.shape == (100,) and torch.allclose(floor, measured.float(), atol=0.15)
    assert floor[-1] > floor[0] > np.log(LOG_FLOOR) + 2  # wider bands gather more noise; far above the clamp


def test_recording_mel_lifts_empty_bands_to_the_floor_and_keeps_the_rest():
    from jamflow.audio.mel import recording_floor, recording_mel
    from jamflow.audio.io import resample

    t = np.arange(16000) / 16000
    speechlike = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    wav = torch.from_numpy(resample(speechlike, 16000, 24000))  # a 16 kHz recording: nothing above 8 kHz
    plain, floored = mel_spectrogram(wav)[0], recording_mel(wav)[0]  # [100, n]
    floor = recording_floor()
    assert (plain[-10:, 2:-2] < floor[-10:, None] - 3).all()  # exact zeros (but the clip edges) up there: out of what the model heard
    assert (floored >= floor[:, None]).all()
    above = plain >= floor[:, None]
    assert above[:20].any() and torch.equal(floored[above], plain[above])  # the voice itself is untouched
