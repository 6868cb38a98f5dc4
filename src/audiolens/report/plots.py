"""Plots of results, the way users check them by eye."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import MissingDependency, ParameterError

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Sequence

    from ..tasks.base import TaskInput
    from ..tasks.names import OutputNames
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


def _file_name(source: str | bytes | os.PathLike) -> str:
    """The file name of ``source`` as printable text, for a picture's title."""
    name = Path(os.fsdecode(source)).name
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _save(fig: Any, target: Path, **savefig: Any) -> Path:
    """Write ``fig`` to ``target`` (its folder created when missing, the picture whole or not
    at all: :func:`audiolens.writing.replace_into`) and close it."""
    from ..writing import replace_into

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with replace_into(target, "wb") as fh:
            fig.savefig(fh, format=target.suffix[1:].lower() or "png", **savefig)
    finally:
        _pyplot().close(fig)
    return target


#: the quality spectrogram's STFT size and hop (samples)
_QUALITY_N_FFT = 2048
_QUALITY_HOP = 1024


@dataclass(frozen=True)
class _Stretch:
    """One analysed stretch as drawn: its columns (dB), where it starts in the file and on the
    picture's x axis (seconds), and the seconds per column."""

    db: np.ndarray
    start: float
    x: float
    step: float

    @property
    def width(self) -> float:
        return self.db.shape[1] * self.step


def _stretches(item: TaskInput) -> list[_Stretch]:
    """The spectrogram of each analysed stretch, laid side by side on the x axis: contiguous
    stretches touch, and a gap of 2% of the drawn time separates the others."""
    from ..dsp import stft

    pieces = []
    for a in item.pieces:
        x = np.asarray(a.samples, dtype=np.float64).reshape(-1)
        if x.size >= _QUALITY_N_FFT:
            s = stft(x, n_fft=_QUALITY_N_FFT, hop_length=_QUALITY_HOP, center=False)
            db = 10 * np.log10(np.maximum(s.real**2 + s.imag**2, 1e-16))
            rate = float(a.sample_rate)
            pieces.append((db, float(a.offset), _QUALITY_HOP / rate, x.size / rate))
    gap = 0.02 * sum(db.shape[1] * step for db, _, step, _ in pieces)
    out: list[_Stretch] = []
    x_at, end = 0.0, None
    for db, start, step, seconds in pieces:
        if end is not None and abs(start - end) > step:  # not contiguous with the one before
            x_at += gap
        out.append(_Stretch(db, start, x_at, step))
        x_at += db.shape[1] * step
        end = start + seconds
    return out


