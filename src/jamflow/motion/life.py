"""Face life: blinks, gaze shifts, brow raises and head motion that follow a voice, frame by frame.

A motion spec that generates only the mouth (`lips`, the paper's) leaves eyes, brows and head pose to
a context motion. When the user gives none, these channels would sit still at the neutral face; this
module gives them life from the speech instead:

- head: a slow sway (a sum of incommensurate sinusoids with seeded phases) that calms down in
  silence, a nod that follows the slow speech energy, and a dip at each phrase boundary;
- brows: raised on emphasis (energy rising above its slow average);
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
    head_sway_deg: tuple[float, float, float] = (1.2, 1.8, 0.7)  # pitch, yaw, roll amplitude while speaking
    still_sway: float = 0.45  # share of the sway left after a second of silence
    nod_deg: float = 2.5  # pitch change at full slow energy
    boundary_nod_deg: float = 1.5  # dip at a phrase boundary
    brow_raise: float = 0.02  # exp units at full emphasis
    full_rms: float = 0.1  # frame RMS that counts as full energy (the reference loudness target)
    speaking_level: float = 0.15  # frame energy above this counts as voiced
    hangover_s: float = 0.2  # gaps shorter than this (between syllables) are still speech


@dataclass
class _State:
    frame: int = 0  # absolute index of the next frame
    fast: float = 0.0  # energy, ~80 ms average
    slow: float = 0.0  # energy, ~320 ms average
    emphasis: float = 0.0
    activity: float = 0.0  # ~1 s average of speaking
    dip: float = 0.0  # phrase-boundary nod, decaying
    speaking: bool = False
    last_voiced: float = -1e9  # frame
    last_blink: float = -1e9  # frame of the last blink start
    gaze: np.ndarray = field(default_factory=lambda: np.zeros(2))
    gaze_target: np.ndarray = field(default_factory=lambda: np.zeros(2))


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
        """Three uniforms for absolute `frame`: blink draw, gaze-change draw, gaze target draw."""
        block = frame // _BLOCK
        if block not in self._blocks:
            self._blocks = {block: np.random.default_rng([self.seed, block]).random((_BLOCK, 4))}
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
            st.fast += (energy[i] - st.fast) / 2.0
            st.slow += (energy[i] - st.slow) / 8.0
            st.emphasis += (max(st.fast - st.slow, 0.0) - st.emphasis) / 3.0
            if st.fast > cfg.speaking_level:
                st.last_voiced = st.frame
            speaking = st.frame - st.last_voiced < cfg.hangover_s * MOTION_FPS
            if st.speaking and not speaking:
                st.dip = 1.0  # speech just stopped: a phrase boundary
            st.speaking = speaking
            st.activity += (float(speaking) - st.activity) / MOTION_FPS
            st.dip *= math.exp(-1.0 / 6.0)
            u = self._uniforms(st.frame)
            closure = self._blink(u[0], speaking)
            self._gaze(u[1], u[2], u[3])
            amp = cfg.still_sway + (1 - cfg.still_sway) * st.activity
            pitch = amp * cfg.head_sway_deg[0] * sway[i, 0] + cfg.nod_deg * (st.slow - 0.3) - cfg.boundary_nod_deg * st.dip
            yaw = amp * cfg.head_sway_deg[1] * sway[i, 1]
            roll = amp * cfg.head_sway_deg[2] * sway[i, 2]
            self._write(out[i], closure, pitch, yaw, roll)
            st.frame += 1
        return out

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

    def _write(self, row: np.ndarray, closure: float, pitch: float, yaw: float, roll: float) -> None:
        cfg, st = self.cfg, self.state
        for up, lo in (("lid_upper_left", "lid_lower_left"), ("lid_upper_right", "lid_lower_right")):
            row[exp_index(K[up], 1)] += 0.046 * closure
            row[exp_index(K[lo], 1)] -= 0.004 * closure
        row[exp_index(K["gaze"], 0)] += st.gaze[0]
        row[exp_index(K["gaze"], 1)] += st.gaze[1]
        for brow in ("brow_left", "brow_right"):
            row[exp_index(K[brow], 1)] -= cfg.brow_raise * min(1.0, 3.0 * st.emphasis)
        row[63], row[64], row[65] = pitch, yaw, roll
        row[66] = 0.002 * yaw
        row[67] = -0.001 * pitch


def life_channels() -> tuple[int, ...]:
    """The channels FaceLife moves: lids, gaze, brows (exp y/x) and pose + translation x/y."""
    cols = {exp_index(K[k], 1) for k in ("lid_upper_left", "lid_lower_left", "lid_upper_right", "lid_lower_right",
                                         "brow_left", "brow_right", "gaze")}
    cols.add(exp_index(K["gaze"], 0))
    return tuple(sorted(cols | {63, 64, 65, 66, 67}))
