"""Fixtures for the core-model tests: tiny models with every weight random.

adaLN-zero starts each block as identity and the output at 0, which would make most comparisons
trivially pass, so tests randomise all parameters (zero-initialised ones included).
"""
import pytest
import torch

from jamflow.config import get_preset
from jamflow.model.jam import JAMModel


def randomize_(model: torch.nn.Module, std: float = 0.2, seed: int = 0) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn(p.shape, generator=g) * std)
    return model.eval()


@pytest.fixture
def make_model():
    def make(preset: str = "tiny", seed: int = 0, **overrides) -> JAMModel:
        torch.manual_seed(seed)
        return randomize_(JAMModel(get_preset(preset, **overrides)), seed=seed)

    return make


@pytest.fixture
def randomize():
    return randomize_


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny models gain nothing from a second thread, and on a shared, loaded machine two threads
    # spin against each other (measured: 46 ms vs 1.8 s per training step).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
