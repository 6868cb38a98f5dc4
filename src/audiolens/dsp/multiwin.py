"""Multi-window spectra: one frame seen through several windows, and their log-Mel summary.

A front end of this kind (a Hann window plus a few Gaussian windows of learned centre and
width, power spectra averaged over audio channels, a Mel filterbank, a log with a floor)
feeds Transkun's piano transcriber (Yan and Duan, 2024); the weights it learned for the
windows come from its checkpoint, everything else is computed here.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ._backend import compute_dtype, constant_like, namespace, pad_last
from ._params import positive_int

if TYPE_CHECKING:
    from ._backend import Array

__all__ = ["centered_frames", "gaussian_windows", "log_compress", "multi_window_power"]


def gaussian_windows(n: int, *, centers: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """Gaussian windows placed anywhere in a frame.

    Window ``k`` is ``exp(-0.5 * ((t - n * centers[k]) / (widths[k] * n / 2)) ** 2)`` at
    samples ``t = 0 .. n-1``.

    Parameters
    ----------
    n : int > 0
        Samples per window.
    centers, widths : np.ndarray [shape=(k,)]
        Centre and width of each window as fractions of ``n`` (0-1).

    Returns
    -------
    windows : np.ndarray [shape=(k, n)], float64
    """
    n = positive_int("n", n)
    c = np.asarray(centers, dtype=np.float64).reshape(-1, 1)
    w = np.asarray(widths, dtype=np.float64).reshape(-1, 1)
    t = np.arange(n, dtype=np.float64)
    return np.exp(-0.5 * ((t - n * c) / (w * n / 2)) ** 2)


def centered_frames(y: Array, *, frame_length: int, hop_length: int) -> Array:
    """Frames centred on ``t * hop_length`` for ``t = 0 .. ceil(n / hop_length)``.

    The signal is padded with zeros: ``frame_length // 2`` samples before it and as many after
    it as the last frame needs.

    Parameters
    ----------
    y : np.ndarray or torch.Tensor [shape=(..., n)]
    frame_length, hop_length : int > 0

    Returns
    -------
    frames : np.ndarray or torch.Tensor [shape=(..., ceil(n / hop_length) + 1, frame_length)]
        (frames on the second-to-last axis, as a model's input wants them)
    """
    xp = namespace(y)
    frame_length = positive_int("frame_length", frame_length)
    hop_length = positive_int("hop_length", hop_length)
    n = y.shape[-1]
    n_frames = math.ceil(n / hop_length) + 1
    right = (n_frames - 1) * hop_length + frame_length // 2 - n
    padded = pad_last(y, xp, frame_length // 2, right)
    if hasattr(padded, "unfold"):  # torch: a strided view
        return padded.unfold(-1, frame_length, hop_length)
    view = np.lib.stride_tricks.sliding_window_view(padded, frame_length, axis=-1)
    return view[..., ::hop_length, :]


def multi_window_power(frames: Array, *, windows: Array | np.ndarray) -> Array:
    """Power spectra of frames seen through several windows.

    Parameters
    ----------
    frames : np.ndarray or torch.Tensor [shape=(..., n_frames, frame_length)]
    windows : np.ndarray or torch.Tensor [shape=(k, frame_length)]

    Returns
    -------
    power : [shape=(..., n_frames, 1 + frame_length // 2, k)]
        ``|rfft(frame * window, norm="ortho")| ** 2`` in the frames' compute dtype.
    """
    xp = namespace(frames)
    dtype = compute_dtype(xp, frames, "frames")
    win = (
        constant_like(np.asarray(windows), xp, frames, dtype)
        if isinstance(windows, np.ndarray)
        else windows
    )
    x = xp.astype(frames, dtype)[..., None, :] * win
    spec = xp.fft.rfft(x, norm="ortho")
    power = xp.abs(spec) ** 2
    return xp.moveaxis(power, -2, -1)


def log_compress(x: Array, *, eps: float = 1e-5) -> Array:
    """``(log(x + eps) - log(eps)) / -log(eps)``: 0 for silence, about 1 at ``x = 1``."""
    xp = namespace(x)
    return (xp.log(x + eps) - math.log(eps)) / (-math.log(eps))
