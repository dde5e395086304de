"""Outputs stay what they were: every task on fixed seeds (tiny and shipped model, fp32) and one training
step, against tests/golden/{tiny,shipped}.npz (written by tests/golden/record.py).

On the machine that recorded them the outputs are bit-identical; other CPUs may pick other float
kernels, so the default check allows float round-off on the motion, the losses and the gradients
(1e-4 of their scale), and on each waveform's 10 ms summary 1e-2 of its scale: Griffin-Lim's 64
iterations amplify the model's round-off. Across an AMX Xeon, an AVX512-BF16 EPYC and an AVX2-only EPYC
the motion of the same calls agrees to 1e-5 of its scale; the waveform summaries agree to 1.8e-3 between
the first two, and to 8.1e-3 on the AVX2 machine (long_text, the longest clip; 2.8e-3 or less on the
others). JAMFLOW_GOLDEN_EXACT=1 demands equality, waveform bytes included.
"""
import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cases  # noqa: E402

HERE = Path(__file__).resolve().parent
EXACT = os.environ.get("JAMFLOW_GOLDEN_EXACT") == "1"
WAV_TOLERANCE = 1e-2  # of the summary's scale


def compare(results: dict, golden_file: Path):
    golden = np.load(golden_file)
    got = cases.digest(results)
    assert sorted(got) == sorted(golden.files)
    for name in golden.files:
        want, have = golden[name], got[name]
        assert have.shape == want.shape, f"{name}: shape {have.shape} != {want.shape}"
        if name.endswith("wav_sha256"):
            if EXACT:
                assert np.array_equal(have, want), f"{name}: the waveform's bytes changed"
            continue
        if EXACT:
            assert np.array_equal(have, want), f"{name}: max |diff| {np.abs(have - want).max():.3g}"
        else:
            scale = max(float(np.abs(want).max()), 1e-6)
            tolerance = WAV_TOLERANCE if name.endswith("wav_summary") else 1e-4
            np.testing.assert_allclose(have, want, rtol=1e-4, atol=tolerance * scale, err_msg=name)


def test_tiny_model_outputs_and_training_step_are_unchanged(tmp_path):
    compare(cases.tiny_cases(tmp_path / "tiny"), HERE / "tiny.npz")


def test_shipped_model_outputs_are_unchanged():
    compare(cases.shipped_cases(), HERE / "shipped.npz")
