"""Score systems against a reference manifest: per-clip metrics, then one summary row per system.

A *system* is a manifest whose ids match the reference's (ground truth is the reference itself).
Ids "<id>@<k>" are extra samples of clip <id> (other seeds). Every sample is scored: a summary row
pools them (one seed per clip on a few dozen clips is a noisy figure: docs/evaluation.md),
`per_sample` keeps each seed's own summary, and the samples of one input give the diversity metric.
Metric groups (all on by default, each skipped where its inputs are missing):

    asr      WER / PER of the recogniser's transcript against the reference text
    speaker  cosine(system clip, a *different* reference clip of the same speaker, or the row's ref_audio)
    dnsmos   DNSMOS overall / signal / background, and its P.808 estimate (needs speechmos + onnxruntime)
    timing   duration error vs the reference clip, silence at the start and end
    sync     aperture/envelope offset and confidence (needs motion)
    motion   LVE, full-face error, jitter (paired with ground-truth motion), FMD and diversity
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from jamflow.errors import UserError
from jamflow.audio.asr import transcribe
from jamflow.eval import asr, motion_metrics, quality, sync
from jamflow.eval.generate import SAMPLE_SEP, prompt_for
from jamflow.timeline import MOTION_FPS, SAMPLE_RATE

GROUPS = ("asr", "speaker", "dnsmos", "timing", "sync", "motion")
GROUND_TRUTH = "ground truth"


@dataclass
class System:
    name: str
    rows: dict[str, dict]  # reference id -> row (first sample)
    extra_samples: dict[str, list[dict]] = field(default_factory=dict)  # reference id -> rows of other seeds
    root: Path | None = None  # manifest folder, to resolve relative "ref_audio"


def make_system(name: str, rows: list[dict], ref_ids: set[str], root: Path | None = None) -> System:
    system = System(name, {}, {}, root)
    for row in rows:
        base = row["id"].split(SAMPLE_SEP)[0]
        if base not in ref_ids:
            continue
        if row["id"] == base:
            system.rows[base] = row
        else:
            system.extra_samples.setdefault(base, []).append(row)
    if not system.rows:
        raise UserError(f"{name}: expected clips whose ids match the reference manifest, got no common id")
    return system


class _Cache:
    """Audio, motion and speaker embeddings are read once even when several systems share files."""

    def __init__(self):
        self.audio, self.motion, self.emb = {}, {}, {}

    def wav(self, path) -> np.ndarray:
        if path not in self.audio:
            from jamflow.audio.io import load_audio

            self.audio[path] = load_audio(path, SAMPLE_RATE)
        return self.audio[path]

    def mot(self, path) -> np.ndarray | None:
        if path is None:
            return None
        if path not in self.motion:
            m = np.load(path)
            if m.ndim != 2 or m.shape[1] != 70:
                raise UserError(f"motion: expected [frames, 70] in {path}, got shape {m.shape}")
            self.motion[path] = m.astype(np.float64)
        return self.motion[path]

    def embedding(self, path) -> np.ndarray:
        if path not in self.emb:
            from jamflow.eval.speaker import speaker_embedding

            self.emb[path] = speaker_embedding(self.wav(path), SAMPLE_RATE)
        return self.emb[path]


def speaker_reference(row: dict, ref_row: dict, pool: list[dict], root: Path | None) -> str | None:
    """The voice a clip should match: its own prompt (`ref_audio`) if recorded, else another reference
    clip of the same speaker (never the clip itself: that would make ground truth score 1.0)."""
    if row.get("ref_audio"):
        p = Path(row["ref_audio"])
        return str(p if p.is_absolute() or root is None else (root / p).resolve())
    other = prompt_for(ref_row, pool)
    return other["audio"] if other else None


def clip_metrics(row: dict, ref: dict, groups, cache: _Cache, pool, root, asr_model=None) -> dict:
    out: dict = {"id": row["id"]}  # "<id>" or "<id>@<k>" for an extra sample
    wav = cache.wav(row["audio"])
    if "asr" in groups:
        hyp = transcribe(wav, SAMPLE_RATE, asr_model)
        out.update(hyp=hyp, wer=asr.word_error_rate(ref["text"], hyp), per=asr.phone_error_rate(ref["text"], hyp))
    if "speaker" in groups:
        target = speaker_reference(row, ref, pool, root)
        if target is not None:
            from jamflow.eval.speaker import cosine

            out["sim"] = cosine(cache.embedding(row["audio"]), cache.embedding(target))
    if "dnsmos" in groups:
        mos = quality.dnsmos(wav, SAMPLE_RATE)
        if mos:
            out.update({f"dnsmos_{k}": v for k, v in mos.items()})
    if "timing" in groups:
        t = quality.timing_metrics(wav, SAMPLE_RATE, target_duration=len(cache.wav(ref["audio"])) / SAMPLE_RATE)
        out.update(t)
    motion = cache.mot(row.get("motion"))
    if motion is not None and "sync" in groups:
        r = sync.sync_score(motion, wav, SAMPLE_RATE)
        out.update(sync_offset=r.offset, sync_conf=r.confidence, _sync=r)
    gt_motion = cache.mot(ref.get("motion"))
    if motion is not None and "motion" in groups:
        out.update({k: v for k, v in motion_metrics.jitter(motion).items()})
        out.update(blinks=motion_metrics.blink_count(motion), minutes=len(motion) / MOTION_FPS / 60,
                   head_std=motion_metrics.head_pose_std(motion),
                   head_corr=motion_metrics.head_speech_correlation(motion, wav))
        if gt_motion is not None:
            out["lve"] = motion_metrics.lip_vertex_error(motion, gt_motion)
            out["face_err"] = motion_metrics.face_mean_error(motion, gt_motion)
    return out


def _mean(values) -> float | None:
    vals = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return float(np.mean(vals)) if vals else None


SUMMARY_KEYS = ("wer", "per", "sim", "dnsmos_ovrl", "dnsmos_sig", "dnsmos_bak", "dnsmos_p808", "duration_s",
                "duration_rel_err", "lead_silence_s", "trail_silence_s", "lve", "face_err", "velocity", "jerk",
                "head_std", "head_corr")


def summarise_system(clips: list[dict]) -> dict:
    row = {"clips": len(clips)}
    for key in SUMMARY_KEYS:
        row[key] = _mean(c.get(key) for c in clips)
    minutes = sum(c.get("minutes", 0.0) for c in clips)
    if minutes > 0:  # pooled over clips: a 3 s clip alone holds one blink or none
        row["blink_rate"] = sum(c.get("blinks", 0) for c in clips) / minutes
    results = [c["_sync"] for c in clips if "_sync" in c]
    if results:
        s = sync.summarise(results)
        row.update(sync_offset=s["offset_mean"], sync_abs_offset=s["offset_abs_mean"], sync_conf=s["confidence_mean"],
                   sync_in_pct=s["in_sync_pct"], sync_pooled_offset=s["pooled_offset"],
                   sync_pooled_conf=s["pooled_confidence"])
    return row


PER_SAMPLE_KEYS = ("wer", "per", "sim", "duration_rel_err", "sync_in_pct", "sync_conf", "lve")


def per_sample_summaries(clips: list[dict]) -> dict[str, dict]:
    """Sample k's own summary (k = 0 for the first sample of every clip): the spread across seeds."""
    by_sample: dict[str, list[dict]] = {}
    for c in clips:
        k = c["id"].split(SAMPLE_SEP, 1)[1] if SAMPLE_SEP in c["id"] else "0"
        by_sample.setdefault(k, []).append(c)
    out = {}
    for k in sorted(by_sample, key=lambda k: (len(k), k)):  # "2" before "10"
        summary = summarise_system(by_sample[k])
        out[k] = {key: summary.get(key) for key in ("clips",) + PER_SAMPLE_KEYS if summary.get(key) is not None}
    return out


