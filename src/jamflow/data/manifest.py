"""Dataset format: `manifest.jsonl` (one clip per line) + `card.json`, shared by procedural and real data.

manifest.jsonl rows (paths relative to the manifest's folder):
    {"id", "audio": "wavs/x.wav", "text", "motion": "motion/x.npy" | null, "speaker",
     "duration": seconds, "alignment": "align/x.json" | null, "split": "train" | "test"}
card.json:
    {"name", "sample_rate": 24000, "fps": 25, "motion_dim": 70, "motion_spec": "lips" | "full",
     "stats": {"mean": [70], "std": [70]}, "speakers": [...], ...free extra fields}

`read_manifest` validates every row (clear errors with the line number) and returns rows whose paths
are absolute; `write_manifest` writes them back relative to the manifest's folder, atomically. F5-TTS
users' `metadata.csv` (`audio_file|text`) imports with `import_metadata_csv`.
"""
from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

import numpy as np

from jamflow.errors import UserError
from jamflow.fileio import write_json_atomic, write_text_atomic
from jamflow.motion.spec import MOTION_DIM, SPECS
from jamflow.timeline import MOTION_FPS, SAMPLE_RATE

FIELDS = ("id", "audio", "text", "motion", "speaker", "duration", "alignment", "split")
PATH_FIELDS = ("audio", "motion", "alignment")
# what every card declares: the timeline's rates (the card writes its whole-number frame rate as an integer)
CARD_RATES = {"sample_rate": SAMPLE_RATE, "fps": round(MOTION_FPS), "motion_dim": MOTION_DIM}
SPLITS = ("train", "test")


# ---------------------------------------------------------------- manifest rows

def validate_row(row, where: str = "row") -> dict:
    """Check one manifest row's fields and types; returns a normalised copy (optional fields filled)."""
    if not isinstance(row, dict):
        raise UserError(f"{where}: expected a JSON object, got {type(row).__name__}")
    row = dict(row)
    for key in ("id", "audio", "text"):
        if not isinstance(row.get(key), str) or not row[key].strip():
            raise UserError(f"{where}: expected field {key!r} as a non-empty string, got {row.get(key)!r}")
    for key in ("motion", "alignment"):
        row.setdefault(key, None)
        if row[key] is not None and (not isinstance(row[key], str) or not row[key]):
            raise UserError(f"{where}: expected field {key!r} as a path string or null, got {row[key]!r}")
    row.setdefault("speaker", "unknown")
    if not isinstance(row["speaker"], str):
        raise UserError(f"{where}: expected field 'speaker' as a string, got {row['speaker']!r}")
    dur = row.get("duration")
    if isinstance(dur, bool) or not isinstance(dur, (int, float)) or not math.isfinite(dur) or dur <= 0:
        raise UserError(f"{where}: expected field 'duration' as positive seconds, got {dur!r}")
    row.setdefault("split", "train")
    if row["split"] not in SPLITS:
        raise UserError(f"{where}: expected field 'split' in {list(SPLITS)}, got {row['split']!r}")
    return row


