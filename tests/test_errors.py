"""Worker processes under the CLI's signal handlers."""
import signal
from multiprocessing import get_context

from jamflow.cli import install_signal_handlers
from jamflow.errors import default_signals_in_worker


def test_pool_workers_end_quietly_under_the_cli_handlers(capfd):
    """A `with Pool()` block ends with terminate(), a SIGTERM to each worker. Workers that keep the CLI's
    handler print a Terminated traceback when the signal lands while they wait for a task (most rounds);
    workers started by the initializer end silently."""
    previous = install_signal_handlers()
    try:
        for _ in range(4):
            with get_context("fork").Pool(2, initializer=default_signals_in_worker) as pool:
                assert pool.map(abs, [-1, -2, -3]) == [1, 2, 3]
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    assert "Terminated" not in capfd.readouterr().err
