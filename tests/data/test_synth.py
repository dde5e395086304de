import hashlib
import json
import os
import shutil

import numpy as np
import pytest
import soundfile as sf

from jamflow.cli import main
from jamflow.data.manifest import read_card, read_manifest
from jamflow.data.sentences import SHIPPED_SEED, generate_sentences, is_heldout_sentence, load_sentences, normalise
from jamflow.data.synth import plan_corpus, synth_corpus
from jamflow.errors import UserError

HAS_FESTIVAL = shutil.which("festival") is not None
FAMILIES = ["espeak", "festival"] if HAS_FESTIVAL else ["espeak"]
SENTENCES = ["The cat sat on the warm mat.", "Please bring me a cup of tea.", "We walked to the river today.",
             "Nobody knows where the old map went.", "My brother painted the blue chair.", "Is the market far from here?"]


def _digest(root):
    h = hashlib.sha1()
    for sub in ("wavs", "motion", "align"):
        for name in sorted(os.listdir(root / sub)):
            h.update((root / sub / name).read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    rows = synth_corpus(out, 6, SENTENCES, FAMILIES, seed=5, workers=2, heldout_voices=("festival:slt_hts",),
                        heldout_fraction=0.0, progress=False)
    return out, rows


@pytest.mark.multiprocess
def test_every_clip_has_audio_motion_alignment_text(corpus):
    out, rows = corpus
    back = read_manifest(out / "manifest.jsonl")  # validates and checks that files exist
    assert [r["id"] for r in back] == [r["id"] for r in rows] and len(rows) == 6
    assert {r["text"] for r in back} == set(SENTENCES)
    for r in back:
        wav, sr = sf.read(r["audio"], dtype="float32")
        assert sr == 24000 and r["duration"] == pytest.approx(len(wav) / sr, abs=1e-4)
        motion = np.load(r["motion"])
        assert motion.shape == (round(len(wav) / 960), 70)
        phones = json.loads(open(r["alignment"]).read())
        assert phones[0][1] == 0 and phones[-1][2] == pytest.approx(len(wav) / sr, abs=1e-4)
        assert all(a[2] == pytest.approx(b[1]) for a, b in zip(phones, phones[1:]))
    card = read_card(out / "card.json")
    assert card["fps"] == 25 and card["sample_rate"] == 24000 and card["motion_spec"] == "full"
    assert set(card["speakers"]) == {r["speaker"] for r in rows}


def test_heldout_voice_never_in_train():
    plans = plan_corpus(generate_sentences(200, seed=3), 200, ["espeak", "festival"], seed=1,
                        heldout_voices=("festival:slt_hts", "espeak:en-us+m3"), heldout_fraction=0.1)
    held = [p for p in plans if f"{p.engine}:{p.voice}" in ("festival:slt_hts", "espeak:en-us+m3")]
    assert held and all(p.split == "test" for p in held)
    by_text = [p for p in plans if is_heldout_sentence(p.text, 0.1)]
    assert by_text and all(p.split == "test" for p in by_text)
    assert 0.05 < np.mean([p.split == "test" for p in plans]) < 0.5
    assert {p.engine for p in plans} == {"espeak", "festival"}


@pytest.mark.multiprocess
def test_deterministic_across_worker_counts_and_resumable(corpus, tmp_path):
    out, _ = corpus
    synth_corpus(tmp_path, 6, SENTENCES, FAMILIES, seed=5, workers=1, heldout_voices=("festival:slt_hts",),
                 heldout_fraction=0.0, progress=False)
    assert _digest(tmp_path) == _digest(out)
    assert (tmp_path / "manifest.jsonl").read_text() != ""  # same rows, different root
    stamp = {p: p.stat().st_mtime_ns for p in (tmp_path / "wavs").iterdir()}
    (tmp_path / "motion" / "000002.npy").unlink()  # an interrupted run: one clip incomplete
    synth_corpus(tmp_path, 6, SENTENCES, FAMILIES, seed=5, workers=1, heldout_voices=("festival:slt_hts",),
                 heldout_fraction=0.0, progress=False)
    after = {p: p.stat().st_mtime_ns for p in (tmp_path / "wavs").iterdir()}
    changed = [p.name for p in stamp if stamp[p] != after[p]]
    assert changed == ["000002.wav"]
    assert _digest(tmp_path) == _digest(out)


@pytest.mark.multiprocess
def test_remake_motion_keeps_audio_and_rewrites_motion_as_a_fresh_run_would(corpus, tmp_path):
    out, _ = corpus
    shutil.copytree(out, tmp_path / "c")
    wavs = {p.name: p.read_bytes() for p in (tmp_path / "c" / "wavs").iterdir()}
    for p in (tmp_path / "c" / "motion").iterdir():
        np.save(p, np.zeros_like(np.load(p)))  # motion from an older generator
    rows = synth_corpus(tmp_path / "c", 6, SENTENCES, FAMILIES, seed=5, workers=1, heldout_voices=("festival:slt_hts",),
                        heldout_fraction=0.0, progress=False, remake_motion=True)
    assert {p.name: p.read_bytes() for p in (tmp_path / "c" / "wavs").iterdir()} == wavs
    for r in rows:
        fresh = np.load(out / "motion" / f"{r['id']}.npy")
        # made from the 16-bit file instead of the float synthesis: equal up to its quantisation
        np.testing.assert_allclose(np.load(r["motion"]), fresh, atol=2e-3)
        assert np.abs(np.load(r["motion"])).max() > 0


def test_cli_and_bad_options(tmp_path, capsys):
    (tmp_path / "s.txt").write_text("# a comment\nHello there my friend.\n\nThe sun came out.\n")
    code = main(["synth-data", "--out", str(tmp_path / "c"), "--num_clips", "2", "--voices", "espeak",
                 "--sentences", str(tmp_path / "s.txt"), "--workers", "1", "--preview", "1"])
    assert code == 0 and "wrote 2 clips" in capsys.readouterr().out
    assert (tmp_path / "c" / "preview" / "000000.mp4").stat().st_size > 1000
    assert main(["synth-data", "--out", str(tmp_path / "d"), "--voices", "flite"]) == 2
    with pytest.raises(UserError, match="num_clips"):
        synth_corpus(tmp_path / "e", 0)
    with pytest.raises(UserError, match="sentences"):
        load_sentences(tmp_path / "missing.txt")
    (tmp_path / "odd.txt").write_text("Hello there.\n123 ...\n")
    with pytest.raises(UserError, match="words on every line"):
        load_sentences(tmp_path / "odd.txt")


def test_shipped_sentences_are_varied_and_recognisable():
    sentences = load_sentences()
    assert len(sentences) >= 2000 and len(set(sentences)) == len(sentences)
    assert generate_sentences(50, seed=9) == generate_sentences(50, seed=9)
    words = {w for s in sentences for w in normalise(s).split()}
    assert len(words) > 300
    starts = {s.split()[0] for s in sentences}
    assert len(starts) > 40  # not one template
    pocketsphinx = pytest.importorskip("pocketsphinx")
    path = os.path.join(os.path.dirname(pocketsphinx.__file__), "model", "en-us", "cmudict-en-us.dict")
    known = {line.split()[0].split("(")[0] for line in open(path, encoding="utf-8")}
    assert words <= known, sorted(words - known)


def test_num_sentences_extends_the_shipped_list(tmp_path, capsys):
    more = generate_sentences(3100, seed=SHIPPED_SEED)
    assert more[:3000] == load_sentences() and len(set(more)) == 3100  # old corpora stay a subset
    out = tmp_path / "c"
    code = main(["synth-data", "--out", str(out), "--num_clips", "3", "--voices", "espeak", "--num_sentences", "3100",
                 "--seed", "5", "--workers", "1"])
    assert code == 0
    texts = [json.loads(line)["text"] for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert texts == [p.text for p in plan_corpus(more, 3, ["espeak"], seed=5)]
    assert texts != [p.text for p in plan_corpus(load_sentences(), 3, ["espeak"], seed=5)]
    assert main(["synth-data", "--out", str(tmp_path / "d"), "--num_sentences", "0"]) == 2
    assert main(["synth-data", "--out", str(tmp_path / "e"), "--num_sentences", "5",
                 "--sentences", str(tmp_path / "x.txt")]) == 2
    err = capsys.readouterr().err
    assert "num_sentences: expected >= 1" in err and "got both" in err
    assert not (tmp_path / "d").exists() and not (tmp_path / "e").exists()


def test_augmented_plans_keep_every_other_draw_and_spread_over_speakers():
    plain = plan_corpus(SENTENCES, 40, ["espeak", "festival"], seed=2)
    mixed = plan_corpus(SENTENCES, 40, ["espeak", "festival"], seed=2, heldout_voices=("festival:kal_diphone",),
                        augment_share=0.5, warps_per_voice=4)
    same = lambda p: (p.text, p.engine, p.voice, p.rate, p.pitch, p.motion_seed)  # noqa: E731
    assert [same(p) for p in plain] == [same(p) for p in mixed]
    warped = [p for p in mixed if p.warp >= 0]
    assert 10 <= len(warped) <= 30 and {p.warp for p in warped} <= set(range(4))
    assert all(p.speaker == f"{p.engine}:{p.voice}~w{p.warp}" for p in warped)
    assert all(p.split == "test" for p in mixed if p.voice == "kal_diphone")  # a held-out voice's warps too


def test_voice_shares_pick_the_families():
    only = plan_corpus(SENTENCES, 20, ["espeak", "festival", "hibari"], seed=1,
                       shares={"espeak": 0.0, "festival": 1.0, "hibari": 0.0})
    assert {p.engine for p in only} == {"festival"}
    equal = plan_corpus(SENTENCES, 60, ["espeak", "festival", "hibari"], seed=1)
    assert {p.engine for p in equal} == {"espeak", "festival", "hibari"}
    with pytest.raises(UserError, match="voice_shares"):
        synth_corpus("/tmp/never", 2, SENTENCES, ["espeak"], shares={"festival": 1.0})


@pytest.mark.skipif(not HAS_FESTIVAL, reason="festival not installed")
def test_neural_and_warped_clips_are_written_with_timings_that_cover_them(tmp_path):
    pytest.importorskip("pyworld")
    pytest.importorskip("hibari")
    mix = dict(shares={"festival": 1.0, "hibari": 1.0}, augment_share=0.5, warps_per_voice=2)
    seed = next(s for s in range(100) if {(p.engine, p.warp >= 0) for p in
                                          plan_corpus(SENTENCES, 4, ["festival", "hibari"], s, **mix)} >=
                {("hibari", False), ("festival", True)})  # a corpus with a neural and a warped clip
    rows = synth_corpus(tmp_path, 4, SENTENCES, ["festival", "hibari"], seed=seed, workers=1, heldout_voices=(),
                        heldout_fraction=0.0, progress=False, **mix)
    assert any(r["speaker"].startswith("hibari:") for r in rows) and any("~w" in r["speaker"] for r in rows)
    for row in rows:
        wav, sr = sf.read(tmp_path / row["audio"])
        phones = json.loads((tmp_path / row["alignment"]).read_text())
        motion = np.load(tmp_path / row["motion"])
        assert sr == 24000 and abs(phones[-1][2] - len(wav) / sr) < 1e-3 and phones[0][1] == 0
        assert len(motion) == round(len(wav) / 960)
    assert "~w" in " ".join(read_card(tmp_path / "card.json")["speakers"])


def test_kokoro_voices_and_blends_are_planned_and_its_heldout_voices_kept_for_test():
    from jamflow.data import kokoro

    plans = plan_corpus(SENTENCES, 300, ["kokoro"], seed=2)
    voices = {p.voice for p in plans}
    assert any("+" in v for v in voices) and any(v in kokoro.VOICES for v in voices)
    assert all(p.speaker == f"kokoro:{p.voice}" and 0.85 <= p.rate <= 1.2 and p.pitch == 0 for p in plans)
    held = [p for p in plans if p.voice in kokoro.HELDOUT]
    assert held and all(p.split == "test" for p in held)


def test_kokoro_needs_its_assets_before_any_synthesis(tmp_path, monkeypatch):
    from jamflow.data import kokoro

    monkeypatch.setattr(kokoro, "available", lambda: False)
    with pytest.raises(UserError, match="install-voices"):
        synth_corpus(tmp_path / "c", 2, SENTENCES, ["festival", "kokoro"], progress=False)
    assert not (tmp_path / "c").exists()
