"""Graceful stop: SIGTERM / first Ctrl-C -> finish the update, save, exit 128 + signal; --resume continues."""
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from jamflow.train.config import load_config
from jamflow.train.stop import StopSignals, exit_code
from jamflow.train.trainer import Trainer


@pytest.fixture(autouse=True)
def _ctrl_c_interrupts():
    """Ctrl-C raising KeyboardInterrupt, as in a terminal: a test run started in the background (`cmd &`)
    inherits SIGINT ignored, which StopSignals rightly leaves alone, and these tests would then test nothing."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_first_signal_is_kept_second_ctrl_c_aborts_and_handlers_come_back():
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    with pytest.raises(KeyboardInterrupt), StopSignals() as stop:
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGTERM)  # repeated SIGTERMs wait for the save
        assert stop.signum == signal.SIGTERM
        signal.raise_signal(signal.SIGINT)
        assert stop.signum == signal.SIGTERM  # the first signal decides the exit code
        signal.raise_signal(signal.SIGINT)  # the second Ctrl-C goes to the old handler
    assert {s: signal.getsignal(s) for s in before} == before
    assert (exit_code(signal.SIGTERM), exit_code(signal.SIGINT)) == (143, 130)


def _stop_at(trainer, update, signum=signal.SIGINT):
    """Raise `signum` in the middle of update `update` (1-based), as a signal arriving mid-update would."""
    step = trainer.train_update

    def train_update(micro):
        if trainer.update + 1 == update:
            signal.raise_signal(signum)
        return step(micro)

    trainer.train_update = train_update


def _wait_for_logged_updates(proc, metrics: Path, count: int = 3, timeout: float = 120) -> None:
    """Until `count` updates are in metrics.jsonl (or the process ends, or the timeout passes)."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if metrics.is_file() and len(metrics.read_text().splitlines()) >= count:
            return
        time.sleep(0.01)


@pytest.mark.multiprocess
def test_sigterm_saves_exits_143_and_resume_continues_exactly(cache, tmp_path, helpers):
    cfg = helpers.write_config(tmp_path / "c.yaml", cache, tmp_path / "run",
                               data={"cache": str(cache), "max_frames": 800, "max_samples": 4, "num_workers": 1},
                               optim={"lr": 3e-3, "warmup_updates": 2, "total_updates": 500},
                               checkpoint={"every": 100, "keep_last": 2})
    # a new session, signalled as a whole like a scheduler does: the DataLoader worker gets SIGTERM too
    proc = subprocess.Popen([sys.executable, "-m", "jamflow.cli", "train", "--config", str(cfg), "--no_progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    _wait_for_logged_updates(proc, tmp_path / "run" / "metrics.jsonl")
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:  # hung instead of stopping: leave nothing running
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    assert proc.returncode == 143, err[-2000:]
    stopped = max(helpers.read_metrics(tmp_path / "run"))
    assert 3 <= stopped < 100  # a signal-stop checkpoint, not a scheduled one
    assert f"stopped by SIGTERM after update {stopped}" in out
    latest = (tmp_path / "run" / "checkpoints" / "latest").read_text().strip()
    assert latest == f"step_{stopped:08d}"

    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    resumed = Trainer(load_config(cfg), resume=True, progress=False)
    assert resumed.update == stopped
    _stop_at(resumed, stopped + 2)  # and a Ctrl-C stops an in-process run the same way
    resumed.fit()
    assert (resumed.stopped_by, resumed.update) == (signal.SIGINT, stopped + 2)
    assert {s: signal.getsignal(s) for s in before} == before  # fit() put the handlers back

    straight = Trainer(load_config(cfg, [f"run_dir={tmp_path / 'straight'}"]), progress=False)
    _stop_at(straight, stopped + 2)
    straight.fit()
    a, b = helpers.read_metrics(tmp_path / "run"), helpers.read_metrics(tmp_path / "straight")
    assert list(a) == list(b) == list(range(1, stopped + 3))
    for step in b:
        assert a[step] == pytest.approx(b[step], abs=1e-5), step
    name = f"step_{stopped + 2:08d}"
    ea = load_file(str(tmp_path / "run" / "checkpoints" / name / "ema.safetensors"))
    eb = load_file(str(tmp_path / "straight" / "checkpoints" / name / "ema.safetensors"))
    assert max(float((ea[k] - eb[k]).abs().max()) for k in ea) < 2e-5
    at_stop = load_file(str(tmp_path / "run" / "checkpoints" / latest / "ema.safetensors"))
    assert any(not torch.equal(ea[k], at_stop[k]) for k in ea)  # the two resumed updates really trained


def _children(pid: int) -> list[int]:
    tasks = Path(f"/proc/{pid}/task")
    return [int(c) for t in tasks.iterdir() for c in (t / "children").read_text().split()]


def _rank(pid: int) -> str | None:
    env = dict(v.split(b"=", 1) for v in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") if b"=" in v)
    return env.get(b"RANK", b"").decode() or None


@pytest.mark.multiprocess
@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="finds the worker processes through /proc")
def test_a_signal_to_one_process_stops_all_at_the_same_update(cache, tmp_path, helpers):
    import socket

    cfg = helpers.write_config(tmp_path / "c.yaml", cache, tmp_path / "run",
                               data={"cache": str(cache), "max_frames": 800, "max_samples": 2},
                               optim={"lr": 3e-3, "total_updates": 500, "warmup_updates": 1}, checkpoint={"every": 100})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                             str(port), "-m", "jamflow.cli", "train", "--config", str(cfg), "--no_progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    _wait_for_logged_updates(proc, tmp_path / "run" / "metrics.jsonl")
    workers = _children(proc.pid)
    second = [pid for pid in workers if _rank(pid) == "1"]
    assert len(second) == 1, "training ended before the test could signal it"
    os.kill(second[0], signal.SIGTERM)  # the main process (rank 0, the one that writes) gets nothing
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:  # hung instead of stopping; the workers run in sessions of their own
        for pid in (proc.pid, *workers):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        raise
    assert proc.returncode != 0  # the launcher reports the workers' 143 as a failure
    stopped = max(helpers.read_metrics(tmp_path / "run"))
    assert f"stopped by SIGTERM after update {stopped}" in out, err[-2000:]
    assert (tmp_path / "run" / "checkpoints" / "latest").read_text().strip() == f"step_{stopped:08d}"
