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



def test_eval_subset_skip_passes_over_the_ids_and_sentences_of_other_sets(tmp_path, helpers):
    manifest, held = _corpus(tmp_path)
    held_ked = [r["text"] for r in helpers._read_rows(manifest) if r["id"] in ("ked01", "ked03")]
    by_id = tmp_path / "by_id.jsonl"
    by_id.write_text(json.dumps({"id": "ked01", "text": "a sentence no clip speaks."}) + "\n")
    by_text = tmp_path / "by_text.jsonl"
    by_text.write_text(json.dumps({"id": "other", "text": held_ked[1]}) + "\n")
    assert [r["id"] for r in helpers.eval_subset(str(manifest), str(tmp_path / "a.jsonl"), {"ked": 2},
                                                 skip=[str(by_id)])] == ["ked03", "ked04"]
    # the sentence of ked03 is also slt01's: both are passed over
    rows = helpers.eval_subset(str(manifest), str(tmp_path / "b.jsonl"), {"ked": 2, "slt": 2}, skip=[str(by_text)])
    assert [r["id"] for r in rows] == ["ked01", "ked04", "slt00", "slt02"]
    with pytest.raises(UserError, match="expected 3 test clips of ked with held-out sentences, got 1"):
        helpers.eval_subset(str(manifest), str(tmp_path / "c.jsonl"), {"ked": 3}, skip=[str(by_id), str(by_text)])
    assert not (tmp_path / "c.jsonl").exists()


def test_eval_subset_cli_says_which_skip_file_is_missing(tmp_path, helpers, capsys):
    manifest, _ = _corpus(tmp_path)
    code = helpers.main(["eval-subset", str(manifest), str(tmp_path / "d.jsonl"), "--voices", "ked=2",
                         "--skip", str(tmp_path / "missing.jsonl")])
    assert code == 2
    assert "skip: expected a manifest file" in capsys.readouterr().err
    assert not (tmp_path / "d.jsonl").exists()
