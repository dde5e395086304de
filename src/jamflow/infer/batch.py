"""Many jobs with the model loaded once: a jobs file -> outputs, short text jobs batched together.

Jobs file formats (paths inside are relative to the file's folder):
    .txt    one text per line -> one `task` job per line (default tts), outputs 0000, 0001, ...
    .jsonl  one JSON object per line: {"task": "tts"|"talk"|"animate"|"dub"|"edit", "output": "name",
            task arguments (gen_text, ref_audio, ref_text, voice, source, audio, motion, video, text, ...),
            and any setting (nfe_step, seed, ...)}
    .toml   [[jobs]] tables with the same keys

Every job is checked before the first one runs. tts/talk jobs whose text fits one chunk and that
share the reference and settings run as one padded sampler batch (up to `batch_size`). `voice` (tts,
talk, dub) is a fitted voice file (`jamflow voice`) in place of ref_audio and ref_text; it is put in use
for its jobs and taken out after (infer/voice_fit.py).
"""
from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from jamflow import validate
from jamflow.errors import UserError
from jamflow.infer.settings import SETTING_NAMES, InferSettings, make_settings
from jamflow.limits import Limits, limit_hint

TASK_ARGS = {
    "tts": ("gen_text", "ref_audio", "ref_text", "voice"),
    "talk": ("gen_text", "ref_audio", "ref_text", "voice", "source", "ref_motion"),
    "animate": ("audio", "text", "source", "ref_motion"),
    "dub": ("gen_text", "motion", "ref_audio", "ref_text", "voice", "video"),
    "edit": ("text", "audio", "motion", "audio_spans", "motion_spans", "extend_s", "source", "render"),
}
PATH_ARGS = ("ref_audio", "voice", "source", "ref_motion", "audio", "motion", "video")


@dataclass
class BatchJob:
    task: str
    output: str
    args: dict
    settings: InferSettings
    line: int = 0
    paths: dict = field(default_factory=dict)


def read_jobs(path, task: str = "tts", base: InferSettings | None = None,
              limits: Limits | None = None) -> list[BatchJob]:
    limits = limits or Limits()
    path = Path(path)
    if not path.is_file():
        raise UserError(f"jobs: expected an existing .txt/.jsonl/.toml file, got {str(path)!r}")
    size_cap = limits.max_batch_jobs * (4 * limits.max_text_chars + 1024)
    if path.stat().st_size > size_cap:
        raise UserError(f"jobs: expected at most {size_cap} bytes, got {path.stat().st_size} "
                        f"({limit_hint('max_batch_jobs')})")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"jobs: expected UTF-8 text, got byte 0x{e.object[e.start]:02x} at offset {e.start} "
                        f"in {path.name}") from None
    suffix = path.suffix.lower()
    if suffix == ".txt":
        raw = [{"task": task, "gen_text": line.strip()} for line in text.splitlines() if line.strip()]
    elif suffix == ".jsonl":
        raw = []
        for i, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    raw.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise UserError(f"jobs: expected one JSON object per line, got invalid JSON on line {i}: {e}") from None
    elif suffix == ".toml":
        try:
            raw = tomllib.loads(text).get("jobs", [])
        except tomllib.TOMLDecodeError as e:
            raise UserError(f"jobs: expected valid TOML with [[jobs]] tables, got {e}") from None
    else:
        raise UserError(f"jobs: expected a .txt, .jsonl or .toml file, got {suffix or 'no extension'!r}")
    if not isinstance(raw, list) or not raw:
        raise UserError(f"jobs: expected at least one job in {path.name}, got none")
    if len(raw) > limits.max_batch_jobs:
        raise UserError(f"jobs: expected at most {limits.max_batch_jobs} jobs, got {len(raw)} "
                        f"({limit_hint('max_batch_jobs')})")
    return [_check_job(d, i, path.parent, task, base, limits) for i, d in enumerate(raw, 1)]


def _check_job(d, i: int, root: Path, default_task: str, base: InferSettings | None, limits: Limits) -> BatchJob:
    where = f"jobs line {i}"
    if not isinstance(d, dict):
        raise UserError(f"{where}: expected an object, got {type(d).__name__}")
    d = dict(d)
    task = d.pop("task", default_task)
    if task not in TASK_ARGS:
        raise UserError(f"{where}: task: expected one of {list(TASK_ARGS)}, got {task!r}")
    output = d.pop("output", f"{i - 1:04d}")
    if not isinstance(output, str) or not output.strip():
        raise UserError(f"{where}: output: expected a file name, got {output!r}")
    settings = {k: d.pop(k) for k in list(d) if k in SETTING_NAMES}
    unknown = sorted(set(d) - set(TASK_ARGS[task]))
    if unknown:
        raise UserError(f"{where}: expected keys among {['task', 'output', *TASK_ARGS[task]]} + settings, got {unknown}")
    if d.get("voice") and (d.get("ref_audio") or d.get("ref_text")):
        raise UserError(f"{where}: voice: comes with its own reference clip and transcript; drop ref_audio and "
                        f"ref_text")
    for key in PATH_ARGS:
        if not d.get(key) or (key == "source" and d[key] == "avatar"):
            continue
        if not isinstance(d[key], str):
            raise UserError(f"{where}: {key}: expected a path, got {d[key]!r}")
        p = Path(d[key])
        p = p if p.is_absolute() else root / p
        _probe(p, key, f"{where}: {key}", limits)
        d[key] = str(p)
    for key in ("gen_text", "text", "ref_text"):
        if key in TASK_ARGS[task] and key in d and (not isinstance(d[key], str) or not d[key].strip()):
            raise UserError(f"{where}: {key}: expected non-empty text, got {d[key]!r}")
        if key in d and not (key == "ref_text" and d[key].strip().lower() == "auto"):
            validate.text(d[key], f"{where}: {key}", limits)
    if task in ("tts", "talk", "dub") and not d.get("gen_text"):
        raise UserError(f"{where}: gen_text: expected non-empty text, got nothing")
    if task in ("animate", "edit") and not d.get("audio"):
        raise UserError(f"{where}: audio: expected an audio file, got nothing")
    try:
        s = make_settings(base, **settings)
    except TypeError as e:
        raise UserError(f"{where}: expected settings of the right type, got {e}") from None
    except UserError as e:
        raise UserError(f"{where}: {e}") from None
    return BatchJob(task, output, d, s, line=i)


