"""Fixtures of the inference tests."""
import pytest

from jamflow.infer import engine


@pytest.fixture
def sampler_jobs(monkeypatch) -> list:
    """Every job the engine hands the sampler in this test, in order; the sampler still runs."""
    jobs = []
    real = engine.generate

    def spy(model, batch, *a, **k):
        jobs.extend(batch)
        return real(model, batch, *a, **k)

    monkeypatch.setattr(engine, "generate", spy)
    return jobs
