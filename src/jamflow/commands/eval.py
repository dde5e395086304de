"""`jamflow eval`: score generated clips against references; write report.md, report.json and PNG plots.

    jamflow eval --ref data/synth/manifest.jsonl --gen jamflow=out/gen/manifest.jsonl --out out/eval
    jamflow eval --ref data/synth/manifest.jsonl --checkpoint ckpt/ --task talk --out out/eval
"""
from __future__ import annotations

from pathlib import Path

from jamflow.audio.asr import asr_backend_name
from jamflow.commands.common import add_fast_arg, add_setting_args
from jamflow.data.manifest import read_manifest
from jamflow.errors import UserError
from jamflow.eval import generate
from jamflow.eval.evaluate import GROUND_TRUTH, GROUPS, SAMPLE_SEP, evaluate, make_system
from jamflow.eval.report import CONTROL, markdown_table, per_sample_lines, table_rows, write_report
from jamflow.infer.settings import make_settings

# sampling settings an evaluation may change (the rest keep the API's defaults); stored in report.json
EVAL_SETTINGS = ("cfg_strength", "cfg_strength_motion", "cfg_until", "sway_sampling_coef", "speed", "ode_method",
                 "timbre_match", "head_smoothing")


def add_cli(parser) -> None:
    parser.add_argument("--ref", required=True, help="reference manifest.jsonl (ground truth: audio, text, motion)")
    parser.add_argument("--gen", action="append", default=[], metavar="NAME=MANIFEST",
                        help="a system to score: generated manifest with the reference's ids (repeatable: jamflow, baselines)")
    parser.add_argument("--checkpoint", default=None, help="generate the test clips with this model first")
    parser.add_argument("--task", default="talk", choices=["tts", "talk", "animate", "dub"], help="with --checkpoint")
    parser.add_argument("--samples", type=int, default=1,
                        help="with --checkpoint: seeds per clip; every sample is scored and the figures pool them "
                             "(each seed's own below the table); >1 also gives diversity")
    parser.add_argument("--nfe_step", type=int, default=32, help="with --checkpoint")
    parser.add_argument("--seed", type=int, default=0, help="with --checkpoint")
    add_setting_args(parser, EVAL_SETTINGS, help_prefix="with --checkpoint: ")
    parser.add_argument("--prompts", default=None,
                        help="with --checkpoint: manifest the prompts come from (default: --ref); same speaker, never the clip")
    parser.add_argument("--prompt_seconds", default=None, metavar="LO,HI",
                        help="with --checkpoint: prefer prompts of LO-HI seconds (e.g. 3,5), else any of the speaker")
    parser.add_argument("--device", default=None, help="with --checkpoint: cpu, cuda, ...")
    parser.add_argument("--dtype", default=None, help="with --checkpoint: compute precision as in inference "
                                                       "(float32, bfloat16, int8, ...; default: per device)")
    parser.add_argument("--vocoder", default=None, help="with --checkpoint: Vocos folder, 'hifigan' or 'griffinlim' (default: as inference)")
    parser.add_argument("--no_ref_motion", action="store_true",
                        help="with --checkpoint --task talk: no prompt motion (eyes, brows and head come from the model or "
                             "face life, as when a user gives only a voice)")
    add_fast_arg(parser, "with --checkpoint: generate with its few-step student (alone: the shipped lips model's; or a "
                         "student folder); --nfe_step and the guidance settings are then the student's own")
    parser.add_argument("--split", default="test", choices=["test", "train", "all"], help="reference clips to score")
    parser.add_argument("--max_clips", type=int, default=None, help="score only the first N reference clips")
    parser.add_argument("--metrics", default=",".join(GROUPS), help=f"comma list of {', '.join(GROUPS)}")
    parser.add_argument("--asr_model", default=None, help="local Whisper model path (default: pocketsphinx)")
    parser.add_argument("--no_ground_truth", action="store_true", help="skip the ground-truth row")
    parser.add_argument("--plot_clips", type=int, default=3, help="clips to plot (sync and mel figures)")
    parser.add_argument("--out", required=True, help="output folder: report.md, report.json, plots/")


def _parse_gen(spec: str) -> tuple[str, Path]:
    if "=" not in spec:
        raise UserError(f"gen: expected NAME=path/to/manifest.jsonl, got {spec!r}")
    name, path = spec.split("=", 1)
    if not name.strip() or name.strip() in (GROUND_TRUTH, CONTROL):
        raise UserError(f"gen: expected a system name other than {GROUND_TRUTH!r}, got {name!r}")
    return name.strip(), Path(path)


