"""`jamflow align`: Viterbi forced alignment of a prepared cache, and training on its durations."""
import json

import numpy as np
import pytest
import torch

from jamflow.audio.phone_align import ALIGNER_NAME, PhoneAligner
from jamflow.data.align import flat_start, is_phone, viterbi
from jamflow.train.config import load_config
from jamflow.train.trainer import Trainer


def test_is_phone():
    assert all(is_phone(c) for c in "aəʃŋɹ")
    assert not any(is_phone(c) for c in " ˈˌː,.?")


def test_viterbi_recovers_a_planted_path_and_skips_what_it_may():
    rng = np.random.default_rng(0)
    truth = [3, 0, 5, 4, 2]  # frames per state; state 1 (skippable) takes none
    skippable = np.array([True, True, False, False, True])
    path = np.repeat(np.arange(5), truth)
    loglik = rng.normal(0, 0.3, (len(path), 5))
    loglik[np.arange(len(path)), path] += 3.0
    assert viterbi(loglik, skippable).tolist() == path.tolist()


def test_viterbi_keeps_every_phone_even_against_the_evidence():
    loglik = np.zeros((6, 4))
    loglik[:, 3] = 10.0  # everything looks like the last state
    path = viterbi(loglik, np.array([True, False, False, True]))
    assert set(path.tolist()) >= {1, 2}
    assert (np.diff(path) >= 0).all()
    with pytest.raises(ValueError):
        viterbi(np.zeros((2, 4)), np.array([False] * 4))


def test_flat_start_finds_the_silences():
    mel = np.full((50, 4), -10.0)
    mel[8:40] = 0.0
    d = flat_start(mel, np.array([True, False, True, True]))
    assert d[0] == 8 and d[-1] == 10 and d.sum() == 50 and d[2] == 0


def test_align_then_train_on_durations(cache, tmp_path, helpers):
    import shutil

    work = tmp_path / "cache"
    shutil.copytree(cache, work)
    cfg = helpers.write_config(tmp_path / "c.yaml", work, tmp_path / "run", data={"durations": True})
    missing = helpers.run_jamflow(["train", "--config", str(cfg)])
    assert missing.returncode == 2 and "jamflow align --cache" in missing.stderr

    res = helpers.run_jamflow(["align", "--cache", str(work), "--iterations", "2"])
    assert res.returncode == 0, res.stderr
    stats = json.loads((work / "duration_stats.json").read_text())
    aligner = PhoneAligner.load(work / ALIGNER_NAME)
    with np.load(work / "durations.npz") as f:
        lines = [json.loads(x) for x in (work / "index-0-of-1.jsonl").read_text().splitlines()]
        assert sorted(f.files) == sorted(line["id"] for line in lines)
        for line in lines:
            d = f[line["id"]]
            assert len(d) == line["text_len"] + 2 and d.sum() == line["mel_frames"]
            with np.load(work / line["file"]) as item:  # the saved means give back the corpus's alignment
                np.testing.assert_array_equal(aligner.align(item["text"], item["mel"]), d)
    assert len(stats["frames_per_token"]) == 256 and stats["clips"] == 11

    trainer = Trainer(load_config(cfg), progress=False)
    batch = next(iter(trainer.loader))
    assert batch["text_index"].shape == batch["mel"].shape[:2]
    assert (batch["text_index"].max(1).values == (batch["text"] >= 0).sum(1) - 1).all()  # every token shown
    trainer.fit()
    from jamflow.train.checkpoints import latest_checkpoint

    saved = json.loads((latest_checkpoint(tmp_path / "run") / "state.json").read_text())
    assert saved["model_config"]["audio"]["text_durations"]["frames_per_token"] == stats["frames_per_token"]
    bad = helpers.run_jamflow(["align", "--cache", str(tmp_path / "nowhere")])
    assert bad.returncode == 2 and "--cache" in bad.stderr


@pytest.mark.multiprocess
def test_parallel_alignment_matches_serial(cache, tmp_path):
    import shutil

    from jamflow.data.align import align_cache

    out = {}
    for workers in (1, 2):
        work = tmp_path / f"w{workers}"
        shutil.copytree(cache, work)
        stats = align_cache(work, iterations=2, workers=workers)
        with np.load(work / "durations.npz") as f:
            out[workers] = (stats["frames_per_token"], {k: f[k].tolist() for k in f.files})
    assert len(out[1][1]) == 12 and out[1] == out[2]  # 11 train clips + 1 test clip
