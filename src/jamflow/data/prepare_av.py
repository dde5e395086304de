"""Folders of talking videos with transcripts -> manifest.jsonl + card.json (`jamflow prepare-av`).

Inputs (one of):
  * a folder searched recursively for videos (.mp4 .mov .mkv .avi .webm), each with a transcript
    beside it, `<clip>.txt`: LRS3's format (first line "Text:  THE WORDS") or plain text. That covers
    LRS3 (`<speaker>/<clip>.mp4`), HDTF clips and CelebV-Dub exports with sidecar transcripts;
    the speaker is the clip's folder name;
  * a `video|text[|speaker]` CSV (paths relative to the CSV).

For each clip: LivePortrait motion at 25 fps (`motion/<id>.npy`) and 24 kHz audio trimmed to the
same length (`wavs/<id>.wav`). Clips without a trackable face, audio or transcript are skipped and
listed with the reason, never fatal. Work splits across machines with `--shard K/N` (clip i goes to
shard i % N); each shard writes `shards/K-of-N.jsonl` (+ `.skipped.jsonl`); re-running skips clips
already done. `--merge` (automatic when N = 1) joins the shards into manifest.jsonl, computes the
per-channel motion statistics and writes card.json.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from tqdm import tqdm

from jamflow.audio.io import save_wav
from jamflow.data.manifest import make_card, read_pipe_csv, write_card, write_manifest
from jamflow.data.sentences import in_hashed_fraction
from jamflow.errors import UserError
from jamflow.fileio import write_text_atomic
from jamflow.timeline import MOTION_FPS, SAMPLE_RATE

VIDEO_EXTS = {".mp4", ".mov", ".mkv", ".avi", ".webm"}


def read_transcript(path: Path) -> str:
    """LRS3 `Text:  WORDS` header or plain text -> the sentence ('' when empty)."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for line in lines:
        if line.startswith("Text:"):
            return line[5:].strip()
    return " ".join(line.strip() for line in lines if line.strip())


def clip_id(rel: Path) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", rel.with_suffix("").as_posix().replace("/", "__"))


def find_clips(source: Path) -> list[dict]:
    """-> [{id, video, text, speaker}] sorted by id (the order shards are cut from)."""
    if not source.exists():
        raise UserError(f"input: expected a folder of videos or a video|text CSV, got missing {str(source)!r}")
    clips = []
    if source.is_file():
        root = source.resolve().parent
        for _, parts in read_pipe_csv(source, ("video", "video_file", "path"), "video|text[|speaker]"):
            rel = Path(parts[0].strip())
            clips.append({"id": clip_id(rel), "video": str((root / rel).resolve()), "text": parts[1].strip(),
                          "speaker": parts[2].strip() if len(parts) > 2 and parts[2].strip() else root.name})
    else:
        for video in sorted(p for p in source.rglob("*") if p.suffix.lower() in VIDEO_EXTS and p.is_file()):
            rel = video.relative_to(source)
            txt = video.with_suffix(".txt")
            clips.append({"id": clip_id(rel), "video": str(video.resolve()),
                          "text": read_transcript(txt) if txt.is_file() else "",
                          "speaker": video.parent.name if video.parent != source else source.name})
    ids = [c["id"] for c in clips]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise UserError(f"input: expected unique clip names, got {dup!r} twice")
    if not clips:
        raise UserError(f"input: expected videos ({', '.join(sorted(VIDEO_EXTS))}) in {str(source)!r}, got none")
    return sorted(clips, key=lambda c: c["id"])


def parse_shard(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)/(\d+)", text or "")
    if not m or not 0 <= int(m.group(1)) < int(m.group(2)):
        raise UserError(f"--shard: expected K/N with 0 <= K < N (e.g. 0/8), got {text!r}")
    return int(m.group(1)), int(m.group(2))


def _append_jsonl(path: Path, row: dict) -> None:
    # one line per finished clip, flushed: a killed shard keeps everything it completed
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row, ensure_ascii=False) + "\n")


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def prepare_shard(clips: list[dict], out: Path, nets, detector, shard: tuple[int, int], batch_size: int = 8,
                  test_fraction: float = 0.0) -> tuple[int, int]:
    """Extract this shard's clips. Returns (done, skipped) counts, including earlier runs."""
    from jamflow.motion.io import save_motion
    from jamflow.render.liveportrait.extract import extract_video, fit_audio, video_audio

    k, n = shard
    mine = [c for i, c in enumerate(clips) if i % n == k]
    shards = out / "shards"
    for sub in ("motion", "wavs", "shards"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    done_path, skip_path = shards / f"{k}-of-{n}.jsonl", shards / f"{k}-of-{n}.skipped.jsonl"
    finished = {r["id"] for r in _read_jsonl(done_path)} | {r["id"] for r in _read_jsonl(skip_path)}
    for clip in tqdm(mine, desc=f"prepare-av shard {k}/{n}", unit="clip"):
        if clip["id"] in finished:
            continue
        reason = None
        if not clip["text"].strip():
            reason = "no transcript"
        elif not os.path.isfile(clip["video"]):
            reason = "video file missing"
        if reason is None:
            try:
                ex = extract_video(clip["video"], nets, detector, batch_size)
                audio = video_audio(clip["video"])
                reason = "no audio stream" if audio is None else None
            except UserError as e:
                reason = str(e)
        if reason is not None:
            _append_jsonl(skip_path, {"id": clip["id"], "video": clip["video"], "reason": reason})
            continue
        motion_path, wav_path = out / "motion" / f"{clip['id']}.npy", out / "wavs" / f"{clip['id']}.wav"
        save_motion(motion_path, ex.motion)
        save_wav(wav_path, fit_audio(audio, len(ex.motion)), SAMPLE_RATE)
        _append_jsonl(done_path, {
            "id": clip["id"], "audio": f"wavs/{clip['id']}.wav", "text": clip["text"],
            "motion": f"motion/{clip['id']}.npy", "speaker": clip["speaker"], "duration": len(ex.motion) / MOTION_FPS,
            "alignment": None, "split": "test" if in_hashed_fraction(clip["id"], test_fraction) else "train",
            "source_video": clip["video"], "source_fps": float(ex.fps_in)})
    return len(_read_jsonl(done_path)), len(_read_jsonl(skip_path))


def merge(out: Path, name: str | None = None, motion_spec: str = "full") -> dict:
    """shards/*.jsonl -> manifest.jsonl + card.json (+ skipped.jsonl). Returns the card."""
    rows, skipped = [], []
    for path in sorted((out / "shards").glob("*-of-*.jsonl")):
        (skipped if path.name.endswith(".skipped.jsonl") else rows).extend(_read_jsonl(path))
    if not rows:
        raise UserError(f"merge: expected prepared clips under {out / 'shards'}, got none "
                        f"({len(skipped)} skipped)")
    rows = [{**r, "audio": str(out / r["audio"]), "motion": str(out / r["motion"])} for r in rows]
    rows.sort(key=lambda r: r["id"])
    write_manifest(out / "manifest.jsonl", rows)
    card = make_card(name or out.resolve().name, rows, motion_spec=motion_spec, source="prepare-av",
                     skipped=len(skipped))
    write_card(out / "card.json", card)
    lines = "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in sorted(skipped, key=lambda s: s["id"]))
    write_text_atomic(out / "skipped.jsonl", lines)
    return card
