"""Manifest -> feature cache for training (mel, normalised motion, token ids); `jamflow prepare`.

    jamflow prepare --manifest corpus/manifest.jsonl --out cache/ --workers 2 [--shard 0/4]

Cache layout (one folder):
    cache.json                 settings + motion stats + clip count; the same for every shard
    items/<id>.npz             mel [n, 100] f32 (time first), text [nt] i32, motion [m, 70] f32 normalised
    index-<i>-of-<n>.jsonl     one line per clip of shard i: lengths up front, or why it was skipped

A clip's line is appended only after its .npz was renamed into place, so a killed run resumes where
it stopped (clips already in the index are skipped). Shards split the manifest by line number
(i, i+n, i+2n, ...), so n machines can each run one shard into a shared folder.

Audio and motion are trimmed to the same span: a clip of m motion frames keeps mel_frames_for(m)
= floor(3.75 m + 1/2) mel frames (jamflow.timeline); clips whose streams disagree by more
than --max_mismatch seconds are skipped as broken.
"""
from __future__ import annotations

import json
import multiprocessing as mp
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jamflow.errors import UserError
from jamflow.fileio import atomic_path, remove_stale_temps, write_json_atomic, write_text_atomic
from jamflow.timeline import MEL_FPS, MOTION_FPS, SAMPLE_RATE, mel_frames_for, motion_frames_for

CACHE_VERSION = 1
STD_FLOOR = 1e-5  # channels that never move (std 0) are centred, not blown up


# ---------------------------------------------------------------------------------------------
# manifest + card

def read_manifest(path: Path) -> tuple[list[dict], dict]:
    """manifest.jsonl (+ card.json beside it) -> (clips with absolute paths, card); checks every file.

    An F5-TTS `audio_file|text` metadata.csv is accepted too (speech only); without a card.json beside
    it, a neutral card (no motion statistics needed) is used.
    """
    from jamflow.data.manifest import import_metadata_csv, make_card, read_card
    from jamflow.data.manifest import read_manifest as read_rows

    if not path.is_file():
        raise UserError(f"--manifest: expected an existing manifest.jsonl or metadata.csv, got {str(path)!r}")
    if path.suffix.lower() == ".csv":
        rows = import_metadata_csv(path)
        if (path.parent / "card.json").is_file():
            return rows, read_card(path.parent / "card.json")
        return rows, make_card(path.parent.name, rows, motion_spec="lips")  # no motion: neutral stats
    return read_rows(path, check_files=True), read_card(path.parent / "card.json")


def _card_stats(card: dict) -> tuple[np.ndarray, np.ndarray]:
    stats = card.get("stats") or {}
    mean = np.asarray(stats.get("mean", []), dtype=np.float32)
    std = np.asarray(stats.get("std", []), dtype=np.float32)
    if mean.shape != (70,) or std.shape != (70,):
        raise UserError(f"card.json stats: expected mean and std of 70 values, got {mean.shape} and {std.shape}")
    return mean, np.maximum(std, STD_FLOOR)


# ---------------------------------------------------------------------------------------------
# per-clip work (runs in worker processes)

@dataclass
class PrepareJob:
    root: str  # manifest folder
    out: str
    tokenizer: str
    vocab: str | None
    mean: np.ndarray
    std: np.ndarray
    min_duration: float
    max_duration: float
    max_mismatch: float


_job: PrepareJob | None = None
_tok = None


def _init_worker(job: PrepareJob) -> None:
    global _job, _tok
    import torch

    torch.set_num_threads(1)  # workers are processes; threads inside them only fight
    _job = job
    _tok = get_text_tokenizer(job.tokenizer, job.vocab)


def get_text_tokenizer(name: str, vocab: str | None):
    from jamflow.audio.tokenizers import get_tokenizer

    return get_tokenizer(name, vocab)


