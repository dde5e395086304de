import sys
from pathlib import Path

# lp_helpers.py sits beside the tests (pytest runs with --import-mode=importlib, which adds no paths)
sys.path.insert(0, str(Path(__file__).parent))
