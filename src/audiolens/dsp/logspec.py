"""madmom's log-filtered spectrogram: the input of the madmom/allin1 family of beat models."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ._backend import (
    compute_dtype,
    constant_like,
    frames_last,
    map_frames,
    namespace,
    pad_last,
)
from ._params import nonnegative_float, positive_float, positive_int, signal_length
from .filters import LogFilterbankOptions, log_filterbank

if TYPE_CHECKING:
    from types import ModuleType

    from ._backend import Array

__all__ = ["log_filtered_spectrogram", "madmom_frames"]

#: frames per step of the numpy path: a step's buffers stay in the CPU's caches
_STEP = 128


def _frame_count(n: int, hop: float) -> int:
    return math.ceil(n / hop)


def madmom_frames(y: Array, *, frame_size: int, hop_size: float) -> Array:
    """madmom's centred frames: frame ``i`` starts at ``int(i * hop_size) - frame_size // 2``.

    Samples outside the signal are zeros; there are ``ceil(n / hop_size)`` frames (madmom's
    ``FramedSignal`` with ``origin=0`` and ``end="normal"``). ``hop_size`` may be fractional
    (e.g. ``sr / fps``), in which case frame starts are truncated to whole samples.

    Parameters
    ----------
    y : np.ndarray or torch.Tensor [shape=(..., n)]
        Signal, any dtype, on any device.
    frame_size : int > 0
        Samples per frame.
    hop_size : float > 0
        Samples between frame centres.

    Returns
    -------
    frames : np.ndarray or torch.Tensor [shape=(..., n_frames, frame_size)]
        Frames last (madmom's orientation), ``y``'s dtype. A strided view of a padded copy
        when ``hop_size`` is a whole number, a gathered copy otherwise.

    Raises
    ------
    ParameterError
        for bad sizes or an empty signal.
    """
    xp = namespace(y)
    frame_size = positive_int("frame_size", frame_size)
    hop_size = positive_float("hop_size", hop_size)
    return _madmom_frames(y, xp, frame_size, hop_size)


def _madmom_frames(y: Any, xp: ModuleType, frame_size: int, hop: float) -> Any:
    n = signal_length(y)
    n_frames = _frame_count(n, hop)
    half = frame_size // 2
    starts = (np.arange(n_frames) * hop).astype(np.int64)  # int() truncation, as madmom
    right = max(0, int(starts[-1]) - half + frame_size - n)
    padded = pad_last(y, xp, half, right)
    if hop.is_integer():
        return frames_last(padded, xp, frame_size, int(hop))[..., :n_frames, :]
    index = (starts[:, None] + np.arange(frame_size)[None, :]).reshape(-1)
    index = constant_like(index, xp, padded, xp.int64)
    gathered = xp.take(padded, index, axis=-1)
    return xp.reshape(gathered, (*padded.shape[:-1], n_frames, frame_size))


def log_filtered_spectrogram(
    y: Array,
    *,
    sr: float = 44100.0,
    frame_size: int = 2048,
    fps: float = 100.0,
    bands_per_octave: int = 12,
    fmin: float = 30.0,
    fmax: float = 17000.0,
    fref: float = 440.0,
    norm_filters: bool = True,
    unique_filters: bool = True,
    mul: float = 1.0,
    add: float = 1.0,
) -> Array:
    """The log-filtered magnitude spectrogram of madmom 0.16 (its beat-tracking front end).

    The chain: centred frames of ``frame_size`` samples every ``sr / fps`` samples
    (:func:`madmom_frames`); a symmetric Hann window (``numpy.hanning``), divided by the
    integer maximum (32767 for int16) when ``y`` has an integer dtype; the magnitude of the
    first ``frame_size // 2`` real-FFT bins (Nyquist dropped); the logarithmic filterbank of
    :func:`log_filterbank`; and ``log10(mul * x + add)``.

    Parameters
    ----------
    y : np.ndarray or torch.Tensor [shape=(..., n)]
        Mono signal (leading axes are independent signals), any device. To reproduce madmom on
        a WAV file pass its int16 samples; madmom downmixes stereo int16 by the channel mean
        truncated back to int16 (``x.mean(axis=-1).astype(np.int16)``). Float input is not
        rescaled: float samples decoded as ``int16 / 32768`` give values about 3e-5 larger
        (relative) than madmom's before the log.
    sr : float > 0
        Sample rate [Hz] (madmom's models expect 44100).
    frame_size : int > 0
        Frame and FFT length.
    fps : float > 0
        Frames per second; the hop is ``sr / fps`` samples.
    bands_per_octave, fmin, fmax, fref, norm_filters, unique_filters
        The filterbank, see :class:`LogFilterbankOptions`.
    mul, add : float
        The log is ``log10(mul * x + add)``; ``mul > 0``, ``add >= 0``.

    Returns
    -------
    S : np.ndarray or torch.Tensor [shape=(..., n_bands, n_frames)]
        ``n_frames = ceil(n * fps / sr)``; 81 bands with the defaults. float64 for float64 or
        integer input (float32 on MPS), float32 for float32 input. madmom's array is the
        transpose (frames first).

    Raises
    ------
    ParameterError
        for bad parameters, complex input or an empty signal.
    """
    xp = namespace(y)
    sr = positive_float("sr", sr)
    frame_size = positive_int("frame_size", frame_size)
    fps = positive_float("fps", fps)
    mul = positive_float("mul", mul)
    add = nonnegative_float("add", add)
    dtype = compute_dtype(xp, y)
    signal_length(y)
    options = LogFilterbankOptions(
        sr, frame_size, bands_per_octave, fmin, fmax, fref, norm_filters, unique_filters
    )
    bank = log_filterbank(options)
    window = np.hanning(frame_size)
    if xp.isdtype(y.dtype, "integral"):
        window = window / float(xp.iinfo(y.dtype).max)
    x = y if y.dtype == dtype else xp.astype(y, dtype)
    hop = sr / fps
    if isinstance(x, np.ndarray):
        if hop.is_integer():
            pieces = _frame_pieces(x, frame_size, int(hop))
        else:
            pieces = [_madmom_frames(x, xp, frame_size, hop)]
        return _numpy_logspec(pieces, window.astype(dtype), bank.astype(dtype), mul, add)
    frames = _madmom_frames(x, xp, frame_size, hop)
    win = constant_like(window, xp, x, dtype)
    half = frame_size // 2
    mag = map_frames(lambda f: xp.abs(xp.fft.rfft(f * win, axis=-1)[..., :half]), frames, xp)
    filtered = constant_like(bank, xp, x, dtype) @ xp.matrix_transpose(mag)
    return xp.log10(mul * filtered + add)


def _band_blocks(bank: np.ndarray, size: int = 8) -> list[tuple[int, int, int, int, np.ndarray]]:
    """The filterbank cut into dense blocks of ``size`` consecutive bands and the bins they
    cover: (first band, end band, first bin, end bin, block). Each band covers a few
    neighbouring bins, so the blocks hold a fraction of the full matrix's products."""
    blocks = []
    for b0 in range(0, bank.shape[0], size):
        b1 = min(bank.shape[0], b0 + size)
        used = np.flatnonzero(bank[b0:b1].any(axis=0))
        if used.size == 0:
            continue
        k0, k1 = int(used[0]), int(used[-1]) + 1
        blocks.append((b0, b1, k0, k1, np.ascontiguousarray(bank[b0:b1, k0:k1])))
    return blocks


def _segment(x: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """``x[..., lo:hi]`` with zeros where the range leaves the signal (a small new array)."""
    n = x.shape[-1]
    out = np.zeros((*x.shape[:-1], hi - lo), dtype=x.dtype)
    a, b = max(lo, 0), min(hi, n)
    if b > a:
        out[..., a - lo : b - lo] = x[..., a:b]
    return out


def _frame_pieces(x: np.ndarray, frame_size: int, hop: int) -> list[np.ndarray]:
    """madmom's centred frames (as :func:`madmom_frames`, whole-sample hop) in up to three
    consecutive pieces: the frames that reach before the signal's start, the frames inside it
    (a strided view of ``x``, nothing copied) and the frames that reach past its end (copies
    of a few frames' worth of zero-padded samples). Same frames, without padding the signal."""
    n = x.shape[-1]
    n_frames = _frame_count(n, hop)
    half = frame_size // 2
    first = min(n_frames, -(-half // hop))  # frames before this one start before sample 0
    end = max(first, min(n_frames, (n + half - frame_size) // hop + 1))  # ... inside up to here

    def padded(i0: int, i1: int) -> np.ndarray:
        lo = i0 * hop - half
        seg = _segment(x, lo, (i1 - 1) * hop - half + frame_size)
        return frames_last(seg, np, frame_size, hop)[..., : i1 - i0, :]

    pieces = []
    if first > 0:
        pieces.append(padded(0, first))
    if end > first:
        inner = x[..., first * hop - half :]
        pieces.append(frames_last(inner, np, frame_size, hop)[..., : end - first, :])
    if n_frames > end:
        pieces.append(padded(end, n_frames))
    return pieces


def _numpy_logspec(
    pieces: list[np.ndarray], window: np.ndarray, bank: np.ndarray, mul: float, add: float
) -> np.ndarray:
    """The numpy chain, a few hundred frames at a time, with the filterbank's zeros skipped.

    Same arithmetic as the array-API chain (window, real FFT, magnitude, filterbank, log), but
    each step's frames go through it while they are in cache, only the bins the filterbank
    uses get a magnitude, and the filterbank is applied block by block (:func:`_band_blocks`).
    ``pieces`` are consecutive runs of frames ``(..., frames, frame_size)``, e.g. views of the
    signal, so that no padded copy of the whole signal is needed.
    """
    import scipy.fft

    lead, size = pieces[0].shape[:-2], pieces[0].shape[-1]
    n = sum(p.shape[-2] for p in pieces)
    flats = [p.reshape(-1, p.shape[-2], size) for p in pieces]
    blocks = _band_blocks(bank, size=12)
    lo, hi = blocks[0][2], max(b[3] for b in blocks)
    out = np.zeros((flats[0].shape[0], bank.shape[0], n), dtype=bank.dtype)
    buf = np.empty((min(_STEP, n), size), dtype=bank.dtype)
    mags = np.empty((min(_STEP, n), hi - lo), dtype=bank.dtype)
    for i in range(out.shape[0]):
        done = 0
        for flat in flats:
            for a in range(0, flat.shape[1], _STEP):
                m = min(_STEP, flat.shape[1] - a)
                np.multiply(flat[i, a : a + m], window, out=buf[:m])
                spec = scipy.fft.rfft(buf[:m], axis=-1, workers=1, overwrite_x=True)
                mag = np.abs(spec[:, lo:hi], out=mags[:m])
                at = done + a
                for b0, b1, k0, k1, block in blocks:
                    out[i, b0:b1, at : at + m] = block @ mag[:, k0 - lo : k1 - lo].T
            done += flat.shape[1]
    out *= mul
    out += add
    # log10 as ln / ln(10): numpy's float32 log10 is scalar code, 4-5x slower than its
    # vectorised log (20 ms of a 3-minute song's 1.5 M values); within 2.4e-7 of log10
    np.log(out, out=out)
    out *= out.dtype.type(1.0 / np.log(10.0))
    return out.reshape(*lead, bank.shape[0], n)
