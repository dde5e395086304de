"""Atomic file writes: a result is either absent or complete, never half-written.

Every writer in the package goes through `atomic_path`: it hands out a temp file in the target's
folder (same file system, so the final rename is atomic), renames it over the target on success,
and removes it on any error or interrupt. Temp names carry the writing process's id
(`.<name>.~<pid>.<random><suffix>`), so what a killed process (kill -9) left behind can be told
from a live writer's temp and removed by `remove_stale_temps` on the next run.
"""
from __future__ import annotations

import json
import os
import re
import shutil
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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}{temp_tag()}", suffix=path.suffix if suffix is None else suffix,
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
    tmp = Path(tempfile.mkdtemp(prefix=prefix.rstrip(".-") + "-" + temp_tag().lstrip("."), dir=parent))
    os.chmod(tmp, 0o777 & ~_umask())
    return tmp


_TEMP = re.compile(r"^\..*[.-]~(\d+)\.[a-z0-9_]{8}")  # mkstemp/mkdtemp add 8 random characters


def temp_tag() -> str:
    return f".~{os.getpid()}."


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_temps(folder) -> list[Path]:
    """Remove the temp files/folders of `atomic_path` / `make_temp_dir` in `folder` whose writing process
    is gone (killed mid-write); a live writer's temps are left alone. Returns what was removed."""
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        m = _TEMP.match(entry.name)
        if m is None or _alive(int(m.group(1))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed
