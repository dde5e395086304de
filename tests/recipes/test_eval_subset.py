"""recipes/default_model/helpers.py eval-subset: test clips per voice, only with held-out sentences."""
import json

import pytest

from jamflow.data.manifest import MOTION_DIM, write_card
from jamflow.data.sentences import is_heldout_sentence
from jamflow.errors import UserError


def _corpus(tmp_path, fraction=0.3):
    sentences = [f"sentence number {i} about the weather." for i in range(40)]
    held = [s for s in sentences if is_heldout_sentence(s, fraction)]
    kept = [s for s in sentences if not is_heldout_sentence(s, fraction)]
    assert len(held) >= 3 and len(kept) >= 3
    rows = []
    # a held-out voice: every clip is test, whatever its sentence; ids interleave the two kinds
    for i, text in enumerate([kept[0], held[0], kept[1], held[1], held[2], kept[2]]):
        rows.append({"id": f"ked{i:02d}", "speaker": "ked", "text": text, "split": "test"})
    for i, text in enumerate(held[:3] + kept[:3]):
        rows.append({"id": f"slt{i:02d}", "speaker": "slt", "text": text,
                     "split": "test" if text in held else "train"})
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    write_card(tmp_path / "card.json", {"name": "tiny", "sample_rate": 24000, "fps": 25, "motion_dim": MOTION_DIM,
                                         "motion_spec": "lips", "speakers": ["ked", "slt"],
                                         "stats": {"mean": [0.0] * MOTION_DIM, "std": [1.0] * MOTION_DIM},
                                         "heldout_fraction": fraction})
    return manifest, set(held)


def test_eval_subset_keeps_only_held_out_sentences(tmp_path, helpers):
    manifest, held = _corpus(tmp_path)
    rows = helpers.eval_subset(str(manifest), str(tmp_path / "sub.jsonl"), {"ked": 3, "slt": 2})
    assert [r["id"] for r in rows] == ["ked01", "ked03", "ked04", "slt00", "slt01"]
    assert all(r["text"] in held for r in rows)
    written = [json.loads(line) for line in (tmp_path / "sub.jsonl").read_text().splitlines()]
    assert written == rows


def test_eval_subset_says_when_too_few_held_out_sentences(tmp_path, helpers):
    manifest, _ = _corpus(tmp_path)
    with pytest.raises(UserError, match="expected 4 test clips of ked with held-out sentences, got 3"):
        helpers.eval_subset(str(manifest), str(tmp_path / "sub.jsonl"), {"ked": 4})
    assert not (tmp_path / "sub.jsonl").exists()