def evaluate(ref_rows: list[dict], systems: list[System], groups=GROUPS, asr_model=None, pool=None) -> dict:
    """-> {"systems": {name: summary}, "clips": {name: [per-clip]}, "control": summary,
           "speaker_bounds": {...}, "notes": [...]}. The first system should be ground truth."""
    unknown = set(groups) - set(GROUPS)
    if unknown:
        raise UserError(f"metrics: expected a subset of {list(GROUPS)}, got {sorted(unknown)}")
    pool = pool if pool is not None else ref_rows
    ref_by_id = {r["id"]: r for r in ref_rows}
    cache = _Cache()
    notes: list[str] = []
    if "dnsmos" in groups and quality.dnsmos_status():
        notes.append(quality.dnsmos_status())
    report = {"systems": {}, "clips": {}, "notes": notes}
    gt_motions = {i: cache.mot(r.get("motion")) for i, r in ref_by_id.items()}
    for system in systems:
        todo = list(system.rows.items()) + [(rid, r) for rid, rows in system.extra_samples.items() for r in rows]
        clips = []
        for rid, row in tqdm(todo, desc=f"eval {system.name}", unit="clip"):
            clips.append(clip_metrics(row, ref_by_id[rid], groups, cache, pool, system.root, asr_model))
        summary = summarise_system(clips)
        summary["clips"] = len(system.rows)  # inputs; "scored" counts every sample
        if system.extra_samples:
            summary["scored"] = len(clips)
            summary["per_sample"] = per_sample_summaries(clips)
        if "motion" in groups:
            summary.update(_distribution_metrics(system, cache, gt_motions))
        report["systems"][system.name] = summary
        report["clips"][system.name] = clips
        missing = len(ref_rows) - len(system.rows)
        if missing > 0:
            notes.append(f"{system.name}: {missing} of {len(ref_rows)} reference clips have no generated clip")
    if "sync" in groups:
        report["control"] = _mismatched_control(ref_rows, cache)
    if "speaker" in groups:
        report["speaker_bounds"] = _speaker_bounds(pool, cache)
    return report


