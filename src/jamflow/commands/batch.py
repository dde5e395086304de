"""`jamflow batch`: run a file of jobs (.txt / .jsonl / .toml) with the model loaded once."""
from __future__ import annotations

from jamflow import validate
from jamflow.commands import common
from jamflow.errors import UserError
from jamflow.infer.batch import check_outputs, check_scripts, read_jobs, run_batch


def add_cli(parser):
    parser.add_argument("jobs", nargs="?", help="jobs file: .txt (one text per line), .jsonl or .toml ([[jobs]])")
    parser.add_argument("--task", choices=["tts", "talk"], help="task for the lines of a .txt file (default tts)")
    parser.add_argument("--batch_size", type=int, help="short text jobs per sampler call (default 8)")
    common.add_common_args(parser, default_output="")


def run_cli(args) -> int:
    args = common.resolve(args)
    if not args.jobs:
        raise UserError("jobs: expected a jobs file (.txt/.jsonl/.toml), got nothing")
    limits = common.limits_from(args)
    batch_size = validate.number("--batch_size", 8 if args.batch_size is None else args.batch_size, 1,
                                 limits.max_batch_size, integer=True)
    settings = common.settings_from(args)
    jobs = read_jobs(args.jobs, task=args.task or "tts", base=settings, limits=limits)  # all checked before any runs
    check_outputs(jobs, args.output_dir or "outputs")
    check_scripts(jobs, common.checkpoint_tokenizer(*common.check_checkpoint(args)))  # before the model loads
    jam = common.load_model(args)
    common.announce("batch", settings, jam)
    print(f"{len(jobs)} job(s) from {args.jobs}")
    run_batch(jam, jobs, args.output_dir or "outputs", batch_size=batch_size)
    for j in jobs:
        print(f"job {j.line} ({j.task}, seed {j.settings.seed}): " + ", ".join(str(p) for p in j.paths.values()))
    return 0
