"""Procedural talking-face motion from timed phones: visemes with coarticulation; eyes, brows and head
from `motion.prosody`.

    motion = phones_to_motion(phones, num_samples, wav=wav, seed=3)   # [T, 70] float32 at 25 fps

Frame k is the instant k / 25 s and T = round(samples / 960), so T motion frames span T * 3.75 mel
frames (docs/architecture.md). The 70-dim layout is `motion.spec`'s; the keypoints it moves follow the
canonical layout below, which the built-in avatar draws.

Mouth: each phone is split into its IPA letters; every letter has an articulatory target
(open = jaw/lip aperture, round = protrusion/narrowing, spread = lip stretch). Targets are blended
with per-dimension dominance functions (Cohen & Massaro style): a flat top over the segment, then an
exponential fall-off that reaches further ahead (anticipation) than behind (carry-over). Bilabials
dominate the aperture strongly (lips close on /p b m/), silences pull everything to rest, and vowel
openings scale with the vowel's loudness. Eyes, brows and head follow the prosody in the speaker's
style (`motion.prosody`: nods and brow raises on accents, a new head direction at each phrase start,
blinks pulled into pauses, stillness in silence).
Magnitudes are in LivePortrait's typical ranges (exp ~ +-0.05, pose a few degrees, scale ~1.3).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jamflow.motion.keypoints import CANONICAL_KEYPOINTS, K, KEYPOINT_NAMES, exp_index  # noqa: F401 (re-exported)
from jamflow.motion.prosody import add_face, talker_style
from jamflow.motion.spec import MOTION_DIM, NUM_KEYPOINTS
from jamflow.timeline import MOTION_FPS, SAMPLE_RATE, SAMPLES_PER_MOTION


def lip_aperture(motion: np.ndarray) -> np.ndarray:
    """motion [T, 70] -> inner-lip gap [T] in canonical units (0 = lips closed)."""
    return motion[:, exp_index(K["lower_lip_inner"], 1)] - motion[:, exp_index(K["upper_lip_inner"], 1)]


def eye_opening(motion: np.ndarray) -> np.ndarray:
    """motion [T, 70] -> mean lid gap [T] (rest ~0.05, ~0 during a blink)."""
    rest = CANONICAL_KEYPOINTS[K["lid_lower_left"], 1] - CANONICAL_KEYPOINTS[K["lid_upper_left"], 1]
    gaps = [motion[:, exp_index(lo, 1)] - motion[:, exp_index(up, 1)]
            for up, lo in ((K["lid_upper_left"], K["lid_lower_left"]), (K["lid_upper_right"], K["lid_lower_right"]))]
    return rest + np.mean(gaps, axis=0)


# ---------------------------------------------------------------- articulatory targets

@dataclass(frozen=True)
class Target:
    open: float    # jaw + lip aperture, 0..1
    round: float   # protrusion / narrowing, 0..1
    spread: float  # lip stretch, 0..1
    weight: tuple[float, float, float] = (1.0, 1.0, 1.0)  # dominance of (open, round, spread)


_REST = Target(0.0, 0.0, 0.0, (2.0, 1.0, 1.0))
_NEUTRAL = Target(0.3, 0.0, 0.0, (0.3, 0.3, 0.3))  # letters we do not know: let neighbours decide
_TARGETS: dict[str, Target] = {}


def _add(letters: str, target: Target) -> None:
    for ch in letters:
        _TARGETS[ch] = target


_add("pbm", Target(0.0, 0.0, 0.0, (2.0, 0.4, 0.4)))      # bilabials: lips shut (see closure), shape free
_add("fv", Target(0.08, 0.0, 0.1, (4.0, 0.5, 0.5)))      # lower lip to upper teeth
_add("θð", Target(0.2, 0.0, 0.1, (1.0, 0.4, 0.4)))
_add("tdnlszɾ", Target(0.2, 0.0, 0.2, (0.8, 0.3, 0.4)))
_add("ɹr", Target(0.2, 0.35, 0.0, (0.8, 0.6, 0.4)))
_add("ʃʒ", Target(0.2, 0.6, 0.0, (1.0, 1.0, 0.6)))
_add("kɡgŋxh", Target(0.3, 0.0, 0.0, (0.4, 0.2, 0.2)))
_add("w", Target(0.12, 1.0, 0.0, (1.0, 2.0, 1.0)))
_add("j", Target(0.15, 0.0, 0.5, (0.8, 0.5, 1.0)))
_add("iɪy", Target(0.25, 0.0, 0.8, (3.0, 1.0, 1.0)))
_add("eɛ", Target(0.45, 0.0, 0.5, (3.0, 1.0, 1.0)))
_add("æ", Target(0.7, 0.0, 0.4, (3.0, 1.0, 1.0)))
_add("aɑɐʌ", Target(0.9, 0.0, 0.1, (3.0, 1.0, 1.0)))
_add("ɒɔ", Target(0.7, 0.6, 0.0, (3.0, 1.0, 1.0)))
_add("o", Target(0.5, 0.85, 0.0, (3.0, 1.0, 1.0)))
_add("uʊ", Target(0.25, 1.0, 0.0, (3.0, 1.0, 1.0)))
_add("əɘ", Target(0.4, 0.0, 0.0, (2.0, 0.6, 0.6)))
_add("ɜɝɚ", Target(0.3, 0.35, 0.0, (3.0, 1.0, 1.0)))
VOWELS = set("iɪyeɛæaɑɐʌɒɔouʊəɘɜɝɚ")
BILABIALS = set("pbm")
_IGNORED = set("ːˑˈˌ̩̃ʰʲ'-.,_#:;!?")


def phone_targets(phone: str) -> list[tuple[str, Target]]:
    """One IPA phone (possibly several letters: 'aɪ', 'tʃ', 'ɛɹ') -> its letters' targets, in order."""
    if phone in ("sil", "", "_"):
        return [("sil", _REST)]
    out = [(ch, _TARGETS.get(ch, _NEUTRAL)) for ch in phone if ch not in _IGNORED]
    return out or [("?", _NEUTRAL)]


