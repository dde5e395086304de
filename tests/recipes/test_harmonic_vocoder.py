"""recipes/harmonic_vocoder/harmonic.py: features, the F0 contour, and a tiny run from prep to export."""
import json

import numpy as np
import pytest
import soundfile as sf
import torch

from jamflow.timeline import HOP_LENGTH, SAMPLE_RATE
from jamflow.vocoder.harmonic import HarmonicVocoder

pytest.importorskip("pyworld")


def _voice(seconds: float, f0: float, seed: int) -> np.ndarray:
    """A buzz at f0 (harmonics falling 6 dB per octave) in syllable-like bursts, with breath noise between."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    buzz = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 20))
    on = (np.sin(2 * np.pi * 2.5 * t) > -0.2).astype(np.float64)
    return (0.1 * buzz * on + 0.01 * rng.standard_normal(len(t)) * (1 - on)).astype(np.float32)


@pytest.fixture
def corpus(tmp_path):
    rows = []
    for i, (f0, split) in enumerate([(120, "train"), (180, "train"), (240, "train"), (150, "test")]):
        sf.write(tmp_path / f"c{i}.wav", _voice(2.0, f0, i), SAMPLE_RATE)
        rows.append({"id": str(i), "audio": f"c{i}.wav", "text": "x", "split": split})
    (tmp_path / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path


def test_features_are_on_the_mel_grid_with_the_clips_f0(harmonic_recipe, corpus):
    pcm, mel, f0 = harmonic_recipe.clip_features(corpus / "c0.wav")
    n = len(pcm) // HOP_LENGTH + 1
    assert pcm.dtype == torch.int16 and mel.shape == (100, n) and f0.shape == (n,)
    voiced = f0[f0 > 0]
    assert len(voiced) > n / 3 and abs(float(voiced.median()) - 120) < 6


def test_unvoiced_runs_are_interpolated_between_their_neighbours(harmonic_recipe):
    f0 = torch.tensor([[0.0, 100, 0, 0, 160, 0], [0.0, 0, 0, 0, 0, 0]])
    out = harmonic_recipe.continuous_f0(f0)
    assert torch.allclose(out[0], torch.tensor([100.0, 100, 120, 140, 160, 160]))
    assert torch.all(out[1] == 120)


def test_a_tiny_run_learns_and_exports_a_loadable_vocoder(harmonic_recipe, corpus, tmp_path):
    main = harmonic_recipe.main
    main(["prep", "--manifest", str(corpus / "manifest.jsonl"), "--split", "train", "--out", str(tmp_path / "train.pt"),
          "--workers", "1"])
    main(["prep", "--manifest", str(corpus / "manifest.jsonl"), "--split", "test", "--out", str(tmp_path / "test.pt"),
          "--workers", "1"])
    common = ["--data", str(tmp_path / "train.pt"), "--val", str(tmp_path / "test.pt"), "--batch", "4", "--every", "40"]
    args = harmonic_recipe.build_parser().parse_args(
        ["train", *common, "--out", str(tmp_path / "stage1"), "--steps", "80", "--gated", "--dim", "32", "--layers", "1",
         "--lr", "3e-3", "--warmup", "5"])
    losses = harmonic_recipe.train(args)
    assert np.mean(losses[-20:]) < 0.8 * np.mean(losses[:20])
    log = json.loads((tmp_path / "stage1" / "run.json").read_text())["log"]
    assert [row["step"] for row in log] == [40, 80]
    main(["train", *common, "--out", str(tmp_path / "stage2"), "--init", str(tmp_path / "stage1"), "--steps", "10"])
    main(["export", "--run", str(tmp_path / "stage2"), "--out", str(tmp_path / "vocoder")])
    vocoder = HarmonicVocoder.from_pretrained(tmp_path / "vocoder")
    assert vocoder.net.cfg.dim == 32
    wav = vocoder.decode(torch.randn(1, 100, 20) - 4)
    assert wav.shape == (1, 19 * HOP_LENGTH) and torch.isfinite(wav).all()


def test_the_adversarial_stage_trains_the_discriminators_first_then_the_vocoder(
        harmonic_recipe, harmonic_adversarial, corpus, tmp_path):
    harmonic_recipe.main(["prep", "--manifest", str(corpus / "manifest.jsonl"), "--split", "train",
                          "--out", str(tmp_path / "train.pt"), "--workers", "1"])
    harmonic_recipe.main(["train", "--data", str(tmp_path / "train.pt"), "--val", str(tmp_path / "train.pt"),
                          "--out", str(tmp_path / "stage2"), "--steps", "5", "--dim", "32", "--layers", "1", "--batch", "2"])
    harmonic_recipe.main(["export", "--run", str(tmp_path / "stage2"), "--out", str(tmp_path / "stage2_vocoder")])
    args = harmonic_adversarial.build_parser().parse_args(
        ["--data", str(tmp_path / "train.pt"), "--init", str(tmp_path / "stage2_vocoder"), "--out", str(tmp_path / "stage3"),
         "--steps", "20", "--disc_warmup", "15", "--disc_lr", "3e-3", "--batch", "2", "--every", "10", "--log_every", "5"])
    log = harmonic_adversarial.finetune(args)
    warmup, after = [r for r in log if r["step"] <= 15], [r for r in log if r["step"] > 15]
    assert all(r["adv"] == 0 and r["fm"] == 0 for r in warmup) and all(r["fm"] > 0 for r in after)
    assert log[-1]["disc"] < 0.8 * log[0]["disc"], log  # the discriminators learn to tell them apart

    harmonic_recipe.main(["export", "--run", str(tmp_path / "stage3"), "--out", str(tmp_path / "vocoder")])
    start = HarmonicVocoder.from_pretrained(tmp_path / "stage2_vocoder").net.state_dict()
    tuned = HarmonicVocoder.from_pretrained(tmp_path / "vocoder").net.state_dict()
    assert any(not torch.equal(start[k], tuned[k]) for k in start)
    assert json.loads((tmp_path / "stage3" / "run.json").read_text())["log"][-1]["step"] == 20


def test_a_discriminator_scores_each_cell_of_its_resolution(harmonic_adversarial):
    disc = harmonic_adversarial.SpectrogramDiscriminator(512, 128)
    scores, activations = disc(torch.randn(2, 95 * HOP_LENGTH))
    frames = 95 * HOP_LENGTH // 128 + 1
    assert scores.shape == (2, 1, frames, 33) and len(activations) == 5  # 257 bins strided 2 x 2 x 2
    assert all(a.shape[:3] == (2, 16, frames) for a in activations)
