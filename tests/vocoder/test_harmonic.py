"""The harmonic-plus-noise vocoder: its pulse source, its synthesis, its folder format and the shipped weights."""
import json
from importlib.resources import files

import numpy as np
import pytest
import torch

from jamflow.audio.io import load_audio
from jamflow.audio.mel import mel_spectrogram
from jamflow.errors import UserError
from jamflow.timeline import HOP_LENGTH, SAMPLE_RATE
from jamflow.vocoder.harmonic import (BINS, HarmonicConfig, HarmonicNoiseNet, HarmonicVocoder, pulse_train,
                                      synthesize)

TINY = HarmonicConfig(dim=16, layers=1, ff_mult=2)


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return HarmonicVocoder(HarmonicNoiseNet(TINY))


def _spectrum(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE), spec


def test_pulse_train_holds_every_harmonic_below_fmax_at_one_level_and_nothing_above():
    f0 = torch.full((1, 101), 200.0)
    pulses = pulse_train(f0, 100 * HOP_LENGTH, fmax=3000.0)[0].numpy()
    freqs, spec = _spectrum(pulses)
    peaks = [spec[np.abs(freqs - 200 * h) < 5].max() for h in range(1, 15)]  # 200 .. 2800 Hz
    assert max(peaks) / min(peaks) < 1.1  # unit amplitude each (up to where a harmonic falls between bins)
    above = spec[freqs > 3300].max()
    assert 20 * np.log10(above / min(peaks)) < -35


def test_pulse_train_follows_a_changing_f0():
    f0 = torch.cat([torch.full((1, 60), 150.0), torch.full((1, 60), 300.0)], dim=1)
    pulses = pulse_train(f0, 119 * HOP_LENGTH, fmax=1000.0)[0].numpy()
    for part, hz in ((pulses[: 50 * HOP_LENGTH], 150), (pulses[-50 * HOP_LENGTH:], 300)):
        freqs, spec = _spectrum(part)
        lowest = freqs[(freqs > 50) & (spec > 0.5 * spec.max())][0]  # the fundamental: every harmonic is as loud
        assert abs(lowest - hz) < 5


def _parts(n: int, harm: float, noise: float) -> dict:
    return {"harm_gain": torch.full((1, n, BINS), harm), "harm_phase": torch.zeros(1, n, BINS),
            "noise_gain": torch.full((1, n, BINS), noise)}


def test_synthesis_with_unit_harmonic_gain_gives_back_the_pulse_train():
    f0, length = torch.full((1, 81), 220.0), 80 * HOP_LENGTH
    out = synthesize(_parts(81, 0.0, -30.0), f0, length, fmax=5000.0)[0]
    pulses = pulse_train(f0, length, fmax=5000.0)[0] * (2.0 / torch.hann_window(1024).sum())
    mid = slice(10 * HOP_LENGTH, 70 * HOP_LENGTH)  # away from the STFT's reflected edges
    scale = float(out[mid].norm() / pulses[mid].norm())
    corr = float(torch.dot(out[mid], pulses[mid]) / (out[mid].norm() * pulses[mid].norm()))
    assert corr > 0.99 and 0.9 < scale < 1.1


def test_synthesis_noise_has_the_level_its_gain_asks_for():
    f0, length = torch.full((1, 201), 100.0), 200 * HOP_LENGTH
    gen = torch.Generator().manual_seed(0)
    quiet = synthesize(_parts(201, -30.0, np.log(0.01)), f0, length, 11000.0, gen)[0]
    loud = synthesize(_parts(201, -30.0, np.log(0.04)), f0, length, 11000.0, torch.Generator().manual_seed(0))[0]
    ratio = float(loud[5000:-5000].std() / quiet[5000:-5000].std())
    assert 3.8 < ratio < 4.2  # gain is linear in amplitude
    freqs, spec = _spectrum(quiet.numpy())
    low, high = spec[(freqs > 500) & (freqs < 3000)].mean(), spec[(freqs > 6000) & (freqs < 10000)].mean()
    assert 0.8 < low / high < 1.25  # white


