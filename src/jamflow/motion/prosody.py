"""Eyes, brows and head of the procedural corpus, timed by the speech the way talkers time them.

    add_face(motion, phones, wav, style=talker_style("festival:slt_hts"), rng=rng)  # writes motion [T, 70]

Talkers move the head and brows with the prosody: the head nods on stressed, loud syllables and
brows rise on pitch accents, the head settles into a new direction at the start of a phrase, and
between phrases it calms down; blinks cluster in pauses and at phrase boundaries. So that a model can
learn this, the corpus's non-mouth motion is a sum of events placed on the speech:

- accents: the loud, long vowels of a clip (a `TalkerStyle.accent_share` of its vowels) each get a
  nod (a down-and-back bump of the pitch) and a brow raise, sized by the vowel's prominence;
- phrases: at each speech onset after a pause the head turns to a new resting direction (yaw, pitch,
  roll) within ~0.4 s, and the gaze often moves with it;
- sway: a slow drift whose amplitude follows the speaking activity (a third of it left in silence);
- eyes: blinks as a renewal process pulled into nearby pauses, and gaze shifts held for 1-3 s.

How much of each a talker does is the speaker's style (`talker_style`), drawn from the speaker's name:
every clip of one voice moves alike, two voices differ, and a reference clip shows the style.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

from jamflow.motion.keypoints import K
from jamflow.timeline import MOTION_FPS, SAMPLE_RATE


@dataclass(frozen=True)
class TalkerStyle:
    head_gain: float = 1.0          # scales sway, nods and turns
    nod_deg: float = 2.0            # pitch dip of a full-prominence accent
    turn_deg: float = 2.5           # spread of the head direction taken at a phrase start
    brow_raise: float = 0.02        # exp units at a full-prominence accent
    blink_rate_per_min: float = 17.0
    accent_share: float = 0.35      # share of a clip's vowels that carry an accent
    sway_deg: float = 1.0           # slow drift amplitude while speaking


def talker_style(speaker: str | None) -> TalkerStyle:
    """The style of `speaker` (deterministic in its name); the default style when None."""
    if not speaker:
        return TalkerStyle()
    rng = np.random.default_rng(zlib.crc32(speaker.encode()))
    return TalkerStyle(head_gain=float(np.exp(rng.uniform(math.log(0.55), math.log(1.7)))),
                       nod_deg=float(rng.uniform(1.2, 3.2)), turn_deg=float(rng.uniform(1.5, 4.5)),
                       brow_raise=float(rng.uniform(0.008, 0.03)),
                       blink_rate_per_min=float(rng.uniform(11.0, 24.0)),
                       accent_share=float(rng.uniform(0.25, 0.5)), sway_deg=float(rng.uniform(0.8, 1.6)))


def smooth(x: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Gaussian smoothing of x [T] with edge padding."""
    if sigma_frames <= 0 or len(x) < 2:
        return x
    r = int(3 * sigma_frames) + 1
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma_frames) ** 2)
    return np.convolve(np.pad(x, r, mode="edge"), k / k.sum(), mode="valid")


def accents(vowels: list[tuple[float, float]], wav: np.ndarray | None, share: float,
            sample_rate: int = SAMPLE_RATE) -> list[tuple[float, float]]:
    """Vowel spans [(start_s, end_s)] -> accents [(time_s, prominence 0.5..1)]: the `share` most
    prominent vowels (loudness x duration, relative to the clip's median), at least one."""
    if not vowels:
        return []
    dur = np.array([max(e - s, 1e-3) for s, e in vowels])
    score = dur / np.median(dur)
    if wav is not None and len(wav):
        loud = np.array([np.sqrt(np.mean(np.square(wav[int(s * sample_rate):max(int(e * sample_rate),
                                                                               int(s * sample_rate) + 1)])))
                         for s, e in vowels])
        score = score * loud / (np.median(loud) + 1e-8)
    count = max(1, int(round(share * len(vowels))))
    chosen = np.sort(np.argsort(-score, kind="stable")[:count])
    top = score[chosen].max()
    return [(vowels[i][0] + 0.4 * dur[i], float(0.5 + 0.5 * score[i] / top)) for i in chosen]


def _bumps(frames: int, events: list[tuple[float, float]], width_s: float, lead_s: float = 0.0) -> np.ndarray:
    """Raised-cosine bumps [T] of half-width `width_s`, peaking `lead_s` after each (time, height)."""
    t = np.arange(frames) / MOTION_FPS
    out = np.zeros(frames)
    for when, height in events:
        x = np.clip((t - when - lead_s) / width_s, -1, 1)
        out = np.maximum(out, height * 0.5 * (1 + np.cos(math.pi * x)))
    return out


def phrase_starts(speaking: np.ndarray, min_pause_s: float = 0.15) -> list[int]:
    """Frames where speech starts after a pause of at least `min_pause_s` (or at the clip's start)."""
    starts, silent = [], len(speaking)  # the clip's start counts as after a pause
    for k, on in enumerate(speaking):
        if on and silent >= min_pause_s * MOTION_FPS:
            starts.append(k)
        silent = 0 if on else silent + 1
    return starts


