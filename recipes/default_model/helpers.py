"""Small steps of the default-model recipe that no jamflow command does (yet).

    python recipes/default_model/helpers.py eval-subset corpus/manifest.jsonl corpus/eval_subset.jsonl \
        --voices festival:slt_hts=4,festival:kal_diphone=3,festival:ked_diphone=3
    python recipes/default_model/helpers.py eval-subset corpus/manifest.jsonl corpus/dev_seen.jsonl \
        --voices festival:slt_hts=15,festival:kal_diphone=15 --skip corpus/eval_seen.jsonl
    python recipes/default_model/helpers.py mean-motion corpus/eval_subset.jsonl baseline_mean_motion
    python recipes/default_model/helpers.py vocoded corpus/eval_subset.jsonl baseline_vocoded --vocoder griffinlim

`eval-subset`: `jamflow eval --max_clips N` takes the first N test clips by id, which in this corpus
are mostly the held-out voice. A short evaluation needs both seen voices (on held-out sentences) and the
held-out voice, with at least two clips per voice so every clip has another one to prompt from. Every
picked clip has a held-out sentence (hashed, the same in every corpus; fraction from card.json): a test
clip of a held-out voice may speak a sentence that other voices speak in train, of this corpus or of a
bigger one (8 of the first 10 `ked_diphone` test clips of the 3000-clip corpus are in the 12k corpus's
train split). The subset is written beside the source manifest so its relative paths and card.json stay
valid. `--skip` passes over the clips (and sentences) of other sets: a development set for trying
inference settings, so that the eval set is not tuned on.

`mean-motion`: the "mean motion" baseline of the animate target (lip vertex error <= 50% of it): every
clip's ground-truth audio with the corpus's mean motion (card.json stats, train split) held still for the
clip's length. Scored next to the model with `jamflow eval --gen mean_motion=<out>/manifest.jsonl`.

`vocoded`: the ground-truth audio through mel -> the same vocoder the model's output goes through. Its
WER separates what the vocoder loses (Griffin-Lim without Vocos weights) from what the model gets wrong.

`migrate-lips-context`: a step of stage 1 of the shipped weights (README.md). Its updates 1-5500 ran
with the first `lips` spec, whose context was every non-lip channel (52); the spec now gives the
model only eyes + head pose (22, docs/model.md). This slices the Motion-DiT input projection's context
columns to the new channels in a training checkpoint -- online weights, EMA and AdamW moments -- in place,
so `jamflow train --resume` continues from it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from jamflow.errors import UserError


def eval_subset(manifest: str, out: str, voices: dict[str, int], skip: list[str] = ()) -> list[dict]:
    """The first clips by id of each voice's test clips with held-out sentences; a clip whose id or
    sentence is in a `skip` manifest is passed over (a development set beside the eval set)."""
    src, out = Path(manifest), Path(out)
    if out.resolve().parent != src.resolve().parent:
        raise UserError(f"out: expected a file beside {src} (relative paths), got {out}")
    from jamflow.data.manifest import read_card
    from jamflow.data.sentences import is_heldout_sentence

    for voice, count in voices.items():
        if count < 2:
            raise UserError(f"voices: expected >= 2 clips per voice (each needs another as its prompt), "
                            f"got {voice}={count}")
    fraction = read_card(src.parent).get("heldout_fraction")
    if not fraction:
        raise UserError(f"manifest: expected a card.json beside {src} with heldout_fraction > 0 "
                        f"(a jamflow synth-data corpus), got {fraction!r}")
    rows = _read_rows(src)
    taken_ids, taken_texts = set(), set()
    for other in skip:
        if not Path(other).is_file():
            raise UserError(f"skip: expected a manifest file, got {other} (no such file)")
        taken = _read_rows(Path(other))
        taken_ids |= {r["id"] for r in taken}
        taken_texts |= {r["text"] for r in taken}
    rows = [r for r in rows if r["id"] not in taken_ids and r["text"] not in taken_texts]
    picked = []
    for voice, count in voices.items():
        found = sorted((r for r in rows if r["speaker"] == voice and r["split"] == "test"
                        and is_heldout_sentence(r["text"], fraction)), key=lambda r: r["id"])
        if len(found) < count:
            raise UserError(f"voices: expected {count} test clips of {voice} with held-out sentences, "
                            f"got {len(found)}")
        picked += found[:count]
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in picked))
    os.replace(tmp, out)
    return picked


def mean_motion(manifest: str, out: str, card: str | None = None) -> Path:
    """The mean-motion baseline of `manifest` (the mean pose of its corpus card, or of `card`, for each
    clip's length). With `card`, a clip without motion (real speech) gets one for its audio's length: a
    placeholder that lets `jamflow eval --task animate --metrics sync` score real speech."""
    import math

    import numpy as np

    from jamflow.data.manifest import read_card, read_manifest, write_manifest
    from jamflow.timeline import MOTION_FPS

    src, out = Path(manifest), Path(out)
    rows = read_manifest(src)
    mean = np.asarray(read_card(Path(card) if card else src.parent / "card.json")["stats"]["mean"], np.float32)  # [70]
    (out / "motion").mkdir(parents=True, exist_ok=True)
    written = []
    for row in rows:
        if row.get("motion") is None and card is None:
            raise UserError(f"manifest: expected ground-truth motion for every clip, got none for {row['id']}")
        frames = (len(np.load(row["motion"], mmap_mode="r")) if row.get("motion") is not None
                  else math.ceil(row["duration"] * MOTION_FPS))
        path = out / "motion" / f"{row['id']}.npy"
        np.save(path, np.repeat(mean[None], frames, axis=0))  # [T, 70]
        written.append({**row, "motion": str(path.resolve()), "alignment": None})
    return write_manifest(out / "manifest.jsonl", written)


def vocoded(manifest: str, out: str, vocoder: str | None = None) -> Path:
    import torch

    from jamflow.audio.io import load_audio, save_wav
    from jamflow.audio.mel import mel_spectrogram
    from jamflow.data.manifest import read_manifest, write_manifest
    from jamflow.vocoder import load_vocoder

    out = Path(out)
    voc = load_vocoder(vocoder)
    written = []
    for row in read_manifest(manifest):
        mel = mel_spectrogram(torch.from_numpy(load_audio(row["audio"])))  # [1, 100, n]
        with torch.no_grad():
            wav = voc.decode(mel)[0].cpu().numpy()  # [samples]
        path = save_wav(out / "wavs" / f"{row['id']}.wav", wav)
        written.append({**row, "audio": str(Path(path).resolve()), "alignment": None,
                        "duration": max(len(wav) / 24000, 1e-3)})
    return write_manifest(out / "manifest.jsonl", written)


def migrate_lips_context(checkpoint: str) -> list[str]:
    import torch
    from safetensors.torch import load_file, save_file

    from jamflow.motion.spec import get_spec

    ck = Path(checkpoint)
    spec = get_spec("lips")
    legacy = [i for i in range(70) if i not in set(spec.generate)]  # the first spec's context order
    dg, old_width = spec.gen_dim, 2 * spec.gen_dim + len(legacy)
    keep = torch.tensor(list(range(2 * dg)) + [2 * dg + legacy.index(c) for c in spec.context])  # x, cond, context
    changed = []
    for name in ("model.safetensors", "ema.safetensors", "optimizer.safetensors"):
        path = ck / name
        if not path.is_file():
            raise UserError(f"checkpoint: expected {path} (a training checkpoint folder), got none")
        tensors = load_file(str(path))
        # the projection is the only [dim, 88] matrix; in the optimizer file its moments are keyed by index
        hits = [k for k, v in tensors.items() if v.dim() == 2 and v.shape[1] == old_width
                and ("input_proj" in k or name.startswith("optimizer"))]
        want = 2 if name.startswith("optimizer") else 1
        if len(hits) != want:
            raise UserError(f"checkpoint: expected {want} legacy motion input projection tensor(s) "
                            f"[dim, {old_width}] in {name}, got {len(hits)} (already migrated?)")
        for k in hits:
            tensors[k] = tensors[k][:, keep].contiguous()
        tmp = path.with_name(f".{path.name}.tmp")
        save_file(tensors, str(tmp))
        os.replace(tmp, path)
        changed += [f"{name}:{k}" for k in hits]
    return changed


def text_window(cache: str, checkpoint: str) -> int:
    """Set an exported model's text position window (docs/model.md) to the longest transcript of the
    training split of `cache` (its index's text_len), restarting after . ! ? in the cache's tokenizer."""
    from jamflow.audio.tokenizers import get_tokenizer
    from jamflow.data.batching import load_cache_index
    from jamflow.fileio import write_json_atomic

    _, index = load_cache_index(cache)
    lengths = [row["text_len"] for row in index if row.get("split") == "train"]
    if not lengths:
        raise UserError(f"cache: expected train items in {cache}/index-*.jsonl, got none")
    config_path = Path(checkpoint) / "config.json"
    stored = json.loads(config_path.read_text())
    tokenizer = get_tokenizer(stored["config"]["tokenizer"])
    stored["config"]["audio"]["text_pos_window"] = max(lengths)
    stored["config"]["audio"]["text_sentence_ends"] = sorted({tokenizer.encode(mark)[-1] for mark in ".!?"})
    write_json_atomic(config_path, stored)
    return max(lengths)


def _read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _voices(text: str) -> dict[str, int]:
    result = {}
    for item in text.split(","):
        name, _, count = item.rpartition("=")
        if not name or not count.isdigit():
            raise UserError(f"--voices: expected engine:voice=N,..., got {item!r}")
        result[name] = int(count)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("eval-subset", help="a few test clips per voice")
    p.add_argument("manifest")
    p.add_argument("out")
    p.add_argument("--voices", type=_voices, required=True)
    p.add_argument("--skip", action="append", default=[], metavar="MANIFEST",
                   help="pass over clips whose id or sentence is in this manifest (repeatable): a dev set")
    p = sub.add_parser("mean-motion", help="mean-motion baseline manifest")
    p.add_argument("manifest")
    p.add_argument("out")
    p.add_argument("--card", default=None, help="a corpus card.json: its mean pose, also for clips without motion")
    p = sub.add_parser("vocoded", help="ground truth through mel + vocoder")
    p.add_argument("manifest")
    p.add_argument("out")
    p.add_argument("--vocoder", default=None, help="Vocos folder or griffinlim (default: as inference)")
    p = sub.add_parser("migrate-lips-context", help="slice a checkpoint's motion context columns to the lips spec")
    p.add_argument("checkpoint", help="a training checkpoint folder (train_run/checkpoints/step_N)")
    p = sub.add_parser("text-window", help="an export's text position window from its training cache")
    p.add_argument("cache")
    p.add_argument("checkpoint", help="an exported model folder (config.json is rewritten)")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "text-window":
            print(f"text positions of {args.checkpoint} restart past {text_window(args.cache, args.checkpoint)} tokens")
        elif args.cmd == "migrate-lips-context":
            print("migrated " + ", ".join(migrate_lips_context(args.checkpoint)))
        elif args.cmd == "vocoded":
            print(f"wrote {vocoded(args.manifest, args.out, args.vocoder)}")
        elif args.cmd == "mean-motion":
            print(f"wrote {mean_motion(args.manifest, args.out, args.card)}")
        else:
            rows = eval_subset(args.manifest, args.out, args.voices, args.skip)
            print(f"wrote {args.out} ({len(rows)} clips)")
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
