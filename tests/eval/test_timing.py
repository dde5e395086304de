import time

import torch

from jamflow.eval import timing


def test_time_fn_runs_warmup_plus_repeats_and_measures_time():
    calls = []

    def fn():
        calls.append(1)
        time.sleep(0.01)
        return len(calls)

    r = timing.time_fn(fn, torch.device("cpu"), warmup=2, repeats=3)
    assert len(calls) == 5
    assert r["result"] == 5  # the last call's output comes back (no extra run needed to get it)
    assert 0.009 <= r["min_s"] <= r["mean_s"] < 0.5


def test_time_fn_sees_cpu_memory_growth():
    keep = []
    r = timing.time_fn(lambda: keep.append(torch.ones(64 * 2**20 // 4)), torch.device("cpu"), warmup=0, repeats=1)
    assert r["peak_mem_mb"] > 40  # a 64 MiB tensor was allocated and touched


def test_time_fn_times_without_the_memory_poller_after_warmup(monkeypatch):
    polling = []

    class Recorded(timing.RssPeak):
        def __enter__(self):
            polling.append(True)
            return super().__enter__()

        def __exit__(self, *exc):
            polling.append(False)
            return super().__exit__(*exc)

    monkeypatch.setattr(timing, "RssPeak", Recorded)
    keep, seen = [], []

    def fn():
        seen.append(polling[-1])  # was the poller thread running during this call?
        keep.append(torch.ones(48 * 2**20 // 4))  # above glibc's largest mmap threshold (32 MB): fresh pages, never reused heap

    # the RSS is the whole process's: a thread an earlier test left behind may free memory during the
    # call and cancel the rise, so the measurement gets three tries
    for _ in range(3):
        seen.clear()
        r = timing.time_fn(fn, torch.device("cpu"), warmup=1, repeats=2)
        assert seen == [True, False, False]  # memory over the warm-up, timing without the thread
        if r["peak_mem_mb"] > 40:
            break
    assert r["peak_mem_mb"] > 40
    seen.clear()
    timing.time_fn(fn, torch.device("cpu"), warmup=0, repeats=1)
    assert seen == [True]  # nothing else to measure memory on
