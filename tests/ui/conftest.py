"""The web page on the tiny model, served on a free localhost port, and a headless Chromium to drive it.

Browser tests skip (with the reason) only when Playwright or Debian's chromium is missing; CI has both.
"""
import os
import shutil
import socket
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("JAMFLOW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
MAX_TEXT_CHARS = 300  # the served page's text limit, small so the over-limit test types little


# Gradio's waveform player plays through a media element it keeps out of the DOM: remember every element
# that play() is called on, so a test can ask whether the speech really plays
PLAYED_MEDIA_JS = """
window.__played = [];
const realPlay = HTMLMediaElement.prototype.play;
HTMLMediaElement.prototype.play = function () { window.__played.push(this); return realPlay.apply(this, arguments); };
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def studio(jam, tmp_path_factory):
    from jamflow.ui.handlers import Studio
    from jamflow.ui.limits import Limits

    return Studio(jam, Limits(max_upload_mb=5, max_audio_s=30, max_text_chars=MAX_TEXT_CHARS),
                  out_root=tmp_path_factory.mktemp("ui_out"))


@pytest.fixture(scope="session")
def serve():
    """serve(studio) -> url: the page for `studio` on a free localhost port, closed after the session."""
    pytest.importorskip("gradio", reason="gradio (jamflow[ui]) is not installed")
    from jamflow.ui.app import build_app, launch

    apps = []

    def start(studio):
        apps.append(build_app(studio))
        return launch(apps[-1], studio, port=free_port(), queue=4, block=False, quiet=True)

    yield start
    for app in apps:
        app.close()


@pytest.fixture(scope="session")
def served(studio, serve):
    """(url, studio) of the page on the tiny model."""
    return serve(studio), studio


@pytest.fixture(scope="module")
def browser():
    """Headless chromium for one test module. Not for the session: Playwright's sync API keeps an event
    loop running in this thread until it stops, and asyncio.run() in a later test would fail."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright)")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        pytest.skip(f"chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, served):
    """A fresh tab on the tiny model's page; fails the test if it asked anything of another host."""
    yield from open_page(browser, served[0])


def open_page(browser, url):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.add_init_script(PLAYED_MEDIA_JS)
    tab = context.new_page()
    outside = []
    local = url.rstrip("/")
    tab.on("request", lambda r: outside.append(r.url)
           if r.url.startswith(("http:", "https:", "ws:", "wss:")) and not r.url.startswith(local) else None)
    tab.goto(url)
    tab.wait_for_selector("#talk-generate")
    yield tab
    context.close()
    assert not outside, f"the page fetched from other hosts: {outside[:5]}"


@pytest.fixture
def open_tab(browser):
    """open_tab(url): a page fixture for another server (same checks as `page`)."""
    opened = []

    def open_(url):
        opened.append(open_page(browser, url))
        return next(opened[-1])

    yield open_
    for gen in opened:
        next(gen, None)


@pytest.fixture
def screenshot(tmp_path):
    """save(page, name): a full-page screenshot in pytest's tmp dir, and at $JAMFLOW_UI_SCREENSHOT if set."""
    def save(page, name: str) -> Path:
        path = tmp_path / name
        page.screenshot(path=str(path), full_page=True)
        extra = os.environ.get("JAMFLOW_UI_SCREENSHOT")
        if extra:  # a 256-colour copy: small enough to commit beside the docs
            from PIL import Image

            Path(extra).parent.mkdir(parents=True, exist_ok=True)
            Image.open(path).convert("RGB").quantize(256).save(extra, optimize=True)
        return path

    return save