def process_clip(clip: dict) -> dict:
    """One manifest clip -> items/<id>.npz; returns its index line (or a 'skipped' line)."""
    import torch

    from jamflow.audio.io import load_audio
    from jamflow.audio.mel import mel_spectrogram

    job = _job
    cid = str(clip["id"])
    line = {"id": cid, "split": clip.get("split", "train"), "speaker": clip.get("speaker")}
    root = Path(job.root)
    try:
        wav = load_audio(root / clip["audio"], SAMPLE_RATE)
    except UserError as e:
        return {**line, "skipped": f"audio: {e}"}
    seconds = len(wav) / SAMPLE_RATE
    if not job.min_duration <= seconds <= job.max_duration:
        return {**line, "skipped": f"duration {seconds:.2f}s outside [{job.min_duration}, {job.max_duration}]"}
    with torch.no_grad():
        mel = mel_spectrogram(torch.from_numpy(wav)[None])[0].T.contiguous().numpy()  # [n, 100]
    arrays = {"mel": mel.astype(np.float32)}
    if clip.get("motion"):
        motion_path = root / clip["motion"]
        if not motion_path.is_file():
            return {**line, "skipped": f"motion: file not found {clip['motion']}"}
        motion = np.load(motion_path).astype(np.float32)
        if motion.ndim != 2 or motion.shape[1] != 70 or not np.isfinite(motion).all():
            return {**line, "skipped": f"motion: expected finite [frames, 70], got {motion.shape}"}
        m = motion.shape[0]
        mismatch = abs(len(mel) - mel_frames_for(m)) / MEL_FPS
        if mismatch > job.max_mismatch:
            return {**line, "skipped": f"audio {len(mel)} mel frames vs motion {m} frames: {mismatch:.2f}s apart"}
        m = min(m, motion_frames_for(len(mel)))
        arrays["mel"] = arrays["mel"][: mel_frames_for(m)]
        arrays["motion"] = ((motion[:m] - job.mean) / job.std).astype(np.float32)
    try:
        ids = _tok.encode(str(clip["text"]))
    except UserError as e:
        return {**line, "skipped": f"text: {e}"}
    arrays["text"] = np.asarray(ids, dtype=np.int32)
    with atomic_path(Path(job.out) / "items" / f"{cid}.npz") as tmp:
        np.savez(tmp, **arrays)
    return {**line, "file": f"items/{cid}.npz", "mel_frames": int(len(arrays["mel"])),
            "motion_frames": int(len(arrays["motion"])) if "motion" in arrays else 0,
            "text_len": int(len(ids)), "text_max": int(max(ids, default=-1)), "duration": round(len(arrays["mel"]) / MEL_FPS, 4)}


# ---------------------------------------------------------------------------------------------
# driver

