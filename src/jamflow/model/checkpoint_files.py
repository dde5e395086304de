"""A checkpoint folder's weight files, and checkpoints stored over a base: shared tensors stored once.

The package ships two models with one Audio-DiT and one duration predictor: the lips model and the
whole-face model, whose motion streams differ. The whole-face folder's `config.json` names its base
(`"base": {"folder": "../model_lips", "fingerprint": ...}`, the folder relative to its own) and its
`model.safetensors` holds only the tensors that differ from the base's. Loading reads both files; the
fingerprint (sha256 over the borrowed tensors as stored) makes sure the base is the one the overlay was
written against. A base is a plain checkpoint: overlays do not chain.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

from jamflow.errors import UserError
from jamflow.fileio import atomic_path, write_json_atomic

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
BASE_KEY = "base"


def tensors_fingerprint(state: dict[str, torch.Tensor]) -> str:
    """sha256 over the names, dtypes, shapes and stored bytes of `state`, in name order."""
    digest = hashlib.sha256()
    for name in sorted(state):
        value = state[name].detach().to("cpu").contiguous()
        digest.update(f"{name}|{value.dtype}|{tuple(value.shape)}|".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def check_safetensors(path) -> None:
    """A .safetensors file's header must parse and account for the file's size exactly (a truncated or
    padded file is refused here, before any tensor is read)."""
    path = Path(path)
    size = path.stat().st_size
    try:
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if not 2 <= n <= min(size - 8, 100_000_000):
                raise ValueError(f"header length {n}")
            header = json.loads(f.read(n).decode("utf-8"))
        end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
    except (ValueError, KeyError, TypeError, IndexError, UnicodeDecodeError) as e:
        raise UserError(f"checkpoint: expected a safetensors file, got {path} with an unreadable header ({e})") from None
    if 8 + n + end != size:
        raise UserError(f"checkpoint: expected {path.name} of {8 + n + end} bytes (as its header says), got {size} "
                        f"bytes (truncated or damaged; copy or export it again)")


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """A checked .safetensors file -> its tensors, as stored."""
    from safetensors.torch import load_file

    check_safetensors(path)
    try:
        return load_file(str(path))
    except Exception as e:  # noqa: BLE001 - safetensors raises its own types for a corrupt file
        raise UserError(f"checkpoint: expected a readable {path.name}, got {path} ({type(e).__name__}: "
                        f"{str(e)[:120]})") from None


def base_folder(directory: Path, meta: dict) -> Path | None:
    """The base checkpoint folder a config names (None: a standalone checkpoint), checked to exist."""
    base = meta.get(BASE_KEY)
    if base is None:
        return None
    where = Path(directory) / CONFIG_NAME
    if not (isinstance(base, dict) and isinstance(base.get("folder"), str) and isinstance(base.get("fingerprint"), str)):
        raise UserError(f"checkpoint: expected 'base' as {{folder, fingerprint}} in {where}, got {base!r}")
    folder = (Path(directory) / base["folder"]).resolve()
    if not (folder / WEIGHTS_NAME).is_file():
        raise UserError(f"checkpoint: expected the base checkpoint {folder} that {where} is stored over, got no "
                        f"{WEIGHTS_NAME} there (copy both folders together)")
    return folder


def check_weight_files(directory, meta: dict) -> None:
    """The checkpoint's weight files (its own and its base's) are whole safetensors files; nothing is read
    past their headers."""
    check_safetensors(Path(directory) / WEIGHTS_NAME)
    folder = base_folder(directory, meta)
    if folder is not None:
        check_safetensors(folder / WEIGHTS_NAME)


def read_weights(directory, meta: dict) -> dict[str, torch.Tensor]:
    """Every tensor of the checkpoint in `directory` (config.json already read into `meta`): its own file,
    completed from its base's where it is stored over one."""
    directory = Path(directory)
    own = read_tensors(directory / WEIGHTS_NAME)
    folder = base_folder(directory, meta)
    if folder is None:
        return own
    borrowed = {k: v for k, v in read_tensors(folder / WEIGHTS_NAME).items() if k not in own}
    expected, found = meta[BASE_KEY]["fingerprint"], tensors_fingerprint(borrowed)
    if found != expected:
        raise UserError(f"checkpoint: expected the base {folder} that {directory} was written against (fingerprint "
                        f"{expected[:12]}), got one with {found[:12]}")
    return {**borrowed, **own}


def read_aligner(directory, meta: dict):
    """The checkpoint's phone aligner (audio.phone_align.PhoneAligner): its own aligner.safetensors, else
    its base's; None where neither has one (animate then uses the audio alone, without its transcript)."""
    from jamflow.audio.phone_align import ALIGNER_NAME, PhoneAligner

    for folder in (Path(directory), base_folder(directory, meta)):
        if folder is not None and (folder / ALIGNER_NAME).is_file():
            return PhoneAligner.load(folder / ALIGNER_NAME)
    return None


def store_over_base(directory, base) -> int:
    """Rewrite the standalone checkpoint folder `directory` so that its model.safetensors keeps only the
    tensors that differ (in dtype, shape or value) from those of the standalone checkpoint `base`, and
    its config.json names the base; a phone aligner the same as the base's is left to the base (read_aligner
    reads it there). -> the number of tensors borrowed from the base."""
    from safetensors.torch import save_file

    from jamflow.audio.phone_align import ALIGNER_NAME

    directory, base = Path(directory), Path(base)
    meta = json.loads((directory / CONFIG_NAME).read_text(encoding="utf-8"))
    base_meta = json.loads((base / CONFIG_NAME).read_text(encoding="utf-8"))
    if BASE_KEY in meta or BASE_KEY in base_meta:
        raise UserError(f"checkpoint: expected two standalone checkpoints, got one stored over another "
                        f"({directory} / {base})")
    state, base_state = read_tensors(directory / WEIGHTS_NAME), read_tensors(base / WEIGHTS_NAME)
    extra = sorted(set(base_state) - set(state))
    if extra:  # they would be borrowed at load time
        raise UserError(f"checkpoint: expected a base whose tensors {directory} has too, got {len(extra)} more, "
                        f"e.g. {extra[0]!r}")
    shared = {k for k, v in state.items() if k in base_state and _same(v, base_state[k])}
    own = {k: v for k, v in state.items() if k not in shared}
    meta[BASE_KEY] = {"folder": os.path.relpath(base.resolve(), directory.resolve()),
                      "fingerprint": tensors_fingerprint({k: base_state[k] for k in shared})}
    with atomic_path(directory / WEIGHTS_NAME) as tmp:
        save_file(own, str(tmp), metadata={"format": "pt"})
    write_json_atomic(directory / CONFIG_NAME, meta, indent=2)
    own_aligner, base_aligner = directory / ALIGNER_NAME, base / ALIGNER_NAME
    if own_aligner.is_file() and base_aligner.is_file() and own_aligner.read_bytes() == base_aligner.read_bytes():
        own_aligner.unlink()
    return len(shared)


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
