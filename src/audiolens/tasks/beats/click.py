"""Click tracks: the audio with a click on every beat, the way users check a beat tracker by ear."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ...errors import ParameterError

__all__ = ["click_track", "write_audio"]


def _click(sr: int, freq: float, seconds: float = 0.03) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (np.sin(2 * np.pi * freq * t) * np.exp(-t * 150)).astype(np.float32)


def click_track(
    y: np.ndarray,
    *,
    sr: int,
    beats: Sequence[float],
    downbeats: Sequence[float] = (),
    level: float = 0.5,
) -> np.ndarray:
    """Mix a click into ``y`` at every beat: 1 kHz for beats, 2 kHz and louder for downbeats.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (channels, n)] the audio, float
    sr : its sample rate [Hz]
    beats : beat times [s]
    downbeats : the beats to accent [s] (matched to ``beats`` within 1 ms, or clicked anyway)
    level : the beat click's peak relative to full scale (downbeats get 1.5x)

    Returns
    -------
    mixed : np.ndarray, the shape of ``y``, float32, peak at most 1 (the mix is scaled down
        only when it would clip)
    """
    if sr <= 0:
        raise ParameterError(f"sr={sr!r} must be a positive sample rate")
    if not 0 < level <= 1:
        raise ParameterError(f"level={level!r} must be in (0, 1]")
    x = np.array(y, dtype=np.float32, copy=True)
    flat = x.reshape(-1, x.shape[-1]) if x.ndim > 1 else x[None, :]
    n = flat.shape[-1]
    clicks = np.zeros(n, dtype=np.float32)
    down = np.asarray(downbeats, dtype=float)
    beep, accent = level * _click(sr, 1000.0), min(1.5 * level, 1.0) * _click(sr, 2000.0)
    times = np.concatenate([np.asarray(beats, dtype=float), down])
    for k, t in enumerate(times):
        is_down = k >= len(beats)
        if not is_down and down.size and np.min(np.abs(down - t)) < 1e-3:
            continue  # clicked as a downbeat
        i = int(round(t * sr))
        if not 0 <= i < n:
            continue
        sound = accent if is_down else beep
        j = min(i + sound.size, n)
        clicks[i:j] += sound[: j - i]
    flat += clicks
    peak = float(np.abs(flat).max()) if flat.size else 0.0
    if peak > 1.0:
        flat /= peak
    return flat.reshape(x.shape)


def write_audio(path: str | os.PathLike, samples: np.ndarray, *, sr: int) -> Path:
    """Write float audio as 16-bit WAV or FLAC (by the suffix), atomically, with PyAV.

    Parameters
    ----------
    path : the file to write (``.wav`` or ``.flac``)
    samples : np.ndarray [shape=(n,) or (channels, n)] in [-1, 1]
    sr : sample rate [Hz]

    Returns
    -------
    path : the file written
    """
    import av

    target = Path(path)
    codec = {".wav": "pcm_s16le", ".flac": "flac"}.get(target.suffix.lower())
    if codec is None:
        raise ParameterError(f"{target}: write .wav or .flac, not {target.suffix or 'no suffix'!r}")
    x = np.asarray(samples, dtype=np.float32)
    x = x[None, :] if x.ndim == 1 else x
    channels = x.shape[0]
    if not 1 <= channels <= 8:
        raise ParameterError(f"{channels} channels: write 1 to 8")
    pcm = (np.clip(x, -1.0, 1.0) * 32767.0).round().astype("<i2")
    layout = {1: "mono", 2: "stereo"}.get(channels, f"{channels}c")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.{os.getpid()}.tmp{target.suffix}")
    try:
        with av.open(str(tmp), "w") as out:
            stream = out.add_stream(codec, rate=sr, layout=layout)
            step = 65536
            for a in range(0, pcm.shape[1], step):
                frame = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(pcm[:, a : a + step].T).reshape(1, -1),
                    format="s16",
                    layout=layout,
                )
                frame.sample_rate = sr
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
