"""Polyphase resampling by a rational factor, in numpy: a Kaiser-windowed sinc low-pass applied as
up-sample by `up`, filter, down-sample by `down` (what `scipy.signal.resample_poly` computes with a
given window, equal to it up to float rounding).

It lives here rather than being imported from scipy because `import scipy.signal` takes ~0.9 s on
a 2-core machine, and the first reference a process resamples would pay it inside the time to first
audio (`jamflow talk --stream` prints that time; the server's first request would wait as long).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def kaiser_lowpass(taps: int, cutoff: float, beta: float) -> np.ndarray:
    """Linear-phase low-pass FIR of `taps` (odd) coefficients with unit gain at DC: a sinc cut at
    `cutoff` (a fraction of the Nyquist frequency) under a Kaiser window -> [taps] float64."""
    if taps < 1 or taps % 2 == 0 or not 0 < cutoff <= 1:
        raise ValueError(f"kaiser_lowpass: expected odd taps >= 1 and cutoff in (0, 1], got {taps}, {cutoff}")
    m = np.arange(taps, dtype=np.float64) - (taps - 1) / 2
    h = cutoff * np.sinc(cutoff * m) * np.kaiser(taps, beta)
    return h / h.sum()


def resample_poly(x: np.ndarray, up: int, down: int, h: np.ndarray) -> np.ndarray:
    """x [s] -> [ceil(s * up / down)] float64: zeros are inserted between the samples (up - 1 per
    sample), the result is filtered with `h * up` (odd length, centred on each output sample) and every
    `down`-th sample is kept. Outside x the signal is taken as zero."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or up < 1 or down < 1 or len(h) % 2 == 0:
        raise ValueError("resample_poly: expected a 1-D signal, up, down >= 1 and an odd-length filter")
    n_out = -(-len(x) * up // down)
    half = (len(h) - 1) // 2
    q = -(-len(h) // up)  # taps per phase
    # phase r holds h[r], h[r + up], ...: the taps that meet input samples for an output at offset r
    phases = np.zeros(q * up)
    phases[: len(h)] = h * up
    phases = phases.reshape(q, up).T[:, ::-1]  # [up, q], reversed: taps in the order of the input window
    # output j sits at t = j * down + half on the up-sampled axis; its newest input sample is t // up
    pad = q
    padded = np.concatenate([np.zeros(pad), x, np.zeros(pad + down + 1)])
    windows = sliding_window_view(padded, q)  # windows[k] = padded[k : k + q]
    out = np.empty(n_out)
    for p in range(min(up, n_out)):  # outputs p, p + up, p + 2 up, ... share a phase
        t = p * down + half
        newest, r = divmod(t, up)
        first = newest - q + 1 + pad  # window start for output p; each later output moves `down` on
        count = len(range(p, n_out, up))
        out[p::up] = windows[first: first + count * down: down] @ phases[r]
    return out
