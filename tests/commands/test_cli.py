"""`jamflow <task>` through jamflow.cli.main: promised files on success, one-line errors and no files on failure."""
import json

import numpy as np
import pytest
import soundfile as sf

from jamflow.cli import main

FAST = ["--nfe_step", "2", "--seed", "3", "--vocoder", "griffinlim", "--quiet"]


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def motion_file(tmp_path, jam):
    path = tmp_path / "lips.npy"
    np.save(path, np.tile(jam.codec.mean, (30, 1)).astype(np.float32))
    return path


def test_tts_cli_writes_wav_and_motion_and_prints_settings(capsys, tiny_ckpt, ref_wav, tmp_path):
    code, out, err = run(capsys, "tts", "--ckpt", str(tiny_ckpt), "--gen_text", "Hello from the CLI.",
                         "--ref_audio", str(ref_wav[1]), "--ref_text", "A reference sentence.",
                         "--output_dir", str(tmp_path), "--output_file", "hello.wav", *FAST)
    assert code == 0, err
    assert "seed=3" in out and "nfe_step=2" in out and "cfg_strength=2.0" in out
    wav, sr = sf.read(tmp_path / "hello.wav")
    assert sr == 24000 and len(wav) == len(np.load(tmp_path / "hello.npy")) * 960


