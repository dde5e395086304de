"""recipes/vocoder/vocoder_distill.py (HiFi-GAN distilled into a Vocos by regression) on tiny students."""
import dataclasses
import json
import math
import random
import re

import numpy as np
import pytest
import soundfile as sf
import torch

from jamflow.audio.mel import N_FFT, mel_spectrogram
from jamflow.timeline import HOP_LENGTH, SAMPLE_RATE
from jamflow.vocoder import load_vocoder


class ToneTeacher:
    """A deterministic stand-in teacher: a 440 Hz tone whose loudness follows the mel's energy."""

    def decode(self, mel):  # [b, 100, n] -> [b, (n - 1) * hop]
        gain = mel.exp().mean(1, keepdim=True)  # [b, 1, n]
        gain = torch.nn.functional.interpolate(gain, size=(mel.shape[-1] - 1) * HOP_LENGTH, mode="linear")[:, 0]
        t = torch.arange(gain.shape[-1]) / SAMPLE_RATE
        return 0.5 * gain / gain.max() * torch.sin(2 * math.pi * 440 * t)


def _speechlike(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t + seed)
    wav = envelope * (0.3 * np.sin(2 * np.pi * 220 * t) + 0.02 * rng.standard_normal(len(t)))
    return wav.astype(np.float32)


@pytest.fixture
def clips(tmp_path):
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"clip{i}.wav")
        sf.write(paths[-1], _speechlike(1.2, i), SAMPLE_RATE)
    return paths


def test_crossover_keeps_the_teacher_low_and_the_recording_high(vocoder_distill):
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    low, high = np.sin(2 * np.pi * 1000 * t), np.sin(2 * np.pi * 10000 * t)
    out = vocoder_distill.crossover_wave(low + high, 0.5 * low + 2 * high)  # teacher, recording
    spectrum = np.abs(np.fft.rfft(out)) / (len(t) / 2)
    assert spectrum[1000] == pytest.approx(1.0, abs=1e-3)  # the teacher's 1 kHz, not the recording's 0.5
    assert spectrum[10000] == pytest.approx(2.0, abs=1e-3)  # the recording's 10 kHz, not the teacher's 1


