"""Renderer registry: a renderer turns a motion sequence (+ an optional source) into RGB frames.

Every renderer has the same shape, so the pipeline does not care which one draws:

    renderer = get_renderer("avatar", size=512)
    for frame in renderer.frames(motion):      # motion [T, 70] float, denormalised
        ...                                   # frame  [H, W, 3] uint8
    renderer.size                              # (H, W)

"avatar" (the built-in stylised face, no weights) registers itself here; other renderers (e.g.
"liveportrait") call `register_renderer` when their module is imported. `get_renderer` imports the
known modules lazily so that asking for a renderer by name is enough.
"""
from __future__ import annotations

import importlib
from typing import Callable, Iterator, Protocol

import numpy as np

from jamflow.errors import UserError


class Renderer(Protocol):
    size: tuple[int, int]  # (height, width) of every frame

    def frames(self, motion: np.ndarray, source=None) -> Iterator[np.ndarray]:
        """motion [T, 70] -> T frames, each uint8 [H, W, 3]."""
        ...


_REGISTRY: dict[str, Callable[..., Renderer]] = {}

# Modules that register a renderer when imported; imported on first request so that
# `get_renderer("liveportrait")` works without the caller importing that package first.
_KNOWN_MODULES = {
    "avatar": "jamflow.render.avatar",
    "liveportrait": "jamflow.render.liveportrait.renderer",
}


def register_renderer(name: str, factory: Callable[..., Renderer]) -> None:
    """factory(**kw) -> renderer object. Registering a name twice replaces the earlier factory."""
    _REGISTRY[name] = factory


def available_renderers() -> list[str]:
    return sorted(set(_REGISTRY) | set(_KNOWN_MODULES))


def get_renderer(name: str, **kw) -> Renderer:
    if name not in _REGISTRY and name in _KNOWN_MODULES:
        try:
            importlib.import_module(_KNOWN_MODULES[name])
        except ModuleNotFoundError as e:
            raise UserError(f"renderer: {name!r} is not available here ({e})") from e
    if name not in _REGISTRY:
        raise UserError(f"renderer: expected one of {available_renderers()}, got {name!r}")
    return _REGISTRY[name](**kw)
