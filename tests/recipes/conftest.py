import importlib.util
import sys
from pathlib import Path

import pytest

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
HELPERS = RECIPES / "default_model" / "helpers.py"


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def helpers():
    """recipes/default_model/helpers.py as a module (it is a script, not part of the package)."""
    return _load(HELPERS, "recipe_helpers")


@pytest.fixture
def voices_helpers():
    """recipes/voices_model/helpers.py as a module."""
    return _load(RECIPES / "voices_model" / "helpers.py", "voices_helpers")


@pytest.fixture
def vocoder_distill():
    """recipes/vocoder/distill.py as a module."""
    return _load(RECIPES / "vocoder" / "distill.py", "vocoder_distill")


@pytest.fixture
def harmonic_recipe():
    """recipes/harmonic_vocoder/harmonic.py as a module."""
    return _load(RECIPES / "harmonic_vocoder" / "harmonic.py", "harmonic_recipe")


@pytest.fixture
def harmonic_adversarial():
    """recipes/harmonic_vocoder/adversarial.py as a module."""
    return _load(RECIPES / "harmonic_vocoder" / "adversarial.py", "harmonic_adversarial")


@pytest.fixture
def face_package():
    """recipes/face_model/package.py as a module."""
    return _load(RECIPES / "face_model" / "package.py", "face_package")


@pytest.fixture
def voice_adapt():
    """recipes/voices_model/adapt.py as a module."""
    return _load(RECIPES / "voices_model" / "adapt.py", "voices_adapt")


@pytest.fixture
def real_dev():
    """recipes/voices_model/real_dev.py as a module."""
    return _load(RECIPES / "voices_model" / "real_dev.py", "voices_real_dev")
