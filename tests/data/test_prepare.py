import json

import numpy as np
import pytest
import soundfile as sf
import torch

from jamflow.audio.mel import mel_spectrogram
from jamflow.data.batching import load_cache_index
from jamflow.data.prepare import prepare
from jamflow.errors import UserError
from jamflow.timeline import mel_frames_for


def _items(cache):
    return {p.stem: dict(np.load(p)) for p in (cache / "items").glob("*.npz")}


def test_cache_contents(corpus, cache):
    meta, lines = load_cache_index(cache)
    card = json.loads((corpus.parent / "card.json").read_text())
    assert meta["num_clips"] == 12 and len(lines) == 12 and meta["tokenizer"] == "byte"
    clips = {c["id"]: c for c in map(json.loads, corpus.read_text().splitlines())}
    mean, std = np.array(card["stats"]["mean"]), np.array(card["stats"]["std"])
    for line in lines:
        clip = clips[line["id"]]
        item = dict(np.load(cache / line["file"]))
        wav, sr = sf.read(corpus.parent / clip["audio"], dtype="float32")
        motion = np.load(corpus.parent / clip["motion"])
        mel = mel_spectrogram(torch.from_numpy(wav)[None])[0].T.numpy()
        m = line["motion_frames"]
        assert line["mel_frames"] == mel_frames_for(m) == len(item["mel"]) and m == len(item["motion"])
        assert m >= len(motion) - 1  # at most the last frame is trimmed
        np.testing.assert_allclose(item["mel"], mel[: len(item["mel"])], atol=1e-5)
        np.testing.assert_allclose(item["motion"], (motion[:m] - mean) / np.maximum(std, 1e-5), rtol=1e-5, atol=1e-5)
        assert bytes(item["text"].astype(np.uint8)).decode() == clip["text"]
        assert line["split"] == clip["split"] and line["text_max"] == max(item["text"])


@pytest.mark.multiprocess
def test_shards_workers_and_resume(corpus, cache, tmp_path):
    out = tmp_path / "sharded"
    s0 = prepare(str(corpus), str(out), tokenizer="byte", workers=2, shard="0/2", progress=False)
    with pytest.raises(UserError, match="run `jamflow prepare` again"):
        load_cache_index(out)  # half the clips are missing until shard 1 runs
    s1 = prepare(str(corpus), str(out), tokenizer="byte", workers=1, shard="1/2", progress=False)
    assert s0["prepared"] == s1["prepared"] == 6
    ref, got = _items(cache), _items(out)
    assert ref.keys() == got.keys()
    for k in ref:
        for name in ref[k]:
            np.testing.assert_array_equal(ref[k][name], got[k][name])
    # simulate a kill: the last index line torn in half, one item never recorded
    index = out / "index-1-of-2.jsonl"
    lines = index.read_text().splitlines()
    index.write_text("\n".join(lines[:-2]) + "\n" + lines[-2][:15])
    again = prepare(str(corpus), str(out), tokenizer="byte", workers=1, shard="1/2", progress=False)
    assert again["already_done"] == 4 and again["prepared"] == 2
    assert len(load_cache_index(out)[1]) == 12


def test_bad_clips_are_skipped_with_reasons(tmp_path, helpers):
    manifest = helpers.write_corpus(tmp_path / "c", n=4, seed=1)
    clips = [json.loads(x) for x in manifest.read_text().splitlines()]
    np.save(tmp_path / "c" / clips[0]["motion"], np.zeros((400, 70), np.float32))  # 16 s of motion, ~1 s of audio
    np.save(tmp_path / "c" / clips[1]["motion"], np.zeros((30, 69), np.float32))  # wrong channel count
    out = tmp_path / "cache"
    s = prepare(str(manifest), str(out), tokenizer="byte", workers=1, progress=False, max_duration=30)
    assert s == {"prepared": 2, "skipped": 2, "already_done": 0, "total": 4}
    lines = [json.loads(x) for x in (out / "index-0-of-1.jsonl").read_text().splitlines()]
    reasons = {line["id"]: line.get("skipped", "") for line in lines}
    assert "apart" in reasons[clips[0]["id"]] and "[frames, 70]" in reasons[clips[1]["id"]]
    # a missing file is a manifest error, found before any work
    clips[2]["motion"] = "motion/nothing.npy"
    manifest.write_text("".join(json.dumps(c) + "\n" for c in clips))
    with pytest.raises(UserError, match="nothing.npy"):
        prepare(str(manifest), str(tmp_path / "cache2"), tokenizer="byte", progress=False)
    assert not (tmp_path / "cache2").exists()


def test_bad_arguments_fail_before_work(corpus, tmp_path, helpers):
    with pytest.raises(UserError, match="--manifest"):
        prepare(str(tmp_path / "missing.jsonl"), str(tmp_path / "o"))
    with pytest.raises(UserError, match="--shard"):
        prepare(str(corpus), str(tmp_path / "o"), shard="3/2")
    with pytest.raises(UserError, match="--shard"):
        prepare(str(corpus), str(tmp_path / "o"), shard="half")
    assert not (tmp_path / "o").exists()
    prepare(str(corpus), str(tmp_path / "o2"), tokenizer="byte", shard="0/6", progress=False)
    with pytest.raises(UserError, match="different tokenizer"):
        prepare(str(corpus), str(tmp_path / "o2"), tokenizer="char", shard="1/6", progress=False)
    r = helpers.run_jamflow(["prepare", "--manifest", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o3")])
    assert r.returncode == 2 and "--manifest: expected an existing manifest.jsonl" in r.stderr


def test_f5_metadata_csv(corpus, tmp_path):
    from jamflow.data.batching import CachedDataset, collate

    clips = [json.loads(x) for x in corpus.read_text().splitlines()][:3]
    lines = ["audio_file|text"] + [f"{(corpus.parent / c['audio']).resolve()}|{c['text']}" for c in clips]
    (tmp_path / "metadata.csv").write_text("\n".join(lines) + "\n")
    s = prepare(str(tmp_path / "metadata.csv"), str(tmp_path / "cache"), tokenizer="byte", progress=False)
    assert s["prepared"] == 3
    ds = CachedDataset(tmp_path / "cache", split="all")
    batch = collate([ds[i] for i in range(3)])
    assert set(batch) == {"mel", "mel_lens", "text"}  # speech only: no motion keys
    assert sorted(int(x) for x in batch["mel_lens"]) == sorted(
        1 + sf.info(str(corpus.parent / c["audio"])).frames // 256 for c in clips)


def test_a_killed_runs_temp_item_is_removed_by_the_next_run(corpus, tmp_path):
    out = tmp_path / "cache"
    prepare(str(corpus), str(out), tokenizer="byte", workers=1, shard="0/6", progress=False)
    stale = out / "items" / ".clip000.npz.~999999999.abcd1234.npz"  # kill -9 mid-write, by a dead process
    stale.write_bytes(b"half an npz")
    again = prepare(str(corpus), str(out), tokenizer="byte", workers=1, shard="0/6", progress=False)
    assert not stale.exists() and again["prepared"] == 0
