"""The recipes: the default model's YAML goes through the real loader and builds the small model, and each
run.sh writes the corpus and feature cache where its YAML reads them."""
import json
import shlex
from pathlib import Path

import pytest

from jamflow.audio.tokenizers import get_tokenizer
from jamflow.errors import UserError
from jamflow.model.cfm import MaskConfig
from jamflow.model.jam import JAMModel
from jamflow.train.config import load_config
from jamflow.train.model_init import build_model_config, check_cache_fits

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "default_model"
YAML = RECIPE / "small_cpu.yaml"


def _all_commands(script: Path) -> list[tuple[str, list[str]]]:
    """Every `jamflow <cmd> ...` line of a shell script, in order -> [(cmd, argv after the command)]."""
    found = []
    for line in script.read_text().replace("\\\n", " ").splitlines():
        line = line.split(" #")[0].strip()
        if line.startswith("#") or "jamflow " not in line:
            continue
        argv = shlex.split(line)
        if "jamflow" in argv:
            i = argv.index("jamflow")
            found.append((argv[i + 1], argv[i + 2:]))
    return found


def _commands(script: Path) -> dict[str, list[str]]:
    """`jamflow <cmd> ...` lines of a shell script -> {cmd: argv after the command} (first occurrence)."""
    found = {}
    for cmd, argv in _all_commands(script):
        found.setdefault(cmd, argv)
    return found


def _flag(argv: list[str], name: str) -> str:
    assert name in argv, f"{name} missing from {argv}"
    return argv[argv.index(name) + 1]


def test_recipe_yaml_builds_small_model_with_every_task(tmp_path, monkeypatch):
    cache = tmp_path / "corpus" / "cache_phoneme"
    cache.mkdir(parents=True)
    (cache / "cache.json").write_text(json.dumps({"tokenizer": "phoneme"}))
    monkeypatch.chdir(tmp_path)  # relative paths in the YAML resolve against the working directory, as in run.sh
    cfg = load_config(YAML)
    assert cfg.data.cache == str(cache.resolve())
    assert (cfg.model.preset, cfg.stage, cfg.data.split) == ("small", "joint", "train")

    probs = MaskConfig(**cfg.masks).task_probs()
    assert len(probs) == 5 and bool((probs > 0).all()), f"every task must be in the mixture, got {probs.tolist()}"

    model_cfg = build_model_config(cfg)
    assert model_cfg.tokenizer == "phoneme" and model_cfg.motion is not None
    tok = get_tokenizer(model_cfg.tokenizer)
    check_cache_fits(model_cfg, {"tokenizer": "phoneme"}, text_max=tok.vocab_size)  # every phoneme id fits
    total = JAMModel(model_cfg).num_params()["total"]
    assert 15e6 < total < 40e6  # fp16 weights must stay under the 60 MB package budget
    assert total * 2 < 60e6


def _recipe_commands(script: Path) -> dict[str, list[str]]:
    """_commands of a recipe's run.sh, with the default model's corpus steps, which it runs through corpus.sh."""
    assert 'bash "$RECIPE/' in script.read_text() and "corpus.sh" in script.read_text()
    return {**_commands(RECIPE / "corpus.sh"), **_commands(script)}


def test_run_sh_feeds_the_yaml_its_cache_and_exports_its_run():
    cmds = _recipe_commands(RECIPE / "run.sh")
    corpus = Path(_flag(cmds["synth-data"], "--out").removeprefix("$PWD/"))  # run.sh runs in WORK
    prepare = cmds["prepare"]
    assert Path(_flag(prepare, "--manifest")) == corpus / "manifest.jsonl"

    cfg_text = YAML.read_text()
    import yaml

    data = yaml.safe_load(cfg_text)
    assert Path(_flag(prepare, "--out")) == Path(data["data"]["cache"])
    assert _flag(prepare, "--tokenizer") == "phoneme"
    assert data["data"]["durations"] is True and Path(_flag(cmds["align"], "--cache")) == Path(data["data"]["cache"])
    assert Path(_flag(cmds["train"], "--config")).name == YAML.name
    assert Path(_flag(cmds["export"], "--checkpoint")) == Path(data["run_dir"])
    fit = cmds["fit-durations"]  # the predictor is fitted on the aligned cache into the export that is evaluated
    assert Path(_flag(fit, "--cache")) == Path(data["data"]["cache"])
    assert _flag(fit, "--checkpoint") == _flag(fit, "--out") == _flag(cmds["export"], "--out") == _flag(cmds["eval"], "--checkpoint")
    assert Path(_flag(cmds["eval"], "--ref")).parent == corpus


