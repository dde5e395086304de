"""The page on the SHIPPED model: one click on the first Talk example generates a video that loads.
Opt-in (about a minute of sampling on 2 CPU cores); it makes the screenshot in docs/ui.md:

    JAMFLOW_UI_SHIPPED=1 JAMFLOW_UI_SCREENSHOT=docs/ui_screenshot.png \
        python3 -m pytest tests/ui/test_shipped_screenshot.py
"""
import os

import pytest

pytestmark = pytest.mark.skipif(not os.environ.get("JAMFLOW_UI_SHIPPED"),
                                reason="opt-in: set JAMFLOW_UI_SHIPPED=1 (about a minute on 2 CPU cores)")

VIDEO_READY = "() => { const v = document.querySelector('#talk-video video'); return v && v.readyState >= 2; }"


def test_shipped_model_talk_example(browser, serve, open_tab, screenshot, tmp_path):
    from jamflow.infer.api import JAMFlow
    from jamflow.ui.handlers import Studio

    jam = JAMFlow.from_pretrained(progress=False)  # the shipped model, as `jamflow ui` loads it
    page = open_tab(serve(Studio(jam, out_root=tmp_path / "out")))
    page.click("#talk-settings button")  # seed 0, so the screenshot can be made again
    page.fill("#talk-seed input", "0")
    page.press("#talk-seed input", "Tab")
    page.click("#talk-settings button")
    page.locator("#talk-examples tbody tr").first.click()
    page.wait_for_function(VIDEO_READY, timeout=300_000)
    page.wait_for_function("() => document.querySelector('#talk-summary').innerText.includes('seed 0')")
    page.wait_for_timeout(500)  # let the video show its first frame
    assert page.eval_on_selector("#talk-video video", "v => v.duration") > 2
    screenshot(page, "shipped_talk.png")
