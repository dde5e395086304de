"""`jamflow eval`: score generated clips against references; write report.md, report.json and PNG plots.

    jamflow eval --ref data/synth/manifest.jsonl --gen jamflow=out/gen/manifest.jsonl --out out/eval
    jamflow eval --ref data/synth/manifest.jsonl --checkpoint ckpt/ --task talk --out out/eval

One table row per system: ground truth (the reference clips themselves), each `--gen NAME=manifest`
(jamflow, baselines) or the clips generated from `--checkpoint`, plus a control row: ground-truth motion
against *another* clip's audio, i.e. what the sync metric reads when there is no sync.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

from jamflow.errors import UserError
from jamflow.eval.evaluate import (
    GROUND_TRUTH,
    GROUPS,
    SAMPLE_SEP,
    evaluate,
    make_system,
)
from jamflow.fileio import write_text_atomic
from jamflow.timeline import SAMPLE_RATE

CONTROL = "control: mismatched pairs"

# (key, column header, format) in table order
COLUMNS = [
    ("clips", "clips", "{:.0f}"),
    ("scored", "scored", "{:.0f}"),
    ("wer", "WER", "{:.3f}"),
    ("per", "PER", "{:.3f}"),
    ("sim", "spk sim", "{:.3f}"),
    ("dnsmos_ovrl", "DNSMOS", "{:.2f}"),
    ("duration_rel_err", "dur err", "{:.1%}"),
    ("lead_silence_s", "lead sil s", "{:.2f}"),
    ("trail_silence_s", "trail sil s", "{:.2f}"),
    ("sync_offset", "sync off", "{:+.2f}"),
    ("sync_abs_offset", "abs off", "{:.2f}"),
    ("sync_in_pct", "in ±1 %", "{:.0f}"),
    ("sync_conf", "sync conf", "{:.3f}"),
    ("sync_pooled_offset", "pooled off", "{:+.0f}"),
    ("sync_pooled_conf", "pooled conf", "{:.3f}"),
    ("lve", "LVE", "{:.4f}"),
    ("face_err", "face err", "{:.4f}"),
    ("jerk", "jerk", "{:.1f}"),
    ("blink_rate", "blinks/min", "{:.1f}"),
    ("head_std", "head std °", "{:.2f}"),
    ("head_corr", "head~voice r", "{:+.2f}"),
    ("head_corr_mismatched", "mismatched r", "{:+.2f}"),
    ("fmd", "FMD", "{:.4f}"),
    ("diversity", "diversity", "{:.4f}"),
]
BAR_METRICS = [("wer", "WER (lower is better)"), ("per", "phone error rate"), ("sim", "speaker similarity"),
               ("dnsmos_ovrl", "DNSMOS overall"), ("sync_conf", "sync confidence"),
               ("sync_abs_offset", "|sync offset| (frames)"), ("lve", "lip vertex error"), ("jerk", "jerk")]


def _fmt(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return fmt.format(value)


def markdown_table(rows: dict[str, dict]) -> str:
    cols = [c for c in COLUMNS if any(r.get(c[0]) is not None for r in rows.values())]
    lines = ["| system | " + " | ".join(c[1] for c in cols) + " |", "|---|" + "---:|" * len(cols)]
    for name, row in rows.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(row.get(k), f) for k, _, f in cols) + " |")
    return "\n".join(lines)


def table_rows(report: dict) -> dict[str, dict]:
    """The systems' summary rows, plus the mismatched-pairs control row when there is one."""
    rows = dict(report["systems"])
    if report.get("control"):
        rows[CONTROL] = report["control"]
    return rows


PER_SAMPLE_COLUMNS = [c for c in COLUMNS if c[0] in ("wer", "per", "sim", "sync_in_pct", "lve")]


def per_sample_lines(report: dict) -> list[str]:
    """One line per system scored on several samples per clip: each seed's own figures, the spread
    behind the pooled row."""
    lines = []
    for name, row in report["systems"].items():
        samples = row.get("per_sample")
        if not samples:
            continue
        figures = [f"{header} " + " / ".join(_fmt(s.get(key), fmt) for s in samples.values())
                   for key, header, fmt in PER_SAMPLE_COLUMNS if any(s.get(key) is not None for s in samples.values())]
        lines.append(f"- {name}, each sample alone (samples {' / '.join(samples)}; the table pools all "
                     f"{row.get('scored')}): " + "; ".join(figures))
    return lines


