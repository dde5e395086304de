"""Graceful stop: SIGTERM and the first Ctrl-C ask training to stop after the current update.

`with StopSignals() as stop:` catches SIGTERM (cluster pre-emption, `timeout`, `kill`) and SIGINT
and only records the first one in `stop.signum`; the trainer checks it between updates, saves a
checkpoint and exits with `exit_code(signum)` = 128 + signum (143 for SIGTERM, 130 for SIGINT): the
shell's code for "ended by this signal", so a scheduler (SLURM requeue, a retry loop) sees an
interrupted job and not a finished one.

The first SIGINT hands SIGINT back to the handler that was there before (KeyboardInterrupt in a
Python program), so a second Ctrl-C aborts at once. Further SIGTERMs change nothing: the save is
already coming, and SIGKILL is the way to skip it. On exit every handler is put back as it was.
Signals whose handler is SIG_IGN (a background job's SIGINT) or was not set from Python are left
alone, and outside the main thread, where Python cannot install handlers, nothing is caught.
"""
from __future__ import annotations

import signal
import threading

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def exit_code(signum: int) -> int:
    return 128 + int(signum)


class StopSignals:
    def __init__(self):
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is not threading.main_thread():
            return self
        for sig in STOP_SIGNALS:
            previous = signal.getsignal(sig)
            if previous is None or previous == signal.SIG_IGN:  # nothing we could restore / deliberately ignored
                continue
            self._previous[sig] = previous
            signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.signum is None:
            self.signum = signum
        if signum == signal.SIGINT:  # the next Ctrl-C goes where it went before: abort now
            signal.signal(signum, self._previous[signum])

    def __exit__(self, *exc) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()


def worker_init(worker_id: int) -> None:
    """DataLoader workers leave stopping to the trainer: a scheduler signals every process of a job,
    workers included, and a worker killed by it would turn the trainer's clean stop into a DataLoader
    error. So a worker ignores Ctrl-C and its first SIGTERM; a second SIGTERM (the DataLoader ending a
    stuck worker at shutdown) still ends it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, frame: signal.signal(signal.SIGTERM, signal.SIG_DFL))