@pytest.mark.parametrize("bad", ["festival:slt_hts", "festival:slt_hts=1"])
def test_eval_subset_refuses_unusable_voice_lists(tmp_path, bad, helpers):
    manifest = tmp_path / "manifest.jsonl"
    rows = [{"id": f"{i:03d}", "speaker": "festival:slt_hts", "split": "test" if i % 2 else "train"} for i in range(6)]
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    from jamflow.errors import UserError

    with pytest.raises(UserError, match="voices: expected"):
        helpers.eval_subset(manifest, tmp_path / "subset.jsonl", helpers._voices(bad))
    assert not (tmp_path / "subset.jsonl").exists()  # picking (test split, held-out sentences): test_eval_subset.py


def test_mean_motion_baseline_holds_the_card_mean_for_each_clip_length(tmp_path, helpers):
    import numpy as np
    import soundfile as sf

    from jamflow.data.manifest import make_card, read_manifest, write_card, write_manifest

    corpus = tmp_path / "corpus"
    (corpus / "motion").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = []
    for i, frames in enumerate((10, 17)):
        wav, mot = corpus / f"{i}.wav", corpus / "motion" / f"{i}.npy"
        sf.write(wav, np.zeros(frames * 960, np.float32), 24000)
        np.save(mot, rng.normal(size=(frames, 70)).astype(np.float32))
        rows.append({"id": f"{i}", "audio": str(wav), "text": "hello there", "motion": str(mot), "speaker": "s",
                     "duration": frames / 25, "alignment": None, "split": "test"})
    write_manifest(corpus / "manifest.jsonl", rows)
    write_card(corpus / "card.json", make_card("t", rows))
    expected_mean = np.concatenate([np.load(r["motion"]) for r in rows]).mean(0)

    out = helpers.mean_motion(corpus / "manifest.jsonl", tmp_path / "baseline")
    got = read_manifest(out)
    assert [r["id"] for r in got] == ["0", "1"] and [r["audio"] for r in got] == [r["audio"] for r in rows]
    for r, frames in zip(got, (10, 17)):
        m = np.load(r["motion"])
        assert m.shape == (frames, 70)
        np.testing.assert_allclose(m, np.broadcast_to(expected_mean, m.shape), atol=1e-5)
    # real speech has no motion: with a card it gets the mean pose for its audio's length (animate's sync)
    speech = [{**rows[1], "id": "real", "motion": None, "duration": 1.01}]
    write_manifest(corpus / "real.jsonl", speech)
    with pytest.raises(UserError, match="ground-truth motion"):
        helpers.mean_motion(corpus / "real.jsonl", tmp_path / "real_nocard")
    got = read_manifest(helpers.mean_motion(corpus / "real.jsonl", tmp_path / "real", card=corpus / "card.json"))
    m = np.load(got[0]["motion"])
    assert m.shape == (26, 70)
    np.testing.assert_allclose(m, np.broadcast_to(expected_mean, m.shape), atol=1e-5)


def test_fast_model_run_sh_distils_in_two_stages_the_second_on_from_the_first():
    import yaml

    fast = RECIPE.parent / "fast_model"
    text = (fast / "run.sh").read_text()
    runs = _all_commands(fast / "run.sh")
    trains = [argv for cmd, argv in runs if cmd == "train"]
    exports = [argv for cmd, argv in runs if cmd == "export"]
    stage1 = yaml.safe_load((fast / "distill_cpu.yaml").read_text())
    stage2 = yaml.safe_load((fast / "distill_voices_cpu.yaml").read_text())
    assert [Path(_flag(a, "--config")).name for a in trains] == ["distill_cpu.yaml", "distill_voices_cpu.yaml"]
    assert [Path(_flag(a, "--checkpoint")) for a in exports] == [Path(stage1["run_dir"]), Path(stage2["run_dir"])]
    assert Path(stage2["distill"]["init_adapters"]) == Path(_flag(exports[0], "--out"))
    assert all(_flag(a, "--resume").startswith("model.init_from=") for a in trains)  # the same teacher
    for key in ("steps", "teacher_nfe", "sway_sampling_coef", "cfg_strength", "lora_rank"):
        assert stage1["distill"][key] == stage2["distill"][key], key
    # stage 1 reads the default model's corpus, stage 2 the many-speaker corpus that run.sh makes in voices/
    default_corpus = _commands(RECIPE / "corpus.sh")
    assert Path(_flag(default_corpus["prepare"], "--out")) == Path(stage1["data"]["cache"])
    assert Path(_flag(default_corpus["align"], "--cache")) == Path(stage1["data"]["cache"])
    voices_corpus = _commands(RECIPE.parent / "voices_model" / "corpus.sh")
    assert "cd voices" in text and "voices_model/corpus.sh" in text
    assert Path(stage2["data"]["cache"]) == Path("voices") / _flag(voices_corpus["prepare"], "--out")
    assert Path(stage2["data"]["cache"]) == Path("voices") / _flag(voices_corpus["align"], "--cache")
    assert stage1["data"]["durations"] is True and stage2["data"]["durations"] is True