def test_decode_keeps_the_timeline_and_is_deterministic(tiny):
    mel = torch.randn(2, 100, 40) - 4
    a, b = tiny.decode(mel), tiny.decode(mel)
    assert a.shape == (2, 39 * HOP_LENGTH) and a.dtype == torch.float32
    assert torch.equal(a, b) and torch.isfinite(a).all()
    with pytest.raises(UserError, match=r"mel: expected shape \[b, 100, frames\]"):
        tiny.decode(torch.zeros(1, 80, 10))


def test_folder_round_trip_and_bad_folders(tiny, tmp_path):
    folder = tiny.save_pretrained(tmp_path / "voc", dtype=torch.float32)
    assert json.loads((folder / "config.json").read_text())["harmonic"]["dim"] == 16
    mel = torch.randn(1, 100, 30) - 4
    assert torch.equal(HarmonicVocoder.from_pretrained(folder).decode(mel), tiny.decode(mel))
    with pytest.raises(UserError, match=r"^vocoder: expected a harmonic vocoder") as err:
        HarmonicVocoder.from_pretrained(tmp_path / "missing")
    assert "\n" not in str(err.value)
    (folder / "config.json").write_text(json.dumps({"harmonic": {"dim": 16, "colour": 1}}))
    with pytest.raises(UserError, match="unknown"):
        HarmonicVocoder.from_pretrained(folder)


def test_shipped_weights_resynthesise_real_speech():
    wav = torch.from_numpy(load_audio(files("jamflow.assets") / "examples" / "librivox.wav"))[:48000]
    mel = mel_spectrogram(wav[None])
    out = HarmonicVocoder.shipped().decode(mel)
    diff = (mel_spectrogram(out) - mel)[0]
    loud = mel[0] > mel.max() - 5
    assert diff[loud].abs().mean() < 0.35  # log-mel units (0.27 measured; Griffin-Lim 0.08, an untrained net 4.3)
    assert abs(float(diff[loud].mean())) < 0.15


def test_asked_for_by_name_on_the_command_line_and_in_the_api(tiny_ckpt):
    from jamflow.commands.common import check_vocoder_arg
    from jamflow.infer.api import JAMFlow
    from jamflow.vocoder import load_vocoder, vocoder_label

    from jamflow.commands.common import VOCODER_NAMES
    from jamflow.vocoder import NAMES

    assert VOCODER_NAMES == NAMES  # the CLI's torch-free copy
    check_vocoder_arg("harmonic")  # a name, not a folder: accepted before the model loads
    assert vocoder_label(load_vocoder("harmonic")) == "Harmonic"
    jam = JAMFlow.from_pretrained(tiny_ckpt, device="cpu", dtype="fp32", vocoder="harmonic", progress=False)
    out = jam.tts("hello there", seed=0, nfe_step=2)
    assert isinstance(jam.vocoder, HarmonicVocoder) and len(out.wav) > 0 and np.isfinite(out.wav).all()


def test_a_few_step_student_on_a_cpu_decodes_with_it_unless_told_otherwise(monkeypatch, tiny_ckpt):
    import jamflow.vocoder as vocoder_module
    from jamflow.infer.engine import Engine
    from jamflow.model.jam import JAMModel

    monkeypatch.setattr(vocoder_module, "find_vocos", lambda: None)
    model = JAMModel.from_pretrained(tiny_ckpt)
    assert type(Engine.create(model, "cpu", "fp32").vocoder).__name__ == "HiFiGANVocoder"
    model.student = object()  # what apply_student leaves on a model
    assert isinstance(Engine.create(model, "cpu", "fp32").vocoder, HarmonicVocoder)
    assert type(Engine.create(model, "cpu", "fp32", vocoder="hifigan").vocoder).__name__ == "HiFiGANVocoder"
