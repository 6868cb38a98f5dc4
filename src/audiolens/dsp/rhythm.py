"""Onset envelopes and tempo: spectral flux, the autocorrelation tempogram, tempo estimates.

Written once for numpy and torch (the array API), with librosa's definitions, so that the
numbers can be checked against librosa's ``onset.onset_strength`` (given the same spectrogram),
``feature.tempogram`` and ``feature.rhythm.tempo``. The beat trackers use them on the
log-filtered spectrogram (:func:`audiolens.dsp.log_filtered_spectrogram`), whose spectral flux
is madmom's onset function.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ParameterError
from ._backend import constant_like, namespace
from ._params import positive_float, positive_int
from .windows import get_window

if TYPE_CHECKING:
    from ._backend import Array
    from .windows import WindowSpec

__all__ = ["spectral_flux", "tempo", "tempo_frequencies", "tempogram"]


def spectral_flux(
    S: Array,
    *,
    lag: int = 1,
    max_size: int = 1,
    pad: int | None = None,
    n_frames: int | None = None,
) -> Array:
    """Onset strength: the mean over bins of the positive change of ``S`` over ``lag`` frames.

    ``max(0, S[..., t] - ref[..., t - lag])`` averaged over the bin axis, where ``ref`` is
    ``S`` itself, or with ``max_size > 1`` ``S`` maximum-filtered over ``max_size``
    neighbouring bins (SuperFlux: vibrato does not count as an onset). On a dB Mel
    spectrogram this is :func:`librosa.onset.onset_strength`; on the log-filtered spectrogram
    it is madmom's spectral flux.

    Parameters
    ----------
    S : np.ndarray or torch.Tensor [shape=(..., n_bins, n)]
        A log-magnitude spectrogram (dB, or ``log10(1 + x)``).
    lag : int > 0
        Frames between the compared spectra.
    max_size : int > 0, odd
        Width of the maximum filter over bins for the reference spectrum (1: none).
    pad : int >= 0 or None
        Zeros put in front so that value ``t`` belongs to frame ``t``; None puts ``lag``.
        librosa's centred default is ``lag + n_fft // (2 * hop_length)``.
    n_frames : int or None
        Keep at most this many values after padding (librosa keeps ``n``); None keeps all.

    Returns
    -------
    flux : np.ndarray or torch.Tensor [shape=(..., pad + n - lag)], at most ``n_frames`` long
    """
    xp = namespace(S)
    lag = positive_int("lag", lag)
    max_size = positive_int("max_size", max_size)
    if max_size % 2 == 0:
        raise ParameterError(f"max_size={max_size} must be odd, so that the filter is centred")
    if S.ndim < 2:
        raise ParameterError(f"S must have shape (..., n_bins, n_frames), got {tuple(S.shape)}")
    if S.shape[-1] <= lag:
        raise ParameterError(f"S has {S.shape[-1]} frames; lag={lag} needs at least {lag + 1}")
    pad = lag if pad is None else int(pad)
    if pad < 0:
        raise ParameterError(f"pad={pad} must be >= 0")
    ref = S if max_size == 1 else _max_filter_bins(S, max_size, xp)
    diff = S[..., lag:] - ref[..., :-lag]
    zero = xp.zeros((), dtype=S.dtype, device=getattr(S, "device", None))
    flux = xp.mean(xp.maximum(diff, zero), axis=-2)
    if pad:
        front = xp.zeros(
            (*flux.shape[:-1], pad), dtype=flux.dtype, device=getattr(S, "device", None)
        )
        flux = xp.concat([front, flux], axis=-1)
    return flux if n_frames is None else flux[..., :n_frames]


def _max_filter_bins(S: Any, size: int, xp: Any) -> Any:
    """Maximum over ``size`` neighbouring bins (edges repeat the border bin, as scipy's
    ``maximum_filter1d`` with its default 'reflect' mode does for a maximum)."""
    half = size // 2
    n = S.shape[-2]
    out = S
    for k in range(1, half + 1):
        up = xp.concat(
            [S[..., k:, :], xp.broadcast_to(S[..., -1:, :], (*S.shape[:-2], k, S.shape[-1]))],
            axis=-2,
        )
        down = xp.concat(
            [xp.broadcast_to(S[..., :1, :], (*S.shape[:-2], k, S.shape[-1])), S[..., : n - k, :]],
            axis=-2,
        )
        out = xp.maximum(out, xp.maximum(up, down))
    return out


def _autocorrelate(x: Any, xp: Any, axis: int = -2) -> Any:
    """Autocorrelation along ``axis`` by FFT, lags 0 .. n-1 (librosa's ``autocorrelate``)."""
    x = xp.moveaxis(x, axis, -1)
    n = x.shape[-1]
    size = 2 * n - 1
    f = xp.fft.rfft(x, n=size, axis=-1)
    ac = xp.fft.irfft(xp.real(f) ** 2 + xp.imag(f) ** 2, n=size, axis=-1)[..., :n]
    return xp.moveaxis(ac, -1, axis)


def tempogram(
    onset_envelope: Array,
    *,
    win_length: int = 384,
    center: bool = True,
    window: WindowSpec = "hann",
    normalize: bool = True,
) -> Array:
    """Local autocorrelation of an onset envelope, frame by frame
    (:func:`librosa.feature.tempogram`).

    Parameters
    ----------
    onset_envelope : np.ndarray or torch.Tensor [shape=(..., n)]
    win_length : int > 0
        Frames per autocorrelation window (lags ``0 .. win_length - 1``).
    center : bool
        Centre windows on frames (the envelope is padded by ``win_length // 2`` frames at each
        end with a linear ramp to zero, as librosa does).
    window : str, tuple or float
        The analysis window (see :func:`audiolens.dsp.get_window`), periodic.
    normalize : bool
        Divide each frame by its largest value (librosa's ``norm=np.inf``); all-zero frames
        stay zero.

    Returns
    -------
    tg : np.ndarray or torch.Tensor [shape=(..., win_length, n)]
        ``tg[..., k, t]``: autocorrelation at lag ``k`` frames around frame ``t``.
    """
    xp = namespace(onset_envelope)
    win_length = positive_int("win_length", win_length)
    x = onset_envelope
    n = x.shape[-1]
    if center:
        h = win_length // 2
        ramp = constant_like(
            np.arange(h, dtype=np.float64) / h if h else np.zeros(0), xp, x, x.dtype
        )
        left = ramp * x[..., :1]
        right = xp.flip(ramp, axis=0) * x[..., -1:]
        x = xp.concat([left, x, right], axis=-1)
    if x.shape[-1] < win_length:
        raise ParameterError(
            f"the onset envelope has {n} frames; win_length={win_length} needs "
            f"{win_length if not center else win_length - 2 * (win_length // 2)} or more"
        )
    count = x.shape[-1] - win_length + 1
    index = np.arange(win_length)[:, None] + np.arange(count)[None, :]
    frames = xp.take(x, constant_like(index.reshape(-1), xp, x, xp.int64), axis=-1)
    frames = xp.reshape(frames, (*x.shape[:-1], win_length, count))
    if center:
        frames = frames[..., :n]
    win = constant_like(get_window(window, win_length), xp, x, x.dtype)
    tg = _autocorrelate(frames * win[:, None], xp, axis=-2)
    if normalize:
        peak = xp.max(xp.abs(tg), axis=-2, keepdims=True)
        tiny = float(np.finfo(np.float64 if x.dtype == xp.float64 else np.float32).tiny)
        peak = xp.where(peak < tiny, xp.ones_like(peak), peak)
        tg = tg / peak
    return tg


def tempo_frequencies(n_bins: int, *, sr: float, hop_length: float) -> np.ndarray:
    """The tempo of each lag of a tempogram (:func:`librosa.tempo_frequencies`).

    Parameters
    ----------
    n_bins : int > 0
        Lags ``0 .. n_bins - 1``.
    sr, hop_length : the envelope's frame rate is ``sr / hop_length``

    Returns
    -------
    bpm : np.ndarray [shape=(n_bins,)]
        ``60 * sr / (hop_length * lag)`` beats per minute; ``inf`` for lag 0.
    """
    n_bins = positive_int("n_bins", n_bins)
    sr = positive_float("sr", sr)
    hop_length = positive_float("hop_length", hop_length)
    bpm = np.full(n_bins, np.inf)
    bpm[1:] = 60.0 * sr / (hop_length * np.arange(1.0, n_bins))
    return bpm


def tempo(
    tg: Array,
    *,
    sr: float,
    hop_length: float,
    start_bpm: float = 120.0,
    std_bpm: float = 1.0,
    max_tempo: float | None = 320.0,
    aggregate: bool = True,
) -> Array:
    """The most likely tempo (BPM) from a tempogram, under a log-normal prior
    (:func:`librosa.feature.rhythm.tempo`).

    Parameters
    ----------
    tg : np.ndarray or torch.Tensor [shape=(..., n_lags, n)]
        A tempogram (:func:`tempogram`).
    sr, hop_length : the frame rate of the envelope is ``sr / hop_length``
    start_bpm, std_bpm : the prior's centre (BPM) and spread (octaves)
    max_tempo : tempi at or above this are excluded; None keeps all
    aggregate : True: one tempo for the whole (the tempogram's mean over frames); False: a
        tempo per frame (a tempo curve)

    Returns
    -------
    bpm : np.ndarray or torch.Tensor [shape=(..., 1)] when ``aggregate``, else ``(..., n)``
    """
    xp = namespace(tg)
    start_bpm = positive_float("start_bpm", start_bpm)
    std_bpm = positive_float("std_bpm", std_bpm)
    n_lags = tg.shape[-2]
    bpms = tempo_frequencies(n_lags, sr=sr, hop_length=hop_length)
    with np.errstate(divide="ignore", invalid="ignore"):
        logprior = -0.5 * ((np.log2(bpms) - math.log2(start_bpm)) / std_bpm) ** 2
    if max_tempo is not None:
        logprior[: int(np.argmax(bpms < max_tempo))] = -np.inf
    prior = constant_like(logprior, xp, tg, tg.dtype)
    if aggregate:
        tg = xp.mean(tg, axis=-1, keepdims=True)
    best = xp.argmax(xp.log1p(1e6 * tg) + prior[:, None], axis=-2)
    table = constant_like(bpms, xp, tg, tg.dtype)
    return xp.reshape(xp.take(table, xp.reshape(best, (-1,)), axis=0), best.shape)
