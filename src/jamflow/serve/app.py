"""The FastAPI app: routes, the body-size limit, and every error answered as JSON.

    app = create_app(JAMFlow.from_pretrained(), ServeConfig(queue=2))
    uvicorn.run(app, host="127.0.0.1", port=8000)
"""
from __future__ import annotations

import contextlib
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from jamflow.errors import UserError
from jamflow.progress import Cancelled
from jamflow.serve.config import ServeConfig
from jamflow.serve.errors import ApiError, from_user_error
from jamflow.serve.jobs import ClientGone, JobQueue, JobTimeout, QueueFull
from jamflow.serve.state import ServerState
from jamflow.serve.uploads import BodyLimit
from jamflow.serve.voices import VoiceRegistry

log = logging.getLogger("jamflow.serve")


def create_app(jam, config: ServeConfig | None = None, voices: VoiceRegistry | None = None,
               model_name: str | None = None) -> FastAPI:
    """An app serving `jam`: a loaded `JAMFlow`, or a function that loads one, which then runs on the
    inference thread (so the server's torch work stays on one thread: `JobQueue.run_now`).
    `voices` default: the shipped ones + config.voices_dir."""
    from jamflow.infer.api import JAMFlow

    config = config or ServeConfig()
    voices = voices or VoiceRegistry.load(config.voices_dir)
    jobs = JobQueue(config.queue, config.timeout_s)
    if not isinstance(jam, JAMFlow):
        jam = jobs.run_now(jam)
    voices.check_model(jam.model)
    if config.liveportrait_weights is not None:
        jam.liveportrait_weights = str(config.liveportrait_weights)
    jam.progress = False  # no tqdm bars in a server's log
    name = model_name or (jam.checkpoint_dir.name if getattr(jam, "checkpoint_dir", None) else "jamflow")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        jobs.shutdown()  # server stopping: the running job stops at its next step

    app = FastAPI(title="jamflow", summary="JAM-Flow speech + talking-face HTTP API", lifespan=lifespan,
                  docs_url=None, redoc_url=None)  # the docs pages load scripts from a CDN; /openapi.json stays
    app.state.jamflow = ServerState(jam, config, voices, jobs, name)
    from jamflow.serve import routes_speech, routes_video

    app.include_router(routes_speech.router)
    app.include_router(routes_video.router)
    app.add_middleware(BodyLimit, limit=config.max_body_bytes)
    _add_error_handlers(app)
    return app


def _json(err: ApiError) -> JSONResponse:
    return JSONResponse(err.body(), status_code=err.status, headers=err.headers)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, err: ApiError):
        return _json(err)

    @app.exception_handler(UserError)
    async def user_error(request: Request, err: UserError):
        return _json(from_user_error(err))

    @app.exception_handler(QueueFull)
    async def queue_full(request: Request, err: QueueFull):
        return _json(ApiError(429, str(err), None, "queue_full", {"Retry-After": str(err.retry_after)}))

    @app.exception_handler(JobTimeout)
    @app.exception_handler(Cancelled)
    async def timeout(request: Request, err: Exception):
        return _json(ApiError(504, str(err), None, "timeout"))

    @app.exception_handler(ClientGone)
    async def gone(request: Request, err: ClientGone):
        return _json(ApiError(499, str(err), None, "client_closed_request"))  # nobody reads it

    @app.exception_handler(RequestValidationError)
    async def validation(request: Request, err: RequestValidationError):
        first = (err.errors() or [{}])[0]
        field = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
        return _json(ApiError(400, f"{field}: expected {first.get('msg', 'a valid value')}", field))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException):
        kind = "not_found" if err.status_code == 404 else "http_error"
        return _json(ApiError(err.status_code, f"{request.url.path}: {err.detail}", None, kind))

    @app.exception_handler(Exception)
    async def internal(request: Request, err: Exception):
        log.exception("internal error on %s", request.url.path)
        return _json(ApiError(500, f"internal error: {type(err).__name__}: {err}", None, "internal_error"))