def _time_axis(ax: Any, stretches: Sequence[_Stretch]) -> None:
    """Label the x axis with times in the file: each stretch's start when the stretches are
    apart (with a white separator in each gap), else ordinary ticks in seconds."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    apart = [(a, b) for a, b in pairwise(stretches) if b.x - (a.x + a.width) > 1e-9]
    if apart:
        ax.set_xticks([s.x for s in stretches], [f"{s.start:.1f}" for s in stretches])
        for a, b in apart:
            ax.axvspan(a.x + a.width, b.x, color="white", lw=0, gid="separator")
        ax.set_xlabel("time in the file (s): the analysed stretches, side by side")
    else:
        shift = stretches[0].start - stretches[0].x if stretches else 0.0
        ax.xaxis.set_major_locator(MaxNLocator(nbins=10, steps=[1, 2, 2.5, 5, 10]))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v + shift:g}"))
        ax.set_xlabel("time in the file (s)")


def _quality_figure(item: TaskInput, result: QualityResult) -> Any:
    """The figure :func:`plot_quality` saves (the caller closes it)."""
    plt = _pyplot()
    sr = item.pieces[0].sample_rate
    nyquist_khz = sr / 2000.0
    stretches = _stretches(item)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 5), width_ratios=(4, 1), sharey=True)
    dbs = [s.db for s in stretches] or [np.full((_QUALITY_N_FFT // 2 + 1, 1), -160.0)]
    img = np.concatenate(dbs, axis=1)
    top = float(np.max(img))
    for s in stretches:
        ax.imshow(
            s.db,
            origin="lower",
            aspect="auto",
            cmap="magma",
            vmin=top - 120,
            vmax=top,
            extent=(s.x, s.x + s.width, 0, nyquist_khz),
            interpolation="nearest",
        )
    if stretches:
        ax.set_xlim(0, stretches[-1].x + stretches[-1].width)
    ax.set_ylim(0, nyquist_khz)
    _time_axis(ax, stretches)
    ax.set_ylabel("frequency (kHz)")
    ltas = np.mean(img, axis=1)
    ax2.plot(ltas, np.linspace(0, nyquist_khz, ltas.size), lw=0.8)
    ax2.set_xlabel("average level (dB)")
    for a_ in (ax, ax2):
        a_.axhline(result.cutoff_hz / 1000.0, color="cyan", ls="--", lw=1.2)
    origin = (
        ""
        if result.origin is None
        else (f", from {result.origin['codec']} {result.origin['bitrate_kbps']} kb/s")
    )
    fig.suptitle(
        f"{_file_name(item.info.path)}: {result.verdict} ({result.bitrate_class}{origin}), "
        f"cutoff {result.cutoff_hz / 1000:.1f} kHz, confidence {result.confidence:.2f}"
    )
    return fig


def plot_quality(
    item: TaskInput,
    result: QualityResult,
    out_dir: str | Path,
    *,
    names: OutputNames | None = None,
) -> Path:
    """Draw the spectrogram of the analysed stretches with the detected cutoff marked.

    The stretches are drawn side by side, their x axis in seconds of the file (each stretch
    labelled with its start when they are apart, a white gap between them); the title names
    the file and says the verdict.

    Parameters
    ----------
    item : the decoded input the task analysed (its pieces are drawn side by side)
    result : the task's answer for it
    out_dir : folder for the PNG (created when missing)
    names : the run's output names (None: the input's stem), see
        :mod:`audiolens.tasks.names`

    Returns
    -------
    path : the PNG written, ``<stem>.quality.png`` in ``out_dir``
    """
    from ..tasks.base import output_name

    target = Path(out_dir) / output_name(item.info.path, names=names, suffix=".quality.png")
    return _save(_quality_figure(item, result), target, dpi=90)


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
    source: str | os.PathLike | None = None,
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
    out_path : the PNG file to write (its folder is created when missing); the usual name is
        ``output_name(path, suffix=".notes.png")`` (:func:`audiolens.tasks.base.output_name`)
    title : the picture's title (default: the file name of ``source`` and the number of notes)
    source : the audio file the notes came from, named in the default title

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
    if title is None:
        count = f"{len(notes)} notes"
        title = count if source is None else f"{_file_name(source)}: {count}"
    return _save(_notes_figure(x, int(sample_rate), notes, title), Path(out_path), dpi=100)


def _notes_figure(x: np.ndarray, sample_rate: int, notes: Sequence[Note], title: str) -> Any:
    """The figure :func:`plot_notes` saves, for checked samples ``x`` (the caller closes it)."""
    x = np.nan_to_num(x.astype(np.float32, copy=False), nan=0.0, posinf=0.0, neginf=0.0)
    img, step = _pitch_spectrogram(x, sample_rate)
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
        ax.set_title(title)
    except BaseException:
        plt.close(fig)
        raise
    return fig


def plot_structure(
    result: StructureResult,
    out_path: str | Path,
    *,
    title: str | None = None,
    source: str | os.PathLike | None = None,
) -> Path:
    """Draw the self-similarity matrix of a song with its sections marked.

    The matrix (bar by bar, brighter = more alike) fills the square; each section's boundary is
    a white line across it, and its label is written along the top and the right edge (clear
    of the tick labels), so the repeats show as bright blocks off the diagonal between sections
    of the same letter.

    Parameters
    ----------
    result : the ``structure`` task's answer for one file (it carries the matrix and the times
        of its rows in ``details``)
    out_path : the PNG file to write (its folder is created when missing); the usual name is
        ``output_name(path, suffix=".structure.png")`` (:func:`audiolens.tasks.base.output_name`)
    title : the picture's title (default: the file name of ``source`` and the form, e.g.
        "song.flac: sections ABAC")
    source : the audio file the result is of, named in the default title

    Returns
    -------
    path : ``out_path`` as a :class:`~pathlib.Path`
    """
    if title is None:
        form = f"sections {result.form or '-'}"
        title = form if source is None else f"{_file_name(source)}: {form}"
    return _save(_structure_figure(result, title), Path(out_path), dpi=90, bbox_inches="tight")


def _structure_figure(result: StructureResult, title: str) -> Any:
    """The figure :func:`plot_structure` saves (the caller closes it)."""
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
            # the letters go where there are no tick labels: above the top, right of the right
            ax.text(mid, 0, seg.label, ha="center", va="bottom", fontsize=12, weight="bold")
            ax.text(end, mid, " " + seg.label, ha="left", va="center", fontsize=12, weight="bold")
        ax.set_xlabel("time (s)")
        ax.set_ylabel("time (s)")
        ax.set_title(title, pad=22)
        ax.set_aspect("equal")
    except BaseException:
        plt.close(fig)
        raise
    return fig


#: the waveform's envelope: at most this many columns of (min, max)
_WAVE_COLUMNS = 2000


def _envelope(x: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The min/max envelope of ``x`` ``(n,)``: the centre time (s) of each of at most
    ``_WAVE_COLUMNS`` columns, and the lowest and highest sample in it, each ``(columns,)``."""
    columns = min(x.size, _WAVE_COLUMNS)
    if columns == 0:
        return np.zeros(1), np.zeros(1), np.zeros(1)
    edges = np.linspace(0, x.size, columns + 1).astype(np.int64)
    starts = edges[:-1]
    times = (starts + edges[1:]) / (2.0 * sample_rate)
    return times, np.minimum.reduceat(x, starts), np.maximum.reduceat(x, starts)