def _distribution_metrics(system: System, cache: _Cache, gt_motions: dict) -> dict:
    out = {}
    pairs = [(cache.mot(r.get("motion")), gt_motions.get(rid)) for rid, r in system.rows.items()]
    pairs = [(m, g) for m, g in pairs if m is not None and g is not None and len(m) > 2 and len(g) > 2]
    if len(pairs) >= 2:
        out["fmd"] = motion_metrics.frechet_motion_distance([m for m, _ in pairs], [g for _, g in pairs])
    divs = []
    for rid, extra in system.extra_samples.items():
        samples = [cache.mot(system.rows[rid].get("motion"))] + [cache.mot(r.get("motion")) for r in extra]
        samples = [s for s in samples if s is not None]
        if len(samples) >= 2:
            divs.append(motion_metrics.sample_diversity(samples))
    if divs:
        out["diversity"] = float(np.mean(divs))
    rows = [r for r in system.rows.values() if r.get("motion")]
    if len(rows) >= 2:  # each clip's head against the next clip's voice: what no coupling scores
        corr = [motion_metrics.head_speech_correlation(cache.mot(a["motion"]), cache.wav(b["audio"]))
                for a, b in zip(rows, rows[1:] + rows[:1])]
        out["head_corr_mismatched"] = _mean(corr)
    return out


def _mismatched_control(ref_rows: list[dict], cache: _Cache) -> dict | None:
    """Sync of ground-truth motion against *another* clip's audio: what 'no sync' scores."""
    with_motion = [r for r in ref_rows if r.get("motion")]
    results = []
    for a, b in sync.mismatched_pairs(len(with_motion)):
        results.append(sync.sync_score(cache.mot(with_motion[a]["motion"]), cache.wav(with_motion[b]["audio"]), SAMPLE_RATE))
    if not results:
        return None
    s = sync.summarise(results)
    return {"clips": len(results), "sync_offset": s["offset_mean"], "sync_abs_offset": s["offset_abs_mean"],
            "sync_conf": s["confidence_mean"], "sync_in_pct": s["in_sync_pct"],
            "sync_pooled_offset": s["pooled_offset"], "sync_pooled_conf": s["pooled_confidence"]}


def _speaker_bounds(pool: list[dict], cache: _Cache, per_speaker: int = 4, max_speakers: int = 24) -> dict:
    """Ceiling (same speaker, different clips) and floor (different speakers) on reference audio."""
    from jamflow.eval.speaker import similarity_bounds

    by_speaker: dict[str, list[dict]] = {}
    for r in sorted(pool, key=lambda r: r["id"]):
        by_speaker.setdefault(r["speaker"], []).append(r)
    speakers = sorted(by_speaker)[:max_speakers]  # bounded cost on large corpora
    embs = {s: [cache.embedding(r["audio"]) for r in by_speaker[s][:per_speaker]] for s in speakers}
    return similarity_bounds(embs)
