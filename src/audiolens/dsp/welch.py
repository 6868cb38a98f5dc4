"""Welch's power spectral density estimate (the one-sided, real-input case of scipy's)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..errors import ParameterError
from ._backend import (
    compute_dtype,
    constant_like,
    float64_or_best,
    frames_last,
    map_frames,
    namespace,
)
from ._params import choice, positive_float, positive_int, signal_length
from .windows import get_window

if TYPE_CHECKING:
    from types import ModuleType

    from ._backend import Array
    from .windows import WindowSpec

__all__ = ["welch"]

Detrend = Literal["constant", "linear", False] | None
Scaling = Literal["density", "spectrum"]
Average = Literal["mean", "median"]


def _median_bias(n: int) -> float:
    """Ratio of the median to the mean of ``n`` chi-squared(2) variables (scipy's correction)."""
    even = 2.0 * np.arange(1, (n - 1) // 2 + 1)
    return float(1.0 + np.sum(1.0 / (even + 1.0) - 1.0 / even))


def _detrend(segments: Any, xp: ModuleType, kind: Detrend) -> Any:
    """Remove the mean (``"constant"``) or the least-squares line (``"linear"``) of each segment."""
    if not kind:
        return segments
    centred = segments - xp.mean(segments, axis=-1, keepdims=True)
    if kind == "constant":
        return centred
    n = segments.shape[-1]
    t = xp.arange(n, dtype=segments.dtype, device=segments.device) - (n - 1) / 2.0
    slope = xp.sum(centred * t, axis=-1, keepdims=True) / xp.sum(t * t)
    return centred - slope * t


def _median(p: Any, xp: ModuleType, axis: int) -> Any:
    """The median along ``axis``, averaging the two middle values for an even count."""
    ordered = xp.sort(p, axis=axis)
    n = ordered.shape[axis]
    mid = xp.take(ordered, xp.asarray([(n - 1) // 2, n // 2], device=ordered.device), axis=axis)
    return xp.mean(mid, axis=axis)


def _segment_params(
    n: int, window: WindowSpec, nperseg: int | None, noverlap: int | None, nfft: int | None
) -> tuple[np.ndarray, int, int, int]:
    """The window values, nperseg, noverlap and nfft, checked as scipy does."""
    by_name = isinstance(window, (str, tuple))
    if by_name:
        nperseg = positive_int("nperseg", 256 if nperseg is None else nperseg)
        nperseg = min(nperseg, n)
        win = get_window(window, nperseg)
    else:
        shape = tuple(getattr(window, "shape", np.shape(window)))
        if len(shape) != 1 or shape[0] < 1:
            raise ParameterError(f"window has shape {shape}; window values must be 1-D")
        win = get_window(window, shape[0])
        nperseg = win.shape[0] if nperseg is None else positive_int("nperseg", nperseg)
        if nperseg != win.shape[0]:
            raise ParameterError(f"nperseg={nperseg} must equal the window length {win.shape[0]}")
        if nperseg > n:
            raise ParameterError(
                f"the window has {nperseg} samples, more than the {n} of the signal"
            )
    if nfft is None:
        nfft = nperseg
    nfft = positive_int("nfft", nfft)
    if nfft < nperseg:
        raise ParameterError(f"nfft={nfft} must be at least nperseg={nperseg}")
    if noverlap is None:
        noverlap = nperseg // 2
    ok = isinstance(noverlap, (int, np.integer)) and not isinstance(noverlap, bool)
    if not ok or not 0 <= noverlap < nperseg:
        raise ParameterError(
            f"noverlap={noverlap!r} must be an integer >= 0 and smaller than nperseg={nperseg}"
        )
    return win, nperseg, int(noverlap), nfft


def welch(
    x: Array,
    *,
    fs: float = 1.0,
    nperseg: int | None = 256,
    noverlap: int | None = None,
    window: WindowSpec = "hann",
    detrend: Detrend = "constant",
    scaling: Scaling = "density",
    average: Average = "mean",
    nfft: int | None = None,
) -> tuple[Array, Array]:
    """Power spectral density by Welch's method, as :func:`scipy.signal.welch` (one-sided).

    The signal is cut into segments of ``nperseg`` samples, ``nperseg - noverlap`` apart (a
    tail shorter than a segment is dropped); each segment is detrended, windowed and
    transformed, and the periodograms are averaged.

    Parameters
    ----------
    x : np.ndarray or torch.Tensor [shape=(..., n)]
        Real signal, any device; float64 is computed in float64, float32 in float32, integers
        in float64 (float32 on MPS).
    fs : float > 0
        Sample rate [Hz].
    nperseg : int > 0 or None
        Segment length. As in scipy, a value larger than ``n`` is reduced to ``n`` (scipy also
        warns; this does not). None means 256, or the length of a window given as values.
    noverlap : int in [0, nperseg) or None
        Samples shared by consecutive segments; default ``nperseg // 2``.
    window : str, tuple or array [shape=(nperseg,)]
        A :func:`scipy.signal.get_window` spec (periodic) or the window values.
    detrend : {"constant", "linear", False, None}
        Remove each segment's mean or least-squares line, or nothing.
    scaling : {"density", "spectrum"}
        "density" gives V**2/Hz (divides by ``fs * sum(w**2)``), "spectrum" V**2 (divides by
        ``sum(w)**2``).
    average : {"mean", "median"}
        How the periodograms are combined; the median is divided by scipy's bias correction.
    nfft : int >= nperseg or None
        FFT length (segments are zero-padded); default ``nperseg``.

    Returns
    -------
    freqs : np.ndarray or torch.Tensor [shape=(1 + nfft // 2,)]
        Frequencies [Hz], float64 (float32 on MPS), on ``x``'s device.
    Pxx : np.ndarray or torch.Tensor [shape=(..., 1 + nfft // 2)]
        Power spectral density (or power spectrum), in ``x``'s compute dtype. The bins between
        DC and Nyquist (exclusive) are doubled to account for the negative frequencies.

    Raises
    ------
    ParameterError
        for bad segment parameters, an unknown option, complex or empty input.

    Notes
    -----
    Unlike scipy, an empty signal raises instead of returning empty arrays, and complex input
    (two-sided spectra) is not supported.
    """
    xp = namespace(x)
    fs = positive_float("fs", fs)
    choice("detrend", detrend, ("constant", "linear", False, None))
    choice("scaling", scaling, ("density", "spectrum"))
    choice("average", average, ("mean", "median"))
    dtype = compute_dtype(xp, x, "x")
    n = signal_length(x, "x")
    win_np, nperseg, noverlap, nfft = _segment_params(n, window, nperseg, noverlap, nfft)

    if scaling == "density":
        scale = 1.0 / (fs * float(np.sum(win_np * win_np)))
    else:
        scale = 1.0 / float(np.sum(win_np)) ** 2
    signal = x if x.dtype == dtype else xp.astype(x, dtype)
    win = constant_like(win_np, xp, signal, dtype)

    def periodogram(segments: Any) -> Any:
        spectrum = xp.fft.rfft(_detrend(segments, xp, detrend) * win, n=nfft, axis=-1)
        re, im = xp.real(spectrum), xp.imag(spectrum)
        return re * re + im * im

    segments = frames_last(signal, xp, nperseg, nperseg - noverlap)
    periodograms = map_frames(periodogram, segments, xp)
    if average == "median" and periodograms.shape[-2] > 1:
        pxx = _median(periodograms, xp, axis=-2) / _median_bias(periodograms.shape[-2])
    else:
        pxx = xp.mean(periodograms, axis=-2)

    weights = np.full(1 + nfft // 2, 2.0 * scale)
    weights[0] = scale
    if nfft % 2 == 0:
        weights[-1] = scale
    pxx = pxx * constant_like(weights, xp, pxx, dtype)

    freqs_np = np.fft.rfftfreq(nfft, d=1.0 / fs)
    freqs = constant_like(freqs_np, xp, signal, float64_or_best(xp, signal))
    return freqs, pxx
