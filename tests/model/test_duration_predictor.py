"""The phoneme duration predictor: its voice vector, padding, config, and that fitting learns context and voice."""
import numpy as np
import pytest
import torch

from jamflow.config import DurationConfig, JAMConfig, get_preset
from jamflow.errors import UserError
from jamflow.model.duration_predictor import DurationPredictor, voice_features

TABLE = {"frames_per_token": [4.0] * 256, "lead_frames": 10.0, "trail_frames": 12.0}


def test_voice_features_ignore_silence():
    rng = np.random.default_rng(0)
    speech = torch.from_numpy(rng.normal(0, 1, (40, 100))).float()
    silence = torch.full((30, 100), -11.5)
    short, long = voice_features(speech), voice_features(torch.cat([silence[:5], speech, silence]))
    assert short.shape == (200,)
    assert torch.allclose(short, long)
    assert torch.isnan(voice_features(torch.zeros(0, 100))).all()


def test_prediction_does_not_depend_on_padding_or_batch():
    torch.manual_seed(0)
    model = DurationPredictor(DurationConfig(dim=16, conv_layers=2), vocab=50).eval()
    a, b = torch.tensor([3, 7, 9, 1]), torch.tensor([5, 2, 8, 8, 4, 6, 11])
    batch = torch.full((2, 7), -1)
    batch[0, :4], batch[1] = a, b
    voice = torch.randn(2, 200)
    with torch.no_grad():
        together = model(batch, voice)
        alone = model(a[None], voice[:1])
    assert torch.allclose(together[0, :4], alone[0], atol=1e-5)
    assert (together[0, 4:] == 0).all()
    with torch.no_grad():  # a voice changes the prediction; NaN means "no voice"
        assert not torch.allclose(model(a[None], voice[:1]), model(a[None], None))
        assert torch.allclose(model(a[None], torch.full((1, 200), float("nan"))), model(a[None], None))


def test_config_round_trip_and_checks():
    cfg = get_preset("tiny", audio=dict(text_durations=TABLE), duration_predictor=dict(dim=32, voice=False))
    assert cfg.duration_predictor == DurationConfig(dim=32, voice=False)
    again = JAMConfig.from_dict(cfg.to_dict())
    assert again.duration_predictor == cfg.duration_predictor
    with pytest.raises(UserError, match="duration_predictor: unknown key 'width'"):
        get_preset("tiny", audio=dict(text_durations=TABLE), duration_predictor=dict(width=3))
    with pytest.raises(UserError, match="requires audio.text_durations"):
        get_preset("tiny", duration_predictor=dict(dim=32))


def _synthetic(n: int, rng) -> list[dict]:
    """Clips of two voices: token 5 lasts 12 frames for voice A and 3 for voice B; any token after
    token 7 lasts twice as long; others last 4 frames."""
    examples = []
    voices = {"A": np.r_[np.full(100, -2.0), np.full(100, 0.5)], "B": np.r_[np.full(100, -6.0), np.full(100, 1.5)]}
    for i in range(n):
        spk = "AB"[i % 2]
        ids = rng.integers(1, 12, size=int(rng.integers(6, 14)))
        frames = np.full(len(ids), 4)
        frames[ids == 5] = 12 if spk == "A" else 3
        after7 = np.r_[False, ids[:-1] == 7]
        frames[after7] *= 2
        examples.append(dict(id=f"{i:05d}", speaker=spk, ids=ids, frames=frames,
                             voice=(voices[spk] + rng.normal(0, 0.05, 200)).astype(np.float32)))
    return examples


def test_fitting_learns_context_and_voice():
    from jamflow.train.fit_durations import fit

    rng = np.random.default_rng(0)
    examples = _synthetic(240, rng)
    table = np.full(50, 4.0)
    model, figures = fit(examples, DurationConfig(dim=32, conv_layers=2, dropout=0.0), 50, table,
                         epochs=25, batch_size=16, lr=5e-3, progress=False)
    assert figures["start_ms"] < 0.3 * figures["table_start_ms"]
    voice_a, voice_b = examples[0]["voice"], examples[1]["voice"]
    ids = [3, 5, 2, 7, 4, 1]
    fa, fb = model.frames(ids, voice_a), model.frames(ids, voice_b)
    assert fa[1] == pytest.approx(12, rel=0.25) and fb[1] == pytest.approx(3, rel=0.35)
    assert fa[4] == pytest.approx(8, rel=0.25) and fa[0] == pytest.approx(4, rel=0.25)