def _probe(p: Path, key: str, name: str, limits: Limits) -> None:
    """A job's input file checked from its header, as the single-task commands do."""
    from jamflow.infer.inputs import IMAGE_SUFFIXES

    if key == "ref_audio":
        validate.audio_file(p, name, limits, limits.max_ref_audio_s, "max_ref_audio_s")
    elif key == "voice":
        from jamflow.infer.voice_fit import load_voice

        load_voice(p, name)
    elif key == "audio":
        validate.audio_file(p, name, limits, limits.max_audio_s, "max_audio_s")
    elif key == "source" and p.suffix.lower() in IMAGE_SUFFIXES:
        validate.image_file(p, name, limits)
    elif key in ("video", "source"):
        validate.video_file(p, name, limits)
    else:
        validate.motion_frames(p, name, limits)


def check_scripts(jobs: list[BatchJob], tokenizer) -> None:
    """Every job's texts only in characters the model's tokenizer reads (validate.unsupported_script)."""
    for j in jobs:
        for key in ("gen_text", "text", "ref_text"):
            if isinstance(j.args.get(key), str) and j.args[key].strip().lower() != "auto":
                validate.unsupported_script(j.args[key], f"jobs line {j.line}: {key}", tokenizer)


def check_outputs(jobs: list[BatchJob], output_dir) -> None:
    """Every job's output inside `output_dir` (no .., no absolute names), distinct, and the folder writable."""
    seen = set()
    for j in jobs:
        path = validate.output_inside(output_dir, j.output, f"jobs line {j.line}: output")
        stem = path.with_suffix("") if path.suffix.lower() in (".wav", ".mp4", ".npy") else path
        if stem in seen:
            raise UserError(f"jobs line {j.line}: output: expected a distinct output name per job, got "
                            f"{j.output!r} again")
        seen.add(stem)
    validate.writable_folder(output_dir, "--output_dir")


def run_batch(jam, jobs: list[BatchJob], output_dir, batch_size: int = 8) -> list[BatchJob]:
    """Run every job; returns them with `paths` filled. Short tts/talk jobs are batched."""
    output_dir = Path(output_dir)
    check_outputs(jobs, output_dir)
    batch_size = validate.number("batch_size", batch_size, 1, jam.limits.max_batch_size, integer=True)
    check_scripts(jobs, jam.tokenizer)  # every job's text readable by this model before the first runs
    groups: dict[tuple, list[BatchJob]] = {}
    singles: list[BatchJob] = []
    for j in jobs:
        j.settings = j.settings.with_seed()
        if j.task in ("tts", "talk") and not j.args.get("ref_motion") and j.args.get("source") in (None, "avatar"):
            key = (j.task, j.args.get("ref_audio"), j.args.get("ref_text"), j.args.get("voice"),
                   tuple(j.settings.to_dict().items()))
            groups.setdefault(key, []).append(j)
        else:
            singles.append(j)
    bar = tqdm(total=len(jobs), desc="jobs", unit="job", disable=not jam.progress)
    voices = _Voices(jam)
    try:
        _run_groups(jam, groups, output_dir, batch_size, bar, voices)
        _run_singles(jam, singles, output_dir, bar, voices)
    finally:
        voices.use(None)
        bar.close()
    return jobs


class _Voices:
    """The fitted voice file in use for the jobs running now; put in use only when it changes."""

    def __init__(self, jam):
        self.jam, self.path = jam, None

    def use(self, path: str | None) -> None:
        if path != self.path:
            self.jam.use_voice(path)  # None: back to the base model
            self.path = path


def _run_groups(jam, groups: dict, output_dir: Path, batch_size: int, bar, voices: _Voices) -> None:
    for (task, ref_audio, ref_text, voice, _), members in groups.items():
        voices.use(voice)
        for start in range(0, len(members), batch_size):
            part = members[start: start + batch_size]
            results = jam.text_batch(task, [m.args["gen_text"] for m in part], ref_audio, ref_text,
                                     part[0].settings, [_inside(output_dir, m) for m in part])
            for m, r in zip(part, results):
                m.paths = r.paths
            bar.update(len(part))


def _run_singles(jam, singles: list[BatchJob], output_dir: Path, bar, voices: _Voices) -> None:
    for j in singles:
        method = getattr(jam, j.task)
        a = dict(j.args)
        voices.use(a.pop("voice", None))
        if j.task in ("tts", "talk"):
            pos = (a.pop("gen_text"), a.pop("ref_audio", None), a.pop("ref_text", None))
        elif j.task == "animate":
            pos = (a.pop("audio"),)
        elif j.task == "dub":
            pos = (a.pop("gen_text"), a.pop("motion", None), a.pop("ref_audio", None), a.pop("ref_text", None))
        else:
            pos = (a.pop("text"), a.pop("audio"), a.pop("motion", None))
        j.paths = method(*pos, **a, output=_inside(output_dir, j), settings=j.settings).paths
        bar.update(1)


def _inside(output_dir: Path, job: BatchJob) -> Path:
    return validate.output_inside(output_dir, job.output, f"jobs line {job.line}: output")
