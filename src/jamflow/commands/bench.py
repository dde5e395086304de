"""`jamflow bench`: speed and memory benchmarks (eval/bench.py; --mode stream: eval/bench_stream.py)."""
from __future__ import annotations

import torch

from jamflow.commands.common import add_fast_arg
from jamflow.dtypes import INT8
from jamflow.errors import UserError
from jamflow.eval import bench_stream
from jamflow.eval.bench import (
    TASKS,
    bench_compare,
    bench_inference,
    bench_training,
    environment,
    format_table,
    load_setup,
)
from jamflow.fileio import write_json_atomic
from jamflow.infer.settings import make_settings


def _ints(text: str, name: str) -> list[int]:
    try:
        vals = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"{name}: expected comma-separated integers, got {text!r}") from None
    if not vals or min(vals) < 1:
        raise UserError(f"{name}: expected integers >= 1, got {text!r}")
    return vals


def _floats(text: str, name: str) -> list[float]:
    try:
        vals = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"{name}: expected comma-separated seconds, got {text!r}") from None
    if not vals or min(vals) <= 0:
        raise UserError(f"{name}: expected positive seconds, got {text!r}")
    return vals


def add_cli(parser) -> None:
    parser.add_argument("--preset", default="small", help="tiny / small / base (random init)")
    parser.add_argument("--checkpoint", default=None, help="benchmark a checkpoint folder instead of a preset")
    parser.add_argument("--mode", default="inference", choices=["inference", "training", "compare", "all", "stream"],
                        help="stream: talk_stream end to end on --checkpoint (default: the shipped model), eval/bench_stream.py")
    parser.add_argument("--tasks", default="talk,speech", help=f"inference tasks: {', '.join(TASKS)}")
    parser.add_argument("--seconds", default="5", help="generated seconds, comma list")
    parser.add_argument("--nfe", default="32", help="sampling steps, comma list")
    parser.add_argument("--batch", default="1", help="batch sizes, comma list")
    parser.add_argument("--cfg_strength", type=float, default=2.0)
    parser.add_argument("--cfg_until", type=float, default=1.0, help="guide only steps at flow time t < this (1 = all)")
    parser.add_argument("--prompt_s", type=float, default=2.0, help="known reference prompt before the generated part")
    parser.add_argument("--chunk_s", type=float, default=3.0, help="chunk length for time-to-first-chunk")
    parser.add_argument("--vocoder", default="vocos", choices=["vocos", "hifigan", "harmonic", "griffinlim", "none"],
                        help="vocos: the released architecture with random weights (speed only)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto", choices=["auto", "fp32", "bf16", "fp16", INT8],
                        help="compute precision under autocast, weights fp32 (auto: what inference picks); "
                             "int8: fp32 with the transformer blocks' linears in dynamic int8 (CPU, inference)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peak_tflops", type=float, default=None, help="device peak for MFU (default: GPU table)")
    parser.add_argument("--ref", default="slt", help="stream: the shipped example voice used as the reference")
    parser.add_argument("--single_s", type=float, default=10.0, help="stream: seconds of the single-call cost reference")
    parser.add_argument("--cold", action="store_true", help="stream: also time a cold start of `jamflow talk --stream`")
    add_fast_arg(parser, "stream: also bench the few-step student (alone: the shipped lips model's; or a student folder)")
    parser.add_argument("--skip_teacher", action="store_true",
                        help="stream: with --fast, bench the student alone (its memory in a process no teacher ran in)")
    parser.add_argument("--json", default=None, help="write the rows + environment here (default: bench.json)")


def run_cli(args) -> int:
    if args.skip_teacher and not (args.mode == "stream" and args.fast):
        raise UserError(f"skip_teacher: expected --mode stream with --fast, got --mode {args.mode}"
                        + ("" if args.fast else " without --fast"))
    if args.mode == "stream":
        return bench_stream.run(args, _floats(args.seconds, "seconds"))
    seconds, nfes, batches = _floats(args.seconds, "seconds"), _ints(args.nfe, "nfe"), _ints(args.batch, "batch")
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if not tasks or set(tasks) - set(TASKS):
        raise UserError(f"tasks: expected some of {list(TASKS)}, got {args.tasks!r}")
    make_settings(cfg_until=args.cfg_until)  # the API's check and message
    if args.warmup < 0 or args.repeats < 1:
        raise UserError(f"repeats: expected warmup >= 0 and repeats >= 1, got {args.warmup}, {args.repeats}")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.dtype == INT8 and args.mode != "inference":
        raise UserError(f"dtype: expected int8 with --mode inference only (it cannot train), got --mode {args.mode}")
    setup = load_setup(args.preset, args.checkpoint, args.device, args.dtype)
    if setup.model.cfg.motion is None:
        tasks = ["speech"]
    rows = []
    if args.mode in ("inference", "all"):
        rows += bench_inference(setup, tasks, seconds, nfes, batches, args.prompt_s, args.chunk_s, args.cfg_strength,
                                args.vocoder, args.warmup, args.repeats, args.cfg_until)
    if args.mode in ("compare", "all"):
        rows += bench_compare(setup, seconds, batches, args.warmup, args.repeats)
    if args.mode in ("training", "all"):
        rows += bench_training(setup, seconds, batches, args.warmup, args.repeats, args.peak_tflops)
    env = environment(setup)
    print(f"{env['model']}: {env['params']['total'] / 1e6:.1f}M params on {env.get('gpu', env['device'])}, "
          f"{env['dtype']}, torch {env['torch']}, {env['threads']} threads")
    print(format_table(rows))
    path = write_json_atomic(args.json or "bench.json", {"environment": env, "rows": rows})
    print(f"wrote {path}")
    return 0