def blinks(frames: int, pauses: np.ndarray, rate_per_min: float, rng: np.random.Generator,
           blink_s: float = 0.2) -> np.ndarray:
    """Eyelid closure [T] in 0..1: a renewal process with a refractory gap, pulled into pauses."""
    t = np.arange(frames) / MOTION_FPS
    closure = np.zeros(frames)
    mean_gap = 60.0 / rate_per_min
    now = rng.uniform(0.3, mean_gap)
    while now < t[-1] + 1 / MOTION_FPS:
        near = np.nonzero(pauses & (np.abs(t - now) < 0.6))[0]
        if len(near) and rng.random() < 0.7:
            now = t[near[len(near) // 2]]
        close_s, open_s = 0.3 * blink_s, 0.7 * blink_s
        rising = np.clip((t - (now - close_s)) / close_s, 0, 1)
        falling = np.clip(((now + open_s) - t) / open_s, 0, 1)
        closure = np.maximum(closure, np.where(t <= now, rising, falling))
        now += max(0.8, rng.gamma(3.0, mean_gap / 3.0))
    return closure


def _gaze(frames: int, starts: list[int], rng: np.random.Generator) -> np.ndarray:
    """Gaze offsets [T, 2] (exp x/y): targets held 0.8-3 s, most phrase starts move the eyes too."""
    shifts = set(k for k in starts if rng.random() < 0.6)
    now = 0.0
    while now < frames / MOTION_FPS:
        shifts.add(int(now * MOTION_FPS))
        now += rng.uniform(0.8, 3.0)
    gaze = np.zeros((frames, 2))
    for k in sorted(shifts):
        gaze[k:] = rng.normal(0, [0.008, 0.004])
    return np.stack([smooth(gaze[:, j], 0.7) for j in range(2)], axis=1)


def _postures(frames: int, starts: list[int], style: TalkerStyle, rng: np.random.Generator) -> np.ndarray:
    """Head direction [T, 3] (pitch, yaw, roll): a small clip-wide base, and a new direction taken at
    each phrase start, reached along a smoothstep of 0.4 s that begins 0.1 s before the speech."""
    base = rng.normal(0, [0.5, 0.8, 0.4])
    pose = np.tile(base, (frames, 1))
    ramp = int(0.4 * MOTION_FPS)
    spread = style.head_gain * style.turn_deg * np.array([0.4, 1.0, 0.3])
    for k in starts:
        target = base + rng.normal(0, spread)
        begin = max(0, k - int(0.1 * MOTION_FPS))
        x = np.clip((np.arange(frames - begin) + 1) / ramp, 0, 1)
        w = (x * x * (3 - 2 * x))[:, None]
        pose[begin:] = pose[begin:] * (1 - w) + target * w
    return pose


def add_face(motion: np.ndarray, vowels: list[tuple[float, float]], speaking: np.ndarray,
             wav: np.ndarray | None, style: TalkerStyle, rng: np.random.Generator, scale: float = 1.3) -> None:
    """Write eyes, brows, pose, translation and scale of motion [T, 70] (the mouth's channels untouched).
    `vowels` are the clip's vowel spans in seconds, `speaking` [T] marks frames inside speech.

    Where the head sits in the frame (a per-clip offset of translation, scale or direction) is left out:
    it is the source portrait's business (LivePortrait applies motion relative to the first frame), and
    a constant drawn per clip would be most of those channels' variance, which a network then has to
    reproduce as one value across every frame of its output."""
    frames = len(motion)
    exp = motion[:, :63].reshape(frames, 21, 3)
    starts = phrase_starts(speaking)
    accent = accents(vowels, wav, style.accent_share)
    closure = blinks(frames, ~speaking, style.blink_rate_per_min, rng)
    for up, lo in (("lid_upper_left", "lid_lower_left"), ("lid_upper_right", "lid_lower_right")):
        exp[:, K[up], 1] += 0.046 * closure
        exp[:, K[lo], 1] -= 0.004 * closure
    exp[:, K["gaze"], :2] += _gaze(frames, starts, rng)
    raise_ = _bumps(frames, accent, 0.3, lead_s=-0.05)
    for brow in ("brow_left", "brow_right"):
        exp[:, K[brow], 1] -= style.brow_raise * raise_

    activity = smooth(speaking.astype(np.float64), 8.0)
    sigma = 12.0  # frames: the drift wanders over about a second
    drift = np.stack([smooth(rng.normal(0, 1, frames + 100), sigma)[50:50 + frames] for _ in range(3)], 1)
    drift *= (4 * math.pi * sigma ** 2) ** 0.25  # unit std whatever the clip's length
    sway = style.head_gain * style.sway_deg * (1 / 3 + 2 / 3 * activity)[:, None] * drift * [1.0, 1.5, 0.6]
    nod = style.head_gain * style.nod_deg * _bumps(frames, accent, 0.2)
    pose = _postures(frames, starts, style, rng) + sway
    pose[:, 0] -= nod
    motion[:, 63:66] = pose
    motion[:, 66] = 0.002 * pose[:, 1]
    motion[:, 67] = -0.001 * pose[:, 0]
    motion[:, 68] = 0.0
    motion[:, 69] = scale + 0.005 * drift[:, 0]