def render_markdown(report: dict, title: str = "jamflow evaluation") -> str:
    parts = [f"# {title}", "", markdown_table(table_rows(report)), ""]
    spread = per_sample_lines(report)
    if spread:
        parts += spread + [""]
    b = report.get("speaker_bounds")
    if b:
        parts += [f"Speaker similarity yardsticks (resemblyzer, reference clips): same-speaker ceiling "
                  f"{_fmt(b['ceiling']['mean'], '{:.3f}')} ({b['ceiling']['pairs']} pairs), different-speaker floor "
                  f"{_fmt(b['floor']['mean'], '{:.3f}')} ({b['floor']['pairs']} pairs).", ""]
    parts += ["Columns: clips = inputs, scored = generated samples scored (several seeds per input: the "
              "per-clip figures are averaged over all of them, FMD takes the first); WER/PER = word/phone "
              "error rate of the ASR transcript vs the reference text "
              f"({report.get('asr', 'pocketsphinx')}); spk sim = cosine of speaker embeddings vs another clip of the "
              "same voice (or the prompt); dur err = |duration - reference| / reference; sync off/conf = lag "
              "(frames at 25 fps, + = motion late) and peak - median correlation of mouth aperture vs audio "
              "envelope over ±15 frames, per clip; in ±1 % = clips with |offset| <= 1 frame; pooled = the same on the clip-averaged curve; LVE = lip vertex "
              "error (max over lip keypoints, mean over frames); face err = mean keypoint error after pose; jerk = "
              "mean |third difference| of keypoints (units/s³); FMD = Fréchet distance of per-frame motion "
              "features vs ground truth; diversity = mean distance between samples of one input; blinks/min = "
              "eye closures per minute, pooled over clips; head std = pose std in degrees (mean of pitch, yaw, "
              "roll); head~voice r = correlation of head angular speed with the speech energy, mismatched r the "
              "same against the next clip's voice.", ""]
    g = report.get("generation")
    if g:
        d = g.get("prompt_durations")
        spans = f", {d['min']:.1f}-{d['max']:.1f} s (mean {d['mean']:.1f} s)" if d else ""
        changed = "".join(f", {k} {v}" for k, v in (g.get("settings") or {}).items())
        changed += f", dtype {g['dtype']}" if g.get("dtype", "auto") != "auto" else ""
        parts += [f"Generated by {g['checkpoint']} ({g['task']}, {g['nfe_step']} NFE, seed {g['seed']}{changed}); "
                  f"prompts: another clip of the same speaker from {Path(g['prompts']).name}{spans}.", ""]
    for note in report.get("notes", []):
        parts.append(f"- note: {note}")
    if report.get("plots"):
        parts += ["", "## Plots", ""] + [f"![{Path(p).stem}]({os.path.relpath(p, report['out_dir'])})"
                                         for p in report["plots"]]
    return "\n".join(parts) + "\n"


def _jsonable(report: dict) -> dict:
    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items() if not k.startswith("_")}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if hasattr(v, "item"):  # numpy scalars
            return clean(v.item())
        return v

    return clean(report)


def write_report(report: dict, out_dir, systems=None, ref_rows=None, plot_clips: int = 3) -> dict[str, Path]:
    """report.json + report.md (+ plots/*.png when systems and reference rows are given)."""
    out_dir = Path(out_dir)
    report["out_dir"] = str(out_dir)
    report["plots"] = [str(p) for p in make_plots(report, out_dir / "plots", systems or [], ref_rows or [], plot_clips)]
    paths = {"json": write_text_atomic(out_dir / "report.json", json.dumps(_jsonable(report), indent=1)),
             "md": write_text_atomic(out_dir / "report.md", render_markdown(report))}
    return paths


def make_plots(report: dict, plot_dir: Path, systems, ref_rows, plot_clips: int) -> list[Path]:
    import numpy as np

    from jamflow.audio.io import load_audio
    from jamflow.eval import plots

    out = []
    bars = plots.plot_metric_bars(plot_dir / "metrics.png", report["systems"], BAR_METRICS)
    if bars:
        out.append(bars)
    for ref in ref_rows[:plot_clips]:
        wavs = {}
        for system in systems:
            row = system.rows.get(ref["id"])
            if row is None:
                continue
            wav = load_audio(row["audio"], SAMPLE_RATE)
            wavs[system.name] = wav
            if row.get("motion"):
                safe = "".join(c if c.isalnum() else "_" for c in system.name)
                out.append(plots.plot_sync(plot_dir / f"sync_{ref['id']}_{safe}.png", np.load(row["motion"]), wav,
                                           title=f"{system.name}: {ref['id']}"))
        if wavs:
            out.append(plots.plot_mels(plot_dir / f"mel_{ref['id']}.png", wavs, title=ref["text"]))
    return out


# ---------------------------------------------------------------- CLI

# sampling settings an evaluation may change (the rest keep the API's defaults); stored in report.json
EVAL_SETTINGS = ("cfg_strength", "cfg_strength_motion", "cfg_until", "sway_sampling_coef", "speed", "ode_method",
                 "timbre_match")


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
    from jamflow.infer.cli_common import add_setting_args

    add_setting_args(parser, EVAL_SETTINGS, help_prefix="with --checkpoint: ")
    parser.add_argument("--prompts", default=None,
                        help="with --checkpoint: manifest the prompts come from (default: --ref); same speaker, never the clip")
    parser.add_argument("--prompt_seconds", default=None, metavar="LO,HI",
                        help="with --checkpoint: prefer prompts of LO-HI seconds (e.g. 3,5), else any of the speaker")
    parser.add_argument("--device", default=None, help="with --checkpoint: cpu, cuda, ...")
    parser.add_argument("--dtype", default=None, help="with --checkpoint: compute precision as in inference "
                                                       "(float32, bfloat16, int8, ...; default: per device)")
    parser.add_argument("--vocoder", default=None, help="with --checkpoint: Vocos folder or 'griffinlim' (default: found Vocos, else fallback)")
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
    from jamflow.data.manifest import read_manifest

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
    from jamflow.infer.settings import make_settings

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
        from jamflow.eval.generate import generate_manifest

        prompts = _manifest(args.prompts, "--prompts") if args.prompts else pool
        gen_path = generate_manifest(args.checkpoint, ref_rows, prompts, args.task, out_dir / "generated",
                                     samples=args.samples, seed=args.seed, device=args.device, dtype=args.dtype,
                                     vocoder=args.vocoder,
                                     prompt_seconds=prompt_seconds, nfe_step=args.nfe_step, **sampling)
        gens.append(("jamflow", gen_path))

    systems = [] if args.no_ground_truth else [make_system(GROUND_TRUTH, ref_rows, ids)]
    for name, path in gens:
        systems.append(make_system(name, _manifest(path, "--gen"), ids, root=path.resolve().parent))
    report = evaluate(ref_rows, systems, groups, asr_model=args.asr_model, pool=pool)
    from jamflow.eval.asr import asr_backend_name

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
