import json

import numpy as np
import pytest

from jamflow.cli import main
from jamflow.data.manifest import read_card, read_manifest
from jamflow.data.prepare_av import find_clips, merge, parse_shard, prepare_shard, read_transcript
from jamflow.errors import UserError

from lp_helpers import SkinDetector, draw_face, tiny_nets, write_video


def _lrs3(root):
    """LRS3-like tree: two good clips, one without a face, one without a transcript."""
    def clip(spk, name, face=True, text="Text:  HELLO THERE WORLD\nConf:  4.2\n\nWORD START END ASDSCORE\n"):
        d = root / spk
        d.mkdir(parents=True, exist_ok=True)
        frames = [draw_face(96, 96, 48 + i, 48, 18, mouth=i / 10) if face else np.full((96, 96, 3), 90, np.uint8)
                  for i in range(10)]
        write_video(d / f"{name}.mp4", frames, "25", audio_seconds=0.5)
        if text is not None:
            (d / f"{name}.txt").write_text(text)

    clip("spkA", "00001")
    clip("spkA", "00002", text="plain text transcript")
    clip("spkB", "00003", face=False)
    clip("spkB", "00004", text=None)


def test_transcripts_and_shards(tmp_path):
    (tmp_path / "a.txt").write_text("Text:  THE WORDS HERE\nConf:  3\n")
    (tmp_path / "b.txt").write_text("just\nplain words\n")
    assert read_transcript(tmp_path / "a.txt") == "THE WORDS HERE"
    assert read_transcript(tmp_path / "b.txt") == "just plain words"
    assert parse_shard("3/8") == (3, 8)
    for bad in ("8/8", "x", "1/0"):
        with pytest.raises(UserError, match="--shard"):
            parse_shard(bad)


def test_csv_layout(tmp_path):
    (tmp_path / "v").mkdir()
    (tmp_path / "list.csv").write_text("video|text\nv/one.mp4|Hello one|alice\nv/two.mp4|Hello two\n")
    clips = find_clips(tmp_path / "list.csv")
    assert [c["id"] for c in clips] == ["v__one", "v__two"]
    assert clips[0]["speaker"] == "alice" and clips[1]["text"] == "Hello two"
    (tmp_path / "bad.csv").write_text("only_a_path.mp4\n")
    with pytest.raises(UserError, match="line 1"):
        find_clips(tmp_path / "bad.csv")


def test_sharded_preparation_skips_and_merges(tmp_path):
    src, out = tmp_path / "lrs3", tmp_path / "data"
    _lrs3(src)
    clips = find_clips(src)
    assert [c["speaker"] for c in clips] == ["spkA", "spkA", "spkB", "spkB"]
    nets, det = tiny_nets(), SkinDetector()
    assert prepare_shard(clips, out, nets, det, (0, 2)) == (1, 1)  # clips 0, 2: one good, one faceless
    assert prepare_shard(clips, out, nets, det, (1, 2)) == (1, 1)  # clips 1, 3: one good, one without text
    assert prepare_shard(clips, out, nets, det, (1, 2)) == (1, 1)  # re-run: nothing redone or duplicated
    card = merge(out, motion_spec="lips")
    rows = read_manifest(out / "manifest.jsonl")
    assert [r["id"] for r in rows] == ["spkA__00001", "spkA__00002"]
    assert rows[0]["text"] == "HELLO THERE WORLD" and rows[1]["text"] == "plain text transcript"
    assert rows[0]["duration"] == pytest.approx(10 / 25)
    assert np.load(rows[0]["motion"]).shape == (10, 70)
    back = read_card(out / "card.json")
    assert back["motion_spec"] == "lips" and back["skipped"] == 2 and back["speakers"] == ["spkA"]
    both = np.concatenate([np.load(r["motion"]) for r in rows])
    np.testing.assert_allclose(back["stats"]["mean"], both.mean(0), rtol=1e-4, atol=1e-5)
    skipped = [json.loads(line) for line in (out / "skipped.jsonl").read_text().splitlines()]
    reasons = {s["id"]: s["reason"] for s in skipped}
    assert "trackable face" in reasons["spkB__00003"] and reasons["spkB__00004"] == "no transcript"


def test_cli_bad_inputs(tmp_path, capsys):
    assert main(["prepare-av", str(tmp_path / "missing"), "--out", str(tmp_path / "o"), "--weights", "w"]) == 2
    assert main(["prepare-av", str(tmp_path), "--out", str(tmp_path / "o")]) == 2  # no --weights
    assert main(["prepare-av", "--merge", "--out", str(tmp_path / "o")]) == 2  # nothing prepared
    assert "expected" in capsys.readouterr().err
