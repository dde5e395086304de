"""recipes/default_model/helpers.py text-window: an export's text positions restart past its corpus's
longest training transcript, at the tokenizer's sentence ends."""
import json

import pytest

from jamflow.config import JAMConfig, get_preset
from jamflow.errors import UserError


def write_index(folder, rows):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index-0-of-1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "cache.json").write_text(json.dumps({"num_clips": len(rows)}))


def test_text_window_is_the_longest_train_transcript(tmp_path, helpers):
    cache, export = tmp_path / "cache", tmp_path / "export"
    write_index(cache, [{"id": "a", "split": "train", "text_len": 40}, {"id": "b", "split": "train", "text_len": 61},
                        {"id": "c", "split": "test", "text_len": 90}])  # test clips are not trained on
    export.mkdir()
    cfg = get_preset("tiny", tokenizer="phoneme", audio={"text_num_embeds": 256})
    (export / "config.json").write_text(json.dumps({"format": "jamflow", "config": cfg.to_dict()}))
    assert helpers.text_window(str(cache), str(export)) == 61
    audio = JAMConfig.from_dict(json.loads((export / "config.json").read_text())["config"]).audio
    assert audio.text_pos_window == 61 and audio.text_sentence_ends == [2, 3, 4]  # . ! ? in vocab_phoneme.txt


def test_text_window_needs_train_items(tmp_path, helpers):
    write_index(tmp_path / "cache", [{"id": "c", "split": "test", "text_len": 90}])
    with pytest.raises(UserError, match="cache: expected train items"):
        helpers.text_window(str(tmp_path / "cache"), str(tmp_path))
