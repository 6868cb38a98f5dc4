"""Plots of results, the way users check them by eye."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import MissingDependency

if TYPE_CHECKING:  # pragma: no cover
    from ..tasks.base import TaskInput
    from ..tasks.quality import QualityResult

__all__ = ["plot_quality"]


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingDependency("plots need matplotlib: pip install 'audiolens[plot]'") from exc
    return plt


def _picture_name(path: str) -> str:
    stem = Path(path).name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)[:80]
    tag = hashlib.blake2b(os.fsencode(path), digest_size=4).hexdigest()
    return f"{safe}.{tag}.quality.png"


def plot_quality(item: TaskInput, result: QualityResult, out_dir: str | Path) -> Path:
    """Draw the spectrogram of the analysed stretches with the detected cutoff marked.

    Parameters
    ----------
    item : the decoded input the task analysed (its pieces are drawn side by side)
    result : the task's answer for it
    out_dir : folder for the PNG (created when missing)

    Returns
    -------
    path : the PNG written
    """
    from ..dsp import stft

    plt = _pyplot()
    sr = item.pieces[0].sample_rate
    cols = []
    for a in item.pieces:
        x = np.asarray(a.samples, dtype=np.float64).reshape(-1)
        if x.size >= 2048:
            s = stft(x, n_fft=2048, hop_length=1024, center=False)
            cols.append(10 * np.log10(np.maximum(s.real**2 + s.imag**2, 1e-16)))
            cols.append(np.full((s.shape[0], 2), np.nan))  # a gap between stretches
    img = np.concatenate(cols, axis=1) if cols else np.full((1025, 1), -160.0)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 5), width_ratios=(4, 1), sharey=True)
    top = np.nanmax(img) if np.isfinite(img).any() else 0.0
    ax.imshow(
        img,
        origin="lower",
        aspect="auto",
        cmap="magma",
        vmin=top - 120,
        vmax=top,
        extent=(0, img.shape[1], 0, sr / 2000.0),
        interpolation="nearest",
    )
    ax.set_ylabel("frequency (kHz)")
    ax.set_xlabel("frames of the analysed stretches")
    ltas = np.nanmean(img, axis=1)
    ax2.plot(ltas, np.linspace(0, sr / 2000.0, ltas.size), lw=0.8)
    ax2.set_xlabel("average level (dB)")
    for a_ in (ax, ax2):
        a_.axhline(result.cutoff_hz / 1000.0, color="cyan", ls="--", lw=1.2)
    origin = (
        ""
        if result.origin is None
        else (f", from {result.origin['codec']} {result.origin['bitrate_kbps']} kb/s")
    )
    name = item.info.path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    fig.suptitle(
        f"{Path(name).name}: {result.verdict} ({result.bitrate_class}{origin}), "
        f"cutoff {result.cutoff_hz / 1000:.1f} kHz, confidence {result.confidence:.2f}"
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = out / _picture_name(item.info.path)
    fig.savefig(target, dpi=90)
    plt.close(fig)
    return target
