"""The page: five tabs over one Studio; private and offline by default.

Private: analytics off (environment and Blocks), no share link, bound to 127.0.0.1 unless told
otherwise, optional password. Offline: the theme's fonts are served by the app itself, nothing is
fetched from elsewhere. One model, one worker: every generating event shares the concurrency group
"model" with a limit of 1, behind a queue of bounded size.
"""
from __future__ import annotations

import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # read when gradio is imported

import gradio as gr  # noqa: E402

from jamflow.ui import tabs  # noqa: E402
from jamflow.ui.examples import EXAMPLES_DIR, Examples, load_examples  # noqa: E402
from jamflow.ui.handlers import Studio  # noqa: E402
from jamflow.ui.limits import Limits  # noqa: E402

CSS = ".jam-note {font-size: 0.9em; opacity: 0.85}"


def header(studio: Studio, limits: Limits) -> str:
    jam = studio.jam
    from jamflow.infer.api import shipped_name

    shipped = shipped_name(jam.checkpoint_dir)
    name = {"default": "the shipped model", "lips": "the shipped lips model"}.get(
        shipped, f"`{jam.checkpoint_dir.name if jam.checkpoint_dir else 'model'}`")
    student = getattr(jam.model, "student", None)
    if student is not None:
        name += f" with its {student.steps}-step student"
    precision = "int8" if jam.int8 else str(jam.dtype).replace("torch.", "")
    return (f"# jamflow\nSpeech and talking-face motion from one model (JAM-Flow). Model {name} on "
            f"{jam.device} ({precision}), vocoder {studio.default_vocoder_label}. Limits: {limits.max_text_chars} "
            f"characters of text, {limits.max_audio_s:g} s of audio, {limits.max_upload_mb:g} MB per file.")


def build_app(studio: Studio, examples: Examples | None = None, portrait: bool = False) -> gr.Blocks:
    """The Blocks app (not launched). `portrait`: show portrait uploads (LivePortrait weights are set)."""
    examples = examples or load_examples()
    with gr.Blocks(title="jamflow", analytics_enabled=False, delete_cache=(1800, 3600)) as app:
        gr.Markdown(header(studio, studio.limits))
        with gr.Tabs():
            tabs.talk_tab(studio, examples, portrait)
            tabs.tts_tab(studio, examples)
            tabs.animate_tab(studio, examples, portrait)
            tabs.dub_tab(studio, examples)
            tabs.edit_tab(studio, examples)
        gr.Markdown(examples.licence_markdown(), elem_classes="jam-note", elem_id="licences")
    return app


def launch(app: gr.Blocks, studio: Studio, *, host: str = "127.0.0.1", port: int = 7860,
           auth: tuple[str, str] | None = None, queue: int = 8, block: bool = True, quiet: bool = False):
    """Serve the app; with block=False return once it listens (tests). Returns the app's local URL."""
    app.queue(max_size=queue, default_concurrency_limit=1)
    _, url, _ = app.launch(
        server_name=host, server_port=port, share=False, auth=auth, inbrowser=False,
        max_file_size=studio.limits.max_upload_bytes, ssr_mode=False, pwa=False, mcp_server=False,
        enable_monitoring=False, show_error=False, quiet=quiet, prevent_thread_lock=not block,
        allowed_paths=[str(studio.out_root), str(EXAMPLES_DIR)], css=CSS)
    return url