# ---------------------------------------------------------------- motion synthesis

@dataclass
class VisemeConfig:
    max_aperture: float = 0.075     # inner-lip gap at open = 1 (exp units)
    round_amount: float = 0.028     # corner narrowing + protrusion at round = 1
    spread_amount: float = 0.022    # corner stretch at spread = 1
    anticipation_s: float = 0.07    # dominance decay ahead of a segment (coarticulation lookahead)
    carryover_s: float = 0.045      # dominance decay after a segment
    closure_s: float = 0.03         # how fast the lips part around a bilabial closure
    scale: float = 1.3              # LivePortrait-like head scale


def num_frames(num_samples: int) -> int:
    return max(1, int(round(num_samples / SAMPLES_PER_MOTION)))


def frame_energy(wav: np.ndarray | None, frames: int) -> np.ndarray:
    """RMS of the 40 ms window centred on each frame instant, normalised to [0, 1] -> [T]."""
    if wav is None or len(wav) == 0:
        return np.zeros(frames, np.float32)
    pad = np.pad(np.asarray(wav, np.float32), (SAMPLES_PER_MOTION // 2, SAMPLES_PER_MOTION))
    win = np.lib.stride_tricks.sliding_window_view(pad, SAMPLES_PER_MOTION)[::SAMPLES_PER_MOTION][:frames]
    rms = np.sqrt((win ** 2).mean(axis=1))
    rms = np.pad(rms, (0, frames - len(rms)))
    return (rms / (np.percentile(rms, 95) + 1e-8)).clip(0, 1).astype(np.float32)


def _segments(phones, wav: np.ndarray | None, sample_rate: int):
    """Phones -> letter segments (label, start, end, Target), vowel openings scaled by loudness."""
    segs = []
    for phone, start, end in phones:
        parts = phone_targets(phone)
        step = (end - start) / len(parts)
        for i, (label, tgt) in enumerate(parts):
            segs.append([label, start + i * step, start + (i + 1) * step, tgt])
    if wav is not None and len(wav):
        loud = []
        for label, s, e, _ in segs:
            chunk = wav[int(s * sample_rate):max(int(e * sample_rate), int(s * sample_rate) + 1)]
            loud.append(float(np.sqrt(np.mean(chunk ** 2))) if label in VOWELS else np.nan)
        loud = np.array(loud)
        if np.isfinite(loud).any():
            ref = np.nanmedian(loud) + 1e-8
            for seg, l in zip(segs, loud):
                if np.isfinite(l):
                    t = seg[3]
                    gain = float(np.clip(0.75 + 0.25 * l / ref, 0.6, 1.2))
                    seg[3] = Target(min(1.0, t.open * gain), t.round, t.spread, t.weight)
    return segs


def articulation(phones, times: np.ndarray, cfg: VisemeConfig, wav=None, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Blend the letters' targets at `times` [T] -> [T, 3] (open, round, spread)."""
    segs = _segments(phones, wav, sample_rate)
    num = np.zeros((len(times), 3))
    den = np.full((len(times), 3), 1e-9)
    for label, s, e, tgt in segs:
        # flat top over the segment; decays reach further ahead (anticipation) than behind
        reach = 1.0 if label in VOWELS else 0.5  # consonant gestures are brief, vowel gestures broad
        before = np.clip(s - times, 0, None) / (cfg.anticipation_s * reach)
        after = np.clip(times - e, 0, None) / (cfg.carryover_s * reach)
        if label == "sil":  # a pause pulls towards rest only well inside it
            before, after = before * 2, after * 2
        dom = np.exp(-(before + after))[:, None] * np.array(tgt.weight)[None, :]
        num += dom * np.array([tgt.open, tgt.round, tgt.spread])[None, :]
        den += dom
    art = num / den
    # Lips shut on /p b m/ whatever the neighbours: the closure is a constraint, not a vote. Its flat
    # top lasts at least 50 ms so a 25 fps frame always lands on it.
    closure = np.zeros(len(times))
    for label, s, e, _ in segs:
        if label in BILABIALS:
            mid, half = (s + e) / 2, max((e - s) / 2, 0.025)
            before = np.clip(mid - half - times, 0, None) / cfg.closure_s
            after = np.clip(times - mid - half, 0, None) / cfg.closure_s
            closure = np.maximum(closure, np.exp(-(before + after)))
    art[:, 0] *= 1 - closure
    return art.astype(np.float32)


def phones_to_motion(phones, num_samples: int, wav: np.ndarray | None = None, sample_rate: int = SAMPLE_RATE,
                     seed: int = 0, cfg: VisemeConfig | None = None, speaker: str | None = None) -> np.ndarray:
    """Timed phones [(ipa, start_s, end_s)] (+ the waveform for loudness) -> motion [T, 70] float32.
    `speaker` sets the talker's style of eyes, brows and head (`motion.prosody`); `seed` the clip's
    own draws (blinks, gaze, directions)."""
    cfg = cfg or VisemeConfig()
    frames = num_frames(num_samples)
    times = np.arange(frames) / MOTION_FPS
    motion = np.zeros((frames, MOTION_DIM), np.float32)
    exp = motion[:, :63].reshape(frames, NUM_KEYPOINTS, 3)  # a view: writes land in `motion`
    _move_mouth(exp, articulation(phones, times, cfg, wav, sample_rate), cfg)
    vowels = [(s, e) for phone, s, e in phones if any(ch in VOWELS for ch in phone)]
    add_face(motion, vowels, _speaking(phones, times), wav, talker_style(speaker), np.random.default_rng(seed),
             cfg.scale)
    return motion


def _move_mouth(exp: np.ndarray, art: np.ndarray, cfg: VisemeConfig) -> None:
    """Add the articulation art [T, 3] (open, round, spread) to the lip, jaw and cheek keypoints of exp [T, 21, 3]."""
    a = art[:, 0] * cfg.max_aperture
    rnd, spr = art[:, 1], art[:, 2]
    exp[:, K["lower_lip_inner"], 1] += 0.75 * a
    exp[:, K["upper_lip_inner"], 1] -= 0.25 * a
    exp[:, K["lower_lip_bottom"], 1] += 0.8 * a
    exp[:, K["upper_lip_top"], 1] -= 0.15 * a
    exp[:, K["chin"], 1] += 0.9 * a  # the jaw drops with the vowel
    for jaw in ("jaw_left", "jaw_right"):
        exp[:, K[jaw], 1] += 0.45 * a
    width = cfg.spread_amount * spr - cfg.round_amount * rnd
    exp[:, K["mouth_corner_left"], 0] -= width
    exp[:, K["mouth_corner_right"], 0] += width
    for corner in ("mouth_corner_left", "mouth_corner_right"):
        exp[:, K[corner], 1] += 0.3 * a - 0.15 * cfg.spread_amount * spr
    for lip in ("upper_lip_top", "lower_lip_bottom", "upper_lip_inner", "lower_lip_inner"):
        exp[:, K[lip], 2] += 0.7 * cfg.round_amount * rnd
    for cheek in ("cheek_left", "cheek_right"):
        exp[:, K[cheek], 1] -= 0.2 * cfg.spread_amount * spr


def _speaking(phones, times: np.ndarray) -> np.ndarray:
    """[T] bool: the frame instant falls inside a phone that is not silence."""
    speaking = np.zeros(len(times), bool)
    for phone, s, e in phones:
        if phone != "sil":
            speaking |= (times >= s) & (times < e)
    return speaking
