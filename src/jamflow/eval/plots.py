"""PNG plots for evaluation reports: aperture vs envelope, per-metric bars, mel comparisons.

matplotlib runs headless (Agg); every function writes one PNG atomically and returns its path.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from jamflow.fileio import atomic_path
from jamflow.timeline import HOP_LENGTH, MOTION_FPS, SAMPLE_RATE
from jamflow.motion.mouth import mouth_aperture


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return path


def _z(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / (x.std() + 1e-12)


def plot_sync(path, motion: np.ndarray, wav: np.ndarray, sample_rate: int = SAMPLE_RATE, title: str = "") -> Path:
    """Two panels: standardised mouth aperture and audio envelope over time; correlation vs lag."""
    from jamflow.eval import sync

    aperture = mouth_aperture(motion)
    envelope = sync.audio_envelope(wav, sample_rate, len(aperture))
    r = sync.sync_from_signals(aperture, envelope)
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3), gridspec_kw={"width_ratios": [3, 1]})
    t = np.arange(len(aperture)) / MOTION_FPS
    a.plot(t, _z(envelope), label="audio envelope (500-2500 Hz)", color="tab:blue", lw=1)
    a.plot(t, _z(aperture), label="mouth aperture", color="tab:red", lw=1.4)
    a.set_xlabel("time (s)")
    a.set_ylabel("z-score")
    a.legend(loc="upper right", fontsize=8)
    a.set_title(title, fontsize=9)
    lags = np.arange(-sync.MAX_OFFSET, sync.MAX_OFFSET + 1)
    b.plot(lags, r.curve, marker=".", color="k", lw=1)
    b.axvline(r.offset, color="tab:red", ls="--", lw=1)
    b.set_xlabel("lag (frames, + = motion late)")
    b.set_title(f"offset {r.offset}, conf {r.confidence:.2f}", fontsize=9)
    return _save(fig, path)


def plot_metric_bars(path, summaries: dict[str, dict], metrics: list[tuple[str, str]]) -> Path | None:
    """One bar chart per metric (key, label), one bar per system; metrics no system has are skipped."""
    metrics = [(k, lab) for k, lab in metrics if any(s.get(k) is not None for s in summaries.values())]
    if not metrics:
        return None
    plt = _plt()
    cols = min(4, len(metrics))
    rows = (len(metrics) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    names = list(summaries)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (key, label) in zip(axes.flat, metrics):
        vals = [summaries[n].get(key) for n in names]
        ax.bar(range(len(names)), [np.nan if v is None else v for v in vals], color=colors[: len(names)])
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=7)
        ax.set_title(label, fontsize=9)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    fig.tight_layout()
    return _save(fig, path)


def plot_mels(path, wavs: dict[str, np.ndarray], title: str = "") -> Path:
    """Log-mel spectrograms (the model's own mel) of the same clip from several systems, stacked."""
    import torch

    from jamflow.audio import mel_spectrogram

    plt = _plt()
    fig, axes = plt.subplots(len(wavs), 1, figsize=(10, 2.2 * len(wavs)), squeeze=False)
    for ax, (name, wav) in zip(axes[:, 0], wavs.items()):
        mel = mel_spectrogram(torch.as_tensor(np.asarray(wav, np.float32))[None])[0].numpy()
        ax.imshow(mel, origin="lower", aspect="auto", cmap="magma",
                  extent=(0, mel.shape[1] * HOP_LENGTH / SAMPLE_RATE, 0, mel.shape[0]))
        ax.set_ylabel(name, fontsize=8)
    axes[-1, 0].set_xlabel("time (s)")
    axes[0, 0].set_title(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)
