import importlib.util
from pathlib import Path

import pytest

HELPERS = Path(__file__).resolve().parents[2] / "recipes" / "default_model" / "helpers.py"


@pytest.fixture
def helpers():
    """recipes/default_model/helpers.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("recipe_helpers", HELPERS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