def _voices_fine_tune(script: str, corpus_script: str, config: str, tmp_path, monkeypatch):
    """The wiring a voices recipe shares: its corpus (synth-data, the model's stats into the card before
    prepare, prepare, align) feeds CONFIG's cache, and finetune.sh trains CONFIG from the shipped model,
    exports CONFIG's run and refits the durations into that export. -> (synth-data argv, the YAML, its
    TrainConfig through the real loader)"""
    import yaml

    voices = RECIPE.parent / "voices_model"
    caller = (voices / script).read_text()
    assert f"CONFIG={config} " in caller and 'bash "$RECIPE/finetune.sh" "$@"' in caller
    corpus_text = (voices / corpus_script).read_text()
    cmds = {**_commands(voices / corpus_script), **_commands(voices / "finetune.sh")}
    data = yaml.safe_load((voices / config).read_text())
    corpus = Path(_flag(cmds["synth-data"], "--out").removeprefix("$PWD/"))
    # the model's motion stats go into the card before prepare reads it
    assert corpus_text.index("model-stats corpus/card.json") < corpus_text.index("jamflow prepare")
    assert Path(_flag(cmds["prepare"], "--manifest")) == corpus / "manifest.jsonl"
    assert Path(_flag(cmds["prepare"], "--out")) == Path(data["data"]["cache"]) == Path(_flag(cmds["align"], "--cache"))
    assert Path(data["data"]["cache"]) == Path(_flag(cmds["fit-durations"], "--cache"))
    assert data["data"]["durations"] is True
    assert _flag(cmds["train"], "--config") == "$RECIPE/$CONFIG"
    assert _flag(cmds["train"], "--resume").startswith("model.init_from=")
    # the export is the config's own run: finetune.sh reads run_dir from the YAML
    assert _flag(cmds["export"], "--checkpoint") == "$RUN_DIR" and '["run_dir"]' in (voices / "finetune.sh").read_text()
    assert _flag(cmds["fit-durations"], "--out") == _flag(cmds["export"], "--out")
    # the YAML goes through the real loader and builds the shipped preset, so init_from can load the weights
    (tmp_path / data["data"]["cache"]).mkdir(parents=True)
    (tmp_path / data["data"]["cache"] / "cache.json").write_text(json.dumps({"tokenizer": "phoneme"}))
    monkeypatch.chdir(tmp_path)
    cfg = load_config(voices / config)
    assert build_model_config(cfg).tokenizer == "phoneme"
    return cmds["synth-data"], data, cfg


def test_voices_model_run_sh_trains_on_its_own_corpus_with_the_shipped_stats_and_evaluates_its_export(
        tmp_path, monkeypatch):
    voices = RECIPE.parent / "voices_model"
    assert 'bash "$RECIPE/corpus.sh"' in (voices / "run.sh").read_text()
    synth_data, data, _ = _voices_fine_tune("run.sh", "corpus.sh", "voices_cpu.yaml", tmp_path, monkeypatch)
    assert "hibari" in _flag(synth_data, "--voices") and float(_flag(synth_data, "--augment_share")) > 0
    assert data["stage"] == "joint"


def test_voices_model_kokoro_sh_fine_tunes_the_speech_side_on_kokoro_voices(tmp_path, monkeypatch):
    synth_data, data, cfg = _voices_fine_tune("kokoro.sh", "kokoro.sh", "kokoro_cpu.yaml", tmp_path, monkeypatch)
    assert "kokoro" in _flag(synth_data, "--voices") and "espeak" not in _flag(synth_data, "--voices")
    # the motion stream stays the shipped one's, so the candidate packages over the default model
    assert data["stage"] == "audio" and data["data"]["split"] == "train"
    assert build_model_config(cfg).motion_spec == "full"


def test_vocoder_run_sh_distils_on_the_voices_corpus_and_benchmarks_its_student(vocoder_distill):
    vocoder = RECIPE.parent / "vocoder"
    cmds = _commands(vocoder / "run.sh")
    # the same corpus command as the voices recipe, so one work folder serves both
    assert cmds["synth-data"] == _commands(RECIPE.parent / "voices_model" / "corpus.sh")["synth-data"]
    corpus = Path(_flag(cmds["synth-data"], "--out").removeprefix("$PWD/"))
    text = (vocoder / "run.sh").read_text().replace("\\\n", " ")
    lines = {name: next(line for line in text.splitlines() if name in line and not line.startswith("#")).split("|")[0]
             for name in ("distill.py", "bench_vocoder.py")}
    argv = shlex.split(lines["distill.py"])
    argv = [a for a in argv[argv.index('$RECIPE/distill.py') + 1:] if a != "$@"]
    args = vocoder_distill.build_parser().parse_args(argv)
    assert Path(args.manifest) == corpus / "manifest.jsonl"
    assert args.teacher == "hifigan" and args.preset == "base"
    assert _flag(shlex.split(lines["bench_vocoder.py"]), "--vocos") == args.out
