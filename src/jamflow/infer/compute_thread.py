"""One thread for every torch call of a long-lived app (the web UI, the server), whichever thread asks.

    compute = ComputeThread()
    result = compute.call(jam.talk, text, ...)          # runs on the compute thread, waited for
    for piece in compute.iterate(lambda: jam.tts_stream(text)):   # each step on the compute thread
        ...

A web framework runs handlers (and each step of a generator handler) on whichever worker thread is
free. Every thread that runs torch ops gets its own OpenMP pool, and once OpenMP manages more threads
than the machine has cores its workers sleep between parallel regions instead of spinning: small ops
run ~3x slower and a stream's first audio comes ~1.6x later (docs/inference.md, "Where the first audio
goes"). Funnelling the calls, and the model's loading, through one thread keeps one pool. Calls run in
a copy of the caller's `contextvars` context, so `jamflow.progress.watch` callbacks still see every
step, and exceptions reach the caller.
"""
from __future__ import annotations

import contextvars
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Iterable, Iterator

_END = object()


class ComputeThread:
    def __init__(self, name: str = "jamflow-compute"):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    def submit(self, fn: Callable[..., Any], *args, **kwargs) -> Future:
        """fn(*args, **kwargs) queued for the compute thread, in a copy of the caller's context."""
        return self._pool.submit(contextvars.copy_context().run, fn, *args, **kwargs)

    def call(self, fn: Callable[..., Any], *args, **kwargs) -> Any:
        """fn(*args, **kwargs) on the compute thread, waited for; its result."""
        return self.submit(fn, *args, **kwargs).result()

    def iterate(self, make: Callable[[], Iterable]) -> Iterator:
        """The items of make()'s iterator, each produced on the compute thread; closing this closes it there."""
        source = self.call(lambda: iter(make()))
        try:
            while True:
                item = self.call(next, source, _END)
                if item is _END:
                    return
                yield item
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                self.call(close)

    def shutdown(self) -> None:
        """Drop what is queued; what runs finishes (or stops at its next progress step, if told to)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
