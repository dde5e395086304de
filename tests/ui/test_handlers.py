"""The page's handlers on the tiny model, without a browser: every tab writes playable files, reports
progress, and turns bad input into a message naming the page's field."""
import io
import threading

import numpy as np
import pytest
import soundfile as sf
import torch

from jamflow.errors import UserError
from jamflow.ui.handlers import page_message

FAST = {"nfe_step": 2, "seed": 7}


class Steps:
    """A stand-in for gr.Progress: records what it is told."""

    def __init__(self):
        self.calls = []

    def __call__(self, value, desc=None):
        self.calls.append((value, desc))


def wav_seconds(path) -> float:
    info = sf.info(str(path))
    return info.frames / info.samplerate


def test_page_message_uses_the_field_label():
    assert page_message(UserError("gen_text: expected non-empty text, got nothing")) == \
        "Text to speak (gen_text): expected non-empty text, got nothing"
    assert page_message(UserError("--nfe_step: expected an integer")) == "NFE steps (nfe_step): expected an integer"
    assert page_message(UserError("something else went wrong")) == "something else went wrong"


def test_settings_resolve_seed_and_check_numbers(studio):
    s = studio.settings({"nfe_step": 4.0, "seed": -1, "cfg_strength": 1.5, "vocoder": "default"})
    assert s.nfe_step == 4 and isinstance(s.nfe_step, int) and s.seed is not None and s.seed >= 0
    assert studio.settings({"seed": 12}).seed == 12
    with pytest.raises(UserError, match="^seed: expected an integer"):
        studio.settings({"seed": 1.5})
    with pytest.raises(UserError, match="^nfe_step: expected an integer in 1..1000"):
        studio.settings({"nfe_step": 0})
    with pytest.raises(UserError, match="^speed: expected a number in 0.1..10"):
        studio.settings({"speed": 50.0})


def test_reference_needs_both_voice_and_words(studio, ref_wav):
    assert studio.reference(None, "") == (None, None)
    with pytest.raises(UserError, match="^ref_text: given without a reference voice"):
        studio.reference(None, "some words")
    with pytest.raises(UserError, match="^ref_text: expected the words of the reference voice"):
        studio.reference(ref_wav[1], "  ")


def test_talk_writes_video_speech_motion_and_reports_progress(studio, ref_wav):
    steps = Steps()
    out = studio.talk("Hello there.", ref_wav[1], "A test voice.", None, FAST, progress=steps)
    assert out.video.suffix == ".mp4" and out.video.is_file()
    assert {p.suffix for p in out.files} == {".mp4", ".wav", ".npy"}
    assert out.info["seed"] == 7 and out.info["settings"]["nfe_step"] == 2
    assert abs(wav_seconds(out.audio) - out.info["duration_s"]) < 0.01
    stages = {desc for _, desc in steps.calls}
    assert {"sampling", "rendering video"} <= stages, stages
    assert all(0 < done <= total for (done, total), _ in steps.calls)


def test_talk_rejects_text_over_the_limit_before_generating(studio):
    steps = Steps()
    with pytest.raises(UserError, match="^gen_text: expected at most"):
        studio.talk("a" * (studio.limits.max_text_chars + 1), None, None, None, FAST, progress=steps)
    assert steps.calls == []


def test_tts_stream_pieces_make_up_the_written_speech(studio):
    text = "One two three four. Five six seven eight. Nine ten eleven twelve."
    steps = Steps()
    pieces, final = [], None
    for piece, outcome in studio.tts_stream(text, None, None, {**FAST, "max_chunk_s": 1.0}, progress=steps):
        if outcome is None:
            pieces.append(sf.read(io.BytesIO(piece))[0])
        else:
            final = outcome
    assert "text chunks" in {desc for _, desc in steps.calls}
    assert final is not None and len(pieces) == final.info["pieces"] >= 2
    written, rate = sf.read(str(final.audio))
    assert rate == 24000 and len(written) == sum(len(p) for p in pieces)
    assert np.abs(written - np.concatenate(pieces)).max() < 1e-3  # 16-bit on both sides


def test_animate_dub_and_edit(studio, ref_wav, tmp_path):
    talk = studio.talk("Hello there.", None, None, None, FAST, head_motion=False)
    motion = next(p for p in talk.files if p.suffix == ".npy")
    anim = studio.animate(ref_wav[1], "", None, FAST)
    assert anim.video.is_file() and abs(anim.info["duration_s"] - len(ref_wav[0]) / 24000) < 0.05
    dub = studio.dub(None, motion, "Hello there.", None, None, FAST)
    assert dub.video.is_file() and abs(dub.info["duration_s"] - len(np.load(motion)) / 25) < 0.05
    edit = studio.edit(ref_wav[1], "A test voice, edited.", None, "0.4-0.8", "", 0.5, False, FAST)
    assert edit.video is None and wav_seconds(edit.audio) > len(ref_wav[0]) / 24000
    with pytest.raises(UserError, match="^audio_spans: expected spans"):
        studio.edit(ref_wav[1], "words", None, "", "", 0, False, FAST)
    with pytest.raises(UserError, match="^audio_spans: expected spans like"):
        studio.edit(ref_wav[1], "words", None, "one to two", "", 0, False, FAST)
    with pytest.raises(UserError, match="^motion: expected a motion file"):
        studio.dub(None, None, "Hello.", None, None, FAST)


