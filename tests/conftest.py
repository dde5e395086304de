"""Shared fixtures: thread count and seed for every test, and a tiny random JAM model saved in the official
layout (loaded once per session) with a reference clip, for every test that runs inference."""
import os

import pytest
import soundfile as sf
import torch

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
