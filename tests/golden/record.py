"""Record the golden outputs: `python3 tests/golden/record.py [tiny|shipped ...]`.

Run it only when a change is meant to change outputs, and say so in the commit message.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cases  # noqa: E402

HERE = Path(__file__).resolve().parent


def save(name: str, results: dict) -> Path:
    path = HERE / f"{name}.npz"
    np.savez_compressed(path, **cases.digest(results))
    return path


def main(which: list[str]) -> None:
    torch.set_num_threads(2)
    for name in which or ["tiny", "shipped"]:
        if name == "tiny":
            with tempfile.TemporaryDirectory() as tmp:
                results = cases.tiny_cases(Path(tmp) / "tiny")
        else:
            results = cases.shipped_cases()
        print("wrote", save(name, results))


if __name__ == "__main__":
    main(sys.argv[1:])
