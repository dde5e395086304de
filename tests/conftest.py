"""Shared fixtures: thread count and seed for every test, and a tiny random JAM model saved in the official
layout (loaded once per session) with a reference clip, for every test that runs inference."""
import os

import numpy as np
import pytest
import soundfile as sf
import torch

from jamflow.config import get_preset
from jamflow.model.jam import JAMModel

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
    torch.manual_seed(0)
    model = JAMModel(get_preset("tiny", audio=dict(text_num_embeds=256)))
    # zero-init output layers would make every velocity 0; randomise so outputs depend on inputs
    with torch.no_grad():
        for p in model.parameters():
            if p.abs().sum() == 0 and p.dim() >= 1:
                p.normal_(0, 0.02)
    # LivePortrait-like stats (exp offsets ~0.02, pose ~5 degrees, scale ~1.5), not identity: the
    # (de)normalisation must be exercised, and the avatar needs a plausible face to draw
    rng = np.random.default_rng(0)
    mean = np.concatenate([rng.normal(0, 0.01, 63), [0, 0, 0], rng.normal(0, 0.01, 3), [1.5]])
    std = np.concatenate([rng.uniform(0.01, 0.03, 63), [5, 5, 3], [0.02] * 3, [0.05]])
    stats = {"mean": mean.tolist(), "std": std.tolist()}
    folder = tmp_path_factory.mktemp("ckpt") / "tiny"
    model.save_pretrained(folder, motion_stats=stats)
    return folder


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
    t = np.arange(int(1.6 * 24000)) / 24000
    wav = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 6)) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    wav = (0.1 * wav / np.abs(wav).max()).astype(np.float32)
    path = tmp_path_factory.mktemp("ref") / "ref.wav"
    sf.write(path, wav, 24000)
    return wav, path
