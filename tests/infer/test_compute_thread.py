"""ComputeThread: every call and every step of an iteration runs on its one thread, with the caller's
context (progress watchers) and the caller's exceptions; closing an iteration closes its source there."""
import threading

import pytest

from jamflow.infer.compute_thread import ComputeThread
from jamflow.progress import report, watch


def test_calls_from_any_thread_run_on_one_thread_and_return_or_raise():
    compute = ComputeThread("test-compute")
    seen = []

    def where(x):
        seen.append(threading.current_thread())
        return x * 2

    assert compute.call(where, 2) == 4
    other = threading.Thread(target=lambda: compute.call(where, 3))
    other.start()
    other.join()
    assert len(seen) == 2 and seen[0] is seen[1] and seen[0].name.startswith("test-compute")
    with pytest.raises(ZeroDivisionError):
        compute.call(lambda: 1 / 0)
    compute.shutdown()


def test_a_watcher_set_by_the_caller_sees_the_steps_made_on_the_compute_thread():
    compute = ComputeThread()
    steps = []
    with watch(lambda stage, done, total: steps.append((stage, done, total))):
        compute.call(report, "sampling", 1, 4)
    compute.call(report, "sampling", 2, 4)  # outside the watch: nobody listens
    assert steps == [("sampling", 1, 4)]
    compute.shutdown()


def test_iterate_produces_each_item_on_the_compute_thread_and_closes_the_source_there():
    compute = ComputeThread()
    made, closed = [], []

    def source():
        try:
            for k in range(5):
                made.append(threading.current_thread())
                yield k
        finally:
            closed.append(threading.current_thread())

    assert list(compute.iterate(source)) == [0, 1, 2, 3, 4]
    steps = compute.iterate(source)
    assert next(steps) == 0
    steps.close()
    assert len(closed) == 2 and {t.name for t in made + closed} == {made[0].name}
    assert made[0] is not threading.current_thread()
    compute.shutdown()
