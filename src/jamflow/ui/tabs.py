"""The five tabs: Talk, TTS, Animate, Dub, Edit. Each lays out its inputs, the Settings accordion, its
results and its examples, and binds Generate to a Studio handler."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from jamflow.ui import widgets as w
from jamflow.ui.examples import Examples
from jamflow.ui.handlers import Studio

TEXT_PLACEHOLDER = "Type what the voice should say."
# motion [116, 70] at 25 fps: the shipped model's talk of the first example text in the slt voice, seed 0 (docs/ui.md)
DUB_EXAMPLE_MOTION = Path(__file__).resolve().parent / "dub_example.npy"
DUB_EXAMPLE_TEXT = "Good morning! This is a new voice, speaking with the same lips."


def portrait_input(prefix: str, enabled: bool):
    """A portrait for the LivePortrait renderer; hidden when no LivePortrait weights are configured."""
    return gr.Image(label="Portrait (optional; LivePortrait renders this face, else the built-in avatar)",
                    type="filepath", sources=["upload"], visible=enabled, elem_id=f"{prefix}-portrait")


def talk_tab(studio: Studio, examples: Examples, portrait: bool) -> None:
    with gr.Tab("Talk", id="talk"):
        gr.Markdown("Text in, a talking head out: the speech and the face motion are generated together.")
        with gr.Row():
            with gr.Column():
                fields = {"gen_text": gr.Textbox(label="Text to speak", lines=4, placeholder=TEXT_PLACEHOLDER,
                                                 elem_id="talk-text")}
                fields.update(w.voice_group(studio, "talk"))
                fields["portrait"] = portrait_input("talk", portrait)
                # only a model that takes eyes and head as context (lips spec) can use the clip
                fields["head_motion"] = gr.Checkbox(value=False, visible=bool(studio.jam.codec.spec.context_dim),
                                                    label="Eyes and head from a recorded corpus clip (off: they follow the speech)")
                settings = w.settings_accordion(studio, "talk")
                button = w.run_button("Generate", "talk")
            with gr.Column():
                panel = w.result_panel("talk")
        ex = gr.Examples(examples.rows(), [fields["ref_audio"], fields["ref_text"], fields["gen_text"]],
                         label="Examples (a click fills the fields and generates)", elem_id="talk-examples")

    def run(v, s, progress):
        return studio.talk(v["gen_text"], v["ref_audio"], v["ref_text"], v["portrait"], s,
                           head_motion=v["head_motion"], progress=progress, fit_voice=v["fit_voice"])

    w.bind(run, button, ex, fields, settings, panel)


def tts_tab(studio: Studio, examples: Examples) -> None:
    with gr.Tab("TTS", id="tts"):
        gr.Markdown("Text in, speech out. Long text is spoken in chunks; each plays as soon as it is ready.")
        with gr.Row():
            with gr.Column():
                fields = {"gen_text": gr.Textbox(label="Text to speak", lines=6, placeholder=TEXT_PLACEHOLDER,
                                                 elem_id="tts-text")}
                fields.update(w.voice_group(studio, "tts"))
                settings = w.settings_accordion(studio, "tts")
                button = w.run_button("Generate", "tts")
            with gr.Column():
                stream = gr.Audio(label="Speech (plays while it is generated)", streaming=True, autoplay=True,
                                  interactive=False, elem_id="tts-stream")
                panel = w.result_panel("tts", video=False)
        ex = gr.Examples(examples.rows(), [fields["ref_audio"], fields["ref_text"], fields["gen_text"]],
                         label="Examples (a click fills the fields and generates)", elem_id="tts-examples")

    def event(data, progress=gr.Progress()):
        v, s = w.split(data, fields, settings)
        pieces = studio.tts_stream(v["gen_text"], v["ref_audio"], v["ref_text"], s, progress=progress,
                                   fit_voice=v["fit_voice"])
        for piece, outcome in w.guarded_iter(pieces):
            yield w.show_streamed(piece, outcome, stream, panel)

    run = dict(fn=event, inputs=set(fields.values()) | set(settings.values()), outputs=[stream, *panel.values()],
               concurrency_id="model", concurrency_limit=1)
    button.click(**run)
    ex.load_input_event.then(**run)


def animate_tab(studio: Studio, examples: Examples, portrait: bool) -> None:
    with gr.Tab("Animate", id="animate"):
        gr.Markdown("Speech in, a face that speaks it out. The audio is kept as it is.")
        with gr.Row():
            with gr.Column():
                fields = {"audio": gr.Audio(label="Speech to animate", sources=["upload", "microphone"],
                                            type="filepath", elem_id="animate-audio-in"),
                          "text": gr.Textbox(label="Its transcript (optional; helps the lip shapes)", lines=2,
                                             elem_id="animate-text")}
                fields["portrait"] = portrait_input("animate", portrait)
                settings = w.settings_accordion(studio, "animate", speech=False)
                button = w.run_button("Animate", "animate")
            with gr.Column():
                panel = w.result_panel("animate")
        ex = gr.Examples([[str(v.audio), v.text] for v in examples.voices], [fields["audio"], fields["text"]],
                         label="Examples (a click fills the fields and animates)", elem_id="animate-examples")

    def run(v, s, progress):
        return studio.animate(v["audio"], v["text"], v["portrait"], s, progress=progress)

    w.bind(run, button, ex, fields, settings, panel)


def dub_tab(studio: Studio, examples: Examples) -> None:
    with gr.Tab("Dub", id="dub"):
        gr.Markdown("Lip motion in (a motion file, or a video with its motion), new speech out, timed to the "
                    "lips and muxed back into the video. A video's motion comes from `jamflow extract-motion` "
                    "(LivePortrait); the Talk tab's downloads include a motion `.npy` to try it with.")
        with gr.Row():
            with gr.Column():
                fields = {"video": gr.Video(label="Video to dub (optional)", sources=["upload"],
                                            elem_id="dub-video-in"),
                          "motion": gr.File(label="Motion (.npy [frames, 70] at 25 fps, or LivePortrait .pkl)",
                                            file_types=[".npy", ".pkl"], type="filepath", elem_id="dub-motion"),
                          "gen_text": gr.Textbox(label="Text to speak", lines=3, elem_id="dub-text")}
                fields.update(w.voice_group(studio, "dub"))
                settings = w.settings_accordion(studio, "dub")
                button = w.run_button("Dub", "dub")
            with gr.Column():
                panel = w.result_panel("dub")
        voice = examples.voices[1]
        ex = gr.Examples([[str(DUB_EXAMPLE_MOTION), DUB_EXAMPLE_TEXT, str(voice.audio), voice.text]],
                         [fields["motion"], fields["gen_text"], fields["ref_audio"], fields["ref_text"]],
                         label="Example (lips the shipped model made for Talk's first example; new words, another "
                               "voice; a click dubs)", elem_id="dub-examples")

    def run(v, s, progress):
        return studio.dub(v["video"], v["motion"], v["gen_text"], v["ref_audio"], v["ref_text"], s,
                          progress=progress, fit_voice=v["fit_voice"])

    w.bind(run, button, ex, fields, settings, panel)


def edit_tab(studio: Studio, examples: Examples) -> None:
    with gr.Tab("Edit", id="edit"):
        gr.Markdown("Regenerate a time span of speech (and motion), or continue a clip. The transcript is the "
                    "text of the whole result, edited words included.")
        with gr.Row():
            with gr.Column():
                fields = {
                    "audio": gr.Audio(label="Speech to edit", sources=["upload", "microphone"], type="filepath",
                                      elem_id="edit-audio-in"),
                    "text": gr.Textbox(label="Transcript of the result", lines=2, elem_id="edit-text"),
                    "motion": gr.File(label="Its motion (optional .npy/.pkl; else motion is generated)",
                                      file_types=[".npy", ".pkl"], type="filepath"),
                    "audio_spans": gr.Textbox(label="Speech spans to regenerate (seconds, e.g. 1.0-2.2,3-3.5)"),
                    "motion_spans": gr.Textbox(label="Motion spans to regenerate (seconds)"),
                    "extend_s": gr.Number(value=0, label="Continue by (seconds)", minimum=0),
                    "render": gr.Checkbox(value=True, label="Render a video"),
                }
                settings = w.settings_accordion(studio, "edit")
                button = w.run_button("Edit", "edit")
            with gr.Column():
                panel = w.result_panel("edit")
        voice = examples.voices[0]
        ex = gr.Examples(
            [[str(voice.audio), voice.text.replace("quiet", "busy"), "2.25-2.75", 0],
             [str(voice.audio), voice.text + " Then the wind picked up.", "", 2.0]],
            [fields["audio"], fields["text"], fields["audio_spans"], fields["extend_s"]],
            label="Examples (a click fills the fields and edits)", elem_id="edit-examples")

    def run(v, s, progress):
        return studio.edit(v["audio"], v["text"], v["motion"], v["audio_spans"], v["motion_spans"], v["extend_s"],
                           v["render"], s, progress=progress)

    w.bind(run, button, ex, fields, settings, panel)
