"""Timing harness of `jamflow bench`: wall time of repeated calls and the memory they take.

CUDA is synchronised around each timed call and its peak allocated memory read. On CPU the memory is
the process's RSS rise, read by a thread every 5 ms over the warm-up runs only: on 2 cores that thread
slowed the timed talk call by ~3% (docs/evaluation.md).
"""
from __future__ import annotations

import gc
import os
import statistics
import threading
import time

import torch


class RssPeak:
    """Peak resident-set growth of this process while the block runs (CPU memory), in bytes."""

    def __enter__(self):
        self.base = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._rss())

    @staticmethod
    def _rss() -> int:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:  # not Linux: no cheap RSS reading
            return 0

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def used(self) -> int:
        return max(0, self.peak - self.base)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_fn(fn, device: torch.device, warmup: int = 1, repeats: int = 3) -> dict:
    """Run fn() warmup + repeats times -> {"mean_s", "std_s", "min_s", "peak_mem_mb"} over the timed runs,
    and "result": what the last call returned.

    Memory: CUDA = peak allocated above what was allocated before the call; CPU = the process RSS rise
    over the warm-up runs (the allocator keeps what the first run took, so a rise measured after
    warm-up would read ~0); the timed runs go without the polling thread (module docstring).
    """
    times, last = [], [None]

    def timed():
        for _ in range(repeats):
            sync(device)
            t0 = time.perf_counter()
            last[0] = fn()
            sync(device)
            times.append(time.perf_counter() - t0)

    if device.type == "cuda":
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        for _ in range(warmup):
            fn()
        timed()
        peak = torch.cuda.max_memory_allocated(device) - base
    else:
        gc.collect()  # garbage freed during the runs would cancel out their own RSS rise
        with RssPeak() as mem:
            for _ in range(warmup):
                fn()
            if not warmup:  # nothing else to read memory over: time under the poller
                timed()
        if warmup:
            timed()
        peak = mem.used
    return {"mean_s": statistics.fmean(times), "std_s": statistics.pstdev(times), "min_s": min(times),
            "peak_mem_mb": peak / 2**20, "result": last[0]}
