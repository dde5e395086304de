"""The job queue: admission, time limits and client disconnects free the slot; cleanup runs once."""
import asyncio
import time

import pytest
from serve_helpers import FAST, assert_error, make_client

from jamflow.progress import report
from jamflow.serve.jobs import ClientGone, JobQueue, JobTimeout, QueueFull

LONG = "The quick brown fox jumps over the lazy dog. " * 6


def steps(n: int, calls: list):
    """A job that reports n steps, like the sampler does; cancellable at each of them."""
    def work():
        for i in range(n):
            time.sleep(0.01)
            report("sampling", i + 1, n)
            calls.append(i)
        return "done"
    return work


def test_queue_full_then_free_again():
    async def main():
        jobs = JobQueue(waiting=1, timeout_s=30)
        cleaned = []
        a = asyncio.ensure_future(jobs.run(steps(20, []), cleanup=lambda: cleaned.append("a")))
        b = asyncio.ensure_future(jobs.run(steps(5, []), cleanup=lambda: cleaned.append("b")))
        await asyncio.sleep(0.05)
        assert jobs.depth() == {"running": 1, "waiting": 1, "capacity": 2}
        with pytest.raises(QueueFull) as full:
            await jobs.run(steps(1, []), cleanup=lambda: cleaned.append("c"))
        assert full.value.retry_after >= 1
        assert await a == "done" and await b == "done"
        assert sorted(cleaned) == ["a", "b", "c"]  # refused jobs clean up too, each exactly once
        assert jobs.depth()["running"] == jobs.depth()["waiting"] == 0
        assert await jobs.run(steps(1, [])) == "done"
        jobs.shutdown()
    asyncio.run(main())


def test_timeout_cancels_at_the_next_step():
    async def main():
        jobs = JobQueue(waiting=0, timeout_s=0.2)
        calls, cleaned = [], []
        with pytest.raises(JobTimeout):
            await jobs.run(steps(10_000, calls), cleanup=lambda: cleaned.append(1))
        assert len(calls) < 10_000 and cleaned == [1]
        assert jobs.depth() == {"running": 0, "waiting": 0, "capacity": 1}
        jobs.timeout_s = 30
        assert await jobs.run(steps(2, [])) == "done"  # the single slot is free again
        jobs.shutdown()
    asyncio.run(main())


def test_disconnect_cancels_running_and_waiting_jobs():
    async def main():
        jobs = JobQueue(waiting=1, timeout_s=30)
        gone = asyncio.Event()

        async def disconnected():
            return gone.is_set()

        running_calls, waiting_calls = [], []
        running = asyncio.ensure_future(jobs.run(steps(10_000, running_calls), disconnected))
        waiting = asyncio.ensure_future(jobs.run(steps(10_000, waiting_calls), disconnected))
        await asyncio.sleep(0.1)
        gone.set()
        for task in (running, waiting):
            with pytest.raises(ClientGone):
                await task
        assert 0 < len(running_calls) < 10_000 and waiting_calls == []  # the queued one never started
        assert jobs.depth()["running"] == jobs.depth()["waiting"] == 0
        jobs.shutdown()
    asyncio.run(main())


def test_timed_out_request_frees_its_slot(jam):
    # one slot, no waiting room: a 429 would follow if the timed-out job still held it
    with make_client(jam, timeout_s=0.5, queue=0) as c:
        slow = c.post("/v1/audio/speech", json={"input": LONG, "nfe_step": 1000, "max_chunk_s": 1.0, "seed": 1})
        err = assert_error(slow, 504, None)
        assert err["type"] == "timeout"
        assert c.get("/health").json()["queue"]["running"] == 0
        c.app.state.jamflow.jobs.timeout_s = 60
        assert c.post("/v1/audio/speech", json={"input": "Hello there.", **FAST}).status_code == 200


def test_timed_out_stream_frees_its_slot(jam):
    with make_client(jam, timeout_s=0.5, queue=0) as c:
        r = c.post("/v1/audio/speech", json={"input": LONG, "nfe_step": 1000, "stream": True, "seed": 1})
        assert_error(r, 504, None)
        c.app.state.jamflow.jobs.timeout_s = 60
        assert c.post("/v1/audio/speech", json={"input": "Hello there.", "stream": True, **FAST}).status_code == 200


def test_stream_times_out_after_its_first_piece():
    def pieces():
        yield "first"
        steps(100_000, [])()  # a second piece that would take minutes
        yield "second"

    async def main():
        jobs = JobQueue(waiting=0, timeout_s=0.3)
        stream = jobs.stream(pieces)
        assert await stream.next() == "first"
        with pytest.raises(JobTimeout):
            await stream.next()
        assert jobs.depth() == {"running": 0, "waiting": 0, "capacity": 1}  # stopped, slot free
        jobs.shutdown()
    asyncio.run(main())
