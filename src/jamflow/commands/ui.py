"""`jamflow ui`: serve the web page on the loaded model (flags are checked before the model loads)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from jamflow.commands import common
from jamflow.commands.common import add_model_args, check_vocoder_arg, service_limits
from jamflow.errors import UserError
from jamflow.ui.limits import Limits


def add_cli(parser):
    add_model_args(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this "
                                                            "machine only; 0.0.0.0 exposes it)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--auth", help="user:password required to open the page (default: none)")
    parser.add_argument("--queue", type=int, default=8, help="requests that may wait for the model (default 8)")
    parser.add_argument("--max_upload_mb", type=float, default=20.0, help="largest upload per file (default 20)")
    parser.add_argument("--max_audio_s", type=float, default=60.0, help="longest audio/video/motion input, "
                                                                       "seconds (default 60)")
    parser.add_argument("--max_text_chars", type=int, default=2000, help="longest text (default 2000)")
    parser.add_argument("--liveportrait_weights", help="LivePortrait weights folder: enables portrait uploads "
                                                      "(default: $JAMFLOW_LIVEPORTRAIT_WEIGHTS)")


def parse_auth(value: str | None) -> tuple[str, str] | None:
    if value is None:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        got = "an empty value" if not value else "no user or no password"
        raise UserError(f"--auth: expected user:password, got {got}")
    return user, password


def check_args(args) -> tuple[Limits, tuple[str, str] | None, str | None]:
    """Every flag, before the model loads: (limits, auth, LivePortrait weights folder or None)."""
    if not args.host or not args.host.strip():
        raise UserError(f"--host: expected an address such as 127.0.0.1 or 0.0.0.0, got {args.host!r}")
    if not 1 <= args.port <= 65535:
        raise UserError(f"--port: expected an integer in 1..65535, got {args.port}")
    if args.queue < 1:
        raise UserError(f"--queue: expected an integer >= 1, got {args.queue}")
    limits = Limits(args.max_upload_mb, args.max_audio_s, args.max_text_chars)
    auth = parse_auth(args.auth)
    weights = args.liveportrait_weights or os.environ.get("JAMFLOW_LIVEPORTRAIT_WEIGHTS") or None
    if weights is not None and not Path(weights).is_dir():
        raise UserError(f"--liveportrait_weights: expected a folder of LivePortrait weights, got {weights!r}")
    from jamflow.infer.api import pick_device, pick_dtype, resolve_checkpoint

    try:
        resolve_checkpoint(args.ckpt, getattr(args, "fast", None))
        pick_dtype(pick_device(args.device), args.dtype)
    except UserError as e:  # the API names them "ckpt", "device", "dtype"; here they are flags
        raise UserError(f"--{e}") from None
    check_vocoder_arg(args.vocoder)
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise UserError("gradio: expected the web UI's extra, got none installed - pip install 'jamflow[ui]'") from None
    return limits, auth, weights


def run_cli(args) -> int:
    limits, auth, weights = check_args(args)
    from jamflow.ui.app import build_app, launch
    from jamflow.ui.handlers import Studio

    args.quiet = True  # the page shows progress; no tqdm bars in the server's terminal
    args.limit = service_limits(limits.max_text_chars, limits.max_audio_s, limits.max_upload_mb)
    studio = Studio(lambda: common.load_model(args), limits)  # loads on the studio's compute thread
    studio.jam.liveportrait_weights = weights
    app = build_app(studio, portrait=weights is not None)
    where = f"http://{args.host}:{args.port}"
    print(f"jamflow ui: serving {where} (Ctrl+C stops it; files in {studio.out_root})", flush=True)
    try:
        launch(app, studio, host=args.host, port=args.port, auth=auth, queue=args.queue, quiet=True)
    finally:  # results are the user's to download from the page, not to pile up in /tmp
        shutil.rmtree(studio.out_root, ignore_errors=True)
    return 0