def _parse_seconds(spec: str | None) -> tuple[float, float] | None:
    if spec is None:
        return None
    try:
        lo, hi = (float(v) for v in spec.split(","))
    except ValueError:
        lo = hi = -1.0
    if not 0 <= lo <= hi:
        raise UserError(f"prompt_seconds: expected LO,HI seconds with 0 <= LO <= HI (e.g. 3,5), got {spec!r}")
    return lo, hi


def _span(values) -> dict | None:
    vals = [float(v) for v in values if v is not None]
    return {"min": min(vals), "mean": sum(vals) / len(vals), "max": max(vals)} if vals else None


def _manifest(path, flag: str) -> list[dict]:
    """read_manifest, its errors naming the flag that gave the path."""
    try:
        return read_manifest(path)
    except UserError as e:
        raise UserError(f"{flag}: {str(e).split(': ', 1)[-1]}") from None


def run_cli(args) -> int:
    groups = tuple(g.strip() for g in args.metrics.split(",") if g.strip())
    if set(groups) - set(GROUPS):
        raise UserError(f"metrics: expected a subset of {list(GROUPS)}, got {args.metrics!r}")
    gens = [_parse_gen(g) for g in args.gen]
    for _, p in gens:
        if not p.is_file():
            raise UserError(f"gen: expected an existing manifest, got {str(p)!r}")
    if not gens and not args.checkpoint and args.no_ground_truth:
        raise UserError("gen: expected --gen or --checkpoint (or the ground-truth row), got nothing to score")
    prompt_seconds = _parse_seconds(args.prompt_seconds)
    if args.prompts is not None and not Path(args.prompts).is_file():
        raise UserError(f"prompts: expected an existing manifest, got {args.prompts!r}")
    if args.max_clips is not None and args.max_clips < 1:
        raise UserError(f"max_clips: expected an integer >= 1, got {args.max_clips}")
    sampling = {k: getattr(args, k) for k in EVAL_SETTINGS if getattr(args, k) is not None}
    effective = make_settings(**sampling)  # bad values fail here, before anything is read
    pool = _manifest(args.ref, "--ref")
    ref_rows = [r for r in pool if args.split == "all" or r["split"] == args.split]
    if not ref_rows:
        raise UserError(f"split: expected clips with split {args.split!r} in {args.ref}, got none (try --split all)")
    ref_rows = sorted(ref_rows, key=lambda r: r["id"])[: args.max_clips]
    if any(SAMPLE_SEP in r["id"] for r in ref_rows):
        raise UserError(f"ref: expected ids without {SAMPLE_SEP!r} (it marks extra samples), got e.g. {ref_rows[0]['id']!r}")
    ids = {r["id"] for r in ref_rows}
    out_dir = Path(args.out)

    if args.checkpoint:
        prompts = _manifest(args.prompts, "--prompts") if args.prompts else pool
        gen_path = generate.generate_manifest(args.checkpoint, ref_rows, prompts, args.task, out_dir / "generated",
                                     samples=args.samples, seed=args.seed, device=args.device, dtype=args.dtype,
                                     vocoder=args.vocoder, student=args.fast, prompt_motion=not args.no_ref_motion,
                                     prompt_seconds=prompt_seconds, nfe_step=args.nfe_step, **sampling)
        gens.append(("jamflow", gen_path))

    systems = [] if args.no_ground_truth else [make_system(GROUND_TRUTH, ref_rows, ids)]
    for name, path in gens:
        systems.append(make_system(name, _manifest(path, "--gen"), ids, root=path.resolve().parent))
    report = evaluate(ref_rows, systems, groups, asr_model=args.asr_model, pool=pool)
    report["asr"] = asr_backend_name(args.asr_model)
    report["reference"] = {"manifest": str(Path(args.ref).resolve()), "split": args.split, "clips": len(ref_rows)}
    if args.checkpoint:
        report["generation"] = {"checkpoint": str(args.checkpoint), "task": args.task, "nfe_step": args.nfe_step,
                                "dtype": args.dtype or "auto",
                                "seed": args.seed, "settings": sampling,
                                # every evaluation setting as it was used: defaults change between versions
                                "effective_settings": {k: getattr(effective, k) for k in EVAL_SETTINGS},
                                "prompts": str(Path(args.prompts or args.ref).resolve()),
                                "prompt_seconds": list(prompt_seconds) if prompt_seconds else None,
                                # the generated system is the last one (gens gets it appended last)
                                "prompt_durations": _span([r.get("ref_duration") for r in systems[-1].rows.values()])}
    paths = write_report(report, out_dir, systems, ref_rows, args.plot_clips)
    print(markdown_table(table_rows(report)))
    for line in per_sample_lines(report):
        print(line)
    print(f"wrote {paths['md']} and {paths['json']} ({len(report['plots'])} plots in {out_dir / 'plots'})")
    return 0
