import numpy as np
import pytest
import torch

from jamflow.audio import mel_spectrogram
from jamflow.audio.mel import mel_filterbank
from jamflow.errors import UserError
from jamflow.vocoder import FallbackConfig, GriffinLimVocoder, load_vocoder


def _vowel(seconds=1.0, f0=140.0, sr=24000):
    """Harmonic source with two formant-like peaks and a slow pitch glide: a crude sung vowel."""
    t = np.arange(int(seconds * sr)) / sr
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.1 * np.sin(2 * np.pi * 2 * t))) / sr
    wav = sum((np.exp(-((k * f0 - 700) / 300) ** 2) + 0.5 * np.exp(-((k * f0 - 1800) / 400) ** 2)) * np.sin(k * phase)
              for k in range(1, 60))
    return torch.tensor(0.2 * wav / np.abs(wav).max(), dtype=torch.float32)


def test_nnls_magnitude_explains_the_mel_better_than_a_clamped_pseudo_inverse():
    voc = GriffinLimVocoder(FallbackConfig(nnls_iters=40))
    mel = mel_spectrogram(_vowel(0.5))
    mag = voc.mel_to_magnitude(mel)
    assert (mag >= 0).all()
    fb = mel_filterbank(scale="htk").float()  # [513, 100]
    fb_pinv = torch.from_numpy(np.linalg.pinv(fb.T.double().numpy())).float()  # [513, 100]
    pinv = torch.clamp(torch.einsum("fm,bmn->bfn", fb_pinv, mel.exp()), min=0)
    err = lambda m: (torch.einsum("fm,bfn->bmn", fb, m) - mel.exp()).norm()  # noqa: E731
    assert err(mag) < 0.5 * err(pinv)


def test_filterbank_bands_equal_the_dense_products():
    from jamflow.vocoder.fallback import FilterbankBands

    fb = mel_filterbank(scale="htk").float()  # [513, 100]
    bands = FilterbankBands(fb)
    g = torch.Generator().manual_seed(0)
    x, s = torch.rand(2, 100, 37, generator=g), torch.rand(2, 513, 37, generator=g)
    torch.testing.assert_close(bands.to_bins(x), fb @ x, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(bands.to_bands(s), fb.T @ s, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="at most two filters"):
        FilterbankBands(torch.ones(4, 3))


def test_griffin_lim_output_reproduces_the_input_mel():
    wav = _vowel(0.6)
    mel = mel_spectrogram(wav)
    out = GriffinLimVocoder(FallbackConfig(gl_iters=24)).decode(mel)
    assert out.shape == (1, (mel.shape[-1] - 1) * 256)
    remel = mel_spectrogram(out)
    loud = mel > mel.max() - 6  # bins within ~50 dB of the peak: where the energy is
    assert (remel - mel)[loud].abs().mean() < 0.5  # log-mel units (~4 dB)
    random_phase = torch.istft(torch.polar(GriffinLimVocoder().mel_to_magnitude(mel),
                                           torch.rand(1, 513, mel.shape[-1]) * 6.28), 1024, 256,
                               window=torch.hann_window(1024))
    assert (mel_spectrogram(random_phase) - mel)[loud].abs().mean() > (remel - mel)[loud].abs().mean()


@pytest.mark.parametrize("hop", [256, 128, 85, 64])
@pytest.mark.parametrize("frames", [2, 7, 120])
def test_frame_major_stft_and_istft_equal_torchs(hop, frames):
    from jamflow.vocoder.fallback import istft_frames, stft_frames

    gen = torch.Generator().manual_seed(frames)
    spec = torch.randn(2, 513, frames, dtype=torch.complex64, generator=gen)
    window = torch.hann_window(1024)
    for length in ((frames - 1) * hop, (frames - 1) * hop - 5, (frames + 2) * hop):  # exact, shorter, past the end
        want = torch.istft(spec, 1024, hop, 1024, window, center=True, length=length)
        got = istft_frames(spec.transpose(1, 2).contiguous(), hop, window, length)
        assert got.shape == want.shape
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)
    wav = torch.randn(2, 1100 + 7 * hop, generator=gen)
    want = torch.stft(wav, 1024, hop, 1024, window, center=True, return_complex=True)
    torch.testing.assert_close(stft_frames(wav, hop, window), want.transpose(1, 2), atol=1e-4, rtol=1e-5)


def test_griffin_lim_gives_the_same_bits_at_any_thread_count():
    """64 momentum iterations amplify a last-bit difference into an audible one: no step may round
    differently when torch splits it over another number of threads."""
    mel = torch.randn(1, 100, 300, generator=torch.Generator().manual_seed(0)) - 4
    threads = torch.get_num_threads()
    try:
        outs = []
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            outs.append(GriffinLimVocoder().decode(mel))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[0], outs[2])


def test_fallback_is_deterministic_batched_and_checks_input():
    voc = GriffinLimVocoder(FallbackConfig(gl_iters=4, nnls_iters=4))
    mel = mel_spectrogram(torch.randn(2, 3000) * 0.1)
    a, b = voc.decode(mel), voc.decode(mel)
    assert torch.equal(a, b) and a.shape == (2, (mel.shape[-1] - 1) * 256)
    with pytest.raises(UserError, match="mel"):
        voc.decode(torch.randn(1, 80, 10))
    with pytest.raises(UserError, match="finite"):
        voc.decode(torch.full((1, 100, 10), float("nan")))


def test_load_vocoder_falls_back_without_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("JAMFLOW_VOCOS", str(tmp_path / "none"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr("jamflow.vocoder.hifigan.find_hifigan", lambda: None)  # nor the shipped HiFi-GAN
    with pytest.warns(UserWarning, match="Griffin-Lim"):
        voc = load_vocoder()
    assert isinstance(voc, GriffinLimVocoder)
    assert isinstance(load_vocoder("griffinlim"), GriffinLimVocoder)
    with pytest.raises(UserError, match="vocoder"):
        load_vocoder(tmp_path / "missing")
