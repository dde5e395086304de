"""`jamflow serve`: an HTTP API over the `JAMFlow` Python API (FastAPI + uvicorn).

One model in memory, one inference thread, a bounded wait queue; every request runs through the same
`JAMFlow` methods as the CLI. Modules, top down:

    cli.py        `jamflow serve` flags, checked before the model loads; starts uvicorn
    app.py        create_app(jam, config, voices): the FastAPI app, error handlers, body limit
    routes_*.py   the endpoints: speech (+ voices, health) and video (talk, animate, dub)
    fields.py     request fields (JSON or multipart) -> checked values and InferSettings
    uploads.py    request bodies: size cap, JSON, multipart files streamed into a per-request folder
    jobs.py       the inference thread and its queue: admission, deadlines, cancellation
    voices.py     named reference voices (shipped examples + a folder)
    audio_format.py  wav / pcm / flac encoding, and the streaming wav header
    errors.py     ApiError and the JSON error body
    config.py     ServeConfig: the limits
"""
from jamflow.serve.config import ServeConfig

__all__ = ["ServeConfig", "create_app"]


def create_app(*args, **kwargs):
    """See `jamflow.serve.app.create_app` (imported lazily: FastAPI is an optional extra)."""
    from jamflow.serve.app import create_app as _create

    return _create(*args, **kwargs)
