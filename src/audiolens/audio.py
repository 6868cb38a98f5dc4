"""Decoding: the one place audiolens turns a file into samples.

:func:`load` decodes any container and codec FFmpeg knows (through PyAV) into float32
``(channels, samples)``; :func:`probe` reads what the container claims without decoding;
:func:`load_windows` decodes only chosen stretches of a file, for analyses that do not need all
of it. Resampling uses soxr.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._mpeg import LameTag, read_lame_tag
from .errors import DecodeError, MissingDependency, ParameterError

__all__ = ["Audio", "AudioInfo", "load", "load_windows", "probe"]

PathLike = str | os.PathLike[str] | bytes

LOSSLESS_CODECS = frozenset(
    {"flac", "alac", "ape", "wavpack", "tta", "mlp", "truehd", "tak", "wmalossless"}
)

_CODEC_ALIASES = {"mp3float": "mp3", "aac_fixed": "aac", "mp2float": "mp2", "ac3_fixed": "ac3"}

_SAMPLE_SCALE = {"u8": 128.0, "s16": 32768.0, "s32": 2147483648.0, "s64": 9.223372036854776e18}


@dataclass(frozen=True)
class AudioInfo:
    """What a file's container and stream claim, read without decoding.

    Attributes
    ----------
    path : the file path as given (str)
    container : the demuxer name, e.g. ``"mp3"``, ``"flac"``, ``"mov,mp4,m4a,3gp,3g2,mj2"``
    codec : the codec name, e.g. ``"mp3"``, ``"flac"``, ``"aac"``, ``"pcm_s16le"``
    sample_rate : Hz
    channels : number of channels
    duration : seconds (0.0 when the container does not say)
    bit_rate : bits per second claimed by the stream or container (0 when unknown)
    bit_depth : bits per sample of the source PCM, when the codec has one (lossless, PCM)
    lossless : whether the codec is lossless (PCM and lossless codecs)
    vbr : True for VBR/ABR, False for CBR, None when the container does not say
    lame : the Xing/Info/LAME header of an MP3, when present
    size : file size in bytes
    """

    path: str
    container: str
    codec: str
    sample_rate: int
    channels: int
    duration: float
    bit_rate: int
    bit_depth: int | None
    lossless: bool
    vbr: bool | None = None
    lame: LameTag | None = None
    size: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return asdict(self)


@dataclass
class Audio:
    """Decoded audio.

    Attributes
    ----------
    samples : np.ndarray [shape=(channels, n), dtype=float32], nominally in [-1, 1]
    sample_rate : Hz of ``samples`` (after any resampling)
    info : what the container claimed (its ``sample_rate`` is the file's own)
    offset : start of ``samples`` in the file, in seconds
    """

    samples: np.ndarray
    sample_rate: int
    info: AudioInfo
    offset: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        """Length of ``samples`` in seconds."""
        return self.samples.shape[-1] / float(self.sample_rate)

    @property
    def channels(self) -> int:
        """Number of channels in ``samples``."""
        return int(self.samples.shape[0])


def _av():
    try:
        import av
    except ImportError as exc:  # pragma: no cover - av is a hard dependency
        raise MissingDependency("decoding needs PyAV: pip install av") from exc
    return av


def _fs_path(path: PathLike) -> str:
    if isinstance(path, bytes):
        return os.fsdecode(path)
    return os.fspath(path)


def _check_file(path: str) -> os.stat_result:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DecodeError(path, "file not found") from None
    except PermissionError:
        raise DecodeError(path, "permission denied") from None
    except OSError as exc:
        raise DecodeError(path, f"cannot stat file ({exc.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise DecodeError(path, "is a directory, not an audio file")
    if not stat.S_ISREG(st.st_mode):
        raise DecodeError(path, "is not a regular file")
    if st.st_size == 0:
        raise DecodeError(path, "file is empty (0 bytes)")
    if not os.access(path, os.R_OK):
        raise DecodeError(path, "permission denied (file is not readable)")
    return st


def _open(path: str):
    av = _av()
    try:
        container = av.open(path, metadata_errors="ignore")
    except PermissionError:
        raise DecodeError(path, "permission denied") from None
    except FileNotFoundError:
        raise DecodeError(path, "file not found (it vanished before decoding)") from None
    except (av.FFmpegError, OSError, UnicodeDecodeError, ValueError) as exc:
        raise DecodeError(path, f"not a readable audio file ({_reason(exc)})") from None
    if not container.streams.audio:
        container.close()
        raise DecodeError(path, "no audio stream in the file")
    return container


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text.split(":")[0].strip() if "': " in text else text


def _info_from(path: str, container, st: os.stat_result) -> AudioInfo:
    stream = container.streams.audio[0]
    ctx = stream.codec_context
    codec = _CODEC_ALIASES.get(ctx.name, ctx.name) or "unknown"
    duration = 0.0
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / 1_000_000.0
    bit_rate = int(ctx.bit_rate or stream.bit_rate or container.bit_rate or 0)
    lossless = codec in LOSSLESS_CODECS or codec.startswith("pcm_")
    bit_depth = None
    if lossless:
        bits = getattr(ctx, "bits_per_raw_sample", 0) or 0
        if not bits and ctx.format is not None:
            bits = ctx.format.bits
        bit_depth = int(bits) or None
    lame = None
    vbr = None
    if codec == "mp3":
        with open(path, "rb") as fh:
            lame = read_lame_tag(fh)
        if lame is not None:
            vbr = lame.is_vbr
    return AudioInfo(
        path=path,
        container=container.format.name,
        codec=codec,
        sample_rate=int(ctx.sample_rate or 0),
        channels=int(ctx.channels or 0),
        duration=duration,
        bit_rate=bit_rate,
        bit_depth=bit_depth,
        lossless=lossless,
        vbr=vbr,
        lame=lame,
        size=int(st.st_size),
    )


def probe(path: PathLike) -> AudioInfo:
    """Read what a file's container claims, without decoding audio.

    Parameters
    ----------
    path : str, os.PathLike or bytes

    Returns
    -------
    info : AudioInfo

    Raises
    ------
    DecodeError
        when the file is missing, unreadable, empty, a directory or has no audio stream.
    """
    p = _fs_path(path)
    st = _check_file(p)
    container = _open(p)
    try:
        info = _info_from(p, container, st)
    finally:
        container.close()
    if info.sample_rate <= 0 or info.channels <= 0:
        raise DecodeError(p, "audio stream has no sample rate or no channels")
    return info


def _frame_to_array(frame) -> np.ndarray:
    """One decoded frame as float32 (channels, n)."""
    fmt = frame.format
    arr = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if not fmt.is_planar:
        arr = arr.reshape(-1, channels).T
    name = fmt.name.rstrip("p")
    if name in ("flt", "dbl"):
        return arr.astype(np.float32, copy=False)
    scale = _SAMPLE_SCALE.get(name)
    if scale is None:  # pragma: no cover - FFmpeg has no other sample formats
        raise ValueError(f"unsupported sample format {fmt.name}")
    out = arr.astype(np.float32)
    if name == "u8":
        out -= 128.0
    out *= np.float32(1.0 / scale)
    return out


def _decode_span(path: str, container, start: float, duration: float | None) -> np.ndarray:
    """Decode [start, start + duration) seconds of the first audio stream."""
    av = _av()
    stream = container.streams.audio[0]
    sr = stream.codec_context.sample_rate
    channels = stream.codec_context.channels
    first = int(round(start * sr))
    want = None if duration is None else int(round(duration * sr))
    chunks: list[np.ndarray] = []
    got = 0
    pos = None  # sample index of the next decoded sample
    t0 = stream.start_time or 0  # first pts, in stream.time_base; audio before it is priming
    if start > 0:
        preroll = max(start - 0.2, 0.0)
        try:
            target = int(preroll / stream.time_base) + t0
            container.seek(target, stream=stream, backward=True)
        except av.FFmpegError:
            container.seek(0, stream=stream)
    else:
        pos = 0
    try:
        for frame in container.decode(stream):
            if frame.pts is not None and frame.time_base is not None:
                pos = int(round(float((frame.pts - t0) * frame.time_base) * sr))
            elif pos is None:
                pos = 0
            arr = _frame_to_array(frame)
            n = arr.shape[1]
            lo = max(first - pos, 0)
            pos += n
            if lo >= n:
                continue
            piece = arr[:, lo:]
            if want is not None and got + piece.shape[1] > want:
                piece = piece[:, : want - got]
            chunks.append(piece)
            got += piece.shape[1]
            if want is not None and got >= want:
                break
    except av.FFmpegError as exc:
        if not chunks:
            raise DecodeError(path, f"corrupt or truncated audio ({_reason(exc)})") from None
        # keep what decoded before the damage: a truncated file still has its beginning
    if not chunks:
        return np.zeros((channels or 1, 0), dtype=np.float32)
    return np.concatenate(chunks, axis=1)


def _finish(x: np.ndarray, sr_in: int, sr: int | None, mono: bool) -> tuple[np.ndarray, int]:
    if mono and x.shape[0] > 1:
        x = x.mean(axis=0, keepdims=True, dtype=np.float32)
    if sr is not None and sr != sr_in and x.shape[1] > 0:
        import soxr

        x = np.ascontiguousarray(soxr.resample(x.T, sr_in, sr, quality="HQ").T, dtype=np.float32)
        return x, sr
    return np.ascontiguousarray(x, dtype=np.float32), sr_in


def _check_sr(sr: int | None) -> None:
    if sr is not None and (not isinstance(sr, (int, np.integer)) or sr <= 0):
        raise ParameterError(f"sr={sr!r} must be a positive integer or None")


def load(
    path: PathLike,
    *,
    sr: int | None = None,
    mono: bool = False,
    offset: float = 0.0,
    duration: float | None = None,
) -> Audio:
    """Decode an audio file (any format FFmpeg reads) to float32.

    Parameters
    ----------
    path : str, os.PathLike or bytes
        WAV, AIFF, FLAC, ALAC, MP3, AAC/M4A, Ogg Vorbis, Opus, WMA, or a video container with
        an audio stream (the first audio stream is used).
    sr : int > 0 or None
        resample to this rate (soxr, high quality); None keeps the file's rate
    mono : bool
        average the channels into one
    offset : float >= 0
        start reading this many seconds into the file
    duration : float > 0 or None
        read at most this many seconds

    Returns
    -------
    audio : Audio
        ``audio.samples`` has shape (channels, n) (channels = 1 when ``mono``), dtype float32

    Raises
    ------
    DecodeError
        naming the file: missing, unreadable, empty, a directory, not audio, or corrupt
        before any audio could be decoded.
    ParameterError
        for a bad ``sr``, ``offset`` or ``duration``.
    """
    _check_sr(sr)
    if offset < 0:
        raise ParameterError(f"offset={offset!r} must be >= 0 seconds")
    if duration is not None and duration <= 0:
        raise ParameterError(f"duration={duration!r} must be > 0 seconds or None")
    p = _fs_path(path)
    st = _check_file(p)
    container = _open(p)
    try:
        info = _info_from(p, container, st)
        x = _decode_span(p, container, offset, duration)
    finally:
        container.close()
    if x.shape[1] == 0 and offset == 0:
        raise DecodeError(p, "no audio could be decoded (zero-length or corrupt stream)")
    samples, rate = _finish(x, info.sample_rate, sr, mono)
    return Audio(samples=samples, sample_rate=rate, info=info, offset=float(offset))


def load_windows(
    path: PathLike,
    windows: Sequence[tuple[float, float]],
    *,
    sr: int | None = None,
    mono: bool = False,
    info: AudioInfo | None = None,
) -> list[Audio]:
    """Decode only some stretches of a file, opening it once.

    Parameters
    ----------
    path : str, os.PathLike or bytes
    windows : sequence of (start, duration) in seconds, in any order
    sr, mono : as in :func:`load`
    info : the file's :class:`AudioInfo` if it was already probed (saves nothing but a stat)

    Returns
    -------
    pieces : list of Audio, one per window, in the order given; a window past the end of the
        file gives a shorter (possibly empty) piece
    """
    _check_sr(sr)
    for start, dur in windows:
        if start < 0 or dur <= 0:
            raise ParameterError(f"window ({start}, {dur}) needs start >= 0 and duration > 0")
    p = _fs_path(path)
    st = _check_file(p)
    container = _open(p)
    out: list[Audio] = []
    try:
        meta = _info_from(p, container, st) if info is None else info
        for start, dur in windows:
            x = _decode_span(p, container, start, dur)
            samples, rate = _finish(x, meta.sample_rate, sr, mono)
            out.append(Audio(samples=samples, sample_rate=rate, info=meta, offset=float(start)))
    finally:
        container.close()
    if sum(a.samples.shape[1] for a in out) == 0:
        raise DecodeError(p, "no audio could be decoded (zero-length or corrupt stream)")
    return out


def default_example() -> Path:
    """Path of the example file bundled with the repository (for the README's first command)."""
    return Path(__file__).resolve().parents[2] / "examples"
