"""The limits object and the API's own enforcement of it (the CLI, a server and a UI all go through these)."""
import numpy as np
import pytest

from jamflow.errors import UserError
from jamflow.infer.api import JAMFlow
from jamflow.limits import Limits, parse_limits


def with_limits(jam, **limits):
    return JAMFlow(jam.model, vocoder=jam.vocoder, device="cpu", dtype="float32", tokenizer=jam.tokenizer,
                   progress=False, limits=Limits(**limits))


def test_limits_are_checked_and_parsed():
    assert Limits().max_text_chars == 5000
    assert parse_limits(["max_text_chars=20000", "max_audio_s=90.5"]) == Limits(max_text_chars=20000, max_audio_s=90.5)
    assert parse_limits({"max_batch_jobs": 5}).max_batch_jobs == 5
    for bad, match in [(dict(max_text_chars=0), "max_text_chars: expected a positive integer"),
                       (dict(max_text_chars=2.5), "expected a positive integer"),
                       (dict(max_audio_s=float("inf")), "max_audio_s: expected a positive number"),
                       (dict(max_audio_s=True), "max_audio_s")]:
        with pytest.raises(UserError, match=match):
            Limits(**bad)
    with pytest.raises(UserError, match="--limit: expected a limit among"):
        parse_limits(["max_cats=3"])
    with pytest.raises(UserError, match="--limit: expected NAME=VALUE"):
        parse_limits(["max_text_chars"])


def test_api_enforces_text_and_audio_limits_and_a_raised_limit_lets_them_through(jam, fast):
    small = with_limits(jam, max_text_chars=20, max_audio_s=1.0)
    with pytest.raises(UserError, match=r"^gen_text: expected at most 20 characters, got 32 \(raise it"):
        small.tts("This sentence is over the limit.", **fast)
    with pytest.raises(UserError, match="audio: expected at most 1 s of audio, got 1.5 s"):
        small.animate(np.full(36000, 0.01, np.float32), **fast)
    assert with_limits(jam, max_text_chars=40).tts("This sentence is over the limit.", **fast).wav.size > 0


def test_api_refuses_text_it_cannot_speak_before_sampling(jam, fast, monkeypatch):
    import jamflow.infer.engine as engine

    monkeypatch.setattr(engine, "generate", lambda *a, **k: pytest.fail("sampled"))
    for text, match in [("!!! ??? ,,,", "expected words to speak"), ("\u4f60\u597d", "expected Latin-script"),
                        ("a\x00b", "expected printable text, got control characters")]:
        with pytest.raises(UserError, match=f"^gen_text: {match}"):
            jam.tts(text, **fast)


def test_api_checks_the_output_folder_and_motion_values_up_front(jam, fast, tmp_path, monkeypatch):
    import jamflow.infer.engine as engine

    monkeypatch.setattr(engine, "generate", lambda *a, **k: pytest.fail("sampled"))
    (tmp_path / "afile").write_text("x")
    with pytest.raises(UserError, match="^output: expected a folder, got a file"):
        jam.tts("Hello there.", output=tmp_path / "afile" / "x.wav", **fast)
    with pytest.raises(UserError, match="^output: expected a folder on a real file system"):
        jam.tts("Hello there.", output="/proc/jamflow/x.wav", **fast)
    with pytest.raises(UserError, match=r"motion: expected values within \+-10000"):
        jam.dub("Hi there.", np.full((40, 70), 1e30, np.float32), **fast)


def test_batch_outputs_stay_inside_the_output_folder(jam, tmp_path):
    from jamflow.infer.batch import BatchJob, run_batch
    from jamflow.infer.settings import InferSettings

    for name in ("../up", "/tmp/abs", "a/../../up"):
        job = BatchJob("tts", name, {"gen_text": "Hi there."}, InferSettings(nfe_step=2), line=1)
        with pytest.raises(UserError, match="jobs line 1: output: expected a name inside the output folder"):
            run_batch(jam, [job], tmp_path / "out")
    assert not (tmp_path / "up").exists() and not (tmp_path / "out").exists()
