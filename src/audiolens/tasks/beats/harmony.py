"""Harmonic change at the beats: a downbeat cue that the network's downbeat activation misses.

Chords change on the downbeat far more often than anywhere else in the bar, whatever the drums
play; a band with the kick on beats 1 and 3 and a chord change once a bar is in 4, not in 2.
The cue is read from the log-filtered spectrogram the network already has (no second pass over
the audio): its bands are a semitone wide from about 360 Hz up (12 per octave, centred on
A440; below that a band spans a few semitones and counts for the one at its centre), so
summing each band from 100 Hz to 4 kHz into its pitch class gives a 12-bin pitch-class profile
per frame. The profile is averaged over each beat's span, and the change at a beat is the
cosine distance between the spans just before and just after it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = [
    "CLIP",
    "HARMONY_FMAX",
    "HARMONY_FMIN",
    "harmonic_change",
    "pitch_class_matrix",
    "pitch_classes",
    "span_means",
]

#: the bands summed into pitch classes: from the bass (100 Hz; 250 Hz, where the bands are
#: nearer a semitone wide, scored lower on the validation sets) to where the harmonics of
#: chords fade into noise and cymbals
HARMONY_FMIN = 100.0
HARMONY_FMAX = 4000.0
#: the standardised change is clipped to this many standard deviations
CLIP = 2.0


@lru_cache(maxsize=8)
def pitch_class_matrix(fmin: float, fmax: float) -> np.ndarray:
    """The matrix that sums each band of the beat front end's spectrogram (81 bands, 12 per
    octave centred on A440) with a centre in ``[fmin, fmax]`` Hz into its pitch class.

    Returns
    -------
    fold : np.ndarray [shape=(12, 81)] float32 of 0 and 1, row 0 = A (read-only)
    """
    from ...dsp import log_filterbank_frequencies
    from .features import FRAME_SIZE, SAMPLE_RATE

    centres = log_filterbank_frequencies(sr=SAMPLE_RATE, frame_size=FRAME_SIZE)
    used = np.flatnonzero((centres >= fmin) & (centres <= fmax))
    pc = np.round(12 * np.log2(centres[used] / 440.0)).astype(int) % 12
    fold = np.zeros((12, centres.size), dtype=np.float32)
    fold[pc, used] = 1.0
    fold.setflags(write=False)
    return fold


def pitch_classes(S: np.ndarray) -> np.ndarray:
    """The pitch-class profile of each frame of the log-filtered spectrogram.

    Parameters
    ----------
    S : np.ndarray [shape=(81, n_frames)] the beat front end's log-filtered spectrogram
        (:func:`.features.logspec`)

    Returns
    -------
    chroma : np.ndarray [shape=(12, n_frames)] float32, pitch class 0 = A
    """
    S = np.asarray(S, dtype=np.float32)
    fold = pitch_class_matrix(HARMONY_FMIN, HARMONY_FMAX)
    if S.ndim != 2 or S.shape[0] != fold.shape[1]:
        raise ValueError(f"expected a spectrogram of shape (81, n), got {S.shape}")
    return fold @ S


def span_means(M: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """The mean of each row of ``M`` over each beat's span (to the next beat; the last one a
    median beat period long).

    Parameters
    ----------
    M : np.ndarray [shape=(rows, n_frames)] a profile per frame
    frames : np.ndarray [shape=(n_beats,)] int, increasing beat frames, at least 2

    Returns
    -------
    means : np.ndarray [shape=(n_beats, rows)] float64
    """
    frames = np.asarray(frames, dtype=np.int64)
    period = max(int(np.median(np.diff(frames))), 1)
    edges = np.clip(np.append(frames, frames[-1] + period), 0, M.shape[1])
    csum = np.concatenate([np.zeros((M.shape[0], 1)), np.cumsum(M, axis=1, dtype=np.float64)], 1)
    width = np.maximum(edges[1:] - edges[:-1], 1)
    return ((csum[:, edges[1:]] - csum[:, edges[:-1]]) / width).T


def harmonic_change(chroma: np.ndarray, frames: np.ndarray, *, span: int = 1) -> np.ndarray:
    """How much the harmony changes at each beat, standardised over the piece.

    Each beat's segment runs to the next beat (the last one a median beat period long); its
    pitch-class profile is the mean over the segment, centred and scaled to unit length. The
    change at beat ``i`` is the cosine distance between the mean profile of the ``span``
    segments before it and of the ``span`` segments from it on. Beats with fewer than ``span``
    segments on either side get 0, and the standardised change is clipped to
    ``[-CLIP, CLIP]``: one beat's harmony alone never outweighs the bar model's cost of a
    slipped bar (a fade-out or a sudden stop is not a downbeat).

    Parameters
    ----------
    chroma : np.ndarray [shape=(12, n_frames)] :func:`pitch_classes` (or any other profile of
        ``rows`` numbers per frame, shape ``(rows, n_frames)``)
    frames : np.ndarray [shape=(n_beats,)] int, increasing beat frames
    span : beats on each side

    Returns
    -------
    change : np.ndarray [shape=(n_beats,)] mean 0 and standard deviation 1 over the beats
        with whole spans, before clipping (all 0 with too few beats or where nothing changes)
    """
    frames = np.asarray(frames, dtype=np.int64)
    n = frames.size
    chroma = np.asarray(chroma, dtype=np.float64)
    if n < 2 * span + 2 or chroma.shape[-1] == 0:
        return np.zeros(n)
    seg = span_means(chroma, frames)
    seg = seg - seg.mean(axis=1, keepdims=True)
    seg /= np.linalg.norm(seg, axis=1, keepdims=True) + 1e-9
    run = np.concatenate([np.zeros((1, seg.shape[1])), np.cumsum(seg, axis=0)])
    idx = np.arange(n)
    before = run[idx] - run[np.maximum(idx - span, 0)]
    after = run[np.minimum(idx + span, n)] - run[idx]
    cos = np.einsum("ij,ij->i", before, after) / (
        np.linalg.norm(before, axis=1) * np.linalg.norm(after, axis=1) + 1e-9
    )
    whole = (idx >= span) & (idx + span <= n)
    if whole.sum() < 2:
        return np.zeros(n)
    change = 1.0 - cos[whole]
    spread = change.std()
    if spread < 1e-6:
        return np.zeros(n)
    out = np.zeros(n)
    out[whole] = np.clip((change - change.mean()) / spread, -CLIP, CLIP)
    return out
