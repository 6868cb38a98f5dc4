"""Notes from frame activations: onset peaks, note tracking, the melodia pass, pitch bends.

The algorithm is the one basic-pitch describes and ships (Bittner et al., ICASSP 2022),
written here for speed:

1. *Onsets*: local maxima in time of the onset activation that reach ``onset_threshold``;
   with ``infer_onsets``, also where the frame activation jumps up (its rise over one and two
   frames, rescaled to the onset activation's peak).
2. *Tracking*, latest onset first: a note runs from its onset while the frame activation of its
   pitch stays at least ``frame_threshold``, tolerating dips of up to ``energy_tol - 1`` frames;
   notes of ``min_note_ms`` or less are dropped. Each note's frames (and those of the pitches
   next to it) are then used up.
3. *Melodia pass*: the strongest frame activation left (at least ``frame_threshold``) is
   followed forwards and backwards the same way, using up what it passes, until none is left.
   The strongest-first order is taken from one sort of the candidates rather than an argmax
   over the whole matrix per note, which gives the same notes in time that grows with the
   number of candidates, not with their product with the length of the file.
4. *Velocity* is ``round(127 * mean frame activation)`` over the note (at least 1); with
   ``pitch_bends``, each frame's pitch deviation comes from the contour activation around the
   note's pitch (a Gaussian-weighted argmax within +-25 thirds of a semitone), measured from
   the contour bin where an in-tune note of that pitch peaks (the middle of the note's three
   bins; basic-pitch measures from the lowest, which bends steady notes a third sharp).
"""

from __future__ import annotations

import math

import numpy as np

from .engine import Activations
from .types import Note, NotesOptions

__all__ = ["activations_to_notes", "min_note_frames"]

ENERGY_TOL = 11  # frames below the threshold that end a note
BEND_TOLERANCE = 25  # contour bins (thirds of a semitone) searched around a note's pitch


def min_note_frames(options: NotesOptions, frame_rate: float) -> int:
    """``options.min_note_ms`` in frames (notes this long or shorter are dropped)."""
    return int(np.round(options.min_note_ms / 1000.0 * frame_rate))


def _hz_to_bin(hz: float, lowest_pitch: int) -> int:
    return int(np.round(12.0 * math.log2(hz / 440.0) + 69.0 - lowest_pitch))


def _limit_pitches(act: np.ndarray, options: NotesOptions, lowest_pitch: int) -> None:
    if options.max_hz is not None:
        act[:, max(0, _hz_to_bin(options.max_hz, lowest_pitch)) :] = 0
    if options.min_hz is not None:
        act[:, : max(0, _hz_to_bin(options.min_hz, lowest_pitch))] = 0


CHUNK = 4096  # frames per step of the onset search (bounds its temporary arrays)


def _rise(frames: np.ndarray, a: int, b: int) -> np.ndarray:
    """How much the frame activation rises at frames ``a..b-1`` (over one and two frames,
    the smaller of the two, never negative; 0 at frames 0 and 1), in float64."""
    lo = max(a - 2, 0)
    f = frames[lo:b].astype(np.float64)
    out = np.zeros((b - a, frames.shape[1]))
    first = max(a, 2)
    if first < b:
        t = np.arange(first, b) - lo
        out[first - a :] = np.maximum(np.minimum(f[t] - f[t - 1], f[t] - f[t - 2]), 0.0)
    return out


