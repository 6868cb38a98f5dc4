"""Slicing a signal into (overlapping) frames without copying it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._backend import PadMode, check_pad_mode, frames_last, namespace, pad_last
from ._params import positive_int, signal_length

if TYPE_CHECKING:
    from ._backend import Array

__all__ = ["frame", "frame_centered"]


def frame(y: Array, *, frame_length: int, hop_length: int) -> Array:
    """Slice a signal into overlapping frames along its last axis, as a view.

    Frame ``t`` holds ``y[..., t * hop_length : t * hop_length + frame_length]``; a tail shorter
    than a frame is dropped. This is :func:`librosa.util.frame` with ``axis=-1``.

    Parameters
    ----------
    y : np.ndarray or torch.Tensor [shape=(..., n)]
        Signal, any dtype, on any device.
    frame_length : int > 0
        Samples per frame.
    hop_length : int > 0
        Samples between the starts of consecutive frames.

    Returns
    -------
    frames : np.ndarray or torch.Tensor [shape=(..., frame_length, n_frames)]
        A view of ``y`` (read-only for numpy), ``n_frames = 1 + (n - frame_length) // hop_length``.

    Raises
    ------
    ParameterError
        for a non-positive ``frame_length`` or ``hop_length``, or ``n < frame_length``.

    Examples
    --------
    >>> import numpy as np
    >>> frame(np.arange(6.0), frame_length=3, hop_length=2)
    array([[0., 2.],
           [1., 3.],
           [2., 4.]])
    """
    xp = namespace(y)
    frame_length = positive_int("frame_length", frame_length)
    hop_length = positive_int("hop_length", hop_length)
    signal_length(y, at_least=frame_length, why=f"frame_length={frame_length}")
    return xp.matrix_transpose(frames_last(y, xp, frame_length, hop_length))


def frame_centered(
    y: Array, *, frame_length: int, hop_length: int, pad_mode: PadMode = "constant"
) -> Array:
    """Frames centred on every ``hop_length``-th sample, padding the signal at both ends.

    Frame ``t`` covers samples ``t * hop_length - frame_length // 2`` up to (not including)
    ``t * hop_length - frame_length // 2 + frame_length`` of ``y``; samples outside the signal
    come from ``pad_mode``. This is the framing of :func:`librosa.stft` with ``center=True``.

    Parameters
    ----------
    y : np.ndarray or torch.Tensor [shape=(..., n)]
        Signal, any dtype, on any device.
    frame_length, hop_length
        As for :func:`frame` (the hop is also the distance between frame centres).
    pad_mode : {"constant", "reflect", "edge", "wrap"}
        How the signal is extended at its ends (see :func:`numpy.pad`); "constant" pads zeros.

    Returns
    -------
    frames : np.ndarray or torch.Tensor [shape=(..., frame_length, n_frames)]
        ``n_frames = 1 + (n + 2 * (frame_length // 2) - frame_length) // hop_length``, i.e.
        ``1 + n // hop_length`` for an even ``frame_length``. A view of a padded copy of ``y``.

    Raises
    ------
    ParameterError
        for bad lengths, an unknown ``pad_mode``, a signal too short for ``"reflect"``
        padding, or an empty signal.
    """
    xp = namespace(y)
    frame_length = positive_int("frame_length", frame_length)
    hop_length = positive_int("hop_length", hop_length)
    check_pad_mode(pad_mode)
    signal_length(y)
    half = frame_length // 2
    padded = pad_last(y, xp, half, half, pad_mode)
    return xp.matrix_transpose(frames_last(padded, xp, frame_length, hop_length))
