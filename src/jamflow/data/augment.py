"""Speaker augmentation: one recorded or synthetic voice becomes many plausible speakers.

    warp = speaker_warps("festival:slt_hts", 8)[3]
    wav2 = warp_voice(wav, warp)            # 24 kHz float32 in, 24 kHz float32 out, same length / rate
    phones2 = warp_phones(phones, warp)     # phone timings follow a speaking-rate change

The WORLD vocoder (`pyworld`, MIT) splits speech into F0, spectral envelope and aperiodicity. A warp
1. scales mean F0 and its range around the mean (in log F0, so intonation keeps its shape),
2. warps the envelope's frequency axis (vocal-tract length: a factor < 1 moves formants down, a longer tract),
3. stretches time (speaking rate) by re-reading the analysis frames,
4. colours the result like another room and microphone: a gentle spectral tilt and a short, quiet reverb.
`speaker_warps` spreads a voice's speakers evenly over the factors that keep it intelligible (figures:
`python benchmarks/bench_augment.py`, docs/corpus.md).
"""
from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass

import numpy as np
from scipy.signal import fftconvolve, lfilter

from jamflow.timeline import SAMPLE_RATE

FRAME_MS = 5.0  # WORLD analysis hop
F0_BOX = (0.62, 1.15)  # warps inside these factors keep synthetic speech intelligible (bench_augment.py)
FORMANT_BOX = (0.86, 1.04)


@dataclass(frozen=True)
class VoiceWarp:
    f0_scale: float = 1.0  # mean pitch factor
    f0_range: float = 1.0  # excursion around the mean log F0 (1 = as spoken)
    formant_scale: float = 1.0  # envelope frequency factor (< 1: formants lower, a longer vocal tract)
    rate: float = 1.0  # speaking-rate factor (> 1: faster, shorter audio)
    tilt_db: float = 0.0  # spectral tilt per octave above 1 kHz (microphone / distance colouring)
    reverb: float = 0.0  # wet level of a short room response, 0..0.3
    seed: int = 0  # the room response's noise

    def as_dict(self) -> dict:
        return asdict(self)


def _halton(index: int, base: int) -> float:
    """The index-th point of the van der Corput sequence in base: evenly spread in [0, 1)."""
    out, scale = 0.0, 1.0
    while index:
        scale /= base
        index, digit = divmod(index, base)
        out += digit * scale
    return out


def speaker_warps(voice: str, count: int) -> list[VoiceWarp]:
    """`count` speakers made from one voice, the same for the same voice name in every corpus.
    F0 and formant factors are spread evenly (a 2-D Halton sequence, in log scale) over the box where
    warped speech stays intelligible (F0 x0.62-1.15, formants x0.86-1.04): speakers far apart in it
    sound like different people; range, rate and room are drawn per speaker."""
    rng = np.random.default_rng(zlib.crc32(voice.encode()))
    warps = []
    for k in range(1, count + 1):
        f0 = F0_BOX[0] * (F0_BOX[1] / F0_BOX[0]) ** _halton(k, 2)
        formant = FORMANT_BOX[0] * (FORMANT_BOX[1] / FORMANT_BOX[0]) ** _halton(k, 3)
        warps.append(VoiceWarp(f0_scale=round(f0, 3), f0_range=round(rng.uniform(0.7, 1.3), 3),
                               formant_scale=round(formant, 3), rate=round(rng.uniform(0.92, 1.08), 3),
                               tilt_db=round(rng.uniform(-2.0, 1.0), 2), reverb=round(rng.uniform(0.0, 0.1), 3),
                               seed=int(rng.integers(1 << 31))))
    return warps


def _analyse(wav: np.ndarray, sample_rate: int):
    import pyworld

    x = wav.astype(np.float64)
    f0, times = pyworld.harvest(x, sample_rate, frame_period=FRAME_MS)
    f0 = pyworld.stonemask(x, f0, times, sample_rate)
    return f0, pyworld.cheaptrick(x, f0, times, sample_rate), pyworld.d4c(x, f0, times, sample_rate)


def _warp_f0(f0: np.ndarray, warp: VoiceWarp) -> np.ndarray:
    voiced = f0 > 0
    if not voiced.any():
        return f0
    log_f0 = np.log(f0[voiced])
    centre = np.median(log_f0)
    out = f0.copy()
    out[voiced] = np.exp(centre + warp.f0_range * (log_f0 - centre)) * warp.f0_scale
    return out


def _warp_frequency(env: np.ndarray, factor: float) -> np.ndarray:
    """env [frames, bins] -> env(f / factor): what sat at f moves to f * factor."""
    if factor == 1.0:
        return env
    bins = np.arange(env.shape[1], dtype=np.float64)
    source = np.clip(bins / factor, 0, env.shape[1] - 1)
    return np.stack([np.interp(source, bins, frame) for frame in env])


def _stretch(frames: np.ndarray, rate: float) -> np.ndarray:
    """Re-read analysis frames at rate x speed (nearest frame: WORLD's parameters are smooth at 5 ms)."""
    if rate == 1.0:
        return frames
    count = max(1, int(round(len(frames) / rate)))
    return frames[np.minimum(np.round(np.arange(count) * rate).astype(int), len(frames) - 1)]


def _colour(wav: np.ndarray, warp: VoiceWarp, sample_rate: int) -> np.ndarray:
    if warp.tilt_db:
        # first-order shelf around 1 kHz: ~tilt_db per octave at the top of the band
        a = np.exp(-2 * np.pi * 1000 / sample_rate)
        high = lfilter([1, -1], [1, -a], wav)
        wav = wav + (10 ** (warp.tilt_db / 20) - 1) * high
    if warp.reverb > 0:
        rng = np.random.default_rng(warp.seed)
        n = int(0.25 * sample_rate)
        tail = rng.standard_normal(n) * np.exp(-np.arange(n) / (0.05 * sample_rate))
        impulse = np.concatenate([[1.0], warp.reverb * tail / np.sqrt(np.sum(tail ** 2))])
        wav = fftconvolve(wav, impulse)[: len(wav)]
    return wav


def warp_voice(wav: np.ndarray, warp: VoiceWarp, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """float32 [samples] -> float32 [~samples / rate], another speaker saying the same thing, same peak."""
    import pyworld

    f0, env, aperiodicity = _analyse(np.asarray(wav, np.float32), sample_rate)
    f0 = _stretch(_warp_f0(f0, warp), warp.rate)
    env = _stretch(_warp_frequency(env, warp.formant_scale), warp.rate)
    aperiodicity = _stretch(aperiodicity, warp.rate)
    out = pyworld.synthesize(f0, np.ascontiguousarray(env), np.ascontiguousarray(aperiodicity), sample_rate,
                             frame_period=FRAME_MS)
    out = _colour(out, warp, sample_rate)
    target = int(round(len(wav) / warp.rate))
    out = np.pad(out, (0, max(0, target - len(out))))[:target]
    peak_in, peak_out = float(np.abs(wav).max()), float(np.abs(out).max())
    return (out * (peak_in / peak_out if peak_out > 0 else 1.0)).astype(np.float32)


def warp_phones(phones: list[tuple[str, float, float]], warp: VoiceWarp) -> list[tuple[str, float, float]]:
    """Phone timings (phone, start_s, end_s) after the warp's speaking-rate change."""
    return [(p, start / warp.rate, end / warp.rate) for p, start, end in phones]
