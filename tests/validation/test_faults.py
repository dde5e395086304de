"""Faults while an inference command writes: SIGTERM (clean stop, nothing partial, no temp files) and kill -9
at each write (no result under a final name; the next run removes the dead run's temps). The command runs
in a child process whose hook sends the signal at a chosen point (no timers)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jamflow.cli import main
from jamflow.fileio import remove_stale_temps
from jamflow.train.metrics import RunLog

CHILD = r"""
import os, signal, sys
point, argv = sys.argv[1], sys.argv[2:]
sig = signal.SIGKILL if point.startswith("kill") else signal.SIGTERM

def hit():
    os.kill(os.getpid(), sig)

if point == "term-sampling":
    import jamflow.infer.engine as engine
    real = engine.generate
    def generate(*a, **k):
        hit()
        return real(*a, **k)
    engine.generate = generate
elif point == "term-encoding":
    from jamflow.render.avatar import AvatarRenderer
    real_frames = AvatarRenderer.frames
    def frames(self, *a, **k):
        for i, frame in enumerate(real_frames(self, *a, **k)):
            if i == 3:
                hit()
            yield frame
    AvatarRenderer.frames = frames
else:  # kill-after-wav / kill-after-motion / kill-after-video: the temp file is complete, the commit not done
    import jamflow.audio.io as audio_io
    import jamflow.infer.outputs as outputs
    import jamflow.render.video as video
    module, name = {"kill-after-wav": (audio_io, "save_wav"), "kill-after-motion": (outputs, "save_motion"),
                    "kill-after-video": (video, "write_mp4")}[point]
    real_writer = getattr(module, name)
    def writer(*a, **k):
        out = real_writer(*a, **k)
        hit()
        return out
    setattr(module, name, writer)
from jamflow.cli import main
sys.exit(main(argv))
"""

FAST = ["--nfe_step", "2", "--seed", "3", "--vocoder", "griffinlim", "--quiet"]


def talk_argv(ckpt, out):
    return ["talk", "-t", "Hello there.", "--ckpt", str(ckpt), "--output_dir", str(out), *FAST]


def run_child(point, argv):
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
    return subprocess.run([sys.executable, "-c", CHILD, point, *argv], capture_output=True, text=True, env=env,
                          timeout=300)


@pytest.mark.multiprocess
@pytest.mark.parametrize("point", ["term-sampling", "term-encoding"])
def test_sigterm_stops_cleanly_and_leaves_nothing(tiny_ckpt, tmp_path, point):
    out = tmp_path / "out"
    proc = run_child(point, talk_argv(tiny_ckpt, out))
    assert proc.returncode == 143, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines == ["jamflow talk: stopped by SIGTERM; nothing partial was left"], proc.stderr
    assert not out.exists() or list(out.iterdir()) == []  # no wav/npy without the mp4, no hidden temps


@pytest.mark.multiprocess
@pytest.mark.parametrize("point", ["kill-after-wav", "kill-after-motion", "kill-after-video"])
def test_kill_9_at_each_write_leaves_no_result_and_the_next_run_cleans_up(capsys, tiny_ckpt, tmp_path, point):
    out = tmp_path / "out"
    proc = run_child(point, talk_argv(tiny_ckpt, out))
    assert proc.returncode == -9, proc.stderr
    names = sorted(p.name for p in out.iterdir())
    assert not any(n in names for n in ("talk.wav", "talk.npy", "talk.mp4")), names  # all or nothing
    assert names and all(n.startswith(".") for n in names)  # the dead run's temps
    assert main(talk_argv(tiny_ckpt, out)) == 0, capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["talk.mp4", "talk.npy", "talk.wav"]


def test_stale_temps_of_live_processes_are_kept(tmp_path):
    dead = tmp_path / ".x.wav.~999999999.abcd1234.wav"
    live = tmp_path / f".x.wav.~{os.getpid()}.abcd1234.wav"
    user = tmp_path / ".my~notes.txt"
    for p in (dead, live, user):
        p.write_text("x")
    assert remove_stale_temps(tmp_path) == [dead]
    assert live.exists() and user.exists()


def test_metrics_after_resume_hold_each_update_once(tmp_path):
    class Cfg:
        class log:
            tensorboard = False
            wandb = False

    first = RunLog(tmp_path, Cfg, enabled=True)
    for step in (10, 20, 30):  # the run dies after update 30, its last checkpoint was at 20
        first.scalars(step, {"loss": 1.0 / step})
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 40, "lo')  # torn by the kill
    resumed = RunLog(tmp_path, Cfg, enabled=True)
    for step in (30, 40):
        resumed.scalars(step, {"loss": 1.0 / step})
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == [10, 20, 30, 40]
