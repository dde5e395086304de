"""The inference thread and its bounded queue.

Inference is CPU-bound and the model is not shared between threads, so jobs run one at a time on a
single worker thread. At most `1 + waiting` requests are admitted (one running, the rest queued);
one more is refused at once with `QueueFull` (429 + Retry-After) rather than left to wait.

Each job runs inside `jamflow.progress.watch(check)`: the sampler, chunk/window loops and the video
encoder call `check` at every step, and it raises `Cancelled` once the request's deadline has passed
or its client has gone, so the slot is freed within one step instead of after the whole job.
"""
from __future__ import annotations

import asyncio
import math
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterator

from jamflow.infer.compute_thread import ComputeThread
from jamflow.progress import Cancelled, watch

POLL_S = 0.1  # how often a waiting request looks at its deadline and its client
STOP_GRACE_S = 5.0  # after cancelling, how long to wait for the job to reach its next step

Disconnected = Callable[[], Awaitable[bool]]


class QueueFull(Exception):
    def __init__(self, retry_after: int):
        super().__init__(f"queue: expected a free slot, got all taken; retry in {retry_after} s")
        self.retry_after = retry_after


class JobTimeout(Exception):
    pass


class ClientGone(Exception):
    pass


@dataclass(eq=False)  # hashed by identity: the queue keeps a set of them
class Job:
    deadline: float  # time.monotonic()
    cleanup: Callable[[], None] | None = None  # runs once the job can no longer touch its files
    cancel: threading.Event = field(default_factory=threading.Event)

    def check(self, stage: str, done: int, total: int) -> None:
        """The progress callback: stop at this step if the request was cancelled or ran out of time."""
        if self.cancel.is_set():
            raise Cancelled("request cancelled")
        if time.monotonic() > self.deadline:
            raise Cancelled("request timed out")


class JobQueue:
    def __init__(self, waiting: int, timeout_s: float):
        self.capacity = waiting + 1
        self.timeout_s = timeout_s
        self._thread = ComputeThread("jamflow-infer")  # every job, and the model's loading (run_now)
        self._lock = threading.Lock()
        self._admitted = 0
        self._running = 0
        self._active: set[Job] = set()
        self._mean_s = 2.0  # running mean of job times, for Retry-After

    def run_now(self, fn: Callable[[], Any]) -> Any:
        """fn() on the inference thread, waited for (startup work, before any request is admitted): the
        model loads there so that the server's torch ops all run on one thread (infer/compute_thread.py)."""
        return self._thread.call(fn)

    def depth(self) -> dict:
        with self._lock:
            return {"running": self._running, "waiting": self._admitted - self._running,
                    "capacity": self.capacity}

    def shutdown(self) -> None:
        """Cancel every admitted job (the running one stops at its next step) and the thread with them."""
        with self._lock:
            for job in self._active:
                job.cancel.set()
        self._thread.shutdown()

    # admission ------------------------------------------------------------------------------

    def _admit(self, cleanup) -> Job:
        with self._lock:
            if self._admitted >= self.capacity:
                retry = max(1, math.ceil(self._mean_s * (self._admitted - self._running + 1)))
                full = QueueFull(retry)
            else:
                self._admitted += 1
                full = None
                job = Job(time.monotonic() + self.timeout_s, cleanup)
                self._active.add(job)
        if full is not None:
            if cleanup is not None:
                cleanup()
            raise full
        return job

    def _release(self, job: Job) -> None:
        try:
            if job.cleanup is not None:
                job.cleanup()
        finally:
            with self._lock:
                self._admitted -= 1
                self._active.discard(job)

    def _submit(self, job: Job, work: Callable[[], Any]) -> Future:
        fut = self._thread.submit(self._run, job, work)
        fut.add_done_callback(lambda _: self._release(job))  # also fires for a job cancelled before it ran
        return fut

    def _run(self, job: Job, work: Callable[[], Any]):
        job.check("queue", 0, 0)  # cancelled or expired while waiting: do not start
        with self._lock:
            self._running += 1
        start = time.monotonic()
        try:
            with watch(job.check):
                return work()
        finally:
            with self._lock:
                self._running -= 1
                self._mean_s = 0.8 * self._mean_s + 0.2 * (time.monotonic() - start)

    # one result -----------------------------------------------------------------------------

    async def run(self, work: Callable[[], Any], disconnected: Disconnected | None = None, cleanup=None):
        """Run `work()` on the inference thread and return its result. Raises QueueFull, JobTimeout,
        ClientGone, or what `work` raised. `cleanup` runs exactly once, after the job is done."""
        job = self._admit(cleanup)
        fut = self._submit(job, work)
        waiter = asyncio.wrap_future(fut)
        try:
            while True:
                done, _ = await asyncio.wait({waiter}, timeout=POLL_S)
                if done:
                    try:
                        return waiter.result()
                    except Cancelled:  # the worker saw the deadline before this loop did
                        raise JobTimeout(f"request: expected to finish within {self.timeout_s:g} s, "
                                         "got cancelled") from None
                if time.monotonic() > job.deadline:
                    await self._stop(job, fut, waiter)
                    raise JobTimeout(f"request: expected to finish within {self.timeout_s:g} s, got cancelled")
                if disconnected is not None and await disconnected():
                    await self._stop(job, fut, waiter)
                    raise ClientGone("client disconnected")
        finally:
            if not fut.done():  # the handler itself was cancelled (server shutting down)
                job.cancel.set()
                fut.cancel()

    async def _stop(self, job: Job, fut: Future, waiter: asyncio.Future) -> None:
        """Cancel and wait (briefly) for the worker to stop, so the slot is free when the client hears back."""
        job.cancel.set()
        fut.cancel()
        await asyncio.wait({waiter}, timeout=STOP_GRACE_S)
        if waiter.done() and not waiter.cancelled():
            waiter.exception()  # retrieved: it is the expected Cancelled

    # a stream of results --------------------------------------------------------------------

    def stream(self, pieces: Callable[[], Iterator[Any]], cleanup=None) -> "JobStream":
        """Iterate `pieces()` on the inference thread; read the items with `await stream.next()`."""
        job = self._admit(cleanup)
        return JobStream(self, job, pieces)


