"""Diagnostic: `jamflow eval` with the text laid out by the clips' own forced-aligned durations.

    python3 recipes/default_model/oracle_durations.py CACHE MODE <jamflow eval arguments...>

MODE says what replaces the model's own layout and length:
    oracle       each text part (the prompt's, the new text's) gets the durations `jamflow align` found
                 for the clip that speaks it, scaled to the length inference chose; dub's new text
                 gets them in place of the lip layout (infer/layout/lips.py)
    oracle_len   the same, and the new text gets its clip's true length instead of F5's length rule
    table_len    the model's own layout (table or predictor), at the clip's true length

It answers "is the acoustic model or the layout short of the target?": on the shipped DiT with the
mean-duration table, seen-voice tts WER was 0.341, 0.236 with `oracle`, 0.217 with `oracle_len` and
0.342 with `table_len` (three seeds; README.md, "Diagnostics"). Dub with `oracle` on the shipped model (with
its duration predictor): WER 0.217 at 88% in sync, against 0.229 at 90% with the lip
layout (recipes/default_model/README.md). The parts are matched to clips by their token ids, so CACHE must
be the cache of the corpus the eval manifest comes from (with durations.npz).
"""
import json
import sys
from pathlib import Path

import numpy as np

import jamflow.infer.layout.length as length
import jamflow.infer.layout.lips as lips
import jamflow.model.durations as durations
from jamflow.data.batching import load_cache_index

MODES = ("oracle", "oracle_len", "table_len")


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] not in MODES:
        print(__doc__, file=sys.stderr)
        return 2
    cache, mode, rest = Path(argv[0]), argv[1], argv[2:]
    _, lines = load_cache_index(cache)
    aligned = np.load(cache / "durations.npz")
    manifest = {json.loads(x)["id"]: json.loads(x) for x in (cache.parent / "manifest.jsonl").read_text().splitlines()}
    by_tokens, by_text = {}, {}
    for line in lines:
        if line["id"] in aligned:
            with np.load(cache / line["file"]) as f:
                by_tokens[tuple(int(t) for t in f["text"])] = aligned[line["id"]]
            by_text[manifest[line["id"]]["text"].strip()] = line["motion_frames"]
    counts = {"layout from the clip": 0, "layout not found": 0, "length from the clip": 0, "length not found": 0}
    own_layout, own_length, own_lips = durations.table_durations, length.text_frames, lips.lip_durations

    def clip_layout(tokens, frames, table, lead=True, trail=True, weights=None):
        d = by_tokens.get(tuple(int(t) for t in tokens))
        if d is None:
            counts["layout not found"] += 1
            return own_layout(tokens, frames, table, lead, trail, weights)
        counts["layout from the clip"] += 1
        d = d.astype(np.float64)
        d[0], d[-1] = (d[0] if lead else 0.0), (d[-1] if trail else 0.0)
        return durations.spread(d, frames)

    def clip_lips(tokens, ids, aperture, frames, table, weights=None):
        d = by_tokens.get(tuple(int(t) for t in ids))
        if d is None:
            counts["layout not found"] += 1
            return own_lips(tokens, ids, aperture, frames, table, weights)
        counts["layout from the clip"] += 1
        return durations.spread(d.astype(np.float64), frames)

    def clip_length(prompt, text, speed):
        frames = by_text.get(text.strip())
        counts["length from the clip" if frames else "length not found"] += 1
        return frames if frames else own_length(prompt, text, speed)

    if mode.startswith("oracle"):
        durations.table_durations = clip_layout
        lips.lip_durations = clip_lips
    if mode.endswith("_len"):
        length.text_frames = clip_length
    from jamflow.cli import main as jamflow_main

    rc = jamflow_main(rest)
    print(f"{mode}: {counts}", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
