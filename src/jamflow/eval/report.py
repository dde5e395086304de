"""Evaluation report: the table (markdown + JSON) and PNG plots of scored systems (`jamflow eval`).

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
    ("dnsmos_ovrl", "DNSMOS OVRL", "{:.2f}"),
    ("dnsmos_p808", "P.808", "{:.2f}"),
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