def _onset_peaks(
    onsets: np.ndarray, frames: np.ndarray, threshold: float, infer: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(frame, pitch) of strict local maxima in time of the onset activation that reach
    ``threshold``, latest first (pitch descending within a frame).

    With ``infer``, the onset activation is the larger of the model's onsets and the frame
    activation's rise rescaled to the onsets' peak (``peak * rise / max rise``). The search
    goes through the file in chunks, so its temporaries stay small on long files.
    """
    n = onsets.shape[0]
    if n < 3:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    top_rise = 0.0
    if infer:
        for a in range(0, n, CHUNK):
            top_rise = max(top_rise, float(_rise(frames, a, min(n, a + CHUNK)).max()))
    top_onset = onsets.max()

    def activation(a: int, b: int) -> np.ndarray:
        x = onsets[a:b].astype(np.float64)
        if infer and top_rise > 0:
            np.maximum(x, top_onset * _rise(frames, a, b) / top_rise, out=x)
        return x

    ts, ps = [], []
    for a in range(1, n - 1, CHUNK):
        b = min(n - 1, a + CHUNK)
        seg = activation(a - 1, b + 1)
        mid = seg[1:-1]
        peak = (mid > seg[:-2]) & (mid > seg[2:]) & (mid >= threshold)
        t, p = np.nonzero(peak)
        ts.append(t + a)
        ps.append(p)
    t, p = np.concatenate(ts), np.concatenate(ps)
    order = np.lexsort((-p, -t))  # time descending, then pitch descending
    return t[order], p[order]


def _use_up(energy: np.ndarray, lo: int, hi: int, pitch: int) -> None:
    top = energy.shape[1] - 1
    energy[lo:hi, max(0, pitch - 1) : min(top, pitch + 1) + 1] = 0


def _track_onsets(
    energy: np.ndarray,
    frames: np.ndarray,
    peaks: tuple[np.ndarray, np.ndarray],
    threshold: float,
    min_len: int,
) -> list[tuple[int, int, int, float]]:
    n = energy.shape[0]
    out = []
    for start, pitch in zip(peaks[0].tolist(), peaks[1].tolist()):
        if start >= n - 1:
            continue
        col = energy[:, pitch]
        i, below = start + 1, 0
        while i < n - 1 and below < ENERGY_TOL:
            below = below + 1 if col[i] < threshold else 0
            i += 1
        end = i - below
        if end - start <= min_len:
            continue
        _use_up(energy, start, end, pitch)
        out.append((start, end, pitch, float(np.mean(frames[start:end, pitch]))))
    return out


def _follow(energy: np.ndarray, mid: int, pitch: int, threshold: float, step: int) -> int:
    """Walk from ``mid`` in direction ``step`` using up energy; the note's edge frame."""
    n = energy.shape[0]
    col = energy[:, pitch]
    top = energy.shape[1] - 1
    lo_p, hi_p = max(0, pitch - 1), min(top, pitch + 1) + 1
    i, below = mid + step, 0
    while (i < n - 1 if step > 0 else i > 0) and below < ENERGY_TOL:
        below = below + 1 if col[i] < threshold else 0
        energy[i, lo_p:hi_p] = 0
        i += step
    return i - step - below if step > 0 else i - step + below


def _melodia(
    energy: np.ndarray, frames: np.ndarray, threshold: float, min_len: int
) -> list[tuple[int, int, int, float]]:
    flat = energy.reshape(-1)
    cand = np.flatnonzero(flat > threshold)
    cand = cand[np.argsort(-flat[cand], kind="stable")]  # strongest first; ties in index order
    width = energy.shape[1]
    out = []
    for idx in cand.tolist():
        if not flat[idx] > threshold:  # used up by an earlier note
            continue
        mid, pitch = divmod(idx, width)
        energy[mid, pitch] = 0
        end = _follow(energy, mid, pitch, threshold, +1)
        start = _follow(energy, mid, pitch, threshold, -1)
        if end - start <= min_len:
            continue
        out.append((start, end, pitch, float(np.mean(frames[start:end, pitch]))))
    return out


def _bend_weights() -> np.ndarray:
    """The Gaussian (std 5 bins) that favours contour bins near a note's own pitch."""
    from scipy.signal.windows import gaussian

    return gaussian(2 * BEND_TOLERANCE + 1, std=5)


def _bends(
    contour: np.ndarray,
    start: int,
    end: int,
    pitch_bin: int,
    per_semitone: int,
    weights: np.ndarray,
) -> tuple[int, ...]:
    """Per-frame pitch deviation of a note, in contour bins, from the contour around it.

    Deviations are from the note's own pitch centre: note bin ``p`` is the model's summary of
    contour bins ``per_semitone * p`` to ``per_semitone * (p + 1) - 1``, and an in-tune note
    peaks in the middle one (basic-pitch measures from the first, so every steady note gets
    +1/3 semitone: its issue #87).
    """
    tol = BEND_TOLERANCE
    centre = per_semitone * pitch_bin + per_semitone // 2
    lo, hi = max(centre - tol, 0), min(contour.shape[1], centre + tol + 1)
    sub = contour[start:end, lo:hi] * weights[lo - (centre - tol) : hi - (centre - tol)]
    return tuple(int(b) for b in np.argmax(sub, axis=1) - (centre - lo))


def activations_to_notes(act: Activations, options: NotesOptions | None = None) -> list[Note]:
    """Turn a file's activations into notes.

    Parameters
    ----------
    act : the activations (see :class:`~audiolens.tasks.notes.engine.Activations`)
    options : thresholds and switches (basic-pitch's defaults when None)

    Returns
    -------
    notes : list of Note, sorted by onset then pitch; times in seconds
    """
    options = options or NotesOptions()
    frames = np.asarray(act.note, dtype=np.float32)
    onsets = np.asarray(act.onset, dtype=np.float32)
    if frames.shape[0] == 0:
        return []
    if options.min_hz is not None or options.max_hz is not None:
        frames, onsets = frames.copy(), onsets.copy()
        _limit_pitches(onsets, options, act.lowest_pitch)
        _limit_pitches(frames, options, act.lowest_pitch)
    min_len = min_note_frames(options, act.frame_rate)
    peaks = _onset_peaks(onsets, frames, options.onset_threshold, options.infer_onsets)
    # float32 energy compares with the thresholds exactly as float64 would: no float32 lies
    # between a threshold and its nearest float32
    energy = frames.copy()
    found = _track_onsets(energy, frames, peaks, options.frame_threshold, min_len)
    if options.melodia:
        found += _melodia(energy, frames, options.frame_threshold, min_len)
    times = np.asarray(act.times, dtype=np.float64)
    after = times[-1] + 1.0 / float(act.frame_rate)  # the end of the last frame
    weights = _bend_weights() if options.pitch_bends and act.contour is not None else None
    notes = []
    for start, end, pitch, amp in found:
        bends = None
        if weights is not None:
            per = act.contour_bins_per_semitone
            bends = _bends(act.contour, start, end, pitch, per, weights)
        velocity = int(min(127, max(1, np.round(127 * amp))))
        offset = float(times[end]) if end < times.size else float(after)
        notes.append(Note(float(times[start]), offset, pitch + act.lowest_pitch, velocity, bends))
    notes.sort(key=lambda n: (n.onset, n.pitch, n.offset))
    return notes
