"""The engine and its jobs: what a task hands the sampler, built by the named constructors, and the
engine sampling without the API (as training samples and the benchmark drive it)."""
import ast
from pathlib import Path

import numpy as np
import torch

from jamflow.infer.engine import Engine
from jamflow.infer.jobs import Job
from jamflow.infer.prompt import Prompt
from jamflow.infer.settings import InferSettings

INFER = Path(__file__).resolve().parents[2] / "src" / "jamflow" / "infer"


def test_the_engine_knows_its_models_timeline_and_motion_channels(jam):
    engine = jam.engine
    assert engine.timeline == jam.model.cfg.timeline
    assert engine.dims == (jam.codec.spec.gen_dim, jam.codec.spec.context_dim)
    assert jam.vocoder is engine.vocoder and jam.tokenizer is engine.tokenizer


def test_a_continuation_knows_the_prompt_and_generates_the_rest(jam):
    dg, dc = jam.engine.dims
    prompt = Prompt("A reference.", 8, torch.randn(30, 100), torch.randn(8, dg), torch.randn(8, dc))
    job = Job.continuing(prompt, "New words.", 12, None, (dg, dc))
    assert job.text == "A reference. New words." and job.frames == 20 and job.mel_len == 75
    assert job.audio_known[:30].all() and not job.audio_known[30:].any()
    assert job.motion_known[:8].all() and not job.motion_known[8:].any()
    assert torch.equal(job.context[:8], prompt.context) and not job.context[8:].any()  # neutral after the prompt
    assert job.parts == (("A reference.", 30), ("New words.", 45))


def test_dub_knows_the_given_motion_but_not_the_held_frames_after_it(jam):
    dg, dc = jam.engine.dims
    prompt = Prompt("A reference.", 4, torch.randn(15, 100), None, torch.zeros(4, dc))
    job = Job.for_dub(prompt, "Some words.", 12, torch.randn(12, dg), torch.randn(12, dc), given=10)
    assert job.frames == 16
    assert not job.motion_known[:4].any() and job.motion_known[4:14].all() and not job.motion_known[14:].any()
    assert job.audio_known[:15].all() and not job.audio_known[15:].any()


def test_windows_carry_their_first_frames_over(jam):
    dg, dc = jam.engine.dims
    job = Job.for_window("", torch.randn(80, 100), torch.randn(20, dg), 5, torch.zeros(20, dc))
    assert job.audio_known.all() and len(job.mel) == job.mel_len == 75
    assert job.motion_known[:5].all() and not job.motion_known[5:].any()


def test_the_engine_samples_and_vocodes_jobs_without_the_api(jam):
    engine = jam.engine
    job = Job.continuing(Prompt("", 0, None, None, None), "Hello there.", 16, None, engine.dims)
    res = engine.sample([job], InferSettings(nfe_step=2, seed=1))[0]
    assert res.mel.shape == (job.mel_len, 100) and res.motion.shape == (16, engine.dims[0])
    wav = engine.vocode(res.mel, job.frames)
    assert wav.shape == (16 * engine.timeline.samples_per_motion,) and np.isfinite(wav).all()


def test_task_code_never_reaches_back_into_the_api():
    """Only the API's own callers (batch, the commands) import it; the task flows get the engine."""
    for path in INFER.rglob("*.py"):
        if path.name in ("api.py", "batch.py") or path.name.startswith("cli_"):
            continue
        imports = {n.module for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.ImportFrom)}
        assert "jamflow.infer.api" not in imports, path.name
        text = path.read_text()
        assert "jam._" not in text and "._finish(" not in text, path.name
