"""Checkpoint + test manifest -> a generated manifest (same ids) that `jamflow eval` can score.

Every test clip is regenerated zero-shot: the prompt is *another* clip of the same speaker from the
reference manifest, or from a larger prompt manifest (`jamflow eval --prompts`), optionally of a chosen
duration (`--prompt_seconds 3,5`). A held-out voice is cloned from a held-out clip, never from the clip itself.
What is given and what is generated follows the task:

    tts      text + prompt audio                  -> audio (+ the motion generated alongside)
    talk     text + prompt audio + prompt motion  -> audio + motion
    animate  ground-truth audio (+ text)          -> motion
    dub      ground-truth motion + text + prompt  -> audio

With `samples > 1` each clip is generated with several seeds (seed + 1000 k + clip index); extra
samples get ids "<id>@<k>", are scored like the first, and also give the diversity metric. Videos are
not rendered (the metrics read wav + motion).
"""
from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from jamflow.errors import UserError

TASKS = ("tts", "talk", "animate", "dub")
SAMPLE_SEP = "@"


def prompt_for(row: dict, pool: list[dict], seconds: tuple[float, float] | None = None) -> dict | None:
    """Another clip of the same speaker (deterministic: the next one by id, wrapping); None if alone.

    seconds (lo, hi): take a clip whose duration lies in [lo, hi] (zero-shot evaluations ask for a
    3-5 s reference), drawn by a hash of the clip's id so that neighbouring test clips get different
    prompts; when the speaker has none, any other clip of theirs is taken the same way.
    """
    same = sorted((r for r in pool if r["speaker"] == row["speaker"] and r["id"] != row["id"]), key=lambda r: r["id"])
    if not same:
        return None
    if seconds is not None:
        lo, hi = seconds
        fitting = [r for r in same if r.get("duration") is not None and lo <= r["duration"] <= hi]
        same = fitting or same
        return same[zlib.crc32(row["id"].encode()) % len(same)]
    later = [r for r in same if r["id"] > row["id"]]
    return (later or same)[0]


def generate_manifest(checkpoint, rows: list[dict], pool: list[dict], task: str, out_dir, samples: int = 1,
                      seed: int = 0, device: str | None = None, vocoder=None, dtype: str | None = None,
                      prompt_seconds: tuple[float, float] | None = None, student=None, prompt_motion: bool = True,
                      on_prompt: Callable[[dict, np.ndarray], None] | None = None, **settings) -> Path:
    """Generate every row of `rows` with the model at `checkpoint`; returns the written manifest path.

    checkpoint: a checkpoint folder or an already loaded `JAMFlow`; vocoder: a Vocos folder,
    "griffinlim" or None (Vocos if found, else the fallback), and dtype (as `JAMFlow`'s), used when
    loading from a folder; student: its few-step student ("shipped" or a student folder; JAMFlow.from_pretrained).
    prompt_motion: talk takes the prompt's motion as its reference motion (False: none, so eyes, brows and
    head come from the model or face life, as for a user who gives only a voice).
    rows: the clips to evaluate (absolute paths, as `read_manifest` returns them); pool: every clip
    prompts may come from (the whole reference manifest, or a larger one); prompt_seconds: the
    preferred prompt duration range (see `prompt_for`).
    on_prompt(prompt_row, prompt_audio): called before a clip whenever its prompt is not the previous
    clip's, so that the model can be fitted to the prompt's voice (recipes/voices_model/adapt.py).
    """
    if task not in TASKS:
        raise UserError(f"task: expected one of {list(TASKS)}, got {task!r}")
    if not isinstance(samples, int) or samples < 1:
        raise UserError(f"samples: expected an integer >= 1, got {samples!r}")
    if task in ("animate", "dub", "talk") and any(r.get("motion") is None for r in rows):
        raise UserError(f"task: {task!r} needs ground-truth motion in every test clip, got rows without 'motion'")
    from jamflow.audio.io import load_audio, save_wav
    from jamflow.data.manifest import write_manifest
    from jamflow.infer.api import JAMFlow
    from jamflow.motion.io import save_motion

    if isinstance(checkpoint, JAMFlow):
        jam = checkpoint
    else:
        jam = JAMFlow.from_pretrained(checkpoint, device=device, dtype=dtype, vocoder=vocoder, progress=False,
                                      student=student)
    if task != "tts" and not jam.has_motion:
        raise UserError(f"checkpoint: task {task!r} needs a model with a motion stream, got an audio-only model")
    out_dir = Path(out_dir).resolve()  # manifest paths are made relative to it: never mix with cwd
    written, last_prompt = [], None
    bar = tqdm(total=len(rows) * samples, desc=f"generate ({task})", unit="clip")
    for i, row in enumerate(rows):
        # the prompt and the clip's own inputs are read once per clip, not once per sample
        prompt = prompt_for(row, pool, prompt_seconds)
        ref_audio = load_audio(prompt["audio"]) if prompt else None
        ref_text = prompt["text"] if prompt else None
        if on_prompt is not None and prompt is not None and prompt["audio"] != last_prompt:
            on_prompt(prompt, ref_audio)
            last_prompt = prompt["audio"]
        with_motion = task == "talk" and prompt_motion and prompt and prompt.get("motion")
        ref_motion = np.load(prompt["motion"]) if with_motion else None
        audio = load_audio(row["audio"]) if task == "animate" else None
        motion = np.load(row["motion"]) if task == "dub" else None
        for k in range(samples):
            kw = dict(settings, seed=seed + 1000 * k + i)
            if task == "tts":
                res = jam.tts(row["text"], ref_audio, ref_text, **kw)
            elif task == "talk":
                res = jam.talk(row["text"], ref_audio, ref_text, ref_motion=ref_motion, **kw)
            elif task == "animate":
                res = jam.animate(audio, text=row["text"], **kw)
            else:
                res = jam.dub(row["text"], motion, ref_audio, ref_text, **kw)
            gid = row["id"] if k == 0 else f"{row['id']}{SAMPLE_SEP}{k}"
            out = {"id": gid, "text": row["text"], "speaker": row["speaker"], "split": row.get("split", "test"),
                   "duration": max(res.duration, 1e-3), "alignment": None, "motion": None, "seed": res.seed,
                   "task": task, "ref_audio": os.path.relpath(prompt["audio"], out_dir) if prompt else None,
                   "ref_duration": prompt.get("duration") if prompt else None}
            out["audio"] = str(save_wav(out_dir / "wavs" / f"{gid}.wav", res.wav))
            if res.motion is not None:
                out["motion"] = str(save_motion(out_dir / "motion" / f"{gid}.npy", res.motion))
            written.append(out)
            bar.update(1)
    bar.close()
    return write_manifest(out_dir / "manifest.jsonl", written)
