"""`jamflow serve` flags: each bad value stops with one line naming the flag (exit 2) before the model
loads; good flags build the app and hand it to uvicorn."""
import socket

import pytest
import soundfile as sf
from fastapi.testclient import TestClient
from serve_helpers import free_port

from jamflow import cli
from jamflow.commands import common as cli_common


@pytest.fixture
def no_model(monkeypatch):
    def fail(*a, **k):
        raise AssertionError("the model was loaded before the flags were checked")
    monkeypatch.setattr(cli_common, "load_model", fail)


@pytest.mark.parametrize("flags, flag", [
    (["--queue", "-1"], "--queue"),
    (["--timeout_s", "0"], "--timeout_s"),
    (["--timeout_s", "nan"], "--timeout_s"),
    (["--max_body_mb", "0"], "--max_body_mb"),
    (["--max_text_chars", "0"], "--max_text_chars"),
    (["--max_audio_s", "-5"], "--max_audio_s"),
    (["--port", "70000"], "--port"),
    (["--host", "no-such-host.invalid"], "--host"),
    (["--voices", "/no/such/folder"], "--voices"),
    (["--liveportrait_weights", "/no/such/folder"], "--liveportrait_weights"),
    (["--vocoder", "/no/such/vocos"], "--vocoder"),
    (["--ckpt", "/no/such/ckpt"], "--ckpt"),
    (["--device", "tpu"], "--device"),
    (["--dtype", "float8"], "--dtype"),
])
def test_bad_flag_one_line_exit_2(no_model, capsys, flags, flag):
    if flag not in ("--port", "--host"):
        flags = [*flags, "--port", str(free_port())]  # not 8000: another program may hold it
    assert cli.main(["serve", *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"jamflow serve: error: {flag}: expected"), err


def test_port_in_use(no_model, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        assert cli.main(["serve", "--port", str(port)]) == 2
    assert "--port: expected a free port" in capsys.readouterr().err


def test_liveportrait_weights_checked_up_front(no_model, capsys, tmp_path):
    assert cli.main(["serve", "--liveportrait_weights", str(tmp_path), "--port", str(free_port())]) == 2
    err = capsys.readouterr().err
    assert "--liveportrait_weights: expected the LivePortrait weights" in err and "missing" in err


def test_voice_without_transcript(no_model, capsys, ref_wav, tmp_path):
    sf.write(tmp_path / "anna.wav", ref_wav[0], 24000)
    assert cli.main(["serve", "--voices", str(tmp_path), "--port", str(free_port())]) == 2
    assert "--voices: expected the transcript anna.txt beside anna.wav" in capsys.readouterr().err


def test_good_flags_serve_the_app(monkeypatch, tiny_ckpt, ref_wav, tmp_path):
    import uvicorn

    sf.write(tmp_path / "anna.wav", ref_wav[0], 24000)
    (tmp_path / "anna.txt").write_text("Anna speaks.")
    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    port = free_port()
    assert cli.main(["serve", "--ckpt", str(tiny_ckpt), "--vocoder", "griffinlim", "--device", "cpu", "--dtype",
                     "float32", "--port", str(port), "--queue", "5", "--voices", str(tmp_path),
                     "--max_text_chars", "300", "--max_audio_s", "20"]) == 0
    assert seen["host"] == "127.0.0.1" and seen["port"] == port
    with TestClient(seen["app"]) as c:
        health = c.get("/health").json()
        voices = [v["name"] for v in c.get("/v1/voices").json()["voices"]]
    assert health["queue"]["capacity"] == 6 and health["model"]["name"] == tiny_ckpt.name
    assert voices == ["slt", "librivox", "anna"]
    limits = seen["app"].state.jamflow.jam.limits  # the API enforces the server's limits itself
    assert (limits.max_text_chars, limits.max_audio_s, limits.max_motion_s) == (300, 20.0, 20.0)


def test_listed_in_jamflow_help(capsys):
    cli.main([])
    assert "serve" in capsys.readouterr().out