def test_target_crop_starts_at_its_first_frames_window(tmp_path, clips, vocoder_distill):
    files = vocoder_distill.write_targets(clips[:1], tmp_path / "targets", ToneTeacher())
    data = vocoder_distill.TargetSet(files, segment_frames=16)
    whole = data.waves[0][N_FFT // 2:]  # the unpadded target wave
    spec = torch.stft(whole, N_FFT, HOP_LENGTH, window=torch.hann_window(N_FFT), center=True, return_complex=True)
    rng = random.Random(3)
    state = rng.getstate()
    _, wave = data.batch(1, rng)
    rng.setstate(state)
    rng.randrange(1)
    start = rng.randrange(data.mels[0].shape[1] - 16 + 1)
    crop = torch.stft(wave[0], N_FFT, HOP_LENGTH, window=torch.hann_window(N_FFT), center=False, return_complex=True)
    assert torch.allclose(crop, spec[:, start:start + 16], atol=1e-4)


def test_phase_losses_ignore_a_constant_offset_and_see_a_wrong_phase(vocoder_distill):
    torch.manual_seed(0)
    target = torch.polar(torch.rand(2, 513, 20) + 0.1, torch.rand(2, 513, 20) * 2 * math.pi)
    band = torch.ones(513)
    same = vocoder_distill.phase_losses(target.angle() + 2.5, target, band)  # shifted by a constant: same structure
    wrong = vocoder_distill.phase_losses(torch.rand(2, 513, 20) * 2 * math.pi, target, band)
    assert max(float(v) for v in same.values()) < 1e-5
    assert min(float(v) for v in wrong.values()) > 1.0  # uniform phase errors average pi / 2
    narrow = torch.zeros(513).index_fill_(0, torch.arange(5), 1)
    muted = vocoder_distill.phase_losses(torch.zeros(2, 513, 20), target, narrow)
    assert all(torch.isfinite(v) for v in muted.values())


def test_write_targets_skips_clips_already_written(tmp_path, clips, vocoder_distill):
    class Counting(ToneTeacher):
        calls = 0

        def decode(self, mel):
            Counting.calls += 1
            return super().decode(mel)

    vocoder_distill.write_targets(clips[:2], tmp_path / "t", Counting())
    vocoder_distill.write_targets(clips, tmp_path / "t", Counting())
    assert Counting.calls == 3
    with np.load(tmp_path / "t" / "clip0.npz") as z:
        assert len(z["teacher"]) == len(z["original"]) == (z["mel"].shape[1] - 1) * HOP_LENGTH


def test_student_loss_falls_and_the_output_loads_as_a_vocoder(tmp_path, clips, vocoder_distill):
    files = vocoder_distill.write_targets(clips, tmp_path / "targets", ToneTeacher())
    cfg = dataclasses.replace(vocoder_distill.PRESETS["tiny"], updates=60, validate_every=60, lr=3e-3, warmup=5)
    data = vocoder_distill.TargetSet(files, cfg.segment_frames)
    before = vocoder_distill._validate(vocoder_distill.Vocos(cfg.student), data, cfg)
    student = vocoder_distill.distill_vocoder(cfg, data, data, tmp_path / "student", log=lambda line: None)
    after = vocoder_distill._validate(student, data, cfg)
    assert after["log_mag"] < 0.7 * before["log_mag"]
    assert after["mel"] < before["mel"]
    loaded = load_vocoder(tmp_path / "student")
    mel = torch.randn(1, 100, 30)
    assert torch.allclose(loaded.decode(mel), student.decode(mel), atol=1e-5)
    log = json.loads((tmp_path / "student" / "train_log.json").read_text())
    assert log["history"][-1]["update"] == 60 and log["config"]["updates"] == 60


def test_learning_rate_warms_up_then_decays_to_a_floor(vocoder_distill):
    cfg = dataclasses.replace(vocoder_distill.PRESETS["tiny"], updates=100, warmup=10, lr=1.0)
    rates = [vocoder_distill.learning_rate(cfg, u) for u in range(100)]
    assert rates[0] == pytest.approx(0.1) and rates[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(rates[10:], rates[11:])) and rates[-1] == pytest.approx(0.01, abs=1e-3)


def _manifest(tmp_path, clips):
    rows = [{"id": c.stem, "audio": c.name, "text": "a", "motion": None, "speaker": "s", "duration": 1.2,
             "alignment": None, "split": "test" if i == 0 else "train"} for i, c in enumerate(clips)]
    path = tmp_path / "manifest.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_cli_writes_a_student_that_load_vocoder_reads(tmp_path, clips, capsys, vocoder_distill):
    manifest = _manifest(tmp_path, clips)
    out = tmp_path / "student"
    code = vocoder_distill.main(["--manifest", str(manifest), "--out", str(out), "--preset", "tiny",
                                 "--teacher", "griffinlim", "--updates", "4"])
    assert code == 0
    assert sorted(p.name for p in (out / "targets" / "train").iterdir()) == ["clip1.npz", "clip2.npz"]
    assert [p.name for p in (out / "targets" / "valid").iterdir()] == ["clip0.npz"]
    assert load_vocoder(out).decode(torch.randn(1, 100, 12)).shape == (1, 11 * HOP_LENGTH)


@pytest.mark.parametrize("argv, match", [
    (["--clips", "0"], r"^distill.py: error: --clips: expected a positive integer, got 0"),
    (["--updates", "-1"], r"--updates: expected 0 or more, got -1"),
    (["--manifest", "nowhere.jsonl"], r"--manifest: expected a manifest.jsonl, got 'nowhere.jsonl'"),
])
def test_bad_flags_exit_2_with_one_line_before_any_work(tmp_path, clips, capsys, argv, match, vocoder_distill):
    manifest = _manifest(tmp_path, clips)
    args = ["--manifest", str(manifest), "--out", str(tmp_path / "out"), *argv]
    assert vocoder_distill.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and re.search(match, err[0]), err
    assert not (tmp_path / "out").exists()
