"""Table of bad inputs through `jamflow.cli.main`: each ends in exit 2 with one stderr line naming the flag,
no traceback, nothing written, and (a hook on model loading tells) before the model loads where the
problem is knowable from the arguments and the files' headers."""
import re

import pytest

from jamflow.cli import main

FAST = ["--nfe_step", "2", "--seed", "3", "--vocoder", "griffinlim", "--quiet"]
LONG = "The quick brown fox jumps over the lazy dog. " * 120  # ~5.4k characters, over the 5000 default

# (argv, text the one error line must contain, "load": found before the model loads / "sample": before sampling)
ROWS = [
    # a text file that is not UTF-8
    (["tts", "--gen_file", "{latin1}"], "--gen_file: expected UTF-8", "load"),
    (["tts", "-t", "Hi.", "-c", "{latin1_toml}"], "--config: expected UTF-8", "load"),
    # non-finite / out-of-range values that used to explode after sampling
    (["tts", "-t", "Hi there.", "--sway_sampling_coef", "nan"], "--sway_sampling_coef: expected a finite", "load"),
    (["tts", "-t", "Hi there.", "--fix_duration", "inf"], "--fix_duration: expected a finite", "load"),
    (["tts", "-t", "Hi there.", "--cfg_strength", "1e30"], "--cfg_strength: expected a number in 0..", "load"),
    (["tts", "-t", "Hi there.", "--target_rms", "-0.5"], "--target_rms: expected", "load"),
    (["tts", "-t", "Hi there.", "--nfe_step", "two"], "--nfe_step: expected an integer", "load"),
    # output folder that is a file, on a pseudo file system; output names leaving the folder
    (["tts", "-t", "Hi there.", "--output_dir", "{afile}"], "--output_dir: expected a folder", "load"),
    (["tts", "-t", "Hi there.", "--output_dir", "/proc/jamflow-test"], "--output_dir: expected a folder on a real",
     "load"),
    (["tts", "-t", "Hi there.", "--output_file", "../../escaped.wav"], "--output_file: expected a name inside",
     "load"),
    (["batch", "{jobs_dotdot}"], "output: expected a name inside", "load"),
    (["batch", "{jobs_absolute}"], "output: expected a name inside", "load"),
    # damaged checkpoints
    (["tts", "-t", "Hi there.", "--ckpt", "{ckpt_trunc}"], "--ckpt: expected model.safetensors of", "load"),
    (["tts", "-t", "Hi there.", "--ckpt", "{ckpt_badjson}"], "--ckpt: expected valid JSON", "load"),
    (["tts", "-t", "Hi there.", "--ckpt", "{ckpt_extra}"], "--ckpt: expected keys among", "load"),
    # input files over a limit or damaged, found from their headers
    (["tts", "-t", "Hi there.", "-r", "{long}", "-s", "Hello."], "--ref_audio: expected at most 30 s", "load"),
    (["tts", "-t", "Hi there.", "-r", "{notaudio}", "-s", "Hello."], "--ref_audio: expected a readable", "load"),
    (["animate", "-a", "{ref}", "--limit", "max_audio_s=1"], "--audio: expected at most 1 s", "load"),
    (["talk", "-t", "Hi there.", "--source", "{bomb}"], "--source: expected at most", "load"),
    (["dub", "-t", "Hi there.", "--motion", "{motion}", "--video", "{corrupt_mp4}"], "--video: expected a readable",
     "load"),
    (["dub", "-t", "Hi there.", "--motion", "{trunc}"], "--motion: expected 40 frames of data", "load"),
    (["render", "--motion", "{huge}", "--out", "{out}/r.mp4"], "--motion", "load"),
    (["render", "--motion", "{motion}", "--out", "{out}/r.mp4", "--size", "100000"], "--size: expected an integer in",
     "load"),
    # text: too long, nothing to speak, a script the model cannot read, a transcript that cannot fit its audio
    (["tts", "-t", LONG], "--gen_text: expected at most 5000 characters", "load"),
    (["tts", "-t", "!!! ??? ,,,"], "--gen_text: expected words to speak", "load"),
    (["tts", "-t", "\u4f60\u597d\u4e16\u754c\u3002"], "--gen_text: expected Latin-script text", "load"),
    (["tts", "-t", "Hello there.", "-r", "{ref}", "-s", "A long transcript. " * 10], "--ref_text: expected a transcript",
     "load"),
    # found from the content (decoded / loaded), still before sampling
    (["dub", "-t", "Hi there.", "--motion", "{huge}"], "--motion huge.npy: expected values within", "load"),
    (["edit", "-a", "{ref}", "--text", "Hello there.", "--extend_s", "nan"], "--extend_s: expected a finite", "load"),
    (["edit", "-a", "{ref}", "--text", "Hello there.", "--audio_spans", "0-inf"], "--audio_spans: expected spans with",
     "load"),
    (["batch", "{jobs_chinese}"], "jobs line 1: gen_text: expected Latin-script", "load"),
    (["tts", "-t", "Hi there.", "-r", "{silent}", "-s", "Hello."], "--ref_audio: expected speech, got silence",
     "sample"),
    # the command line itself
    (["frobnicate", "--x"], "COMMAND: expected one of", "load"),
    (["tts", "-t", "Hi.", "--limit", "max_text_chars=lots"], "--limit: expected max_text_chars=<integer>", "load"),
    (["tts", "-t", "Hi.", "--limit", "max_cats=3"], "--limit: expected a limit among", "load"),
    # data and evaluation commands
    (["synth-data", "--out", "/proc/jamflow-test", "--num_clips", "2"], "--out: expected a folder on a real", "load"),
    (["synth-data", "--out", "{root}/sd", "--voice_shares", "festival:1"], "--voice_shares: expected family=weight",
     "load"),
    (["synth-data", "--out", "{root}/sd", "--augment_share", "2"], "--augment_share: expected a number in [0, 1]",
     "load"),
    (["eval", "--ref", "/no/such/manifest.jsonl", "--out", "{root}/ev"], "--ref: expected an existing manifest",
     "load"),
]