def test_vocoder_choice_is_checked_and_restored(studio):
    loaded = studio.jam.vocoder
    with pytest.raises(UserError, match="^vocoder: expected one of"):
        with studio.vocoder("hifigan"):
            pass
    with studio.vocoder("griffinlim"):
        assert type(studio.jam.vocoder).__name__ == "GriffinLimVocoder"
    with studio.vocoder("harmonic"):
        assert type(studio.jam.vocoder).__name__ == "HarmonicVocoder"
        assert studio.vocoder_label("harmonic") == "Harmonic"
    assert studio.jam.vocoder is loaded


def test_transcribe_hears_the_example_voice(studio):
    pytest.importorskip("pocketsphinx")
    from jamflow.eval.asr import word_error_rate
    from jamflow.ui.examples import load_examples

    voice = load_examples().voices[0]
    heard = studio.transcribe(voice.audio)
    assert word_error_rate(voice.text, heard) < 0.5, heard


def test_examples_have_files_and_licences():
    from jamflow.ui.examples import load_examples

    ex = load_examples()
    assert len(ex.voices) >= 2 and len(ex.texts) >= 3
    for v in ex.voices:
        assert v.audio.is_file() and v.licence in ex.licence_markdown()
    assert all(len(row) == 3 and row[2] in ex.texts for row in ex.rows())


def test_a_student_hides_the_sampler_sliders_and_is_named(studio, monkeypatch):
    from jamflow.model.student import StudentSpec
    from jamflow.ui.app import build_app, header
    from jamflow.ui.limits import Limits

    assert "student" not in header(studio, Limits())
    spec = StudentSpec(4, [0.0, 0.1, 0.3, 0.6, 1.0], 2.0, None, 4, 4.0, "0" * 64)
    monkeypatch.setattr(studio.jam.model, "student", spec, raising=False)
    assert "with its 4-step student" in header(studio, Limits())
    app = build_app(studio)
    nfe = [b for b in app.blocks.values() if getattr(b, "elem_id", None) == "talk-nfe"]
    assert len(nfe) == 1
    row = nfe[0].parent
    while row is not None and row.__class__.__name__ != "Row":
        row = row.parent
    assert row is not None and row.visible is False


def test_every_model_call_runs_on_the_studios_compute_thread(studio, ref_wav, monkeypatch):
    threads = []

    def recorded(method):
        def call(*args, **kwargs):
            threads.append(threading.current_thread())
            return method(*args, **kwargs)
        return call

    for name in ("talk", "tts_stream"):
        monkeypatch.setattr(studio.jam, name, recorded(getattr(studio.jam, name)))
    studio.talk("Hello there.", ref_wav[1], "A test voice.", None, FAST)
    elsewhere = threading.Thread(target=lambda: list(studio.tts_stream("Hello again.", None, None, FAST)))
    elsewhere.start()
    elsewhere.join()
    assert len(threads) == 2 and threads[0] is threads[1] and threads[0].name.startswith("jamflow-ui")


def test_a_loader_runs_on_the_compute_thread(jam, tmp_path):
    from jamflow.ui.handlers import Studio

    loaded_on = []
    studio = Studio(lambda: loaded_on.append(threading.current_thread()) or jam, out_root=tmp_path)
    assert studio.jam is jam and loaded_on[0].name.startswith("jamflow-ui")


def test_fit_voice_fits_a_clip_once_and_gives_the_model_back(studio, ref_wav, monkeypatch):
    fits = []
    real = studio.jam.fit_voice

    def quick_fit(path, words, **kw):  # 2 large steps: the test is about the page's plumbing, not the fit
        fits.append(words)
        return real(path, words, steps=2, lr=0.05)

    monkeypatch.setattr(studio.jam, "fit_voice", quick_fit)
    weights = {k: v.clone() for k, v in studio.jam.model.state_dict().items()}
    steps = Steps()
    plain = studio.talk("Hello there.", ref_wav[1], "A test voice.", None, FAST)
    fitted = studio.talk("Hello there.", ref_wav[1], "A test voice.", None, FAST, progress=steps, fit_voice=True)
    again = [o for _, o in studio.tts_stream("Hello there.", ref_wav[1], "A test voice.", FAST, fit_voice=True) if o]
    assert fits == ["A test voice."]  # the second use of the clip reuses its fit
    assert "fitting the voice" in {desc for _, desc in steps.calls}
    assert studio.jam.voice is None and all(torch.equal(v, studio.jam.model.state_dict()[k]) for k, v in weights.items())
    assert not np.allclose(sf.read(str(plain.audio))[0], sf.read(str(fitted.audio))[0], atol=1e-4)
    assert again[0].audio.is_file()
    with pytest.raises(UserError, match="^fit_voice: expected a reference voice"):
        studio.talk("Hello there.", None, None, None, FAST, fit_voice=True)
    assert page_message(UserError("fit_voice: expected x")).startswith("Fit the model to this voice (fit_voice)")
