import json

import numpy as np
import pytest
import soundfile as sf

from jamflow.cli import main

synth = pytest.importorskip("jamflow.data.synth")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A 4-clip procedural corpus and a degraded copy: motion 3 frames late, audio with noise."""
    root = tmp_path_factory.mktemp("eval")
    ref = root / "ref"
    synth.synth_corpus(ref, 4, families=("espeak",), seed=3, workers=1, heldout_voices=(),
                       heldout_fraction=0.0, progress=False)
    rows = [json.loads(line) for line in (ref / "manifest.jsonl").read_text().splitlines()]
    gen = root / "gen"
    (gen / "wavs").mkdir(parents=True)
    (gen / "motion").mkdir()
    rng = np.random.default_rng(0)
    out = []
    for r in rows:
        wav, sr = sf.read(ref / r["audio"], dtype="float32")
        motion = np.load(ref / r["motion"])
        motion = np.concatenate([np.repeat(motion[:1], 3, axis=0), motion[:-3]])
        sf.write(gen / "wavs" / f"{r['id']}.wav", wav + rng.normal(0, 0.02, len(wav)).astype(np.float32), sr)
        np.save(gen / "motion" / f"{r['id']}.npy", motion)
        out.append(dict(r, audio=f"wavs/{r['id']}.wav", motion=f"motion/{r['id']}.npy", alignment=None))
    second = out[0]["id"] + "@1"  # a 2nd sample of clip 0: the same lag, a little jitter
    np.save(gen / "motion" / f"{second}.npy", np.load(gen / out[0]["motion"]) + rng.normal(0, 0.01, (1, 70)))
    out.append(dict(out[0], id=second, motion=f"motion/{second}.npy"))
    (gen / "manifest.jsonl").write_text("\n".join(json.dumps(r) for r in out) + "\n")
    return root, ref / "manifest.jsonl", gen / "manifest.jsonl"


def test_eval_writes_report_that_parses_and_ranks_systems(corpus, capsys):
    root, ref, gen = corpus
    out = root / "report"
    code = main(["eval", "--ref", str(ref), "--gen", f"late={gen}", "--split", "all", "--out", str(out),
                 "--metrics", "asr,speaker,timing,sync,motion", "--plot_clips", "1"])
    assert code == 0
    assert "- late, each sample alone (samples 0 / 1" in capsys.readouterr().out  # the spread is printed too
    report = json.loads((out / "report.json").read_text())
    gt, late = report["systems"]["ground truth"], report["systems"]["late"]
    assert gt["clips"] == late["clips"] == 4
    assert late["scored"] == 5 and "scored" not in gt and "per_sample" not in gt
    # every sample is scored; the row pools them, per_sample keeps each seed's own summary
    clips = report["clips"]["late"]
    assert sorted(c["id"] for c in clips)[:2] == [clips[0]["id"], clips[0]["id"] + "@1"]
    assert late["wer"] == pytest.approx(np.mean([c["wer"] for c in clips]))
    first, extra = late["per_sample"]["0"], late["per_sample"]["1"]
    assert first["clips"] == 4 and extra["clips"] == 1
    assert first["wer"] == pytest.approx(np.mean([c["wer"] for c in clips if "@" not in c["id"]]))
    assert extra["lve"] == pytest.approx(clips[-1]["lve"])
    assert gt["lve"] == 0.0 and late["lve"] > 0.0
    assert gt["duration_rel_err"] == 0.0
    assert 0.0 <= gt["wer"] <= 1.5 and 0.0 <= late["per"] <= 1.5
    assert late["sync_pooled_offset"] - gt["sync_pooled_offset"] == 3  # the planted delay, recovered
    assert late["diversity"] > 0.0 and late["fmd"] > 0.0
    assert report["control"]["sync_pooled_conf"] < gt["sync_pooled_conf"]
    bounds = report["speaker_bounds"]
    assert bounds["floor"]["pairs"] > 0
    md = (out / "report.md").read_text()
    assert "| ground truth |" in md and "| late |" in md and "| control: mismatched pairs |" in md
    assert "- late, each sample alone (samples 0 / 1; the table pools all 5): WER" in md
    pngs = list((out / "plots").glob("*.png"))
    assert {p.name.split("_")[0] for p in pngs} >= {"metrics.png", "sync", "mel"}
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)


@pytest.mark.parametrize("args, message", [
    (["--gen", "no-equals-sign"], "gen: expected NAME="),
    (["--gen", "x=/nonexistent/manifest.jsonl"], "gen: expected an existing manifest"),
    (["--metrics", "asr,bogus"], "metrics: expected"),
    (["--split", "test"], "split: expected clips"),
    (["--prompt_seconds", "5,3"], "prompt_seconds: expected LO,HI"),
    (["--prompt_seconds", "three"], "prompt_seconds: expected LO,HI"),
    (["--prompts", "/nonexistent/manifest.jsonl"], "prompts: expected an existing manifest"),
    (["--cfg_until", "2"], "cfg_until: expected a flow time in 0..1"),
    (["--speed", "0"], "speed: expected a number in 0.1..10"),
])
def test_eval_bad_arguments_fail_before_work(corpus, capsys, args, message):
    root, ref, _ = corpus
    out = root / "bad"
    assert main(["eval", "--ref", str(ref), "--out", str(out), *args]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()  # nothing written


def test_eval_passes_sampling_settings_to_generation_and_records_them(corpus, monkeypatch):
    from jamflow.config import get_preset
    from jamflow.eval import generate
    from jamflow.model.jam import JAMModel

    root, ref, _ = corpus
    ckpt = root / "tiny_ckpt"
    JAMModel(get_preset("tiny", motion_spec="full", audio={"text_num_embeds": 256})).save_pretrained(ckpt)
    seen = {}
    real = generate.generate_manifest

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(generate, "generate_manifest", spy)
    out = root / "with_settings"
    code = main(["eval", "--ref", str(ref), "--checkpoint", str(ckpt), "--task", "tts", "--nfe_step", "2",
                 "--cfg_strength", "0", "--speed", "1.2", "--head_smoothing", "0", "--split", "all", "--max_clips", "1", "--metrics", "timing",
                 "--vocoder", "griffinlim", "--no_ground_truth", "--plot_clips", "0", "--dtype", "int8",
                 "--out", str(out)])
    assert code == 0
    assert seen["cfg_strength"] == 0.0 and seen["speed"] == 1.2 and seen["head_smoothing"] == 0.0
    assert "cfg_until" not in seen
    assert seen["dtype"] == "int8"
    report = json.loads((out / "report.json").read_text())
    assert report["generation"]["settings"] == {"cfg_strength": 0.0, "speed": 1.2, "head_smoothing": 0.0}
    effective = report["generation"]["effective_settings"]
    assert effective["cfg_strength"] == 0.0 and effective["timbre_match"] == 0.5 and effective["cfg_until"] == 1.0
    assert report["generation"]["dtype"] == "int8"
    assert "cfg_strength 0.0, speed 1.2, head_smoothing 0.0, dtype int8" in (out / "report.md").read_text()


def test_dnsmos_rows_carry_the_p808_estimate_beside_the_overall_score():
    from jamflow.eval.evaluate import summarise_system
    from jamflow.eval.report import markdown_table

    clips = [{"dnsmos_ovrl": 2.5, "dnsmos_p808": 3.25}, {"dnsmos_ovrl": 3.5, "dnsmos_p808": 3.75}]
    row = summarise_system(clips)
    assert row["dnsmos_ovrl"] == pytest.approx(3.0) and row["dnsmos_p808"] == pytest.approx(3.5)
    table = markdown_table({"model": row})
    assert "| DNSMOS OVRL | P.808 |" in table and "| 3.00 | 3.50 |" in table