def read_manifest(path, check_files: bool = True) -> list[dict]:
    """manifest.jsonl -> validated rows with absolute paths. check_files: every referenced file exists."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"manifest: expected an existing manifest.jsonl, got {str(path)!r}")
    root = path.resolve().parent
    rows, ids = [], set()
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path.name} line {lineno}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{where}: expected one JSON object per line, got invalid JSON ({e.msg})") from None
        row = validate_row(raw, where)
        if row["id"] in ids:
            raise UserError(f"{where}: expected unique ids, got {row['id']!r} twice")
        ids.add(row["id"])
        for key in PATH_FIELDS:
            if row[key] is not None:
                row[key] = str((root / row[key]).resolve())
                if check_files and not os.path.isfile(row[key]):
                    raise UserError(f"{where}: expected {key} file to exist, got missing {row[key]!r}")
        rows.append(row)
    if not rows:
        raise UserError(f"manifest: expected at least one clip in {str(path)!r}, got none")
    return rows


def write_manifest(path, rows: list[dict]) -> Path:
    """Write rows (absolute or relative paths) as manifest.jsonl with paths relative to its folder."""
    path = Path(path)
    root = path.resolve().parent
    lines = []
    for i, row in enumerate(rows):
        row = validate_row(row, f"rows[{i}]")
        out = {}
        for key in FIELDS:
            value = row[key]
            if key in PATH_FIELDS and value is not None and os.path.isabs(value):
                value = os.path.relpath(value, root)
            out[key] = value
        out.update({k: v for k, v in row.items() if k not in FIELDS})  # keep extra fields
        lines.append(json.dumps(out, ensure_ascii=False))
    write_text_atomic(path, "\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------- dataset card

def validate_card(card, where: str = "card.json") -> dict:
    if not isinstance(card, dict):
        raise UserError(f"{where}: expected a JSON object, got {type(card).__name__}")
    for key, value in CARD_RATES.items():
        if card.get(key) != value:
            raise UserError(f"{where}: expected {key!r} = {value}, got {card.get(key)!r}")
    if not isinstance(card.get("name"), str):
        raise UserError(f"{where}: expected 'name' as a string, got {card.get('name')!r}")
    spec = card.get("motion_spec")
    if not (spec in SPECS or (isinstance(spec, dict) and "generate" in spec)):
        raise UserError(f"{where}: expected 'motion_spec' in {sorted(SPECS)} (or a spec dict), got {spec!r}")
    stats = card.get("stats")
    if not isinstance(stats, dict):
        raise UserError(f"{where}: expected 'stats' with 'mean' and 'std' lists of {MOTION_DIM}, got {stats!r}")
    for key in ("mean", "std"):
        v = stats.get(key)
        if not isinstance(v, list) or len(v) != MOTION_DIM or not all(isinstance(x, (int, float)) and math.isfinite(x) for x in v):
            raise UserError(f"{where}: expected stats.{key} as {MOTION_DIM} finite numbers, got "
                            f"{type(v).__name__} of length {len(v) if isinstance(v, list) else '-'}")
    if any(x <= 0 for x in stats["std"]):
        raise UserError(f"{where}: expected every stats.std > 0, got {min(stats['std'])}")
    if not isinstance(card.get("speakers"), list):
        raise UserError(f"{where}: expected 'speakers' as a list, got {card.get('speakers')!r}")
    return card


def read_card(path) -> dict:
    path = Path(path)
    if path.is_dir():
        path = path / "card.json"
    if not path.is_file():
        raise UserError(f"card: expected an existing card.json, got {str(path)!r}")
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise UserError(f"card: expected valid JSON in {str(path)!r}, got {e.msg} at line {e.lineno}") from None
    return validate_card(card, path.name)


def write_card(path, card: dict) -> Path:
    path = Path(path)
    validate_card(card)
    write_json_atomic(path, card, indent=2)
    return path


def motion_stats(motion_paths, min_std: float = 1e-4) -> tuple[list[float], list[float]]:
    """Per-channel mean/std over all frames of the given .npy files (streamed, float64 sums).
    A channel that never moves gets std `min_std`, so normalising it cannot divide by zero."""
    total, total_sq, count = np.zeros(MOTION_DIM), np.zeros(MOTION_DIM), 0
    for p in motion_paths:
        m = np.load(p, allow_pickle=False).astype(np.float64)
        if m.ndim != 2 or m.shape[1] != MOTION_DIM:
            raise UserError(f"motion: expected [frames, {MOTION_DIM}] in {p!r}, got {list(m.shape)}")
        total += m.sum(0)
        total_sq += (m ** 2).sum(0)
        count += len(m)
    if count == 0:
        return [0.0] * MOTION_DIM, [1.0] * MOTION_DIM
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean ** 2, 0))
    return mean.tolist(), np.maximum(std, min_std).tolist()


def make_card(name: str, rows: list[dict], motion_spec: str = "full", **extra) -> dict:
    """Card for validated rows with absolute paths (stats from their motion files)."""
    mean, std = motion_stats([r["motion"] for r in rows if r.get("motion")])
    card = {"name": name, **CARD_RATES, "motion_spec": motion_spec,
            "stats": {"mean": mean, "std": std}, "speakers": sorted({r["speaker"] for r in rows}),
            "clips": len(rows), "hours": round(sum(r["duration"] for r in rows) / 3600, 4)}
    card.update(extra)
    return validate_card(card)


# ---------------------------------------------------------------- F5-style metadata.csv

def read_pipe_csv(path: Path, header_names: tuple[str, ...], expect: str):
    """Lines of a `|`-separated file -> (lineno, parts): blank lines and a header line (first field in
    `header_names`) skipped; a line with fewer than two fields raises a UserError quoting `expect`."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        for lineno, parts in enumerate(csv.reader(f, delimiter="|", quoting=csv.QUOTE_NONE), 1):
            if not parts or not "".join(parts).strip():
                continue
            if lineno == 1 and parts[0].strip().lower() in header_names:
                continue
            if len(parts) < 2:
                raise UserError(f"{path.name} line {lineno}: expected {expect!r}, got {'|'.join(parts)!r}")
            yield lineno, parts


def import_metadata_csv(csv_path, out_manifest=None, speaker: str | None = None,
                        heldout_fraction: float = 0.0) -> list[dict]:
    """F5-TTS `audio_file|text` metadata.csv (header optional, paths relative to the csv) -> rows.
    Writes `out_manifest` when given. Durations come from the audio headers; motion is null."""
    import soundfile as sf

    from jamflow.data.sentences import is_heldout_sentence

    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise UserError(f"metadata: expected an existing metadata.csv, got {str(csv_path)!r}")
    root = csv_path.resolve().parent
    rows = []
    for lineno, parts in read_pipe_csv(csv_path, ("audio_file", "audio", "path"), "audio_file|text"):
        audio, text = parts[0].strip(), "|".join(parts[1:]).strip()
        audio_path = (root / audio).resolve()
        if not audio_path.is_file():
            raise UserError(f"{csv_path.name} line {lineno}: expected audio file to exist, got missing {str(audio_path)!r}")
        try:
            info = sf.info(str(audio_path))
        except Exception as e:
            raise UserError(f"{csv_path.name} line {lineno}: expected a readable sound file, got {audio!r} ({e})") from None
        rows.append(validate_row({
            "id": Path(audio).with_suffix("").as_posix().replace("/", "_"), "audio": str(audio_path), "text": text,
            "motion": None, "speaker": speaker or root.name, "duration": info.frames / info.samplerate,
            "alignment": None, "split": "test" if is_heldout_sentence(text, heldout_fraction) else "train",
        }, f"{csv_path.name} line {lineno}"))
    if not rows:
        raise UserError(f"metadata: expected at least one 'audio_file|text' line in {str(csv_path)!r}, got none")
    if out_manifest is not None:
        write_manifest(out_manifest, rows)
    return rows
