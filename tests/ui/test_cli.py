"""`jamflow ui`: flags are checked before the model loads (one line, exit 2); errors reach the page as
gr.Error with the field's label, never a traceback."""
import pytest

from jamflow.cli import main
from jamflow.errors import UserError


@pytest.mark.parametrize("argv, message", [
    (["--port", "0"], "--port: expected an integer in 1..65535, got 0"),
    (["--queue", "0"], "--queue: expected an integer >= 1, got 0"),
    (["--auth", "admin"], "--auth: expected user:password"),
    (["--max_audio_s", "0"], "--max_audio_s: expected a number > 0"),
    (["--max_text_chars", "0"], "--max_text_chars: expected an integer >= 1"),
    (["--host", ""], "--host: expected an address"),
    (["--liveportrait_weights", "/no/such/dir"], "--liveportrait_weights: expected a folder"),
    (["--ckpt", "/no/such/ckpt"], "--ckpt: expected a checkpoint folder"),
    (["--device", "tpu"], "--device: expected cpu, cuda"),
    (["--dtype", "float8"], "--dtype: expected one of"),
])
def test_bad_flags_fail_before_the_model_loads(argv, message, capsys, monkeypatch):
    import jamflow.commands.common as common

    monkeypatch.setattr(common, "load_model", lambda args: pytest.fail("the model was loaded"))
    assert main(["ui", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("jamflow ui: error: ") and message in err and "\n" not in err


def test_auth_parses_user_and_password():
    from jamflow.commands.ui import parse_auth

    assert parse_auth("ann:se:cret") == ("ann", "se:cret")
    assert parse_auth(None) is None
    with pytest.raises(UserError):
        parse_auth(":pw")


def test_errors_become_page_messages():
    gr = pytest.importorskip("gradio")
    from jamflow.progress import Cancelled
    from jamflow.ui.widgets import guarded

    def bad_input():
        raise UserError("ref_audio: expected at most 60 s, got 75.00 s")

    def bug():
        raise ZeroDivisionError("division by zero")

    with pytest.raises(gr.Error) as e:
        guarded(bad_input)
    assert e.value.message == "Reference voice (ref_audio): expected at most 60 s, got 75.00 s"
    with pytest.raises(gr.Error) as e:
        guarded(bug)
    assert "ZeroDivisionError" in e.value.message and "Traceback" not in e.value.message
    with pytest.raises(gr.Error, match="Stopped"):
        guarded(lambda: (_ for _ in ()).throw(Cancelled("client left")))


def test_defaults_are_private_and_bounded(jam, tiny_ckpt, monkeypatch, capsys):
    pytest.importorskip("gradio")
    import jamflow.commands.common as common
    import jamflow.ui.app as app_module

    seen = {}
    monkeypatch.setattr(common, "load_model", lambda args: seen.update(api_limits=common.limits_from(args)) or jam)
    monkeypatch.setattr(app_module, "launch", lambda app, studio, **kw: seen.update(kw, app=app, studio=studio))
    assert main(["ui", "--ckpt", str(tiny_ckpt), "--max_text_chars", "500"]) == 0
    assert seen["host"] == "127.0.0.1" and seen["port"] == 7860 and seen["auth"] is None and seen["queue"] == 8
    assert seen["app"].analytics_enabled is False
    limits = seen["studio"].limits
    assert (limits.max_upload_mb, limits.max_audio_s, limits.max_text_chars) == (20, 60, 500)
    api = seen["api_limits"]  # the API's validation layer enforces the page's limits too
    assert (api.max_text_chars, api.max_audio_s, api.max_motion_s, api.max_input_mb) == (500, 60, 60, 20)
    assert "http://127.0.0.1:7860" in capsys.readouterr().out


def test_missing_gradio_names_the_extra(monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "gradio", None)  # `import gradio` now raises ImportError
    assert main(["ui"]) == 2
    assert "pip install 'jamflow[ui]'" in capsys.readouterr().err
