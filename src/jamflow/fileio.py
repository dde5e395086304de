"""Atomic file writes: a result is either absent or complete, never half-written.

Every writer in the package goes through `atomic_path`: it hands out a temp file in the target's
folder (same file system, so the final rename is atomic), renames it over the target on success,
and removes it on any error or interrupt.
"""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temp path beside `path`; it replaces `path` when the block succeeds.

    The temp name keeps the target's suffix (or `suffix`), because some writers pick the format
    from it (np.save appends .npy, soundfile reads .wav). mkstemp creates files 0600; the result
    gets the usual 0666 & ~umask so it reads like any other file the user writes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix if suffix is None else suffix,
                               dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path, text: str) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


def write_json_atomic(path, data, indent: int | None = 1) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=indent) + "\n")


def make_temp_dir(parent, prefix: str) -> Path:
    """A fresh folder in `parent` to be renamed into place later; mode 0777 & ~umask, not mkdtemp's 0700."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    os.chmod(tmp, 0o777 & ~_umask())
    return tmp
