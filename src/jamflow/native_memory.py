"""Bounds on the native caches that make a long-running process's memory climb.

A stream decodes chunks of many lengths. oneDNN keeps the primitives it builds for each new shape (up to
1024 by default, tens of kilobytes each), and glibc keeps memory freed by each thread in that thread's own
arena (up to 8 per core). Nothing leaks, but at 5 minutes of text a stream's process held 13-31 % more
resident memory than at 30 s; with both capped, 5-7 % (2-core EPYC, docs/inference.md "Memory"), at the
same speed: a primitive rebuilt after eviction reuses oneDNN's compiled kernels, and two arenas are
enough for a stream's few threads. `jamflow bench --mode stream --fast --skip_teacher --seconds 30,300` measures it.

Both are process-wide and oneDNN reads its setting once, before torch first uses it, so the `jamflow`
command applies them at start (every command, `serve` and `ui` included). A program that embeds
jamflow calls `bound_native_caches()` before it imports torch. Values the user set in the environment win.
"""
from __future__ import annotations

import ctypes
import os
import sys

ONEDNN_PRIMITIVE_CACHE = 64  # entries; a harmonic-vocoder chunk uses ~36 distinct primitives, HiFi-GAN ~111
MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)


def bound_native_caches() -> dict[str, int]:
    """Cap oneDNN's primitive cache and glibc's arena count for this process, where the user has not.
    Returns what it set: {"ONEDNN_PRIMITIVE_CACHE_CAPACITY": n, "MALLOC_ARENA_MAX": n}, either may be absent
    (already set by the user, torch already started, or not glibc)."""
    applied = {}
    if "ONEDNN_PRIMITIVE_CACHE_CAPACITY" not in os.environ and "torch" not in sys.modules:
        os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] = str(ONEDNN_PRIMITIVE_CACHE)
        applied["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] = ONEDNN_PRIMITIVE_CACHE
    if "MALLOC_ARENA_MAX" not in os.environ and _set_malloc_arenas(MALLOC_ARENAS):
        applied["MALLOC_ARENA_MAX"] = MALLOC_ARENAS
    return applied


def _set_malloc_arenas(count: int) -> bool:
    """glibc's mallopt(M_ARENA_MAX, count); False where the C library is not glibc or refuses it."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt(_M_ARENA_MAX, count) == 1
