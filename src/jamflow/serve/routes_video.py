"""POST /v1/talk (text -> talking-head mp4), /v1/animate (audio -> mp4), /v1/dub (motion [+ video] + text
-> speech timed to it, mp4 or wav).

Uploads go to a per-request folder (`uploads.Workdir`) that the job queue removes once the job can no
longer touch it; every upload is checked (decoded) before the request joins the queue.
"""
from __future__ import annotations

import os

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from jamflow.errors import UserError
from jamflow.infer.api import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from jamflow.serve import audio_format
from jamflow.serve.errors import ApiError, bad_field
from jamflow.serve.fields import Fields
from jamflow.serve.state import get_state
from jamflow.serve.uploads import Form, Upload, Workdir, content_type, read_form, read_json
from jamflow.serve.voices import reference
from jamflow.timeline import MOTION_FPS, SAMPLE_RATE

router = APIRouter()


async def _read(request: Request, work: Workdir, file_fields: tuple[str, ...], allow_json: bool = False):
    """(Fields, files) from a multipart form, or from a JSON body where the endpoint takes no file."""
    if allow_json and content_type(request) == "application/json":
        return Fields(await read_json(request)), {}
    form: Form = await read_form(request, work.path, file_fields)
    for name in file_fields:
        if name in form.fields:
            raise ApiError(400, f"{name}: expected a file upload, got a text field", name)
    return Fields(form.fields, from_form=True), form.files


def _need(files: dict, name: str, what: str) -> Upload:
    if name not in files:
        raise ApiError(400, f"{name}: expected {what} (a file part of the form), got none", name)
    if files[name].size == 0:
        raise bad_field(name, what, "an empty file")
    return files[name]


def _mp4(data: bytes, result, settings) -> Response:
    return Response(data, media_type="video/mp4", headers=_headers(result, settings))


def _headers(result, settings) -> dict:
    return {"X-Seed": str(settings.seed), "X-Audio-Duration": f"{result.duration:.3f}"}


# -------------------------------------------------------------------------------------------------
# upload checks (run before the request queues)

def _check_audio(upload: Upload, max_s: float):
    from jamflow.audio.io import load_audio

    try:
        wav = load_audio(upload.path)
    except UserError:
        raise bad_field("audio", "an audio file (wav, flac, mp3, ogg, m4a, ...)",
                        f"{upload.filename!r} that does not decode as audio") from None
    if len(wav) / SAMPLE_RATE > max_s:
        raise bad_field("audio", f"at most {max_s:g} s (the server's --max_audio_s)", f"{len(wav) / SAMPLE_RATE:.1f} s")
    return wav


def _check_motion(upload: Upload, max_s: float):
    from jamflow.infer.motion_codec import load_motion_file

    try:
        motion = load_motion_file(upload.path, "motion")
    except UserError as e:
        raise ApiError(400, f"motion: {str(e).split(':', 1)[1].strip()} (file {upload.filename!r})", "motion") from None
    if len(motion) / MOTION_FPS > max_s:
        raise bad_field("motion", f"at most {max_s:g} s (the server's --max_audio_s)",
                        f"{len(motion) / MOTION_FPS:.1f} s")
    return motion


def _check_video(upload: Upload):
    from jamflow.render.video import read_video

    if upload.path.suffix not in VIDEO_SUFFIXES:
        raise bad_field("video", f"a video file named with one of {list(VIDEO_SUFFIXES)}", repr(upload.filename))
    try:
        read_video(upload.path)
    except UserError:
        raise bad_field("video", "a readable video file", f"{upload.filename!r}") from None


def _check_image(upload: Upload, st):
    from PIL import Image

    from jamflow.render.liveportrait.renderer import WEIGHTS_ENV

    weights = st.config.liveportrait_weights or os.environ.get(WEIGHTS_ENV)
    if not weights:
        raise ApiError(400, "image: expected LivePortrait weights on the server (jamflow serve --liveportrait_weights "
                            "DIR) for a portrait, got none - leave out image for the built-in avatar", "image")
    if upload.path.suffix not in IMAGE_SUFFIXES:
        raise bad_field("image", f"an image named with one of {list(IMAGE_SUFFIXES)}", repr(upload.filename))
    try:
        with Image.open(upload.path) as im:
            im.verify()
    except Exception:
        raise bad_field("image", "a readable image", repr(upload.filename)) from None


# -------------------------------------------------------------------------------------------------
# endpoints

@router.post("/v1/talk")
async def talk(request: Request):
    st = get_state(request)
    work = Workdir()
    try:
        f, files = await _read(request, work, ("image",), allow_json=True)
        text = f.text("input", st.config.max_text_chars)
        voice = st.voices.get(f.take("voice", str))
        settings = f.settings(st.config.max_audio_s)
        f.finish()
        image = files.get("image")
        if image is not None:
            await run_in_threadpool(_check_image, image, st)
    except BaseException:
        work.remove()
        raise

    def job():
        with reference(st.jam, voice) as (ref_audio, ref_text):
            res = st.jam.talk(text, ref_audio, ref_text, source=None if image is None else str(image.path),
                              output=work.path / "talk.mp4", settings=settings)
        return res.paths["video"].read_bytes(), res

    data, res = await st.jobs.run(job, request.is_disconnected, cleanup=work.remove)
    return _mp4(data, res, settings)


@router.post("/v1/animate")
async def animate(request: Request):
    st = get_state(request)
    work = Workdir()
    try:
        f, files = await _read(request, work, ("audio",))
        transcript = f.text("transcript", st.config.max_text_chars, required=False)
        settings = f.settings(st.config.max_audio_s)
        f.finish()
        wav = await run_in_threadpool(_check_audio, _need(files, "audio", "an audio file"), st.config.max_audio_s)
    except BaseException:
        work.remove()
        raise

    def job():
        res = st.jam.animate(wav, text=transcript, output=work.path / "animate.mp4", settings=settings)
        return res.paths["video"].read_bytes(), res

    data, res = await st.jobs.run(job, request.is_disconnected, cleanup=work.remove)
    return _mp4(data, res, settings)


@router.post("/v1/dub")
async def dub(request: Request):
    st = get_state(request)
    work = Workdir()
    try:
        f, files = await _read(request, work, ("motion", "video"))
        text = f.text("input", st.config.max_text_chars)
        voice = st.voices.get(f.take("voice", str))
        fmt = f.choice("response_format", ("mp4", "wav"), "mp4")
        settings = f.settings(st.config.max_audio_s)
        f.finish()
        motion = await run_in_threadpool(_check_motion, _need(files, "motion", "a .npy or .pkl motion file"),
                                         st.config.max_audio_s)
        video = files.get("video")
        if video is not None:
            await run_in_threadpool(_check_video, video)
    except BaseException:
        work.remove()
        raise

    def job():
        with reference(st.jam, voice) as (ref_audio, ref_text):
            res = st.jam.dub(text, motion, ref_audio, ref_text, video=None if video is None else video.path,
                             output=work.path / "dub.mp4" if fmt == "mp4" else None, settings=settings)
        data = res.paths["video"].read_bytes() if fmt == "mp4" else audio_format.encode(res.wav, "wav")
        return data, res

    data, res = await st.jobs.run(job, request.is_disconnected, cleanup=work.remove)
    if fmt == "wav":
        return Response(data, media_type="audio/wav", headers=_headers(res, settings))
    return _mp4(data, res, settings)
