"""Plots of results, the way users check them by eye."""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import MissingDependency, ParameterError

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Sequence

    from ..tasks.base import TaskInput
    from ..tasks.notes.types import Note
    from ..tasks.quality import QualityResult
    from ..tasks.structure import StructureResult

__all__ = ["plot_notes", "plot_quality", "plot_structure"]


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingDependency("plots need matplotlib: pip install 'audiolens[plot]'") from exc
    return plt


def _picture_name(path: str, kind: str = "quality") -> str:
    """``<file name>.<hash of the whole path>.<kind>.png``: a safe, distinct name for the
    picture of the input ``path`` made by the task ``kind``."""
    stem = Path(path).name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)[:80]
    tag = hashlib.blake2b(os.fsencode(path), digest_size=4).hexdigest()
    return f"{safe}.{tag}.{kind}.png"


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


#: the piano-roll's spectrogram: STFT size and hop (samples), rows per semitone, pitch range
_NOTES_N_FFT = 2048
_NOTES_HOP = 512
_ROWS_PER_SEMITONE = 3
_LOWEST, _HIGHEST = 21, 108
#: a spectrogram wider than this is decimated (its hop grows by a whole factor) to fit
_MAX_COLUMNS = 4000
#: frames per second of ``Note.bends``
_BEND_FRAME_RATE = 22050 / 256


def _midi_to_hz(pitch: np.ndarray) -> np.ndarray:
    return 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)


def _pitch_spectrogram(x: np.ndarray, sample_rate: int) -> tuple[np.ndarray, float]:
    """Level in dB on rows of ``1 / _ROWS_PER_SEMITONE`` semitone from MIDI 20.5 to 108.5
    (NaN above Nyquist), and the seconds between its columns.

    A row covering at least one FFT bin takes the loudest of them; a narrower row (low
    pitches) interpolates between the two nearest bins.
    """
    from ..dsp import fft_frequencies, magnitude, stft

    n_rows = (_HIGHEST - _LOWEST + 1) * _ROWS_PER_SEMITONE
    edges = _LOWEST - 0.5 + np.arange(n_rows + 1) / _ROWS_PER_SEMITONE
    if x.size == 0:
        return np.full((n_rows, 1), np.nan, dtype=np.float32), _NOTES_HOP / sample_rate
    n_frames = 1 + x.size // _NOTES_HOP
    hop = _NOTES_HOP * max(1, math.ceil(n_frames / _MAX_COLUMNS))
    spec = magnitude(stft(x, n_fft=_NOTES_N_FFT, hop_length=hop))
    db = 20.0 * np.log10(np.maximum(spec, 1e-10, dtype=np.float32))
    freqs = fft_frequencies(sr=sample_rate, n_fft=_NOTES_N_FFT)
    centres = _midi_to_hz((edges[:-1] + edges[1:]) / 2)
    f_edges = _midi_to_hz(edges)
    first = np.searchsorted(freqs, f_edges[:-1], "left")
    stop = np.searchsorted(freqs, f_edges[1:], "left")
    k = np.clip(np.searchsorted(freqs, centres, "right") - 1, 0, freqs.size - 2)
    w = ((centres - freqs[k]) / (freqs[k + 1] - freqs[k])).astype(np.float32)[:, None]
    img = db[k] * (1 - w) + db[k + 1] * w
    for i in np.flatnonzero(stop > first):
        img[i] = db[first[i] : stop[i]].max(axis=0)
    img[centres > sample_rate / 2] = np.nan
    return img, hop / sample_rate


