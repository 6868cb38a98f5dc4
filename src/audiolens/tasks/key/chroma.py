"""A chroma for key finding: the tonal peaks of a fine spectrum folded into 12 pitch classes.

1. A magnitude spectrogram with 8192-sample frames (5.4 Hz bins at 44.1 kHz, fine enough to
   tell semitones apart from about 90 Hz) every 4096 samples (:func:`audiolens.dsp.stft`).
2. Each bin from ``FMIN`` to ``FMAX`` goes to its nearest semitone (bins within a quarter tone
   of it, weighted by closeness); the semitone spectrum is log-compressed.
3. Whitening: from each semitone, the mean of the semitones around it (half an octave on
   either side) is taken away, and then the level white noise reaches there in half the frames
   (semitones of few bins, low down, vary more); what is left above zero is a note, while
   broadband sound (drums, noise) cancels.
4. Folded into pitch classes: one 12-vector per frame.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import numpy as np
from scipy.ndimage import uniform_filter1d

from ...dsp import fft_frequencies, magnitude, stft

__all__ = ["FMAX", "FMIN", "HOP", "N_FFT", "chroma_frames", "semitone_matrix"]

N_FFT = 8192
HOP = 4096
FMIN = 65.0  # Hz, C2
FMAX = 2100.0  # Hz, about C7
#: semitones of the whitening's moving mean
WHITEN = 13
#: log compression: log(1 + GAMMA * magnitude), magnitude as a fraction of full scale
GAMMA = 1000.0


def semitone_matrix(sr: int, n_fft: int = N_FFT) -> tuple[np.ndarray, np.ndarray]:
    """The map from FFT bins to semitones (MIDI pitches) between FMIN and FMAX.

    Returns
    -------
    M : np.ndarray [shape=(n_semitones, 1 + n_fft // 2)] float32, rows sum to 1 or 0
    pitches : np.ndarray [shape=(n_semitones,)] the MIDI pitch of each row
    """
    freqs = fft_frequencies(sr=sr, n_fft=n_fft)
    lo = int(np.ceil(69 + 12 * np.log2(FMIN / 440.0)))
    hi = int(np.floor(69 + 12 * np.log2(FMAX / 440.0)))
    pitches = np.arange(lo, hi + 1)
    with np.errstate(divide="ignore"):
        midi = 69 + 12 * np.log2(freqs / 440.0)
    M = np.zeros((pitches.size, freqs.size), dtype=np.float32)
    for row, p in enumerate(pitches):
        d = np.abs(midi - p)
        w = np.where(d < 0.5, 1.0 - 2.0 * d, 0.0)  # a triangle, 0 at a quarter tone
        if w.sum() > 0:
            M[row] = w / w.sum()
    return M, pitches


def _whitened(y: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Semitone spectrum minus its local mean, per frame: [shape=(n_semitones, n_frames)]."""
    window_sum = N_FFT / 2.0  # a Hann window's sum: magnitudes as a fraction of full scale
    S = magnitude(stft(np.asarray(y, dtype=np.float32), n_fft=N_FFT, hop_length=HOP))
    semis = np.log1p(GAMMA * (M @ (S / window_sum)))
    return semis - uniform_filter1d(semis, size=WHITEN, axis=0, mode="nearest")


@lru_cache(maxsize=4)
def noise_floor(sr: int) -> np.ndarray:
    """The median of white noise in each whitened semitone (a fixed seed).

    Returns
    -------
    floor : np.ndarray [shape=(n_semitones, 1)] float32
    """
    M, _ = semitone_matrix(sr)
    y = 0.1 * np.random.default_rng(0).standard_normal(sr * 30)
    floor = np.percentile(_whitened(y, M), 50, axis=1, keepdims=True)
    return np.maximum(floor, 0.0).astype(np.float32)


def chroma_frames(blocks: Iterable[np.ndarray], *, sr: int) -> np.ndarray:
    """The whitened chroma of a mono signal given in blocks (frames do not cross blocks).

    Parameters
    ----------
    blocks : 1-D float arrays, the signal in order
    sr : its sample rate

    Returns
    -------
    C : np.ndarray [shape=(12, n_frames)] float32, pitch classes C, C#, ..., B
    """
    M, pitches = semitone_matrix(sr)
    floor = noise_floor(sr)
    fold = np.zeros((12, pitches.size), dtype=np.float32)
    fold[pitches % 12, np.arange(pitches.size)] = 1.0
    out = []
    for y in blocks:
        y = np.asarray(y, dtype=np.float32)
        if y.size < N_FFT // 4:
            continue
        out.append(fold @ np.maximum(_whitened(y, M) - floor, 0.0))
    if not out:
        return np.zeros((12, 0), dtype=np.float32)
    return np.concatenate(out, axis=1).astype(np.float32)
