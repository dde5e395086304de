"""POST /v1/audio/speech (OpenAI-compatible text -> speech), GET /v1/voices, GET /health."""
from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from jamflow.serve import audio_format
from jamflow.serve.errors import bad_field
from jamflow.serve.fields import Fields
from jamflow.serve.jobs import ClientGone, JobTimeout
from jamflow.serve.state import get_state
from jamflow.serve.uploads import read_json
from jamflow.serve.voices import reference
from jamflow.timeline import SAMPLE_RATE

router = APIRouter()
log = logging.getLogger("jamflow.serve")


class CutOffStream(StreamingResponse):
    """A stream whose job times out mid-way ends without its final chunk: the client sees a short read
    (curl: exit 18), not a response that looks complete."""

    async def stream_response(self, send) -> None:
        try:
            await super().stream_response(send)
        except (JobTimeout, ClientGone) as e:
            log.warning("speech stream cut off: %s", e)


@router.get("/health")
async def health(request: Request):
    st = get_state(request)
    return {"status": "ok", "model": st.model_info(), "queue": st.jobs.depth()}


@router.get("/v1/voices")
async def voices(request: Request):
    st = get_state(request)
    return {"default": st.voices.default, "voices": [v.describe() for v in st.voices.voices.values()]}


def parse_speech(st, body: dict):
    """The speech request's fields -> (text, voice, format, stream, settings)."""
    f = Fields(body)
    f.take("model", str)  # accepted for OpenAI clients; one model is served, whatever the name
    text = f.text("input", st.config.max_text_chars)
    voice = st.voices.get(f.take("voice", str))
    fmt = f.take("response_format", str, "wav")
    if fmt not in audio_format.FORMATS:
        raise bad_field("response_format", f"one of {list(audio_format.FORMATS)}", repr(fmt))
    stream = f.take("stream", bool, False)
    if stream and fmt not in audio_format.STREAM_FORMATS:
        raise bad_field("stream", f"false with response_format {fmt!r} (streams: {list(audio_format.STREAM_FORMATS)})",
                        "true")
    settings = f.settings(st.config.max_audio_s)
    f.finish()
    return text, voice, fmt, stream, settings


@router.post("/v1/audio/speech")
async def speech(request: Request):
    st = get_state(request)
    text, voice, fmt, stream, settings = parse_speech(st, await read_json(request))
    headers = {"X-Seed": str(settings.seed), "X-Voice": voice.name}
    media_type = audio_format.MEDIA_TYPES[fmt]
    if stream:
        return await _stream_speech(st, request, text, voice, fmt, settings, headers)

    def work():
        with reference(st.jam, voice) as (ref_audio, ref_text):
            return st.jam.tts(text, ref_audio, ref_text, settings=settings).wav

    wav = await st.jobs.run(work, request.is_disconnected)
    headers["X-Audio-Duration"] = f"{len(wav) / SAMPLE_RATE:.3f}"
    return Response(audio_format.encode(wav, fmt), media_type=media_type, headers=headers)


async def _stream_speech(st, request, text, voice, fmt, settings, headers):
    """Audio sent piece by piece as each chunk of the text is final (`JAMFlow.tts_stream`). The first piece
    is awaited before the response starts, so a request the model refuses still gets a JSON error."""
    def speak():  # the whole stream runs as one job on the inference thread, inside the voice's block
        with reference(st.jam, voice) as (ref_audio, ref_text):
            yield from st.jam.tts_stream(text, ref_audio, ref_text, settings=settings)

    pieces = st.jobs.stream(speak)
    try:
        first = await pieces.next(request.is_disconnected)
    except BaseException:  # a timeout or a client gone has already stopped the producer
        pieces.close()
        raise

    async def body():
        try:
            piece = first
            yield audio_format.stream_start(fmt)
            while piece is not None:
                yield audio_format.to_pcm16(piece[0])
                piece = await pieces.next()  # a client gone mid-stream cancels this generator
        finally:
            pieces.close()

    return CutOffStream(body(), media_type=audio_format.MEDIA_TYPES[fmt], headers=headers)