def plot_notes(
    samples: np.ndarray,
    sample_rate: int,
    notes: Sequence[Note],
    out_path: str | Path,
    *,
    title: str | None = None,
) -> Path:
    """Draw the notes as a piano roll over the spectrogram of the audio they came from.

    The spectrogram (STFT of 2048 samples, hop 512) is drawn on MIDI-pitch rows of a third of
    a semitone from A0 (21) to C8 (108), 80 dB deep; each note is a rectangle from its onset
    to its offset spanning ``pitch ± 0.5``, more opaque the higher its velocity, and its pitch
    bends (when it has some) a line. A spectrogram of more than 4000 columns (audio longer
    than about 93 s at 22050 Hz) is decimated to at most 4000 by taking every k-th frame (a
    larger hop), so long files stay fast.

    Parameters
    ----------
    samples : the audio, ``(n,)`` or ``(channels, n)`` (channels are averaged), float
    sample_rate : Hz of ``samples``
    notes : the notes found in it (may be empty)
    out_path : the PNG file to write (its folder is created when missing); use
        ``_picture_name(path, "notes")`` in a folder for the usual name
    title : the picture's title (default: the number of notes)

    Returns
    -------
    path : ``out_path`` as a :class:`~pathlib.Path`
    """
    if (
        isinstance(sample_rate, bool)
        or not isinstance(sample_rate, (int, np.integer))
        or sample_rate <= 0
    ):
        raise ParameterError(f"sample_rate={sample_rate!r} must be a positive integer")
    x = np.asarray(samples)
    if x.ndim == 2:
        x = x.mean(axis=0)
    if x.ndim != 1:
        raise ParameterError(f"samples of shape {x.shape} must be (n,) or (channels, n)")
    x = np.nan_to_num(x.astype(np.float32, copy=False), nan=0.0, posinf=0.0, neginf=0.0)
    img, step = _pitch_spectrogram(x, int(sample_rate))
    duration = x.size / float(sample_rate)

    plt = _pyplot()
    from matplotlib.collections import LineCollection, PolyCollection

    fig, ax = plt.subplots(figsize=(14, 6))
    try:
        finite = np.isfinite(img)
        top = float(img[finite].max()) if finite.any() else 0.0
        cmap = plt.get_cmap("magma").with_extremes(bad="black")
        ax.imshow(
            img,
            origin="lower",
            aspect="auto",
            cmap=cmap,
            vmin=top - 80.0,
            vmax=top,
            extent=(-step / 2, (img.shape[1] - 0.5) * step, _LOWEST - 0.5, _HIGHEST + 0.5),
            interpolation="nearest",
        )
        if notes:
            on = np.array([float(n.onset) for n in notes])
            off = np.array([float(n.offset) for n in notes])
            pitch = np.array([float(n.pitch) for n in notes])
            vel = np.clip(np.array([float(n.velocity) for n in notes]), 1, 127)
            low, high = pitch - 0.5, pitch + 0.5
            boxes = np.stack([on, low, off, low, off, high, on, high], axis=1).reshape(-1, 4, 2)
            faces = np.zeros((len(notes), 4))
            faces[:, :3] = (0.3, 0.9, 1.0)
            faces[:, 3] = 0.15 + 0.6 * vel / 127.0
            ax.add_collection(
                PolyCollection(boxes, facecolors=faces, edgecolors=(1, 1, 1, 0.8), linewidths=0.4)
            )
            curves = [
                np.stack(
                    [
                        n.onset + np.arange(len(n.bends)) / _BEND_FRAME_RATE,
                        n.pitch + np.asarray(n.bends) / 3.0,
                    ],
                    axis=1,
                )
                for n in notes
                if n.bends
            ]
            if curves:
                ax.add_collection(LineCollection(curves, colors="lime", linewidths=0.8))
            duration = max(duration, float(off.max()))
        ax.set_xlim(0.0, max(duration, step))
        ax.set_ylim(_LOWEST - 0.5, _HIGHEST + 0.5)
        names = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
        ticks = range(24, _HIGHEST + 1, 12)
        ax.set_yticks(ticks, [f"{names[p % 12]}{p // 12 - 1} ({p})" for p in ticks])
        for p in ticks:
            ax.axhline(p - 0.5, color="white", lw=0.3, alpha=0.3)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("pitch (MIDI)")
        ax.set_title(title if title is not None else f"{len(notes)} notes")
        out = Path(out_path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=100)
    finally:
        plt.close(fig)
    return out


def plot_structure(
    result: StructureResult, out_path: str | Path, *, title: str | None = None
) -> Path:
    """Draw the self-similarity matrix of a song with its sections marked.

    The matrix (bar by bar, brighter = more alike) fills the square; each section's boundary is
    a white line across it, and its label is written along the top and the left edge, so the
    repeats show as bright blocks off the diagonal between sections of the same letter.

    Parameters
    ----------
    result : the ``structure`` task's answer for one file (it carries the matrix and the times
        of its rows in ``details``)
    out_path : the PNG file to write (its folder is created when missing); use
        ``_picture_name(path, "structure")`` in a folder for the usual name
    title : the picture's title (default: the form, e.g. "ABAC")

    Returns
    -------
    path : ``out_path`` as a :class:`~pathlib.Path`
    """
    ssm = np.asarray(result.details.get("ssm", np.zeros((0, 0))), dtype=np.float32)
    edges = np.asarray(result.details.get("edges", [0.0, result.duration]), dtype=float)
    if ssm.ndim != 2 or ssm.shape[0] != ssm.shape[1] or edges.size != ssm.shape[0] + 1:
        raise ParameterError(
            f"the result has no self-similarity matrix to draw (shape {ssm.shape}, "
            f"{edges.size} edges)"
        )
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 8))
    try:
        end = float(edges[-1]) if edges.size else float(result.duration)
        if ssm.size:
            ax.pcolormesh(edges, edges, ssm, cmap="magma", shading="flat")
        ax.set_xlim(0, end)
        ax.set_ylim(end, 0)
        for seg in result.segments:
            if seg.start > 0:
                ax.axvline(seg.start, color="white", lw=1.2)
                ax.axhline(seg.start, color="white", lw=1.2)
            mid = (seg.start + min(seg.end, end)) / 2
            ax.text(mid, 0, seg.label, ha="center", va="bottom", fontsize=12, weight="bold")
            ax.text(0, mid, seg.label + " ", ha="right", va="center", fontsize=12, weight="bold")
        ax.set_xlabel("time [s]")
        ax.set_ylabel("time [s]")
        ax.set_title(title or f"sections {result.form or '-'}", pad=22)
        ax.set_aspect("equal")
        out = Path(out_path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=90, bbox_inches="tight")
    finally:
        plt.close(fig)
    return out
