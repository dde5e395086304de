import json

import numpy as np
import pytest
import soundfile as sf

from jamflow.data.manifest import (import_metadata_csv, make_card, motion_stats, read_card, read_manifest,
                                   validate_card, write_card, write_manifest)
from jamflow.errors import UserError


def _clip(root, name, seconds=0.5, motion=True):
    (root / "wavs").mkdir(exist_ok=True)
    (root / "motion").mkdir(exist_ok=True)
    sf.write(root / "wavs" / f"{name}.wav", np.zeros(int(24000 * seconds), np.float32), 24000)
    row = {"id": name, "audio": str(root / "wavs" / f"{name}.wav"), "text": f"clip {name}", "motion": None,
           "speaker": "a", "duration": seconds, "alignment": None, "split": "train"}
    if motion:
        np.save(root / "motion" / f"{name}.npy", np.random.default_rng(len(name)).normal(size=(12, 70)).astype(np.float32))
        row["motion"] = str(root / "motion" / f"{name}.npy")
    return row


def test_roundtrip_paths_are_relative_on_disk_absolute_in_memory(tmp_path):
    rows = [_clip(tmp_path, "a"), _clip(tmp_path, "bb", motion=False)]
    rows[1]["split"] = "test"
    write_manifest(tmp_path / "manifest.jsonl", rows)
    raw = [json.loads(line) for line in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert raw[0]["audio"] == "wavs/a.wav" and raw[0]["motion"] == "motion/a.npy" and raw[1]["motion"] is None
    back = read_manifest(tmp_path / "manifest.jsonl")
    assert back == rows


@pytest.mark.parametrize("line, message", [
    ("{not json", "line 2: expected one JSON object"),
    ('{"id": "x", "audio": "wavs/a.wav", "duration": 1}', "'text'"),
    ('{"id": "x", "audio": "wavs/a.wav", "text": "t", "duration": -1}', "duration"),
    ('{"id": "x", "audio": "wavs/a.wav", "text": "t", "duration": 1, "split": "dev"}', "split"),
    ('{"id": "a", "audio": "wavs/a.wav", "text": "t", "duration": 1}', "unique ids"),
    ('{"id": "x", "audio": "wavs/missing.wav", "text": "t", "duration": 1}', "missing"),
    ('[1, 2]', "JSON object"),
])
def test_malformed_manifest_lines_give_clear_errors(tmp_path, line, message):
    write_manifest(tmp_path / "manifest.jsonl", [_clip(tmp_path, "a")])
    with open(tmp_path / "manifest.jsonl", "a") as f:
        f.write(line + "\n")
    with pytest.raises(UserError, match=message) as err:
        read_manifest(tmp_path / "manifest.jsonl")
    assert "manifest.jsonl line 2" in str(err.value)


def test_empty_or_missing_manifest(tmp_path):
    (tmp_path / "m.jsonl").write_text("\n\n")
    with pytest.raises(UserError, match="at least one clip"):
        read_manifest(tmp_path / "m.jsonl")
    with pytest.raises(UserError, match="existing manifest"):
        read_manifest(tmp_path / "nope.jsonl")


def test_card_stats_and_validation(tmp_path):
    rows = [_clip(tmp_path, "a"), _clip(tmp_path, "bb"), _clip(tmp_path, "ccc", motion=False)]
    card = make_card("toy", rows, motion_spec="lips")
    both = np.concatenate([np.load(r["motion"]) for r in rows[:2]]).astype(np.float64)
    assert np.allclose(card["stats"]["mean"], both.mean(0)) and np.allclose(card["stats"]["std"], both.std(0))
    assert card["speakers"] == ["a"]
    write_card(tmp_path / "card.json", card)
    assert read_card(tmp_path) == json.loads((tmp_path / "card.json").read_text())

    bad = dict(card, motion_dim=63)
    with pytest.raises(UserError, match="motion_dim"):
        validate_card(bad)
    with pytest.raises(UserError, match="stats.std"):
        validate_card(dict(card, stats={"mean": card["stats"]["mean"], "std": [1.0] * 69}))
    with pytest.raises(UserError, match="motion_spec"):
        validate_card(dict(card, motion_spec="mouth"))
    (tmp_path / "card.json").write_text("{oops")
    with pytest.raises(UserError, match="valid JSON"):
        read_card(tmp_path / "card.json")


def test_motion_stats_never_divide_by_zero(tmp_path):
    np.save(tmp_path / "still.npy", np.ones((5, 70), np.float32))
    mean, std = motion_stats([tmp_path / "still.npy"])
    assert mean == [1.0] * 70 and min(std) > 0


def test_import_f5_metadata_csv(tmp_path):
    _clip(tmp_path, "one", 0.5, motion=False)
    _clip(tmp_path, "two", 1.25, motion=False)
    (tmp_path / "metadata.csv").write_text("audio_file|text\nwavs/one.wav|Hello there.\nwavs/two.wav|A | pipe.\n")
    rows = import_metadata_csv(tmp_path / "metadata.csv", tmp_path / "manifest.jsonl", speaker="me")
    assert [r["duration"] for r in rows] == [0.5, 1.25]
    assert rows[1]["text"] == "A | pipe." and rows[0]["motion"] is None and rows[0]["speaker"] == "me"
    assert read_manifest(tmp_path / "manifest.jsonl") == rows
    (tmp_path / "bad.csv").write_text("wavs/one.wav|ok\nwavs/gone.wav|missing\n")
    with pytest.raises(UserError, match="bad.csv line 2"):
        import_metadata_csv(tmp_path / "bad.csv")
    (tmp_path / "bad2.csv").write_text("wavs/one.wav\n")
    with pytest.raises(UserError, match="audio_file|text"):
        import_metadata_csv(tmp_path / "bad2.csv")
