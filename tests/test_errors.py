"""Worker processes under the CLI's signal handlers."""
import signal
from multiprocessing import get_context

from jamflow.cli import install_signal_handlers


def test_pool_workers_end_quietly_under_the_cli_handlers(capfd):
    """A `with Pool()` block ends with terminate(), a SIGTERM to each worker. A forked worker inherits the
    CLI's handler; it must die of the signal, not print a Terminated traceback (which it did when the signal
    landed while it waited for a task: most rounds)."""
    previous = install_signal_handlers()
    try:
        for _ in range(4):
            with get_context("fork").Pool(2) as pool:
                assert pool.map(abs, [-1, -2, -3]) == [1, 2, 3]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    assert "Terminated" not in capfd.readouterr().err


def _child_handler(_):
    return signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_a_forked_worker_dies_of_sigterm_by_default():
    """The kernel ends a worker on SIGTERM: no Python handler in the child has to run (a Pool's terminate
    could otherwise wait on a worker blocked on the task queue's lock)."""
    previous = install_signal_handlers()
    try:
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL  # the parent keeps its handler
        with get_context("fork").Pool(1) as pool:
            assert pool.map(_child_handler, [0]) == [True]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
