"""Filterbanks on FFT bins: Mel (librosa's) and logarithmic/semitone (madmom's).

Filterbanks are constants of their parameters: they are computed once in float64 numpy (and
cached), then copied to the caller's backend, device and dtype when ``like`` is given.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..errors import ParameterError
from ._backend import compute_dtype, constant_like, namespace
from ._params import positive_float, positive_int

if TYPE_CHECKING:
    from ._backend import Array

__all__ = [
    "LogFilterbankOptions",
    "hz_to_mel",
    "log_filterbank",
    "log_filterbank_frequencies",
    "log_frequencies",
    "mel_filterbank",
    "mel_frequencies",
    "mel_to_hz",
]

MelNorm = Literal["slaney"] | float | None

# Slaney's auditory-toolbox Mel scale: linear below 1 kHz, logarithmic above.
_F_SP = 200.0 / 3.0
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = math.log(6.4) / 27.0


def hz_to_mel(frequencies: Any, *, htk: bool = False) -> np.ndarray:
    """Convert Hz to Mel (Slaney's scale, or HTK's ``2595 * log10(1 + f / 700)``).

    Parameters
    ----------
    frequencies : float or np.ndarray [shape=(n,)]
        Frequencies [Hz].
    htk : bool
        Use the HTK formula instead of Slaney's.

    Returns
    -------
    mels : np.ndarray [shape=(n,), dtype=float64]
    """
    f = np.asarray(frequencies, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    mels = f / _F_SP
    above = f >= _MIN_LOG_HZ
    safe = np.where(above, f, _MIN_LOG_HZ)
    return np.where(above, _MIN_LOG_MEL + np.log(safe / _MIN_LOG_HZ) / _LOGSTEP, mels)


def mel_to_hz(mels: Any, *, htk: bool = False) -> np.ndarray:
    """Convert Mel to Hz (the inverse of :func:`hz_to_mel`).

    Parameters
    ----------
    mels : float or np.ndarray [shape=(n,)]
        Mel values.
    htk : bool
        As for :func:`hz_to_mel`.

    Returns
    -------
    frequencies : np.ndarray [shape=(n,), dtype=float64]
    """
    m = np.asarray(mels, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    freqs = _F_SP * m
    above = m >= _MIN_LOG_MEL
    return np.where(above, _MIN_LOG_HZ * np.exp(_LOGSTEP * (m - _MIN_LOG_MEL)), freqs)


def mel_frequencies(
    *, n_mels: int = 128, fmin: float = 0.0, fmax: float = 11025.0, htk: bool = False
) -> np.ndarray:
    """``n_mels`` frequencies evenly spaced on the Mel scale from ``fmin`` to ``fmax``.

    Returns
    -------
    frequencies : np.ndarray [shape=(n_mels,), dtype=float64]
        [Hz], as :func:`librosa.mel_frequencies`.
    """
    n_mels = positive_int("n_mels", n_mels)
    lo, hi = hz_to_mel(fmin, htk=htk), hz_to_mel(fmax, htk=htk)
    return mel_to_hz(np.linspace(lo, hi, n_mels), htk=htk)


def _on_backend(values: np.ndarray, like: Array | None) -> Array:
    if like is None:
        return values.copy()
    xp = namespace(like)
    return constant_like(values, xp, like, compute_dtype(xp, like, "like"))


def _check_band_edges(sr: float, fmin: float, fmax: float | None) -> tuple[float, float]:
    nyquist = sr / 2.0
    fmax = nyquist if fmax is None else positive_float("fmax", fmax)
    ok = isinstance(fmin, numbers.Real) and not isinstance(fmin, bool)
    if not (ok and math.isfinite(fmin) and 0 <= fmin < fmax):
        raise ParameterError(f"fmin={fmin!r} must be a number >= 0 and below fmax={fmax}")
    return float(fmin), fmax


@functools.lru_cache(maxsize=32)
def _mel_matrix(
    sr: float, n_fft: int, n_mels: int, fmin: float, fmax: float, htk: bool, norm: Any
) -> np.ndarray:
    bins = np.fft.rfftfreq(n_fft, d=1.0 / sr)
    edges = mel_frequencies(n_mels=n_mels + 2, fmin=fmin, fmax=fmax, htk=htk)
    widths = np.diff(edges)
    # distance of each bin from each edge frequency: (n_mels + 2, n_bins)
    offsets = edges[:, None] - bins[None, :]
    rising = -offsets[:-2] / widths[:-1, None]
    falling = offsets[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    if norm == "slaney":
        weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    elif norm is not None:
        if math.isinf(norm):
            length = np.max(np.abs(weights), axis=-1, keepdims=True)
        else:
            length = np.sum(np.abs(weights) ** norm, axis=-1, keepdims=True) ** (1.0 / norm)
        tiny = np.finfo(np.float64).tiny
        weights = weights / np.where(length < tiny, 1.0, length)
    weights.setflags(write=False)
    return weights


def mel_filterbank(
    *,
    sr: float,
    n_fft: int,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: MelNorm = "slaney",
    like: Array | None = None,
) -> Array:
    """Triangular Mel filters on the bins of an ``n_fft``-point real FFT, as librosa's.

    Filter ``m`` rises from Mel-spaced edge frequency ``m`` to ``m + 1`` and falls to
    ``m + 2`` (``n_mels + 2`` edges from ``fmin`` to ``fmax``), evaluated at the FFT bin
    frequencies. Apply it as ``fb @ S`` to a spectrogram ``S`` of shape ``(..., n_bins, t)``.

    Parameters
    ----------
    sr : float > 0
        Sample rate [Hz].
    n_fft : int > 0
        FFT length; the filters have ``1 + n_fft // 2`` bins.
    n_mels : int > 0
        Number of filters.
    fmin : float >= 0
        Lowest edge frequency [Hz].
    fmax : float > fmin or None
        Highest edge frequency [Hz]; default ``sr / 2``.
    htk : bool
        Use the HTK Mel formula instead of Slaney's.
    norm : "slaney", float > 0 or None
        "slaney" scales each filter to unit area (``2 / bandwidth``); a number p scales each
        filter to unit Lp norm (``numpy.inf`` for the maximum); None leaves peaks at 1.
    like : np.ndarray or torch.Tensor or None
        Return the filterbank on ``like``'s backend and device, in its floating dtype
        (float64 for integer arrays); None returns a float64 numpy array.

    Returns
    -------
    fb : np.ndarray or torch.Tensor [shape=(n_mels, 1 + n_fft // 2)]
        Equal to ``librosa.filters.mel(..., dtype=np.float64)``.

    Raises
    ------
    ParameterError
        for non-positive sizes or rates, ``fmin`` not below ``fmax``, or an unknown ``norm``.
    """
    sr = positive_float("sr", sr)
    n_fft = positive_int("n_fft", n_fft)
    n_mels = positive_int("n_mels", n_mels)
    fmin, fmax = _check_band_edges(sr, fmin, fmax)
    if norm is not None and norm != "slaney":
        is_number = isinstance(norm, numbers.Real) and not isinstance(norm, bool)
        if not is_number or not norm > 0:
            raise ParameterError(
                f"norm={norm!r} is not supported; use 'slaney', a positive number or None"
            )
        norm = float(norm)
    return _on_backend(_mel_matrix(sr, n_fft, n_mels, fmin, fmax, bool(htk), norm), like)


def log_frequencies(
    *, bands_per_octave: int = 12, fmin: float = 30.0, fmax: float = 17000.0, fref: float = 440.0
) -> np.ndarray:
    """Frequencies ``fref * 2 ** (k / bands_per_octave)`` within ``[fmin, fmax]``.

    With 12 bands per octave and ``fref=440`` these are the equal-tempered MIDI note
    frequencies. As madmom, the candidate range of ``k`` is
    ``floor(bpo * log2(fmin / fref)) <= k < ceil(bpo * log2(fmax / fref))``.

    Returns
    -------
    frequencies : np.ndarray [shape=(n,), dtype=float64]
        Ascending [Hz].
    """
    bpo = positive_int("bands_per_octave", bands_per_octave)
    fref = positive_float("fref", fref)
    fmin, fmax = positive_float("fmin", fmin), positive_float("fmax", fmax)
    lowest = math.floor(math.log2(fmin / fref) * bpo)
    highest = math.ceil(math.log2(fmax / fref) * bpo)
    freqs = fref * 2.0 ** (np.arange(lowest, highest) / float(bpo))
    return freqs[(freqs >= fmin) & (freqs <= fmax)]


def _nearest_bins(freqs: np.ndarray, bin_freqs: np.ndarray) -> np.ndarray:
    """Index of the closest bin for each frequency (a tie goes to the higher bin)."""
    upper = np.clip(np.searchsorted(bin_freqs, freqs), 1, len(bin_freqs) - 1)
    lower = upper - 1
    closer_below = (freqs - bin_freqs[lower]) < (bin_freqs[upper] - freqs)
    return np.where(closer_below, lower, upper)


@dataclass(frozen=True)
class LogFilterbankOptions:
    """The parameters of madmom's logarithmic filterbank, checked on construction.

    With the defaults this is madmom's ``LogarithmicFilterbank`` for 44.1 kHz audio and
    2048-sample frames (81 bands). ``dataclasses.replace(options, fmin=40.0)`` derives a variant.

    Parameters
    ----------
    sr : float > 0
        Sample rate [Hz].
    frame_size : int > 0
        FFT length; the filterbank has ``frame_size // 2`` bins.
    bands_per_octave : int > 0
        Filter spacing.
    fmin, fmax : float > 0
        Frequency range [Hz], ``fmin < fmax``.
    fref : float > 0
        Tuning (reference) frequency [Hz].
    norm_filters : bool
        Scale each filter to sum 1.
    unique_filters : bool
        Drop frequencies that map to an already used bin (otherwise degenerate filters of a
        single bin are made).

    Raises
    ------
    ParameterError
        for a value out of range.
    """

    sr: float = 44100.0
    frame_size: int = 2048
    bands_per_octave: int = 12
    fmin: float = 30.0
    fmax: float = 17000.0
    fref: float = 440.0
    norm_filters: bool = True
    unique_filters: bool = True

    def __post_init__(self) -> None:
        checked = {
            "sr": positive_float("sr", self.sr),
            "frame_size": positive_int("frame_size", self.frame_size),
            "bands_per_octave": positive_int("bands_per_octave", self.bands_per_octave),
            "fmin": positive_float("fmin", self.fmin),
            "fmax": positive_float("fmax", self.fmax),
        }
        if checked["fmin"] >= checked["fmax"]:
            raise ParameterError(f"fmin={checked['fmin']} must be below fmax={checked['fmax']}")
        checked["fref"] = positive_float("fref", self.fref)
        checked["norm_filters"] = bool(self.norm_filters)
        checked["unique_filters"] = bool(self.unique_filters)
        for name, value in checked.items():  # normalized values, so equal options hash equal
            object.__setattr__(self, name, value)


def _log_options(
    options: LogFilterbankOptions | None, fields: dict[str, Any]
) -> LogFilterbankOptions:
    """``options`` (default: the defaults) with the keyword ``fields`` replaced."""
    return dataclasses.replace(options or LogFilterbankOptions(), **fields)


@functools.lru_cache(maxsize=16)
def _log_bank(options: LogFilterbankOptions) -> tuple[np.ndarray, np.ndarray]:
    """The filterbank ``(n_bands, n_bins)`` and the centre bin of each band."""
    sr, frame_size, bpo = options.sr, options.frame_size, options.bands_per_octave
    fmin, fmax = options.fmin, options.fmax
    bin_freqs = np.fft.rfftfreq(frame_size, d=1.0 / sr)[: frame_size // 2]
    if len(bin_freqs) < 2:
        raise ParameterError(f"frame_size={frame_size} gives fewer than 2 FFT bins")
    freqs = log_frequencies(bands_per_octave=bpo, fmin=fmin, fmax=fmax, fref=options.fref)
    bins = _nearest_bins(freqs, bin_freqs)
    if options.unique_filters:
        bins = np.unique(bins)
    if len(bins) < 3:
        raise ParameterError(
            f"fmin={fmin} to fmax={fmax} at {bpo} bands per octave covers {len(bins)} distinct "
            f"FFT bins of frame_size={frame_size} at sr={sr}; at least 3 are needed"
        )
    n_bands = len(bins) - 2
    bank = np.zeros((n_bands, len(bin_freqs)))
    centres = np.empty(n_bands, dtype=np.int64)
    for band, (start, centre, stop) in enumerate(zip(bins[:-2], bins[1:-1], bins[2:])):
        if stop - start < 2:  # a degenerate triangle becomes a single bin
            centre, stop = start, start + 1
        rise = np.arange(centre - start) / max(centre - start, 1)
        fall = 1.0 - np.arange(stop - centre) / (stop - centre)
        shape = np.concatenate([rise, fall])
        if options.norm_filters:
            shape = shape / shape.sum()
        bank[band, start:stop] = shape
        centres[band] = centre
    bank.setflags(write=False)
    centres.setflags(write=False)
    return bank, centres


def log_filterbank(
    options: LogFilterbankOptions | None = None, /, *, like: Array | None = None, **fields: float
) -> Array:
    """madmom's logarithmic filterbank: triangular filters centred on semitones (by default).

    The frequencies ``fref * 2 ** (k / bands_per_octave)`` in ``[fmin, fmax]`` are mapped to
    the nearest of the ``frame_size // 2`` FFT bins (``k * sr / frame_size``, Nyquist
    excluded); with ``unique_filters`` repeated bins are dropped. Each run of three
    consecutive bins ``(start, centre, stop)`` makes one triangular filter that is 0 at
    ``start``, 1 at ``centre`` and reaches 0 at ``stop`` (exclusive). With ``norm_filters``
    each filter is scaled to sum 1. With the defaults and sr=44100, frame_size=2048 this is
    madmom's ``LogarithmicFilterbank`` (81 bands), transposed.

    Parameters
    ----------
    options : LogFilterbankOptions or None
        The filterbank; None takes the defaults of :class:`LogFilterbankOptions`.
    like : np.ndarray or torch.Tensor or None
        Return the filterbank on ``like``'s backend, device and floating dtype; None returns a
        float64 numpy array.
    **fields
        Fields of :class:`LogFilterbankOptions` (``sr``, ``frame_size``, ``bands_per_octave``,
        ``fmin``, ``fmax``, ``fref``, ``norm_filters``, ``unique_filters``) that replace those
        of ``options``, e.g. ``log_filterbank(sr=22050, fmin=40.0)``.

    Returns
    -------
    fb : np.ndarray or torch.Tensor [shape=(n_bands, frame_size // 2)]
        Apply as ``fb @ S`` to a magnitude spectrogram of shape ``(..., frame_size // 2, t)``.
        madmom's matrix is ``fb.T``.

    Raises
    ------
    ParameterError
        for bad values, or a range that yields fewer than 3 distinct bins.
    TypeError
        for a keyword that is not a field of :class:`LogFilterbankOptions`.
    """
    bank, _ = _log_bank(_log_options(options, fields))
    return _on_backend(bank, like)


def log_filterbank_frequencies(
    options: LogFilterbankOptions | None = None, /, *, as_madmom: bool = False, **fields: float
) -> np.ndarray:
    """Centre frequencies of the bands of :func:`log_filterbank`, in Hz.

    Parameters
    ----------
    options, **fields
        The filterbank, as for :func:`log_filterbank`.
    as_madmom : bool
        False (default): the frequency of each filter's peak bin. True: madmom 0.16's
        ``Filterbank.center_frequencies``, which looks for the peak among the non-zero bins
        *excluding the last one*, so a filter whose peak is its last non-zero bin (e.g. the
        values ``[1/3, 2/3]``) reports the bin below its peak; for parity with madmom's output.

    Returns
    -------
    center_frequencies : np.ndarray [shape=(n_bands,), dtype=float64]
    """
    options = _log_options(options, fields)
    bank, centres = _log_bank(options)
    bin_freqs = np.fft.rfftfreq(options.frame_size, d=1.0 / options.sr)
    if not as_madmom:
        return bin_freqs[centres]
    reported = []
    for row in bank.astype(np.float32):
        nonzero = np.flatnonzero(row)
        lo, hi = int(nonzero[0]), int(nonzero[-1])
        if row[lo] == row[hi]:
            reported.append(int(lo + (hi - lo) / 2.0))
        else:
            reported.append(lo + int(np.argmax(row[lo:hi])))
    return bin_freqs[np.asarray(reported, dtype=np.int64)]