def parse_shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise UserError(f"--shard: expected i/n like 0/4, got {text!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise UserError(f"--shard: expected 0 <= i < n, got {text!r}")
    return i, n


def read_index(path: Path) -> dict[str, dict]:
    """Index lines by id; a torn last line (killed mid-write) is ignored."""
    return _parse_index(path.read_text() if path.is_file() else "")


def _parse_index(text: str) -> dict[str, dict]:
    done = {}
    for raw in text.splitlines():
        try:
            line = json.loads(raw)
        except json.JSONDecodeError:
            continue
        done[line["id"]] = line
    return done


def prepare(manifest: str, out: str, tokenizer: str = "char", vocab: str | None = None, workers: int = 1,
            shard: str = "0/1", min_duration: float = 0.3, max_duration: float = 30.0,
            max_mismatch: float = 0.2, progress: bool = True) -> dict:
    """Cache every clip of one shard; returns a summary {prepared, skipped, already_done, total}."""
    manifest_path = Path(manifest).resolve()
    shard_i, shard_n = parse_shard(shard)
    if workers < 1:
        raise UserError(f"--workers: expected >= 1, got {workers}")
    if vocab is not None and not Path(vocab).is_file():
        raise UserError(f"--vocab: expected an existing vocab file, got {vocab!r}")
    clips, card = read_manifest(manifest_path)
    _check_clip_ids([str(c["id"]) for c in clips])
    mean, std = _card_stats(card)
    get_text_tokenizer(tokenizer, vocab)  # fail on a bad tokenizer before any work

    out_dir = Path(out)
    (out_dir / "items").mkdir(parents=True, exist_ok=True)
    for folder in (out_dir, out_dir / "items"):  # temps of a run killed mid-write (kill -9); live shards' stay
        remove_stale_temps(folder)
    settings = {"version": CACHE_VERSION, "manifest": str(manifest_path), "num_clips": len(clips),
                "tokenizer": tokenizer, "vocab": str(Path(vocab).resolve()) if vocab else None,
                "mel": "vocos", "sample_rate": SAMPLE_RATE, "mel_fps": MEL_FPS, "motion_fps": MOTION_FPS,
                "motion_spec": card.get("motion_spec", "lips"),
                "stats": {"mean": mean.tolist(), "std": std.tolist()}, "card": card}
    _write_settings(out_dir / "cache.json", settings)

    index_path = out_dir / f"index-{shard_i}-of-{shard_n}.jsonl"
    done = _resume_index(index_path)
    todo = [c for k, c in enumerate(clips) if k % shard_n == shard_i and str(c["id"]) not in done]
    job = PrepareJob(str(manifest_path.parent), str(out_dir), tokenizer, vocab, mean, std,
                     min_duration, max_duration, max_mismatch)
    summary = {"prepared": 0, "skipped": 0, "already_done": len(done), "total": len(todo) + len(done)}
    _process_clips(todo, job, workers, index_path, summary, f"prepare {shard_i}/{shard_n}", progress)
    return summary


def _check_clip_ids(ids: list[str]) -> None:
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise UserError(f"--manifest: expected unique clip ids, got {dup!r} twice")
    bad = [i for i in ids if not i or "/" in i or i.startswith(".")]
    if bad:
        raise UserError(f"--manifest: expected clip ids usable as file names, got {bad[0]!r}")


def _write_settings(meta_path: Path, settings: dict) -> None:
    """Write cache.json, or check that the one there (another shard's, or an earlier run's) agrees."""
    if meta_path.is_file():
        old = json.loads(meta_path.read_text())
        for key in ("manifest", "num_clips", "tokenizer", "vocab", "stats", "motion_spec"):
            if old.get(key) != settings[key]:
                raise UserError(f"--out: expected an empty folder or a cache with the same settings, "
                                f"got one with a different {key}")
    else:
        write_json_atomic(meta_path, settings)


def _resume_index(index_path: Path) -> dict[str, dict]:
    """The shard's index lines so far, by id."""
    text = index_path.read_text() if index_path.is_file() else ""
    done = _parse_index(text)
    if text and (not text.endswith("\n") or len(text.splitlines()) != len(done)):
        # a torn last line (killed mid-write): rewrite the good lines so appends start on a fresh line
        write_text_atomic(index_path, "".join(json.dumps(line) + "\n" for line in done.values()))
    return done


def _process_clips(todo: list[dict], job: PrepareJob, workers: int, index_path: Path, summary: dict, desc: str,
                   progress: bool) -> None:
    """Process the clips (in a fork pool when workers > 1), appending each clip's line to the index."""
    from tqdm import tqdm

    bar = tqdm(total=len(todo), desc=desc, disable=not progress, unit="clip")
    with open(index_path, "a") as index:
        def record(line: dict) -> None:
            index.write(json.dumps(line) + "\n")
            index.flush()
            summary["skipped" if "skipped" in line else "prepared"] += 1
            bar.update(1)

        if workers == 1:
            _init_worker(job)
            for clip in todo:
                record(process_clip(clip))
        elif todo:
            with mp.get_context("fork").Pool(workers, initializer=_init_worker, initargs=(job,)) as pool:
                for line in pool.imap_unordered(process_clip, todo, chunksize=4):
                    record(line)
    bar.close()
