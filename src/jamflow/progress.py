"""Progress and cancellation for long work, without threading either through every call.

The sampler, the chunk and window loops and the video encoder call `report(stage, done, total)` at
each step. Nothing listens by default (the CLI shows tqdm bars instead). A caller that wants the
steps, a web page's progress bar or a server that must stop a request whose client has gone, wraps
the work in `with watch(callback):`; the callback sees every report made in that thread (or in a
context copied from it) and may raise `Cancelled` to stop the work at the next step.

    def on_step(stage, done, total):
        if client_gone.is_set():
            raise Cancelled("client disconnected")
        bar.update(stage, done, total)

    with watch(on_step):
        jam.tts("Hello.")
"""
from __future__ import annotations

import contextlib
import contextvars
from typing import Callable, Iterator

Callback = Callable[[str, int, int], None]  # (stage, steps done, steps in the stage)

STAGES = ("sampling", "chunks", "windows", "render", "voice fit")  # the stage names reported today

_listener: contextvars.ContextVar[Callback | None] = contextvars.ContextVar("jamflow_progress", default=None)


class Cancelled(Exception):
    """Raised by a progress callback to stop the work it watches; outputs of the call are not written."""


@contextlib.contextmanager
def watch(callback: Callback) -> Iterator[None]:
    """Send every `report` made inside the block (this thread/context) to `callback`."""
    token = _listener.set(callback)
    try:
        yield
    finally:
        _listener.reset(token)


def listener() -> Callback | None:
    """The callback watching this context, or None (a worker thread passes it on to its own watch)."""
    return _listener.get()


def report(stage: str, done: int, total: int) -> None:
    """One step of `stage` finished (`done` of `total`); a watching callback may raise Cancelled."""
    callback = _listener.get()
    if callback is not None:
        callback(stage, done, total)
