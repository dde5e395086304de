"""recipes/voices_model/helpers.py: the unseen-voice evaluation sets and the model's motion stats in a card."""
import json
import shutil

import numpy as np
import pytest

from jamflow.data.manifest import MOTION_DIM, read_card, read_manifest, write_card
from jamflow.data.sentences import is_heldout_sentence
from jamflow.errors import UserError


def _card(path, mean=0.0, std=1.0):
    return write_card(path / "card.json", {"name": "tiny", "sample_rate": 24000, "fps": 25, "motion_dim": MOTION_DIM,
                                           "motion_spec": "lips", "speakers": ["a"],
                                           "stats": {"mean": [mean] * MOTION_DIM, "std": [std] * MOTION_DIM}})


def test_model_stats_replace_the_cards_and_keep_them_aside(tmp_path, tiny_ckpt, voices_helpers):
    card = _card(tmp_path, mean=5.0, std=7.0)
    model_stats = json.loads((tiny_ckpt / "config.json").read_text())["motion_stats"]
    assert model_stats["mean"] != [5.0] * MOTION_DIM

    voices_helpers.model_stats(str(card), str(tiny_ckpt))
    written = read_card(card)
    np.testing.assert_allclose(written["stats"]["mean"], model_stats["mean"])
    np.testing.assert_allclose(written["stats"]["std"], model_stats["std"])
    assert written["corpus_stats"] == {"mean": [5.0] * MOTION_DIM, "std": [7.0] * MOTION_DIM}

    voices_helpers.model_stats(str(card), str(tiny_ckpt))  # a rerun keeps the corpus's own stats aside
    assert read_card(card)["corpus_stats"]["mean"] == [5.0] * MOTION_DIM


def test_model_stats_refuse_a_folder_without_a_model(tmp_path, voices_helpers):
    card = _card(tmp_path)
    with pytest.raises(UserError, match="checkpoint: expected .*model.safetensors to exist"):
        voices_helpers.model_stats(str(card), str(tmp_path))
    assert read_card(card)["stats"]["mean"] == [0.0] * MOTION_DIM


@pytest.mark.skipif(shutil.which("flite") is None, reason="flite not installed")
def test_flite_set_speaks_held_out_sentences_in_two_voices(tmp_path, voices_helpers):
    rows = voices_helpers.flite_rows(tmp_path, per_voice=2)
    path = voices_helpers.write(tmp_path, rows)
    read = read_manifest(path)
    assert [r["speaker"] for r in read] == ["flite:awb"] * 2 + ["flite:rms"] * 2
    assert len({r["text"] for r in read}) == 4 and all(is_heldout_sentence(r["text"], 0.05) for r in read)
    assert all(r["motion"] is None and r["split"] == "test" and 1.0 < r["duration"] < 8.0 for r in read)
