"""Short-time Fourier transform and the spectrograms derived from it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ParameterError
from ._backend import (
    PadMode,
    check_pad_mode,
    compute_dtype,
    frames_last,
    map_frames,
    namespace,
    pad_last,
)
from ._params import positive_float, positive_int, signal_length
from .windows import window_on

if TYPE_CHECKING:
    from types import ModuleType

    from ._backend import Array
    from .windows import WindowSpec

__all__ = ["fft_frequencies", "magnitude", "power_spectrogram", "stft"]


def fft_frequencies(*, sr: float, n_fft: int) -> np.ndarray:
    """Centre frequencies of the ``1 + n_fft // 2`` bins of a real FFT, in Hz.

    Parameters
    ----------
    sr : float > 0
        Sample rate [Hz].
    n_fft : int > 0
        FFT length.

    Returns
    -------
    freqs : np.ndarray [shape=(1 + n_fft // 2,), dtype=float64]
        ``k * sr / n_fft``, as :func:`numpy.fft.rfftfreq` (and :func:`librosa.fft_frequencies`).
    """
    sr = positive_float("sr", sr)
    n_fft = positive_int("n_fft", n_fft)
    return np.fft.rfftfreq(n_fft, d=1.0 / sr)


def _stft_lengths(
    n_fft: int, hop_length: int | None, win_length: int | None
) -> tuple[int, int, int]:
    n_fft = positive_int("n_fft", n_fft)
    if win_length is None:
        win_length = n_fft
    win_length = positive_int("win_length", win_length, maximum=n_fft, at_most=f"n_fft={n_fft}")
    if hop_length is None:
        hop_length = win_length // 4
        if hop_length < 1:
            raise ParameterError(
                f"the default hop_length=win_length // 4 is 0 for win_length={win_length}; "
                "pass a positive hop_length"
            )
    hop_length = positive_int("hop_length", hop_length)
    return n_fft, hop_length, win_length


def stft(
    y: Array,
    *,
    n_fft: int = 2048,
    hop_length: int | None = None,
    win_length: int | None = None,
    window: WindowSpec = "hann",
    center: bool = True,
    pad_mode: PadMode = "constant",
) -> Array:
    """Short-time Fourier transform, with librosa's conventions.

    ``S[..., k, t] = sum_m w[m] * y[t * hop_length + m - c] * exp(-2j * pi * k * m / n_fft)``
    with ``c = n_fft // 2`` when ``center`` (the signal is padded by ``c`` at both ends) and
    ``c = 0`` otherwise; ``w`` is the window, zero-padded to ``n_fft`` around its centre.
    No normalization is applied: :func:`scipy.signal.stft` (``scaling="spectrum"``) equals this
    divided by ``w.sum()``, and may add one frame at the end (``padded=True``).

    Parameters
    ----------
    y : np.ndarray or torch.Tensor [shape=(..., n)]
        Real signal, any device. float64 is computed in float64, float32 in float32; integer
        signals are converted to float64 (float32 on MPS).
    n_fft : int > 0
        FFT length (samples per frame).
    hop_length : int > 0 or None
        Samples between frames; default ``win_length // 4``.
    win_length : int in [1, n_fft] or None
        Window length; default ``n_fft``.
    window : str, tuple or array [shape=(win_length,)]
        A :func:`scipy.signal.get_window` spec (periodic, e.g. ``"hann"``) or window values.
    center : bool
        Centre frame ``t`` on sample ``t * hop_length`` (padding by ``n_fft // 2``); otherwise
        frame ``t`` starts there.
    pad_mode : {"constant", "reflect", "edge", "wrap"}
        Padding used when ``center``; "constant" pads zeros (librosa's default).

    Returns
    -------
    S : np.ndarray or torch.Tensor [shape=(..., 1 + n_fft // 2, n_frames), complex]
        complex128 for float64 input, complex64 for float32. ``n_frames = 1 + n // hop_length``
        when centred (even ``n_fft``), ``1 + (n - n_fft) // hop_length`` otherwise. The result
        may be a transposed view (not C-contiguous).

    Raises
    ------
    ParameterError
        for bad lengths, an unknown window or ``pad_mode``, complex input, an empty signal,
        or (``center=False``) a signal shorter than ``n_fft``.

    See Also
    --------
    power_spectrogram, welch
    """
    return _stft(y, n_fft, hop_length, win_length, window, center, pad_mode, None)


def _stft(
    y: Array,
    n_fft: int,
    hop_length: int | None,
    win_length: int | None,
    window: WindowSpec,
    center: bool,
    pad_mode: PadMode,
    power: float | None,
) -> Array:
    """The STFT, or with ``power`` its ``|.| ** power`` computed block by block (numpy)."""
    xp = namespace(y)
    n_fft, hop_length, win_length = _stft_lengths(n_fft, hop_length, win_length)
    check_pad_mode(pad_mode)
    dtype = compute_dtype(xp, y)
    if center:
        signal_length(y)
    else:
        signal_length(y, at_least=n_fft, why=f"n_fft={n_fft} with center=False")
    x = y if y.dtype == dtype else xp.astype(y, dtype)
    win = window_on(window, win_length, n_fft, xp, x, dtype)
    if center:
        x = pad_last(x, xp, n_fft // 2, n_fft // 2, pad_mode)
    frames = frames_last(x, xp, n_fft, hop_length)

    def transform(block: Any) -> Any:
        spectrum = xp.fft.rfft(block * win, axis=-1)
        return spectrum if power is None else _magnitude(spectrum, xp, power)

    return xp.matrix_transpose(map_frames(transform, frames, xp))


def _magnitude(S: Any, xp: ModuleType, power: float) -> Any:
    if power == 2.0 and xp.isdtype(S.dtype, "complex floating"):
        re, im = xp.real(S), xp.imag(S)
        return re * re + im * im
    mag = xp.abs(S)
    return mag if power == 1.0 else mag**power


def magnitude(S: Array, *, power: float = 1.0) -> Array:
    """``|S| ** power`` of a complex spectrogram; ``power=2`` is computed as ``re**2 + im**2``.

    Parameters
    ----------
    S : np.ndarray or torch.Tensor [shape=(...), complex]
        Complex spectrum (e.g. from :func:`stft`).
    power : float > 0
        Exponent: 1 for magnitude, 2 for power.

    Returns
    -------
    M : np.ndarray or torch.Tensor [shape=(...), real]
        float64 for complex128 input, float32 for complex64.
    """
    power = positive_float("power", power)
    return _magnitude(S, namespace(S), power)


def power_spectrogram(
    y: Array,
    *,
    n_fft: int = 2048,
    hop_length: int | None = None,
    win_length: int | None = None,
    window: WindowSpec = "hann",
    center: bool = True,
    pad_mode: PadMode = "constant",
    power: float = 2.0,
) -> Array:
    """``|stft(y)| ** power``: a power (``power=2``) or magnitude (``power=1``) spectrogram.

    Parameters
    ----------
    y : np.ndarray or torch.Tensor [shape=(..., n)]
        Real signal.
    n_fft, hop_length, win_length, window, center, pad_mode
        As for :func:`stft`.
    power : float > 0
        Exponent applied to the magnitude.

    Returns
    -------
    S : np.ndarray or torch.Tensor [shape=(..., 1 + n_fft // 2, n_frames), real]
    """
    power = positive_float("power", power)
    return _stft(y, n_fft, hop_length, win_length, window, center, pad_mode, power)