def _waveform_figure(
    x: np.ndarray,
    sample_rate: int,
    *,
    beats: Sequence[float],
    downbeats: Sequence[float],
    sections: Sequence[tuple[float, float, str]],
    title: str,
) -> Any:
    """The waveform of mono ``x`` ``(n,)`` as its min/max envelope, with the beats (thin blue
    lines), the downbeats (thicker red ones) and the sections (shaded by label, a line at each
    boundary, the label along the top) over it (the caller closes the figure)."""
    x = np.nan_to_num(np.asarray(x, dtype=np.float32).reshape(-1), nan=0.0)
    times, low, high = _envelope(x, sample_rate)
    end = max(x.size / float(sample_rate), max(beats, default=0.0), 1e-3)
    if sections:
        end = max(end, max(s[1] for s in sections))
    peak = float(max(np.max(np.abs(high)), np.max(np.abs(low)), 1e-6))

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(14, 4))
    try:
        across = ax.get_xaxis_transform()  # x in seconds, y from 0 (bottom) to 1 (top)
        labels = list(dict.fromkeys(label for _, _, label in sections))
        colours = plt.get_cmap("tab10")
        for start, stop, label in sections:
            ax.axvspan(start, stop, color=colours(labels.index(label) % 10), alpha=0.18, lw=0)
            if start > 0:
                ax.axvline(start, color="black", lw=1.4)
            ax.text(
                (start + min(stop, end)) / 2,
                1.0,
                label,
                transform=across,
                ha="center",
                va="bottom",
                fontsize=12,
                weight="bold",
            )
        ax.fill_between(times, low, high, color="#4a5568", lw=0.5)
        down = set(downbeats)
        ax.vlines(
            [b for b in beats if b not in down],
            0,
            1,
            transform=across,
            colors="#2458b3",
            lw=0.6,
            alpha=0.7,
        )
        ax.vlines(list(downbeats), 0, 1, transform=across, colors="#b3261e", lw=1.6)
        ax.set_xlim(0.0, end)
        ax.set_ylim(-1.05 * peak, 1.05 * peak)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("amplitude")
        ax.set_title(title, pad=22 if sections else 6)
    except BaseException:
        plt.close(fig)
        raise
    return fig