_END = object()


class JobStream:
    """The async side of a generator running on the inference thread."""

    def __init__(self, jobs: JobQueue, job: Job, pieces: Callable[[], Iterator[Any]]):
        self.job = job
        self._ended = False
        self._loop = asyncio.get_running_loop()
        self._items: asyncio.Queue = asyncio.Queue()
        self._fut = jobs._submit(job, lambda: self._produce(pieces))
        self._fut.add_done_callback(lambda f: self._push((_END, f)))

    def _push(self, item) -> None:
        self._loop.call_soon_threadsafe(self._items.put_nowait, item)

    def _produce(self, pieces) -> None:
        gen = pieces()
        try:
            for piece in gen:
                self._push(piece)
        finally:
            close = getattr(gen, "close", None)
            if close is not None:
                close()

    async def next(self, disconnected: Disconnected | None = None):
        """The next piece; None when the stream has ended. Raises what the producer raised, JobTimeout or
        ClientGone (after the producer has stopped, or STOP_GRACE_S)."""
        while True:
            try:
                item = await asyncio.wait_for(self._items.get(), POLL_S)
            except asyncio.TimeoutError:
                if time.monotonic() > self.job.deadline:
                    await self.stop()
                    raise JobTimeout("request: expected to finish within the time limit, got cancelled") from None
                if disconnected is not None and await disconnected():
                    await self.stop()
                    raise ClientGone("client disconnected") from None
                continue
            if isinstance(item, tuple) and len(item) == 2 and item[0] is _END:
                self._ended = True
                fut: Future = item[1]
                error = None if fut.cancelled() else fut.exception()
                if fut.cancelled() or isinstance(error, Cancelled):
                    if self.job.cancel.is_set() and time.monotonic() <= self.job.deadline:
                        raise ClientGone("client disconnected")
                    raise JobTimeout("request: expected to finish within the time limit, got cancelled")
                if error is not None:
                    raise error
                return None
            return item

    async def stop(self) -> None:
        """Cancel, and wait (briefly) until the producer has stopped and its slot is free."""
        self.close()
        end = time.monotonic() + STOP_GRACE_S
        while not self._ended and time.monotonic() < end:
            try:
                item = await asyncio.wait_for(self._items.get(), POLL_S)
            except asyncio.TimeoutError:
                continue
            self._ended = isinstance(item, tuple) and len(item) == 2 and item[0] is _END

    def close(self) -> None:
        """Stop the producer at its next step (idempotent); its slot is freed when it has stopped."""
        self.job.cancel.set()
        self._fut.cancel()
