"""Shared fixtures: thread count and seed for every test; a tiny random JAM model saved in the official
layout (loaded once per session) with a reference clip, for every test that runs inference; and a tiny
synthetic audio + motion corpus in the documented format, its prepared cache and experiment YAML files,
for the data and training tests."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from jamflow.testing import save_tiny_checkpoint, voiced_clip

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


FAST = dict(nfe_step=2, seed=7)  # every test samples with 2 steps: shapes and plumbing, not quality


@pytest.fixture(scope="session")
def fast():
    return dict(FAST)


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny")


@pytest.fixture(scope="session")
def jam(tiny_ckpt):
    from jamflow.infer.api import JAMFlow
    from jamflow.vocoder.fallback import FallbackConfig, GriffinLimVocoder

    voc = GriffinLimVocoder(FallbackConfig(nnls_iters=2, gl_iters=2))
    # fp32 pinned: the default CPU precision depends on the CPU (bf16 hardware or not), the tests must not
    return JAMFlow.from_pretrained(tiny_ckpt, device="cpu", dtype="float32", vocoder=voc, progress=False)


@pytest.fixture(scope="session")
def ref_wav(tmp_path_factory):
    """1.6 s of a voiced-like signal (harmonics + envelope) at 24 kHz, and its path."""
    wav = voiced_clip()
    path = tmp_path_factory.mktemp("ref") / "ref.wav"
    sf.write(path, wav, 24000)
    return wav, path


# ---------------------------------------------------------------- a tiny corpus for data and training tests

SR = 24000


def write_corpus(root: Path, n: int = 12, seed: int = 0, min_s: float = 0.8, max_s: float = 2.0) -> Path:
    """Clips of tones whose loudness envelope also drives the lip channels of the motion (a crude but
    real audio-motion coupling). Returns the manifest path; card.json sits beside it."""
    from jamflow.motion.spec import LIP_KEYPOINTS, exp_channels

    rng = np.random.default_rng(seed)
    (root / "wavs").mkdir(parents=True, exist_ok=True)
    (root / "motion").mkdir(exist_ok=True)
    words = ["hello", "world", "jam", "flow", "speech", "face", "motion", "tone", "voice", "lip"]
    lips = exp_channels(LIP_KEYPOINTS)
    lines, all_motion = [], []
    for i in range(n):
        seconds = float(rng.uniform(min_s, max_s))
        m = int(seconds * 25)
        samples = int(round(m / 25 * SR))
        t = np.arange(samples) / SR
        env_m = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(1, 4) * np.arange(m) / 25 + rng.uniform(0, 6))
        env = np.interp(t, np.arange(m) / 25, env_m)
        wav = 0.3 * env * np.sin(2 * np.pi * rng.uniform(120, 300) * t) + 0.003 * rng.standard_normal(samples)
        motion = 0.01 * rng.standard_normal((m, 70)).cumsum(0).astype(np.float32)
        motion[:, 69] = 1.0 + 0.01 * rng.standard_normal(m)
        motion[:, lips] += 0.05 * env_m[:, None]
        cid = f"clip{i:03d}"
        sf.write(root / "wavs" / f"{cid}.wav", wav.astype(np.float32), SR)
        np.save(root / "motion" / f"{cid}.npy", motion.astype(np.float32))
        all_motion.append(motion)
        text = " ".join(rng.choice(words, size=int(rng.integers(2, 5))))
        lines.append({"id": cid, "audio": f"wavs/{cid}.wav", "text": text, "motion": f"motion/{cid}.npy",
                      "speaker": "tone", "duration": samples / SR, "alignment": None,
                      "split": "test" if i == n - 1 else "train"})
    stacked = np.concatenate(all_motion)
    card = {"name": "tones", "sample_rate": SR, "fps": 25, "motion_dim": 70, "motion_spec": "lips",
            "stats": {"mean": stacked.mean(0).tolist(), "std": stacked.std(0).tolist()}, "speakers": ["tone"]}
    manifest = root / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    (root / "card.json").write_text(json.dumps(card))
    return manifest


def write_config(path: Path, cache: Path, run_dir: Path, **sections) -> Path:
    """Tiny-model experiment YAML; `sections` are merged into the defaults (nested dicts)."""
    cfg = {
        "name": "test", "run_dir": str(run_dir), "seed": 3, "stage": "joint",
        "data": {"cache": str(cache), "max_frames": 800, "max_samples": 4},
        "model": {"preset": "tiny", "overrides": {"audio": {"text_num_embeds": 256}}},
        "optim": {"lr": 1e-3, "warmup_updates": 2, "total_updates": 6, "weight_decay": 0.0},
        "ema": {"update_after_step": 2, "update_every": 1},
        "log": {"every": 1, "tensorboard": False},
        "checkpoint": {"every": 3, "keep_last": 2},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def cache(corpus, tmp_path_factory) -> Path:
    from jamflow.data.prepare import prepare

    out = tmp_path_factory.mktemp("cache")
    prepare(str(corpus), str(out), tokenizer="byte", workers=1, progress=False)
    return out


def read_metrics(run_dir: Path) -> dict[int, float]:
    """metrics.jsonl -> {step: loss}; a step logged twice (killed, then resumed) must agree."""
    out: dict[int, float] = {}
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec["step"] in out:
            assert abs(out[rec["step"]] - rec["loss"]) < 1e-5, f"step {rec['step']} logged twice with different losses"
        out[rec["step"]] = rec["loss"]
    return out


def run_jamflow(args: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jamflow.cli", *args], capture_output=True, text=True, **kw)


@pytest.fixture(scope="session")
def helpers():
    """The helper functions above (test modules cannot import conftest under --import-mode=importlib)."""
    from types import SimpleNamespace

    return SimpleNamespace(write_corpus=write_corpus, write_config=write_config, read_metrics=read_metrics,
                           run_jamflow=run_jamflow)
