"""The page in a real browser (headless Chromium): Talk generates a video that loads and a speech track
that plays; bad input shows a message naming the field."""
import io

import soundfile as sf

VIDEO_READY = "() => { const v = document.querySelector('#talk-video video'); return v && v.readyState >= 2; }"


def fill_talk(page, text: str, ref_path=None, ref_text: str = ""):
    page.fill("#talk-text textarea", text)
    if ref_path is not None:
        page.set_input_files("#talk-ref input[type=file]", str(ref_path))
        page.wait_for_selector("#talk-ref audio", state="attached")
        page.fill("#talk-ref-text textarea", ref_text)
    set_slider(page, "talk", "nfe", 2)
    page.fill("#talk-seed input", "7")
    page.press("#talk-seed input", "Tab")


def set_slider(page, prefix: str, name: str, value: int):
    """Open the tab's Settings if needed, set the slider, and wait until the page holds the value and keeps it
    (tries the range input, then the number box)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # here: the module imports without it

    slider = f"#{prefix}-{name}"
    shown = "([sel, v]) => document.querySelector(sel + ' input[type=range]')?.value === v"
    for attempt in range(4):
        if not page.locator(f"{slider} input[type=range]").is_visible():
            page.click(f"#{prefix}-settings button")
        if attempt % 2 == 0:
            page.locator(f"{slider} input[type=range]").fill(str(value))
        else:
            page.fill(f"{slider} input[type=number]", str(value))
            page.press(f"{slider} input[type=number]", "Enter")
        try:
            page.wait_for_function(shown, arg=[slider, str(value)], timeout=5_000)
        except PlaywrightTimeout:
            continue
        page.wait_for_timeout(750)  # a slider mounted by the opening accordion can reset itself just after
        if page.evaluate(shown, [slider, str(value)]):
            return
    state = page.evaluate("sel => [...document.querySelectorAll(sel + ' input')].map(i => [i.type, i.value])", slider)
    raise AssertionError(f"{slider}: the page did not take the value {value}; its inputs: {state}")


def downloaded_wav_seconds(page, files: str = "#talk-files", name: str = "talk.wav") -> float:
    link = page.locator(f"{files} a[href*='{name}']").first
    body = page.request.get(link.get_attribute("href")).body()
    wav, rate = sf.read(io.BytesIO(body))
    return len(wav) / rate


def test_talk_video_loads_and_speech_plays(page, ref_wav, screenshot):
    fill_talk(page, "Hello there, this is a short test.", ref_wav[1], "A test voice.")
    page.click("#talk-generate")
    page.wait_for_function(VIDEO_READY, timeout=90_000)
    video_s = page.eval_on_selector("#talk-video video", "v => v.duration")
    audio_s = downloaded_wav_seconds(page)
    assert audio_s > 0.5
    assert abs(video_s - audio_s) <= 0.05 * audio_s, (video_s, audio_s)
    assert "nfe_step 2" in page.inner_text("#talk-summary") and "seed 7" in page.inner_text("#talk-summary")

    page.click("#talk-audio button[aria-label='Play']")
    page.wait_for_function(  # the speech's media element plays: loaded, running, its clock advancing
        "() => window.__played.some(a => a.readyState >= 2 && !a.paused && a.currentTime > 0.2)", timeout=15_000)
    played = page.evaluate("() => window.__played.map(a => [a.currentSrc, a.duration])")
    assert any(abs(duration - audio_s) < 0.05 for _, duration in played), played
    screenshot(page, "talk.png")


def test_bad_input_shows_which_field(page, served, screenshot):
    limit = served[1].limits.max_text_chars
    page.fill("#talk-text textarea", "word " * (limit // 5 + 1))
    page.click("#talk-generate")
    message = page.get_by_text(f"expected at most {limit} characters")
    message.wait_for(timeout=20_000)
    assert "Text to speak (gen_text)" in page.inner_text("body")
    assert "Traceback" not in page.inner_text("body")
    screenshot(page, "error.png")


def test_tts_streams_speech_while_it_is_made(page):
    page.click("button[role=tab]:has-text('TTS')")
    page.fill("#tts-text textarea", "One two three four. Five six seven eight. Nine ten eleven twelve.")
    set_slider(page, "tts", "nfe", 2)
    page.click("#tts-generate")
    page.wait_for_function("() => document.querySelector('#tts-summary').innerText.includes('seed')", timeout=60_000)
    page.wait_for_function(  # the streamed speech autoplays: its clock advances
        "() => [...document.querySelectorAll('#tts-stream audio')].some(a => a.readyState >= 2 && a.currentTime > 0.2)",
        timeout=15_000)
    written_s = downloaded_wav_seconds(page, "#tts-files", "tts.wav")
    # the stream grows as pieces arrive; once all are in, it holds the whole written speech
    page.wait_for_function("s => Math.abs(document.querySelector('#tts-stream audio').duration - s) <= 0.05 * s",
                           arg=written_s, timeout=20_000)


def test_talk_can_fit_the_reference_voice_first(page, served, ref_wav):
    studio = served[1]
    fitted_before = len(studio.fitted)
    fill_talk(page, "Hello there.", ref_wav[1], "A fitted voice.")
    page.check("#talk-fit input")
    page.click("#talk-generate")
    page.wait_for_function(VIDEO_READY, timeout=120_000)
    assert len(studio.fitted) == fitted_before + 1 and studio.jam.voice is None
    assert next(reversed(studio.fitted.values())).text == "A fitted voice."
