"""Face life: blinks, gaze shifts, brow raises and head motion that follow a voice, frame by frame.

A motion spec that generates only the mouth (`lips`, the paper's) leaves eyes, brows and head pose to
a context motion. When the user gives none, these channels would sit still at the neutral face; this
module gives them life from the speech instead, with the events the corpus's talkers make
(`motion.prosody`), detected causally:

- accents (the energy jumping above its slow average while speaking): a nod, the pitch dipping and
  coming back over 0.4 s, and a brow raise, both sized by the jump;
- phrase starts (speech after at least 0.15 s of silence): the head turns to a new resting direction
  within 0.4 s;
- a slow sway (a sum of incommensurate sinusoids with seeded phases) that calms down in silence;
- eyes: blinks at ~17 a minute, more likely in pauses than in speech, with a refractory gap, and
  gaze shifts held for a second or two.

Everything is causal and drawn from per-frame random numbers seeded by (seed, frame index), so
`FaceLife.step` over consecutive pieces of a stream gives exactly what one call over the whole clip
gives. Pieces are whole motion frames (960 samples each) and each frame's energy is the RMS of its
own 40 ms, so no piece needs samples of the next one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from jamflow.motion.keypoints import K, exp_index
from jamflow.motion.spec import MOTION_DIM
from jamflow.timeline import MOTION_FPS, SAMPLES_PER_MOTION

_BLOCK = 250  # frames of random numbers drawn per seed block (10 s)


@dataclass
class LifeConfig:
    blink_rate_per_min: float = 17.0
    blink_s: float = 0.2  # whole blink: fast close (30%), slower reopening
    refractory_s: float = 0.8  # no second blink sooner
    pause_blink_boost: float = 3.0  # blink hazard in a pause relative to during speech
    gaze_hold_s: float = 1.6  # mean time a gaze target is held
    gaze_std: tuple[float, float] = (0.008, 0.004)  # exp units, x / y
    head_sway_deg: tuple[float, float, float] = (1.0, 1.5, 0.6)  # pitch, yaw, roll amplitude while speaking
    still_sway: float = 1 / 3  # share of the sway left after a second of silence
    accent_jump: float = 0.12  # fast energy above the slow average by this much (0..1 units) is an accent
    accent_gap_s: float = 0.3  # no second accent sooner
    nod_deg: float = 2.0  # pitch dip of a full accent
    nod_s: float = 0.4  # a nod: down and back
    brow_raise: float = 0.02  # exp units at a full accent
    turn_deg: tuple[float, float, float] = (1.0, 2.5, 0.75)  # spread of a phrase start's new direction
    turn_s: float = 0.4  # time to reach it
    phrase_pause_s: float = 0.15  # speech after this much silence starts a phrase
    full_rms: float = 0.1  # frame RMS that counts as full energy (the reference loudness target)
    speaking_level: float = 0.15  # frame energy above this counts as voiced
    hangover_s: float = 0.2  # gaps shorter than this (between syllables) are still speech


@dataclass
class _State:
    frame: int = 0  # absolute index of the next frame
    fast: float = 0.0  # energy, ~80 ms average
    slow: float = 0.0  # energy, ~320 ms average
    activity: float = 0.0  # ~1 s average of speaking
    silent: int = 1 << 30  # frames since the last voiced one (the clip starts after a pause)
    last_voiced: float = -1e9  # frame
    last_blink: float = -1e9  # frame of the last blink start
    last_accent: float = -1e9  # frame of the last accent
    accent: float = 0.0  # its strength, 0..1
    turn_start: float = -1e9  # frame of the last phrase start
    posture_from: np.ndarray = field(default_factory=lambda: np.zeros(3))
    posture_to: np.ndarray = field(default_factory=lambda: np.zeros(3))
    gaze: np.ndarray = field(default_factory=lambda: np.zeros(2))
    gaze_target: np.ndarray = field(default_factory=lambda: np.zeros(2))


def _ramp(x: float) -> float:
    """Smoothstep of x clipped to [0, 1]."""
    x = min(max(x, 0.0), 1.0)
    return x * x * (3 - 2 * x)


class FaceLife:
    """`step(wav)` -> offsets [frames, 70] around the neutral face for the next frames of speech."""

    def __init__(self, seed: int, cfg: LifeConfig | None = None):
        self.cfg = cfg or LifeConfig()
        self.seed = int(seed)
        rng = np.random.default_rng([self.seed, 0x11fe])
        self.sway_freq = rng.uniform(0.08, 0.45, (3, 3))  # Hz: (pitch, yaw, roll) x 3 partials
        self.sway_phase = rng.uniform(0, 2 * math.pi, (3, 3))
        self.state = _State()
        self._blocks: dict[int, np.ndarray] = {}

    def _uniforms(self, frame: int) -> np.ndarray:
        """Seven uniforms for absolute `frame`: blink draw, gaze change, gaze target x / y, new head
        direction pitch / yaw / roll."""
        block = frame // _BLOCK
        if block not in self._blocks:
            self._blocks = {block: np.random.default_rng([self.seed, block]).random((_BLOCK, 7))}
        return self._blocks[block][frame % _BLOCK]

    def _sway(self, frames: np.ndarray) -> np.ndarray:
        """[n] absolute frames -> [n, 3] unit-amplitude sway of pitch, yaw, roll."""
        t = frames[:, None, None] / MOTION_FPS
        waves = np.sin(2 * math.pi * self.sway_freq[None] * t + self.sway_phase[None])
        return waves.sum(-1) / math.sqrt(1.5)  # std of three unit sines ~1

    def step(self, wav: np.ndarray) -> np.ndarray:
        """wav [frames * 960] at 24 kHz, following the previous step's -> offsets [frames, 70]."""
        cfg, st = self.cfg, self.state
        n = len(wav) // SAMPLES_PER_MOTION
        energy = np.sqrt(np.mean(np.square(np.asarray(wav[: n * SAMPLES_PER_MOTION], np.float64)
                                           .reshape(n, SAMPLES_PER_MOTION)), axis=1)) / cfg.full_rms
        energy = np.minimum(energy, 1.0)
        out = np.zeros((n, MOTION_DIM), np.float32)
        sway = self._sway(np.arange(st.frame, st.frame + n))
        for i in range(n):
            u = self._uniforms(st.frame)
            speaking = self._listen(energy[i], u[4:7])
            closure = self._blink(u[0], speaking)
            self._gaze(u[1], u[2], u[3])
            amp = cfg.still_sway + (1 - cfg.still_sway) * st.activity
            x = (st.frame - st.last_accent) / (cfg.nod_s * MOTION_FPS)
            nod = st.accent * 0.5 * (1 - math.cos(2 * math.pi * x)) if x < 1 else 0.0
            w = _ramp((st.frame - st.turn_start + 1) / (cfg.turn_s * MOTION_FPS))
            pitch, yaw, roll = (1 - w) * st.posture_from + w * st.posture_to + amp * np.multiply(cfg.head_sway_deg, sway[i])
            self._write(out[i], closure, nod, pitch - cfg.nod_deg * nod, yaw, roll)
            st.frame += 1
        return out

    def _listen(self, energy: float, turn_draws: np.ndarray) -> bool:
        """Follow the energy of the current frame; start an accent or a phrase. -> speaking now."""
        cfg, st = self.cfg, self.state
        st.fast += (energy - st.fast) / 2.0
        st.slow += (energy - st.slow) / 8.0
        voiced = st.fast > cfg.speaking_level
        if voiced and st.silent >= cfg.phrase_pause_s * MOTION_FPS:  # a phrase starts: a new direction
            w = _ramp((st.frame - st.turn_start) / (cfg.turn_s * MOTION_FPS))
            st.posture_from = (1 - w) * st.posture_from + w * st.posture_to
            st.posture_to = (turn_draws - 0.5) * 3.4 * np.array(cfg.turn_deg)
            st.turn_start = st.frame
        if voiced:
            st.last_voiced, st.silent = st.frame, 0
        else:
            st.silent += 1
        speaking = st.frame - st.last_voiced < cfg.hangover_s * MOTION_FPS
        jump = st.fast - st.slow
        if speaking and jump > cfg.accent_jump and st.frame - st.last_accent >= cfg.accent_gap_s * MOTION_FPS:
            st.last_accent, st.accent = st.frame, min(1.0, jump / (3 * cfg.accent_jump))
        st.activity += (float(speaking) - st.activity) / MOTION_FPS
        return speaking

    def _blink(self, draw: float, speaking: bool) -> float:
        """Eyelid closure 0..1 at the current frame; may start a blink (hazard higher in pauses)."""
        cfg, st = self.cfg, self.state
        rate = cfg.blink_rate_per_min / 60.0  # per second, on average over speech (~70%) and pauses
        boost = (1.0 if speaking else cfg.pause_blink_boost) / (0.7 + 0.3 * cfg.pause_blink_boost)
        hazard = rate / (1 - rate * cfg.refractory_s) * boost / MOTION_FPS  # the refractory gap eats some time
        if st.frame - st.last_blink >= cfg.refractory_s * MOTION_FPS and draw < hazard:
            st.last_blink = st.frame
        since = (st.frame - st.last_blink) / MOTION_FPS
        close_s, open_s = 0.3 * cfg.blink_s, 0.7 * cfg.blink_s
        if since < close_s:
            return (since + 1.0 / MOTION_FPS) / (close_s + 1.0 / MOTION_FPS)
        return max(0.0, 1.0 - (since - close_s) / open_s)

    def _gaze(self, change: float, target_x: float, target_y: float) -> None:
        cfg, st = self.cfg, self.state
        if change < 1.0 / (cfg.gaze_hold_s * MOTION_FPS):
            # inverse-normal-ish target from two uniforms: a clipped, centred spread
            st.gaze_target = np.array([(target_x - 0.5) * 3.4 * cfg.gaze_std[0], (target_y - 0.5) * 3.4 * cfg.gaze_std[1]])
        st.gaze += (st.gaze_target - st.gaze) / 2.5  # a saccade settles in ~0.1 s

    def _write(self, row: np.ndarray, closure: float, raise_: float, pitch: float, yaw: float, roll: float) -> None:
        cfg, st = self.cfg, self.state
        for up, lo in (("lid_upper_left", "lid_lower_left"), ("lid_upper_right", "lid_lower_right")):
            row[exp_index(K[up], 1)] += 0.046 * closure
            row[exp_index(K[lo], 1)] -= 0.004 * closure
        row[exp_index(K["gaze"], 0)] += st.gaze[0]
        row[exp_index(K["gaze"], 1)] += st.gaze[1]
        for brow in ("brow_left", "brow_right"):
            row[exp_index(K[brow], 1)] -= cfg.brow_raise * raise_
        row[63], row[64], row[65] = pitch, yaw, roll
        row[66] = 0.002 * yaw
        row[67] = -0.001 * pitch


def life_channels() -> tuple[int, ...]:
    """The channels FaceLife moves: lids, gaze, brows (exp y/x) and pose + translation x/y."""
    cols = {exp_index(K[k], 1) for k in ("lid_upper_left", "lid_lower_left", "lid_upper_right", "lid_lower_right",
                                         "brow_left", "brow_right", "gaze")}
    cols.add(exp_index(K["gaze"], 0))
    return tuple(sorted(cols | {63, 64, 65, 66, 67}))