@pytest.mark.parametrize("argv,message,stage", ROWS, ids=[f"{r[0][0]}-{r[1][:28]}" for r in ROWS])
def test_bad_input_is_one_line_exit_2_nothing_written(capsys, spy, tiny_ckpt, bad_files, tmp_path, argv, message,
                                                      stage):
    out = tmp_path / "a" / "b" / "out"  # ../../ from here lands in tmp_path, where escapes are looked for
    argv = [a.format(**bad_files, out=out) for a in argv]
    if argv[0] in ("tts", "talk", "animate", "dub", "batch"):
        argv += FAST + ([] if "--ckpt" in argv else ["--ckpt", str(tiny_ckpt)])
        argv += [] if "--output_dir" in argv else ["--output_dir", str(out)]
    before = set(tmp_path.rglob("*"))
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own exit (type errors)
        code = e.code
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    assert re.match(r"jamflow( \S+)?: error: ", lines[0]) and "Traceback" not in err, lines[0]
    assert message in lines[0], lines[0]
    assert set(tmp_path.rglob("*")) == before, "something was written"
    assert spy["sample"] == 0
    if stage == "load":
        assert spy["load"] == 0, "found only after the model loaded"


def test_a_raised_limit_lets_the_same_input_through(capsys, spy, tiny_ckpt, ref_wav, tmp_path):
    argv = ["animate", "-a", str(ref_wav[1]), "--output_dir", str(tmp_path), "--ckpt", str(tiny_ckpt), *FAST]
    assert main(argv + ["--limit", "max_audio_s=1"]) == 2
    assert main(argv + ["--limit", "max_audio_s=2"]) == 0, capsys.readouterr().err
    assert (tmp_path / "animate.mp4").is_file() and spy["load"] == 1


def test_unusual_but_legitimate_inputs_run(capsys, tiny_ckpt, ref_wav, tmp_path):
    """A nested output name inside the folder, text without punctuation, digits and symbols."""
    argv = ["tts", "-t", "twelve cats and 3 dogs & 1 bird", "--output_file", "sub/dir/x.wav",
            "--output_dir", str(tmp_path), "--ckpt", str(tiny_ckpt), *FAST]
    assert main(argv) == 0, capsys.readouterr().err
    assert (tmp_path / "sub" / "dir" / "x.wav").is_file()


def test_a_symlink_at_the_destination_is_replaced_not_written_through(capsys, tiny_ckpt, tmp_path):
    target = tmp_path / "elsewhere.wav"
    target.write_bytes(b"keep me")
    out = tmp_path / "out"
    out.mkdir()
    (out / "tts.wav").symlink_to(target)
    argv = ["tts", "-t", "Hi there.", "--output_dir", str(out), "--ckpt", str(tiny_ckpt), *FAST]
    assert main(argv) == 0, capsys.readouterr().err
    assert target.read_bytes() == b"keep me"
    assert not (out / "tts.wav").is_symlink() and (out / "tts.wav").stat().st_size > 1000
