"""Pieces every tab shares: the reference-voice group, the Settings accordion, the result panel, and
the bridge from a Studio handler to a Gradio event (progress in, errors out as a page message)."""
from __future__ import annotations

import logging

import gradio as gr

from jamflow.errors import UserError
from jamflow.progress import Cancelled
from jamflow.ui.handlers import Outcome, Studio, page_message

log = logging.getLogger("jamflow.ui")
ERROR_SECONDS = 30  # how long an error stays on the page


def page_error(e: BaseException) -> gr.Error:
    """Any failure -> a message in the page; a traceback only ever goes to the server's log."""
    if isinstance(e, gr.Error):
        return e
    if isinstance(e, UserError):
        return gr.Error(page_message(e), title="Check the input", duration=ERROR_SECONDS, print_exception=False)
    if isinstance(e, Cancelled):
        return gr.Error(f"Stopped: {e}", title="Cancelled", duration=ERROR_SECONDS, print_exception=False)
    log.error("jamflow ui: unexpected error", exc_info=e)
    return gr.Error(f"jamflow failed ({type(e).__name__}: {e}); the server's log has the details.",
                    title="Internal error", duration=ERROR_SECONDS, print_exception=False)


def guarded(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except Exception as e:
        raise page_error(e) from None


def guarded_iter(gen):
    try:
        yield from gen
    except Exception as e:
        raise page_error(e) from None


def voice_group(studio: Studio, prefix: str, label: str = "Reference voice (optional)") -> dict:
    """Reference voice (upload or record), its transcript and the Auto-transcribe button."""
    with gr.Group():
        audio = gr.Audio(label=label, sources=["upload", "microphone"], type="filepath", elem_id=f"{prefix}-ref")
        text = gr.Textbox(label="Reference transcript (the words of the voice above)", lines=2,
                          elem_id=f"{prefix}-ref-text")
    with gr.Row(equal_height=True):
        button = gr.Button("Auto-transcribe", size="sm", scale=0, min_width=140, elem_id=f"{prefix}-transcribe")
        heard = gr.Markdown("", elem_id=f"{prefix}-heard")

    def transcribe(path):
        words = guarded(studio.transcribe, path)
        return words, f"Heard: *{words}* (offline recogniser; check and correct it)"

    button.click(transcribe, inputs=audio, outputs=[text, heard], concurrency_id="asr", concurrency_limit=1)
    fit = gr.Checkbox(value=False, visible=studio.can_fit_voice, elem_id=f"{prefix}-fit",
                      label="Fit the model to this voice first (about a minute, once per clip): a closer voice, "
                            "sometimes fewer words understood")
    return {"ref_audio": audio, "ref_text": text, "fit_voice": fit}


def settings_accordion(studio: Studio, prefix: str, speech: bool = True) -> dict:
    """The collapsed Settings: sampler, seed, speed, motion scales, vocoder (speech tabs)."""
    sampler = getattr(studio.jam.model, "student", None) is None  # a student samples by its own rules
    with gr.Accordion("Settings", open=False, elem_id=f"{prefix}-settings"):
        with gr.Row(visible=sampler):
            fields = {
                "nfe_step": gr.Slider(1, 64, value=32, step=1, label="NFE steps", info="fewer: faster; more: cleaner",
                                      elem_id=f"{prefix}-nfe"),
                "cfg_strength": gr.Slider(0, 5, value=2.0, step=0.1, label="CFG strength",
                                          info="how closely text and voice are followed"),
            }
        with gr.Row():
            fields["seed"] = gr.Number(value=-1, precision=0, label="Seed", info="-1: random (the result shows it)",
                                       elem_id=f"{prefix}-seed")
            if speech:
                fields["speed"] = gr.Slider(0.5, 2.0, value=1.0, step=0.05, label="Speed", info="speaking rate")
        with gr.Row():
            fields["head_scale"] = gr.Slider(0, 2, value=1.0, step=0.05, label="Head motion", info="scale of head pose")
            fields["expression_scale"] = gr.Slider(0, 2, value=1.0, step=0.05, label="Expression",
                                                   info="scale of face expression")
        if speech:
            fields["vocoder"] = gr.Dropdown(
                [(f"loaded at start ({studio.default_vocoder_label})", "default"),
                 ("Harmonic (fastest)", "harmonic"), ("Griffin-Lim", "griffinlim")],
                value="default", label="Vocoder", info="mel spectrogram to waveform")
    return fields


def result_panel(prefix: str, video: bool = True) -> dict:
    """Video and speech players, downloads, and the settings + seed that made them."""
    out = {}
    if video:
        out["video"] = gr.Video(label="Video", interactive=False, height=420, elem_id=f"{prefix}-video")
    out["audio"] = gr.Audio(label="Speech", type="filepath", interactive=False, elem_id=f"{prefix}-audio")
    out["files"] = gr.File(label="Downloads", file_count="multiple", interactive=False, elem_id=f"{prefix}-files")
    out["summary"] = gr.Markdown("", elem_id=f"{prefix}-summary")
    with gr.Accordion("Resolved settings and seed", open=False):
        out["info"] = gr.JSON(label="Settings used", elem_id=f"{prefix}-info")
    return out


def summary(info: dict) -> str:
    """The settings that matter most, in one line under the result."""
    s = info.get("settings", {})
    parts = [f"seed **{info.get('seed')}**", f"{info.get('duration_s', 0):.2f} s"]
    parts += [f"{k} {s[k]}" for k in ("nfe_step", "cfg_strength", "speed", "head_scale", "expression_scale") if k in s]
    if info.get("vocoder"):
        parts.append(f"vocoder {info['vocoder']}")
    return "Made with " + ", ".join(parts) + " (all settings below)."


def show(outcome: Outcome, panel: dict) -> dict:
    """An Outcome -> values for the result panel's components."""
    values = {panel["audio"]: None if outcome.audio is None else str(outcome.audio),
              panel["files"]: [str(p) for p in outcome.files], panel["info"]: outcome.info,
              panel["summary"]: summary(outcome.info)}
    if "video" in panel:
        values[panel["video"]] = None if outcome.video is None else str(outcome.video)
    return values


def show_streamed(piece: bytes | None, outcome: Outcome | None, stream, panel: dict) -> dict:
    """One step of a stream: the next audio piece, or (at the end) the whole result in `panel`."""
    if outcome is None:
        return {stream: piece}
    return {stream: None, **show(outcome, panel)}


def split(data: dict, fields: dict, settings: dict) -> tuple[dict, dict]:
    """A Gradio dict input (component -> value) -> (field values, settings values) by name."""
    return ({name: data[c] for name, c in fields.items()}, {name: data[c] for name, c in settings.items()})


def run_button(label: str, prefix: str) -> gr.Button:
    return gr.Button(label, variant="primary", elem_id=f"{prefix}-generate")


def bind(studio_fn, button: gr.Button, examples: gr.Examples | None, fields: dict, settings: dict, panel: dict):
    """Generate (and a click on an example) runs `studio_fn(values, settings, progress)` in the model's
    one-worker queue and shows its Outcome in `panel`."""
    def event(data, progress=gr.Progress()):
        values, chosen = split(data, fields, settings)
        return show(guarded(studio_fn, values, chosen, progress), panel)

    inputs = set(fields.values()) | set(settings.values())
    run = dict(fn=event, inputs=inputs, outputs=list(panel.values()), concurrency_id="model", concurrency_limit=1)
    button.click(**run)
    if examples is not None:
        examples.load_input_event.then(**run)