def test_config_file_supplies_flags_and_the_command_line_wins(capsys, tiny_ckpt, tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text(f'ckpt = "{tiny_ckpt}"\ngen_text = "From the config."\nnfe_step = 2\nseed = 11\n'
                   f'output_dir = "{tmp_path}"\nvocoder = "griffinlim"\n')
    code, out, err = run(capsys, "tts", "-c", str(cfg), "--seed", "12", "--quiet")
    assert code == 0, err
    assert "seed=12" in out and "nfe_step=2" in out and (tmp_path / "tts.wav").is_file()
    cfg.write_text('nfe_stpe = 2\n')
    code, _, err = run(capsys, "tts", "-c", str(cfg), "--gen_text", "x")
    assert code == 2 and "nfe_stpe" in err


def test_talk_and_demo_write_mp4_and_wav(capsys, tiny_ckpt, tmp_path):
    code, _, err = run(capsys, "talk", "--ckpt", str(tiny_ckpt), "-t", "Talking now.", "--output_dir", str(tmp_path), *FAST)
    assert code == 0, err
    assert all((tmp_path / f"talk.{s}").is_file() for s in ("mp4", "wav", "npy"))
    code, out, err = run(capsys, "demo", "--ckpt", str(tiny_ckpt), "--output_dir", str(tmp_path), *FAST)
    assert code == 0, err
    assert (tmp_path / "demo.mp4").stat().st_size > 0 and (tmp_path / "demo.wav").is_file()


def test_demo_without_a_shipped_model_says_how_to_pass_one(capsys, tmp_path, monkeypatch):
    from jamflow.infer import api

    monkeypatch.setitem(api.SHIPPED_NAMES, "default", tmp_path / "no-model")
    code, _, err = run(capsys, "demo", "--output_dir", str(tmp_path / "out"))
    assert code == 2 and "--ckpt" in err and "expected the shipped model" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_a_checkpoint_whose_base_is_gone_is_refused_before_loading(capsys, tmp_path):
    import shutil

    from jamflow.model.checkpoint_files import store_over_base
    from jamflow.testing import save_tiny_checkpoint

    base, face = save_tiny_checkpoint(tmp_path / "base"), save_tiny_checkpoint(tmp_path / "face", seed=1)
    store_over_base(face, base)
    shutil.rmtree(base)
    code, _, err = run(capsys, "tts", "--ckpt", str(face), "-t", "Hello.", "--output_dir", str(tmp_path / "out"))
    assert code == 2 and err.startswith("jamflow tts: error: --ckpt: expected the base checkpoint") and "copy both folders" in err
    assert not (tmp_path / "out").exists()


def test_the_shipped_student_needs_the_shipped_lips_model(capsys, tmp_path):
    code, _, err = run(capsys, "tts", "--ckpt", "default", "--fast", "-t", "Hello.", "--output_dir", str(tmp_path))
    assert code == 2 and "--fast: expected the shipped lips model (no --ckpt, or --ckpt lips)" in err


def test_animate_dub_edit_cli(capsys, tiny_ckpt, ref_wav, motion_file, tmp_path):
    common = ["--ckpt", str(tiny_ckpt), "--output_dir", str(tmp_path), *FAST]
    code, _, err = run(capsys, "animate", "--audio", str(ref_wav[1]), *common)
    assert code == 0, err
    assert len(np.load(tmp_path / "animate.npy")) == 40  # 1.6 s x 25
    code, _, err = run(capsys, "dub", "--motion", str(motion_file), "-t", "Dub this.", "-r", str(ref_wav[1]),
                       "-s", "A reference sentence.", *common)
    assert code == 0, err
    assert len(sf.read(tmp_path / "dub.wav")[0]) == 30 * 960 and (tmp_path / "dub.mp4").is_file()
    code, _, err = run(capsys, "edit", "--audio", str(ref_wav[1]), "--text", "A reference sentence.",
                       "--audio_spans", "0.2-0.6", "--extend_s", "0.4", *common)
    assert code == 0, err
    assert len(sf.read(tmp_path / "edit.wav")[0]) == (40 + 10) * 960


def test_batch_runs_every_job_with_one_model(capsys, tiny_ckpt, ref_wav, tmp_path):
    jobs = tmp_path / "jobs.jsonl"
    lines = [{"gen_text": "First job.", "output": "one"},
             {"gen_text": "Second job, a bit longer.", "output": "two"},
             {"task": "animate", "audio": str(ref_wav[1]), "output": "three"}]
    jobs.write_text("\n".join(json.dumps(x) for x in lines))
    code, out, err = run(capsys, "batch", str(jobs), "--ckpt", str(tiny_ckpt), "--output_dir", str(tmp_path / "o"), *FAST)
    assert code == 0, err
    assert {p.name for p in (tmp_path / "o").iterdir()} >= {"one.wav", "two.wav", "three.mp4", "three.npy"}


def _bad_motion(tmp_path, kind):
    path = tmp_path / f"bad_{kind}.npy"
    arr = np.zeros((30, 69 if kind == "channels" else 70), np.float32)
    if kind == "nan":
        arr[3, 5] = np.nan
    np.save(path, arr)
    return str(path)


@pytest.mark.parametrize("argv,match", [
    (["tts", "--gen_text", "   "], "gen_text"),
    (["tts", "--gen_text", "Hi.", "--ref_audio", "{ref}"], "ASR"),
    (["tts", "--gen_text", "Hi.", "--ref_audio", "{tmp}/missing.wav", "--ref_text", "x"], "ref_audio"),
    (["tts", "--gen_file", "{tmp}/missing.txt"], "gen_file"),
    (["animate", "--audio", "{tmp}/missing.wav"], "audio"),
    (["talk", "-t", "Hi.", "--source", "{ref}"], "source"),
    (["dub", "-t", "Hi.", "--motion", "{channels}"], "70"),
    (["dub", "-t", "Hi.", "--motion", "{nan}"], "NaN"),
    (["dub", "-t", "Hi.", "--motion", "{ref}"], ".npy or .pkl"),
    (["tts", "-t", "Hi there.", "--fix_duration", "900"], "fix_duration"),
    (["edit", "--audio", "{ref}", "--text", "x", "--audio_spans", "5-1"], "audio_spans"),
    (["tts", "-t", "Hi.", "--device", "tpu"], "device"),
    (["tts", "-t", "Hi.", "--voice", "{tmp}/missing.safetensors"], "--voice: expected a voice file"),
    (["tts", "-t", "Hi.", "--voice_strength", "0.5"], "--voice_strength: expected it with --voice"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(capsys, tiny_ckpt, ref_wav, tmp_path, argv, match):
    fill = {"ref": str(ref_wav[1]), "tmp": str(tmp_path), "channels": _bad_motion(tmp_path, "channels"),
            "nan": _bad_motion(tmp_path, "nan")}
    argv = [a.format(**fill) for a in argv]
    out_dir = tmp_path / "out"
    code, _, err = run(capsys, *argv, "--ckpt", str(tiny_ckpt), "--output_dir", str(out_dir), *FAST)
    assert code == 2
    lines = [ln for ln in err.strip().splitlines() if "warn" not in ln.lower()]
    assert len(lines) == 1 and lines[0].startswith("jamflow ") and "error:" in lines[0]
    assert __import__("re").search(match, lines[0]), lines[0]
    assert not out_dir.exists() or not any(out_dir.iterdir())


def test_model_loading_notes_its_own_warnings_but_not_resource_warnings_of_the_caller(capsys, tiny_ckpt, tmp_path,
                                                                                     monkeypatch):
    """Loading allocates; a garbage collection during it may report an object the caller never closed (an
    event loop of an earlier test, say). That is not the command's to print: only the loader's own notes."""
    import warnings

    from jamflow.infer.api import JAMFlow

    real = JAMFlow.from_pretrained.__func__

    def loading(cls, *args, **kwargs):
        warnings.warn("unclosed event loop <_UnixSelectorEventLoop>", ResourceWarning)
        warnings.warn("no Vocos weights found: decoding with the fallback")
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(JAMFlow, "from_pretrained", classmethod(loading))
    code, _, err = run(capsys, "tts", "--ckpt", str(tiny_ckpt), "-t", "Hello.", "--output_dir", str(tmp_path), *FAST)
    assert code == 0
    assert "note: no Vocos weights found" in err and "unclosed event loop" not in err


def test_voice_cli_fits_a_file_that_tts_speaks_with(capsys, tiny_ckpt, ref_wav, tmp_path):
    voice = tmp_path / "me.safetensors"
    code, out, err = run(capsys, "voice", "--ckpt", str(tiny_ckpt), "--ref_audio", str(ref_wav[1]), "--ref_text",
                         "A reference sentence.", "--output", str(voice), "--steps", "2", "--dtype", "float32", "--quiet")
    assert code == 0, err
    assert voice.is_file() and "wrote voice" in out
    for extra in ([], ["--voice_strength", "1"]):
        code, out, err = run(capsys, "tts", "--ckpt", str(tiny_ckpt), "--voice", str(voice), "--gen_text", "Hello.",
                             "--dtype", "float32", "--output_dir", str(tmp_path / "o"), *extra, *FAST)
        assert code == 0, err
    assert (tmp_path / "o" / "tts.wav").is_file()
    # its own clip is the reference: another one is refused before the model loads
    code, _, err = run(capsys, "tts", "--ckpt", str(tiny_ckpt), "--voice", str(voice), "--ref_audio", str(ref_wav[1]),
                       "--ref_text", "x", "--gen_text", "Hi.", *FAST)
    assert code == 2 and "--voice: comes with its own reference clip" in err


@pytest.mark.parametrize("argv,match", [
    (["--output", "{tmp}/me.wav"], "--output: expected a voice file name ending in .safetensors"),
    (["--output", "{tmp}/me.safetensors", "--steps", "0"], "--steps: expected an integer"),
    (["--output", "{tmp}/me.safetensors", "--strength", "2"], "--strength: expected a number in"),
    (["--output", "{tmp}/me.safetensors", "--dtype", "int8"], "--dtype: expected float32, float16 or bfloat16"),
    ([], "--output: expected a value"),
])
def test_voice_cli_refuses_bad_flags_before_loading(capsys, tiny_ckpt, ref_wav, tmp_path, argv, match):
    argv = [a.format(tmp=tmp_path) for a in argv]
    code, _, err = run(capsys, "voice", "--ckpt", str(tiny_ckpt), "--ref_audio", str(ref_wav[1]), "--ref_text",
                       "A reference sentence.", *argv, "--quiet")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and match in lines[0], err
    assert not list(tmp_path.glob("me.*"))
