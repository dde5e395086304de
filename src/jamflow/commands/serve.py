"""`jamflow serve`: the HTTP API on one loaded model (FastAPI app, uvicorn server).

Every flag is checked, and the voices read, before the model loads; a bad value stops with one line
(`--flag: expected ..., got ...`, exit 2).
"""
from __future__ import annotations

import ipaddress
import os
import socket
import sys
from pathlib import Path

from jamflow.commands import common
from jamflow.commands.common import add_model_args, check_vocoder_arg, service_limits
from jamflow.errors import UserError
from jamflow.serve.config import ServeConfig

SHUTDOWN_GRACE_S = 5


def add_cli(p):
    add_model_args(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only; "
                                                       "the API has no authentication)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument("--voices", help="folder of NAME.wav|flac + NAME.txt voices, served besides the shipped ones")
    p.add_argument("--liveportrait_weights", help="LivePortrait weights folder: enables portrait uploads on /v1/talk "
                                                  "(default: $JAMFLOW_LIVEPORTRAIT_WEIGHTS)")
    d = ServeConfig()
    p.add_argument("--queue", type=int, default=d.queue, help=f"requests that may wait while one runs (default {d.queue})")
    p.add_argument("--timeout_s", type=float, default=d.timeout_s,
                   help=f"seconds per request, waiting + running, before it is cancelled (default {d.timeout_s:g})")
    p.add_argument("--max_body_mb", type=float, default=d.max_body_mb, help=f"largest request body (default {d.max_body_mb:g})")
    p.add_argument("--max_text_chars", type=int, default=d.max_text_chars,
                   help=f"longest input text (default {d.max_text_chars})")
    p.add_argument("--max_audio_s", type=float, default=d.max_audio_s,
                   help=f"longest uploaded audio/motion and fix_duration (default {d.max_audio_s:g})")
    p.add_argument("--log_level", default="info", help="uvicorn log level (default info)")


def check_address(host: str, port: int) -> None:
    """Host and port usable, and the port free, before minutes are spent loading a model."""
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise UserError(f"--port: expected an integer in 1..65535, got {port!r}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise UserError(f"--host: expected an address or host name of this machine, got {host!r}") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as e:
            raise UserError(f"--port: expected a free port on {host}, got {port} ({e.strerror})") from None


def check_liveportrait(folder: Path | None) -> None:
    """The weights that portrait uploads will need, found now rather than on the first portrait request."""
    from jamflow.render.liveportrait.renderer import WEIGHTS_ENV

    flag = "--liveportrait_weights"
    if folder is None and os.environ.get(WEIGHTS_ENV):
        folder, flag = Path(os.environ[WEIGHTS_ENV]), f"${WEIGHTS_ENV}"
    if folder is None:
        return
    from jamflow.render.liveportrait.weights import FILES

    missing = [name for name in FILES.values() if not (folder / name).is_file()]
    if missing:
        raise UserError(f"{flag}: expected the LivePortrait weights {list(FILES.values())} in {str(folder)!r}, "
                        f"missing {missing}")


def config_from(args) -> ServeConfig:
    return ServeConfig(queue=args.queue, timeout_s=args.timeout_s, max_body_mb=args.max_body_mb,
                       max_text_chars=args.max_text_chars, max_audio_s=args.max_audio_s,
                       voices_dir=Path(args.voices) if args.voices else None,
                       liveportrait_weights=Path(args.liveportrait_weights) if args.liveportrait_weights else None)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def run_cli(args) -> int:
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError as e:
        raise UserError(f"serve: expected the server packages (pip install 'jamflow[serve]'), got {e}") from None
    from jamflow.infer.api import pick_device, pick_dtype, resolve_checkpoint, shipped_name
    from jamflow.serve.voices import VoiceRegistry

    config = config_from(args)
    check_address(args.host, args.port)
    check_liveportrait(config.liveportrait_weights)
    folder = resolve_checkpoint(args.ckpt, getattr(args, "fast", None))
    device = pick_device(args.device)
    pick_dtype(device, args.dtype)
    check_vocoder_arg(args.vocoder)
    voices = VoiceRegistry.load(config.voices_dir)

    from jamflow.serve.app import create_app

    args.quiet = True
    args.limit = service_limits(args.max_text_chars, args.max_audio_s, args.max_body_mb)
    shipped = shipped_name(folder)
    name = folder.name if shipped is None else "jamflow-shipped" + ("" if shipped == "default" else f"-{shipped}")
    app = create_app(lambda: common.load_model(args), config, voices, model_name=name)  # loads on the inference thread
    jam = app.state.jamflow.jam
    where = f"http://{args.host}:{args.port}"
    print(f"jamflow serve: model {name} ({folder}) on {jam.device}; voices {voices.names()}; queue {config.queue}; "
          f"{where}/health", file=sys.stderr, flush=True)
    if not _is_loopback(args.host):
        print(f"note: listening on {args.host}: anyone who can reach it can use the API (no authentication)",
              file=sys.stderr)
    # on Ctrl-C, requests still running after SHUTDOWN_GRACE_S are cancelled (at their next sampler step)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, workers=1,
                timeout_graceful_shutdown=SHUTDOWN_GRACE_S)
    return 0
