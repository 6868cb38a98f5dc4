"""Click tracks: the audio with a click on every beat, the way users check a beat tracker by ear.

:func:`click_track` mixes the clicks into audio held in memory, or into one block of a longer
file (``offset`` says where the block starts; ``normalize=False`` leaves the scaling to the
caller, who knows the peak of the whole file). :func:`write_audio` writes the result as WAV or
FLAC with PyAV, from one array or from blocks, without ever leaving half a file behind.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from ...errors import ParameterError
from ...writing import replace_into

__all__ = ["BEAT_HZ", "CLICK_S", "DOWNBEAT_HZ", "click_track", "write_audio"]

#: pitch of the beat click and of the (louder) downbeat click [Hz]
BEAT_HZ = 1000.0
DOWNBEAT_HZ = 2000.0
#: length of a click [s]
CLICK_S = 0.03
#: the downbeat click's peak relative to the beat click's
ACCENT = 1.5
#: codec and most channels per suffix
_FORMATS = {".wav": ("pcm_s16le", 24), ".flac": ("flac", 8)}
_WRITE_STEP = 65536  # samples per frame handed to the encoder


def _click(sr: int, freq: float) -> np.ndarray:
    """A decaying sine burst of :data:`CLICK_S` seconds, peak near 1."""
    t = np.arange(max(1, int(round(CLICK_S * sr)))) / sr
    return (np.sin(2 * np.pi * freq * t + np.pi / 2) * np.exp(-t * 150)).astype(np.float32)


def click_track(
    y: np.ndarray,
    *,
    sr: int,
    beats: Sequence[float] | np.ndarray,
    downbeats: Sequence[float] | np.ndarray | None = None,
    level: float = 0.5,
    offset: float = 0.0,
    normalize: bool = True,
) -> np.ndarray:
    """Mix a click into ``y`` at every beat: 1 kHz for beats, 2 kHz and louder for downbeats.

    Each click is a 30 ms decaying sine burst that starts at its beat's sample, in every
    channel. ``y`` is not changed.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (channels, n)]
        the audio, float (any channel count)
    sr : int > 0
        its sample rate [Hz]
    beats : sequence of float
        beat times [s]
    downbeats : sequence of float or None
        the beats to accent [s]; a downbeat within 1 ms of a beat replaces that beat's click,
        one that matches no beat is clicked anyway
    level : float in (0, 1]
        the beat click's peak relative to full scale; downbeats get 1.5 times that (at most 1)
    offset : float >= 0
        the time of ``y``'s first sample [s], for mixing a block of a longer file: a click that
        began in the block before is continued here
    normalize : bool
        scale the mix down when its peak would pass 1 (no clipping); False returns the plain
        sum, for a caller that scales a whole file made of blocks

    Returns
    -------
    mixed : np.ndarray [shape=y.shape, dtype=float32]
        with ``normalize``, its peak is at most 1

    Raises
    ------
    ParameterError
        for a bad ``sr``, ``level`` or ``offset``, or beat times that are not finite
    """
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise ParameterError(f"sr={sr!r} must be a positive integer sample rate")
    if not 0 < level <= 1:
        raise ParameterError(f"level={level!r} must be in (0, 1]")
    if not (np.isfinite(offset) and offset >= 0):
        raise ParameterError(f"offset={offset!r} must be a time >= 0 in seconds")
    beat_t = np.asarray(beats, dtype=float).reshape(-1)
    down_t = np.asarray([] if downbeats is None else downbeats, dtype=float).reshape(-1)
    if not (np.isfinite(beat_t).all() and np.isfinite(down_t).all()):
        raise ParameterError("beats and downbeats must be finite times in seconds")
    x = np.array(y, dtype=np.float32, copy=True)
    if x.ndim == 0:
        raise ParameterError("y must be audio of shape (n,) or (channels, n), not a scalar")
    flat = x.reshape(-1, x.shape[-1]) if x.ndim > 1 else x.reshape(1, -1)
    n = flat.shape[-1]
    beat_t = beat_t[~_near(beat_t, down_t)]  # a downbeat gets the accented click only
    clicks = np.zeros(n, dtype=np.float32)
    first = int(round(offset * sr))
    for times, sound in (
        (beat_t, level * _click(sr, BEAT_HZ)),
        (down_t, min(ACCENT * level, 1.0) * _click(sr, DOWNBEAT_HZ)),
    ):
        starts = np.round(times * sr).astype(np.int64) - first
        for start in starts[(starts > -sound.size) & (starts < n)]:
            a, b = max(start, 0), min(start + sound.size, n)
            if a < b:
                clicks[a:b] += sound[a - start : b - start]
    flat += clicks
    if normalize and flat.size:
        peak = float(np.abs(flat).max())
        if peak > 1.0:
            flat /= peak
    return flat.reshape(x.shape)


def _near(t: np.ndarray, ref: np.ndarray, tol: float = 1e-3) -> np.ndarray:
    """Whether each of ``t`` is within ``tol`` seconds of one of ``ref``."""
    if not t.size or not ref.size:
        return np.zeros(t.size, dtype=bool)
    ref = np.sort(ref)
    i = np.searchsorted(ref, t)
    below = ref[np.clip(i - 1, 0, ref.size - 1)]
    above = ref[np.clip(i, 0, ref.size - 1)]
    return np.minimum(np.abs(t - below), np.abs(above - t)) < tol


def write_audio(
    path: str | os.PathLike,
    samples: np.ndarray | Iterable[np.ndarray],
    *,
    sr: int,
) -> Path:
    """Write float audio as 16-bit PCM WAV or FLAC (chosen by the suffix), with PyAV.

    The file is written under a temporary name in the same folder and renamed when complete,
    so a reader never sees half a file and a failed write leaves nothing behind.

    Parameters
    ----------
    path : str or os.PathLike
        the file to write: ``.wav`` (1 to 24 channels) or ``.flac`` (1 to 8); its folder
        is created when missing
    samples : np.ndarray [shape=(n,) or (channels, n)], or an iterable of such arrays
        float audio in [-1, 1] (values beyond are clipped); an iterable gives consecutive
        blocks of one signal, all with the same channel count, so a long file never has to be
        held whole
    sr : int > 0
        sample rate [Hz]

    Returns
    -------
    path : Path
        the file written

    Raises
    ------
    ParameterError
        for another suffix, a bad ``sr``, or a channel count the format cannot hold
    OSError
        when the file cannot be written
    """
    import av

    target = Path(path)
    codec, most = _FORMATS.get(target.suffix.lower(), (None, 0))
    if codec is None:
        raise ParameterError(f"{target}: write .wav or .flac, not {target.suffix or 'no suffix'!r}")
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise ParameterError(f"sr={sr!r} must be a positive integer sample rate")
    blocks = _blocks(samples)
    head = next(blocks, None)
    channels = 1 if head is None else head.shape[0]
    if not 1 <= channels <= most:
        raise ParameterError(f"{target}: {channels} channels; {target.suffix} holds 1 to {most}")
    layout = {1: "mono", 2: "stereo"}.get(channels, f"{channels}c")
    target.parent.mkdir(parents=True, exist_ok=True)
    with replace_into(target, "wb") as fh, av.open(fh, "w", format=target.suffix[1:]) as out:
        stream = out.add_stream(codec, rate=int(sr), layout=layout)
        for block in _chain(head, blocks):
            if block.shape[0] != channels:
                raise ParameterError(
                    f"{target}: a block has {block.shape[0]} channels, the first {channels}"
                )
            for a in range(0, block.shape[1], _WRITE_STEP):
                part = np.clip(block[:, a : a + _WRITE_STEP], -1.0, 1.0) * 32767.0
                pcm = np.ascontiguousarray(part.round().astype("<i2").T).reshape(1, -1)
                frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout=layout)
                frame.sample_rate = int(sr)
                for packet in stream.encode(frame):
                    out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return target


def _blocks(samples: np.ndarray | Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """The audio as (channels, n) float32 blocks."""
    if isinstance(samples, np.ndarray):
        samples = [samples]
    for block in samples:
        x = np.asarray(block, dtype=np.float32)
        if x.ndim not in (1, 2):
            raise ParameterError(f"samples of shape {x.shape}: give (n,) or (channels, n)")
        yield x.reshape(1, -1) if x.ndim == 1 else x


def _chain(head: np.ndarray | None, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    if head is not None:
        yield head
        yield from rest
