"""Decoding: the one place audiolens turns a file into samples.

:func:`load` decodes any container and codec FFmpeg knows (through PyAV) into float32
``(channels, samples)``; :func:`probe` reads what the container claims without decoding;
:func:`load_windows` decodes only chosen stretches of a file, for analyses that do not need all
of it; :func:`stream` decodes a whole file in consecutive blocks without holding all of it.
Resampling uses soxr.

Positions
---------
Sample ``i`` of a file is sample ``i`` of its full decode: every frame the decoder returns,
in order, after the codec's own priming is dropped (LAME encoder delay and padding of an MP3,
the edit list of an MP4/M4A, the pre-skip of an Opus stream, the granule positions of Ogg).
``load(offset=..., duration=...)`` and :func:`load_windows` return exactly that slice:

- in WAV, AIFF, FLAC, MP3, Ogg and MP4/M4A files, whose timestamps are sample-accurate, they
  seek, decode 0.2 s before the target and drop it, and place frames by timestamp. The
  samples are bit-identical to the full decode for PCM, the lossless codecs, MP3 and Vorbis.
  AAC and Opus decoders carry state that a seek resets (the noise generator of AAC's
  perceptual noise substitution, Opus' energy predictors), so after a seek their samples
  are aligned to the sample but may differ slightly (in noise-filled bands for AAC);
- in other containers (Matroska/WebM, ASF/WMA, AVI, MPEG-TS, ...), whose timestamps are
  coarser than a sample, they decode from the start and count samples, which is exact but
  costs a decode of everything before the last window.

Damaged files
-------------
A file that cannot be opened, has no audio stream, or yields no audio at all raises
:class:`~audiolens.errors.DecodeError` naming the file and the problem. Damage after some
audio decoded does not raise: packets that fail to decode are skipped (as ``ffmpeg`` does), a
file that ends before its header says is decoded as far as it goes, and each such problem is
logged as a warning on the ``audiolens`` logger and listed in ``Audio.extra["warnings"]``.
"""

from __future__ import annotations

import collections
import logging
import math
import os
import re
import stat
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .._mpeg import LameTag, read_lame_tag
from ..errors import DecodeError, MissingDependency, ParameterError, _show_path

__all__ = ["Audio", "AudioInfo", "load", "load_windows", "probe", "stream"]

PathLike = str | os.PathLike[str] | bytes

logger = logging.getLogger("audiolens")

LOSSLESS_CODECS = frozenset(
    {
        "flac",
        "alac",
        "ape",
        "wavpack",
        "tta",
        "mlp",
        "truehd",
        "tak",
        "wmalossless",
        "mp4als",
        "shorten",
        "ralf",
    }
)

_CODEC_ALIASES = {
    "mp3float": "mp3",
    "mp2float": "mp2",
    "mp1float": "mp1",
    "aac_fixed": "aac",
    "ac3_fixed": "ac3",
    "libopus": "opus",
    "libvorbis": "vorbis",
    "libfdk_aac": "aac",
    "libmp3lame": "mp3",
}

_MOV = "mov,mp4,m4a,3gp,3g2,mj2"
#: containers whose timestamps place every decoded frame to the sample, so seeking is exact
_EXACT_SEEK = frozenset({"wav", "w64", "aiff", "flac", "mp3", "ogg", _MOV})
_PREROLL_S = 0.2  # decoded and dropped before a seek target, so the decoder settles
_SEEK_MIN_S = 1.0  # stretches starting earlier than this decode from the start
_MERGE_GAP_S = 2.0  # stretches closer than this decode in one pass instead of seeking again
_MAX_PADDING = 8192  # samples of encoder padding an MP4 duration may cut from the end

#: sample format (without the planar "p") -> dtype, scale to [-1, 1), offset of zero
_FORMATS: dict[str, tuple[type, float | None, float]] = {
    "u8": (np.uint8, 1.0 / 128.0, 128.0),
    "s16": (np.int16, 1.0 / 32768.0, 0.0),
    "s32": (np.int32, 1.0 / 2147483648.0, 0.0),
    "s64": (np.int64, 1.0 / 9.223372036854775808e18, 0.0),
    "flt": (np.float32, None, 0.0),
    "dbl": (np.float64, None, 0.0),
}


@dataclass(frozen=True)
class AudioInfo:
    """What a file's container and stream claim, read without decoding.

    Attributes
    ----------
    path : the file path as given (str; a bytes path is decoded with ``os.fsdecode``)
    container : the demuxer name, e.g. ``"mp3"``, ``"flac"``, ``"mov,mp4,m4a,3gp,3g2,mj2"``
    codec : the codec name, e.g. ``"mp3"``, ``"flac"``, ``"aac"``, ``"pcm_s16le"`` (FFmpeg's
        codec name, not its decoder's: ``"mp3"``, never ``"mp3float"``)
    sample_rate : Hz
    channels : number of channels
    duration : seconds (0.0 when the container does not say)
    bit_rate : bits per second claimed by the stream (or by the container when the audio is
        its only stream); 0 when unknown
    bit_depth : bits per sample of the source PCM, for PCM and lossless codecs (None otherwise
        or when it cannot be told)
    lossless : whether the codec is lossless (PCM and lossless codecs)
    vbr : True for VBR/ABR, False for CBR, None when the file does not say (MP3s with a
        Xing/Info tag say)
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
    extra : ``"warnings"`` (list of str) when the file was damaged but partly decoded
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


# -- opening ---------------------------------------------------------------------------------


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


def _reason(exc: BaseException) -> str:
    """The plain words of an exception, without errno numbers or file names."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).strip().rstrip(".")


def _check_file(path: str) -> tuple[os.stat_result, bytes]:
    """Stat and open the file; return its stat and its first bytes. Raise DecodeError."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise DecodeError(
                path, "is a broken symbolic link (its target does not exist)"
            ) from None
        raise DecodeError(path, "file not found") from None
    except PermissionError:
        raise DecodeError(path, "permission denied (cannot look up the file)") from None
    except (OSError, ValueError) as exc:
        raise DecodeError(path, f"cannot access the file ({_reason(exc)})") from None
    if stat.S_ISDIR(st.st_mode):
        raise DecodeError(path, "is a directory, not an audio file")
    if not stat.S_ISREG(st.st_mode):
        raise DecodeError(path, "is not a regular file (a device, pipe or socket)")
    if st.st_size == 0:
        raise DecodeError(path, "file is empty (0 bytes)")
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except FileNotFoundError:
        raise DecodeError(path, "file not found (it vanished while being opened)") from None
    except PermissionError:
        raise DecodeError(path, "permission denied (the file is not readable)") from None
    except OSError as exc:
        raise DecodeError(path, f"cannot read the file ({_reason(exc)})") from None
    return st, head


def _looks_like_text(head: bytes) -> bool:
    """Whether the first bytes of a file are text (UTF-8, no control characters)."""
    if not head or b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not merely a character cut at the end
            return False
        text = head[: exc.start].decode("utf-8")
    return not any(ord(c) < 32 and c not in "\t\n\r\f" for c in text)


def _not_audio(path: str, head: bytes, problem: str) -> DecodeError:
    if _looks_like_text(head):
        return DecodeError(path, "not an audio file (it contains text)")
    return DecodeError(path, problem)


#: bytes FFmpeg reads to find the streams before the first try falls back to its default
#: (5 MB); a small first read saves ~15 ms per open on plain audio files
_QUICK_PROBE = "65536"


def _open(path: str, head: bytes = b""):
    av = _av()
    try:
        container = av.open(path, metadata_errors="ignore", options={"probesize": _QUICK_PROBE})
        audio = container.streams.audio
        if not audio or not (audio[0].sample_rate and audio[0].channels):
            container.close()  # not found in the first bytes: look as far as FFmpeg would
            container = av.open(path, metadata_errors="ignore")
    except FileNotFoundError:
        raise DecodeError(path, "file not found (it vanished before decoding)") from None
    except PermissionError:
        raise DecodeError(path, "permission denied (the file is not readable)") from None
    except IsADirectoryError:
        raise DecodeError(path, "is a directory, not an audio file") from None
    except av.error.EOFError:
        raise DecodeError(path, "the file ends inside its header (truncated)") from None
    except av.error.InvalidDataError:
        raise _not_audio(
            path, head, "not a recognised audio or video format, or its header is damaged"
        ) from None
    except (av.FFmpegError, OSError, UnicodeError, ValueError) as exc:
        raise _not_audio(path, head, f"cannot be opened as audio ({_reason(exc)})") from None
    if not container.streams.audio:
        kinds = sorted({s.type for s in container.streams})
        container.close()
        if kinds:
            raise DecodeError(path, f"has no audio stream (only {', '.join(kinds)})")
        raise _not_audio(path, head, "has no audio stream")
    return container


# -- what the container says -----------------------------------------------------------------


def _normalize_codec(name: str | None) -> str:
    name = name or "unknown"
    return _CODEC_ALIASES.get(name, name)


def _bit_depth(codec: str, ctx) -> int | None:
    """Bits per sample of the source PCM of a PCM or lossless stream, from its headers.

    -1 when only the decoded samples can tell (a 32-bit integer stream of another codec).
    """
    m = re.fullmatch(r"pcm_[suf](\d+)(?:le|be)?(?:_planar)?", codec)
    if m:
        return int(m.group(1))
    if codec in ("pcm_alaw", "pcm_mulaw", "pcm_vidc"):
        return 8
    extradata = ctx.extradata or b""
    if codec == "flac":
        info = extradata[8:] if extradata[:4] == b"fLaC" else extradata
        if len(info) >= 18:  # STREAMINFO: bits per sample - 1 sits in bytes 12-13
            return (((info[12] & 0x01) << 4) | (info[13] >> 4)) + 1
    if codec == "alac":
        cookie = extradata[12:] if extradata[4:8] == b"alac" else extradata
        if len(cookie) >= 6 and cookie[5] in (16, 20, 24, 32):
            return int(cookie[5])
    fmt = ctx.format
    if fmt is None:
        return None
    name = fmt.name.rstrip("p")
    if name in ("u8", "s16", "flt", "dbl"):
        return int(fmt.bits)
    return -1 if name == "s32" else None


def _bits_used(container, stream) -> int | None:
    """Bits of a 32-bit integer stream that carry data, from its first decoded frames.

    FFmpeg gives 20- and 24-bit sources as left-justified 32-bit samples, so the low bits of
    every sample are zero. None when the first frames are silent or cannot be decoded.
    """
    av = _av()
    acc = 0
    try:
        for i, frame in enumerate(container.decode(stream)):
            for plane_arr in _frame_planes(frame):
                acc |= int(np.bitwise_or.reduce(plane_arr.view(np.uint32), axis=None))
            if acc & 0xFF or i >= 8:
                break
    except (av.FFmpegError, ValueError, KeyError):
        return None
    if acc == 0:
        return None
    trailing = (acc & -acc).bit_length() - 1
    return max(8, 32 - trailing)


def _frame_planes(frame) -> list[np.ndarray]:
    dtype = _FORMATS[frame.format.name.rstrip("p")][0]
    n = frame.samples
    if frame.format.is_planar:
        return [np.frombuffer(p, dtype, count=n) for p in frame.planes]
    return [np.frombuffer(frame.planes[0], dtype, count=n * frame.layout.nb_channels)]


def _info_from(path: str, container, st: os.stat_result) -> tuple[AudioInfo, bool]:
    """The container's claims; and whether reading them consumed any audio packets."""
    stream = container.streams.audio[0]
    ctx = stream.codec_context
    codec = _normalize_codec(ctx.name)
    duration = 0.0
    if stream.duration and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration:
        duration = container.duration / 1_000_000.0
    bit_rate = int(ctx.bit_rate or 0)
    if not bit_rate and len(container.streams) == 1:
        bit_rate = int(container.bit_rate or 0)
    lossless = codec in LOSSLESS_CODECS or codec.startswith("pcm_")
    bit_depth = None
    consumed = False
    if lossless:
        bit_depth = _bit_depth(codec, ctx)
        if bit_depth == -1:
            bit_depth = _bits_used(container, stream)
            consumed = True
    lame = None
    vbr = None
    if codec == "mp3":
        try:
            with open(path, "rb") as fh:
                lame = read_lame_tag(fh)
        except OSError:
            lame = None
        if lame is not None:
            vbr = lame.is_vbr
    info = AudioInfo(
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
    return info, consumed


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
        when the file is missing, unreadable, empty, a directory, not audio, or has no audio
        stream; the message names the file.
    """
    p = _fs_path(path)
    st, head = _check_file(p)
    container = _open(p, head)
    try:
        info, _ = _info_from(p, container, st)
    finally:
        container.close()
    if info.sample_rate <= 0 or info.channels <= 0:
        raise _not_audio(p, head, "the audio stream has no sample rate or no channels")
    return info


# -- decoding --------------------------------------------------------------------------------


class _Target:
    """One stretch [lo, hi) of the file, in samples, being filled."""

    __slots__ = ("buf", "hi", "lo", "n")

    def __init__(self, lo: int, hi: int | None) -> None:
        self.lo = lo
        self.hi = hi
        self.buf: np.ndarray | None = None
        self.n = 0  # columns of buf written so far (the end of the last write)

    def reset(self) -> None:
        self.buf = None
        self.n = 0

    def result(self, channels: int) -> np.ndarray:
        if self.buf is None or self.n == 0:
            return np.zeros((channels, 0), dtype=np.float32)
        if self.n == self.buf.shape[1]:
            return self.buf
        return np.ascontiguousarray(self.buf[:, : self.n])


class _Source:
    """An open file: its container, first audio stream, and how positions are counted."""

    def __init__(self, path: str, head: bytes, st: os.stat_result) -> None:
        self.path = path
        self.head = head
        self.container = _open(path, head)
        try:
            self.info, consumed = _info_from(path, self.container, st)
        except BaseException:
            self.container.close()
            raise
        self.fresh = not consumed  # nothing read yet: a decode starts at the first sample
        self._setup()
        stream = self.stream
        self.seekable = (
            self.container.format.name in _EXACT_SEEK
            and self.sr > 0
            and self.num > 0
            and self.num * self.sr <= self.den  # a tick is no longer than a sample
        )
        self.t0: int | None = None  # pts of the first frame of a full decode
        self.limit = None  # the MP4 duration: samples after it are encoder padding
        if self.container.format.name == _MOV and stream.duration and self.num > 0:
            self.limit = round(stream.duration * self.num * self.sr / self.den)
        self.packets = 0  # non-empty audio packets read
        self.bad_packets = 0  # packets the decoder rejected
        self.trailing_bad = 0  # of those, how many came after the last good one
        self.last_error = ""
        self.stopped = ""  # why the demuxer stopped before the end, if it did
        self.odd_frames = 0  # frames whose channel count or rate differed from the stream's
        self.eof_at: int | None = None  # sample position of the end, once reached

    def _setup(self) -> None:
        stream = self.container.streams.audio[0]
        self.stream = stream
        ctx = stream.codec_context
        self.sr = int(ctx.sample_rate or 0)
        self.channels = int(ctx.channels or 0)
        tb = stream.time_base
        self.num, self.den = (tb.numerator, tb.denominator) if tb else (0, 1)

    def close(self) -> None:
        self.container.close()

    def reopen(self) -> None:
        self.container.close()
        self.container = _open(self.path, self.head)
        self._setup()
        self.fresh = True

    def frames(self):
        """Decoded frames from the current position; damaged packets are skipped."""
        av = _av()
        ctx = self.stream.codec_context
        try:
            for packet in self.container.demux(self.stream):
                if packet.size:
                    self.packets += 1
                try:
                    frames = ctx.decode(packet)
                except av.error.EOFError:
                    return
                except (av.FFmpegError, ValueError) as exc:
                    self.bad_packets += 1
                    self.trailing_bad += 1
                    self.last_error = _reason(exc)
                    continue
                if packet.size:
                    self.trailing_bad = 0
                yield from frames
        except (av.FFmpegError, OSError) as exc:
            self.stopped = _reason(exc)

    def find_t0(self) -> bool:
        """Read the pts of the first decoded frame; False when frames carry none."""
        if not self.fresh:
            self.reopen()
        self.fresh = False
        for frame in self.frames():
            if frame.pts is None:
                return False
            self.t0 = int(frame.pts)
            return True
        return False

    def seek_to(self, sample: int) -> bool:
        """Seek to at or before ``sample``; False when the demuxer cannot seek there."""
        av = _av()
        self.fresh = False
        for target in (sample, sample - 2 * self.sr):  # some seeks fail; one earlier may not
            if target <= 0:
                break
            ticks = self.t0 + (target * self.den) // (self.num * self.sr)
            try:
                self.container.seek(ticks, stream=self.stream, backward=True)
            except (av.FFmpegError, OSError):
                continue
            self.stream.codec_context.flush_buffers()
            return True
        return False

    def position(self, pts: int) -> int:
        """Sample position of a pts, relative to the first frame of a full decode."""
        scaled = 2 * (pts - self.t0) * self.num * self.sr
        return (scaled + self.den) // (2 * self.den)


def _converter(fmt: str):
    """A function writing samples [start, stop) of a frame in format ``fmt`` as float32.

    ``write(frame, dst, start, stop)`` fills ``dst`` [shape=(channels, stop - start)].
    """
    planar = fmt.endswith("p")
    dtype, scale, zero = _FORMATS[fmt[:-1] if planar else fmt]

    def convert(s: np.ndarray, d: np.ndarray) -> None:
        if scale is None:
            d[...] = s
        elif zero:
            np.subtract(s, np.float32(zero), out=d)
            d *= np.float32(scale)
        elif dtype is np.int16:
            np.multiply(s, np.float32(scale), out=d)
        else:  # 32/64-bit integers: scale in float64, round once to float32
            np.multiply(s, scale, out=d, casting="unsafe")

    if planar:

        def write(frame, dst: np.ndarray, start: int, stop: int) -> None:
            for plane, d in zip(frame.planes, dst):
                convert(np.frombuffer(plane, dtype, count=stop)[start:], d)

    else:

        def write(frame, dst: np.ndarray, start: int, stop: int) -> None:
            nch = dst.shape[0]
            src = np.frombuffer(frame.planes[0], dtype, count=stop * nch)
            convert(src.reshape(stop, nch)[start:].T, dst)

    return write


def _grow(t: _Target, need: int, hint: int, channels: int) -> None:
    """Make t.buf hold at least ``need`` columns (``hint``: the expected final length)."""
    if t.buf is not None and t.buf.shape[1] >= need:
        return
    cap = max(need, hint if t.buf is None else int(t.buf.shape[1] * 1.5))
    if t.hi is not None:
        cap = min(cap, t.hi - t.lo)
    new = np.zeros((channels, cap), dtype=np.float32)
    if t.buf is not None:
        new[:, : t.n] = t.buf[:, : t.n]
    t.buf = new


_FALLBACK = object()  # timestamps cannot place frames: decode from the start from now on
_NO_SEEK = object()  # the demuxer could not seek there: decode this stretch from the start


def _wants_more(t: _Target, end: int, limit: int | None) -> bool:
    """Whether target t needs frames past sample ``end`` (or the end of the stream)."""
    if t.hi is None or end < t.hi:
        return True
    return limit is not None and t.hi > limit  # only the end says how much padding to cut


def _run_pass(src: _Source, targets: list[_Target], seek_from: int | None) -> object:
    """Decode once from the start (seek_from None) or from a seek, filling ``targets``.

    Returns _FALLBACK when the seek landed somewhere that cannot be placed exactly, _NO_SEEK
    when the demuxer could not seek.
    """
    use_pts = seek_from is not None
    if use_pts:
        if src.t0 is None and not src.find_t0():
            return _FALLBACK
        if not src.seek_to(seek_from):
            return _NO_SEEK
    elif not src.fresh:
        src.reopen()
    src.fresh = False
    lo_min = min(t.lo for t in targets)
    # the expected length, to size buffers once; capped, as a damaged header may claim days
    claimed = min(max(round(src.info.duration * src.sr), 0), 3600 * src.sr)
    pos = 0
    channels = 0
    active = list(targets)
    next_stop = min((t.hi for t in active if t.hi is not None), default=None)
    writers: dict[str, Any] = {}
    for frame in src.frames():
        if use_pts:
            if frame.pts is not None:
                pos = src.position(int(frame.pts))
            elif not channels:
                return _FALLBACK
        nch = frame.layout.nb_channels
        if not channels:  # the first frame
            if use_pts and pos > lo_min:
                return _FALLBACK
            if not use_pts:
                if src.t0 is None and frame.pts is not None:
                    src.t0 = int(frame.pts)
                src.sr = frame.sample_rate or src.sr
            channels = src.channels = nch
        n = frame.samples
        end = pos + n
        if nch != channels or frame.sample_rate != src.sr:
            src.odd_frames += 1  # garbage that parsed as a frame of another format: drop it
            if use_pts:
                pos = end
            continue
        fmt = frame.format.name
        write = writers.get(fmt)
        if write is None:
            write = writers[fmt] = _converter(fmt)
        for t in active:
            a = t.lo if t.lo > pos else pos
            b = end if t.hi is None or t.hi > end else t.hi
            if b > a:
                _grow(t, b - t.lo, claimed - t.lo, channels)
                write(frame, t.buf[:, a - t.lo : b - t.lo], a - pos, b - pos)
                if b - t.lo > t.n:
                    t.n = b - t.lo
        pos = end
        if next_stop is not None and end >= next_stop:
            active = [t for t in active if _wants_more(t, end, src.limit)]
            if not active:
                return None
            next_stop = min((t.hi for t in active if t.hi is not None and t.hi > end), default=None)
    if not channels and use_pts:
        return None  # the seek went past the end: where the end is stays unknown
    if src.limit is not None and src.limit < pos <= src.limit + _MAX_PADDING:
        for t in targets:
            t.n = min(t.n, max(src.limit - t.lo, 0))
        pos = src.limit
    src.eof_at = pos
    return None


def _decode(src: _Source, spans: list[tuple[int, int | None]]) -> list[np.ndarray]:
    """Decode sample spans [lo, hi) (hi None: to the end) of the file; one array per span."""
    targets = [_Target(lo, hi) for lo, hi in spans]
    order = sorted(targets, key=lambda t: t.lo)
    groups: list[list[_Target]] = []
    reach: int | None = 0  # end of the last group (None: it runs to the end of the file)
    for t in order:
        close = reach is None or t.lo <= reach + _MERGE_GAP_S * src.sr
        if groups and (close or not src.seekable):
            groups[-1].append(t)
            reach = None if reach is None or t.hi is None else max(reach, t.hi)
        else:
            groups.append([t])
            reach = t.hi
    i = 0
    while i < len(groups):
        group = groups[i]
        seek_from = None
        if src.seekable and group[0].lo >= _SEEK_MIN_S * src.sr:
            seek_from = max(group[0].lo - int(_PREROLL_S * src.sr), 0)
        outcome = _run_pass(src, group, seek_from)
        if outcome is _NO_SEEK:
            for t in group:
                t.reset()
            _run_pass(src, group, None)
        elif outcome is _FALLBACK:
            # timestamps cannot be trusted here: decode all that is left in one pass
            src.seekable = False
            rest = [t for g in groups[i:] for t in g]
            for t in rest:
                t.reset()
            _run_pass(src, rest, None)
            break
        i += 1
    channels = src.channels or 1
    return [t.result(channels) for t in targets]


#: containers whose duration is read from the header, not estimated from the bit rate
_HEADER_DURATION = frozenset({"wav", "w64", "aiff", "flac", "ogg", "asf", "matroska,webm", _MOV})


def _riff_seconds(head: bytes) -> float | None:
    """Seconds of PCM the data chunk of a WAV file claims (FFmpeg trusts the file size)."""
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos, rate, align = 12, 0, 0
    while pos + 8 <= len(head):
        cid, size = head[pos : pos + 4], int.from_bytes(head[pos + 4 : pos + 8], "little")
        if cid == b"fmt " and pos + 22 <= len(head):
            rate = int.from_bytes(head[pos + 12 : pos + 16], "little")
            align = int.from_bytes(head[pos + 20 : pos + 22], "little")
        elif cid == b"data":
            if not rate or not align or size in (0, 0xFFFFFFFF):
                return None  # unknown length: a stream written without seeking back
            return size // align / rate
        pos += 8 + size + (size & 1)
    return None


def _claimed_duration(info: AudioInfo, head: bytes = b"") -> float | None:
    """The duration a file's header states, when it states one (not an estimate)."""
    if info.container == "wav" and info.codec.startswith("pcm_"):
        riff = _riff_seconds(head)
        if riff:
            return max(riff, info.duration)
    if info.container in _HEADER_DURATION and info.duration > 0:
        return info.duration
    lame = info.lame
    if info.codec == "mp3" and lame is not None and lame.frames and info.sample_rate:
        per_frame = 1152 if info.sample_rate >= 32000 else 576
        return (lame.frames * per_frame - lame.delay - lame.padding) / info.sample_rate
    return None  # e.g. an MP3 without a Xing tag: FFmpeg guesses from the bit rate


def _warnings(src: _Source) -> list[str]:
    """Plain-words problems met while decoding."""
    out = []
    claimed = _claimed_duration(src.info, src.head)
    at_end = src.trailing_bad if src.eof_at is not None else 0  # a packet cut by the file's end
    if src.eof_at is not None and claimed and src.sr > 0:
        got = src.eof_at / src.sr
        tolerance = 0.02 if src.info.lossless else max(0.1, 0.005 * claimed)
        if got < claimed - tolerance:
            out.append(
                f"decoded {got:.2f} s of the {claimed:.2f} s its header claims: "
                "the file is truncated or damaged"
            )
        elif at_end:
            out.append("the last packet is incomplete: the file was cut short")
    elif at_end:
        out.append("the last packet is incomplete: the file was cut short")
    if src.bad_packets > at_end:
        out.append(
            f"skipped {src.bad_packets - at_end} damaged packet(s) of {src.packets} "
            f"({src.last_error}); the audio has gaps there"
        )
    if src.stopped:
        out.append(f"reading stopped before the end of the file ({src.stopped})")
    if src.odd_frames:
        out.append(f"skipped {src.odd_frames} frame(s) whose channel count or sample rate changed")
    return out


def _nothing_decoded(src: _Source) -> DecodeError:
    """The DecodeError for a stream that gave no samples at all, saying why."""
    p = src.path
    if src.bad_packets:
        return DecodeError(
            p,
            f"the audio is corrupt: none of its {src.packets} packet(s) could be decoded "
            f"({src.last_error})",
        )
    if src.stopped:
        return DecodeError(p, f"the file is damaged or truncated ({src.stopped})")
    if src.packets == 0:
        return _not_audio(p, src.head, "the audio stream is empty (no audio data)")
    return _not_audio(p, src.head, "no audio could be decoded")


def _no_window_audio(src: _Source, spans: list[tuple[int, int]]) -> DecodeError:
    """The DecodeError for windows that all came back empty (after a pass to the end)."""
    if not src.eof_at:
        return _nothing_decoded(src)
    end = src.eof_at / src.sr
    where = f"the audio ends at {end:.2f} s"
    claimed = _claimed_duration(src.info, src.head)
    if claimed and claimed > end + 0.1:
        where += f" though its header claims {claimed:.2f} s (truncated?)"
    return DecodeError(src.path, f"none of the requested windows holds any audio: {where}")


def _finish(x: np.ndarray, sr_in: int, sr: int | None, mono: bool) -> tuple[np.ndarray, int]:
    if mono and x.shape[0] > 1:
        x = x.mean(axis=0, keepdims=True, dtype=np.float32)
    if sr is not None and sr != sr_in:
        if x.shape[1] == 0:
            return np.zeros((x.shape[0], 0), dtype=np.float32), sr
        import soxr

        if x.shape[0] == 1:
            y = soxr.resample(x[0], sr_in, sr, quality="HQ")[np.newaxis, :]
        else:
            y = soxr.resample(x.T, sr_in, sr, quality="HQ").T
        return np.ascontiguousarray(y, dtype=np.float32), sr
    return np.ascontiguousarray(x, dtype=np.float32), sr_in


def _check_sr(sr: int | None) -> None:
    if sr is None:
        return
    if isinstance(sr, (bool, np.bool_)) or not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise ParameterError(f"sr={sr!r} must be a positive integer (Hz) or None")


def _check_seconds(name: str, value: float, *, allow_zero: bool) -> None:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )
    if not ok or not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        allowed = ">= 0" if allow_zero else "> 0"
        raise ParameterError(f"{name}={value!r} must be a finite number of seconds {allowed}")


def _open_source(path: PathLike) -> _Source:
    p = _fs_path(path)
    st, head = _check_file(p)
    src = _Source(p, head, st)
    if src.sr <= 0 or src.channels <= 0:
        src.close()
        raise _not_audio(p, head, "the audio stream has no sample rate or no channels")
    return src


def _report(src: _Source) -> dict[str, Any]:
    warnings = _warnings(src)
    if not warnings:
        return {}
    logger.warning("%s: %s", _show_path(src.path), "; ".join(warnings))
    return {"warnings": warnings}


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
        start reading this many seconds into the file (an offset past the end gives an empty
        ``samples``)
    duration : float > 0 or None
        read at most this many seconds

    Returns
    -------
    audio : Audio
        ``audio.samples`` has shape (channels, n) (channels = 1 when ``mono``), dtype float32,
        exactly the samples ``[round(offset * rate), round((offset + duration) * rate))`` of a
        full decode at the file's rate (see the module docstring). A damaged or truncated file
        that still decodes in part gives what decoded, with the problems in
        ``audio.extra["warnings"]`` (also logged on the ``audiolens`` logger).

    Raises
    ------
    DecodeError
        naming the file: missing, unreadable, empty, a directory, not audio, no audio stream,
        or no audio decodable at all.
    ParameterError
        for a bad ``sr``, ``offset`` or ``duration``.
    """
    _check_sr(sr)
    _check_seconds("offset", offset, allow_zero=True)
    if duration is not None:
        _check_seconds("duration", duration, allow_zero=False)
    src = _open_source(path)
    try:
        first = int(round(offset * src.sr))
        last = None if duration is None else first + int(round(duration * src.sr))
        (x,) = _decode(src, [(first, last)])
        if x.shape[1] == 0 and (first == 0 or src.packets == 0):
            raise _nothing_decoded(src)
        extra = _report(src)
    finally:
        src.close()
    samples, rate = _finish(x, src.sr, sr, mono)
    return Audio(
        samples=samples, sample_rate=rate, info=src.info, offset=float(offset), extra=extra
    )


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
    windows : sequence of (start, duration) in seconds, in any order, possibly overlapping
    sr, mono : as in :func:`load`
    info : the file's :class:`AudioInfo` if it was already probed; it is attached to the
        pieces instead of the one read now

    Returns
    -------
    pieces : list of Audio, one per window, in the order given; piece ``i`` holds the same
        samples as ``load(path, offset=start, duration=duration)``. A window past the end of
        the file gives a shorter (possibly empty) piece.

    Raises
    ------
    DecodeError
        as :func:`load`; also when no window holds any audio at all.
    ParameterError
        for a bad ``sr`` or window.
    """
    _check_sr(sr)
    for w in windows:
        if len(w) != 2:
            raise ParameterError(f"window {w!r} must be a (start, duration) pair in seconds")
        _check_seconds("window start", w[0], allow_zero=True)
        _check_seconds("window duration", w[1], allow_zero=False)
    src = _open_source(path)
    try:
        spans = []
        for start, dur in windows:
            first = int(round(start * src.sr))
            spans.append((first, first + int(round(dur * src.sr))))
        arrays = _decode(src, spans)
        if arrays and sum(a.shape[1] for a in arrays) == 0:
            if src.eof_at is None:  # seeks found nothing: read it all to learn where it ends
                src.seekable = False
                arrays = _decode(src, spans)
            if sum(a.shape[1] for a in arrays) == 0:
                raise _no_window_audio(src, spans)
        extra = _report(src)
    finally:
        src.close()
    meta = src.info if info is None else info
    out = []
    for (start, _), x in zip(windows, arrays):
        samples, rate = _finish(x, src.sr, sr, mono)
        piece = Audio(samples=samples, sample_rate=rate, info=meta, offset=float(start))
        piece.extra.update(extra)
        out.append(piece)
    return out


# -- streaming -------------------------------------------------------------------------------


class _Blocks:
    """Cuts consecutive (channels, m) arrays into blocks of ``n`` columns.

    Each block is a new array filled from the pieces held, which are let go as they are
    used: what is held is at most a block and the pieces pushed since the last ``pop``.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.parts: collections.deque[np.ndarray] = collections.deque()
        self.size = 0  # columns held

    def push(self, y: np.ndarray) -> None:
        if y.shape[1]:
            self.parts.append(y)
            self.size += y.shape[1]

    def trim(self, k: int) -> None:
        """Drop the last ``k`` columns held."""
        while k > 0 and self.parts:
            last = self.parts[-1]
            cut = min(k, last.shape[1])
            if cut == last.shape[1]:
                self.parts.pop()
            else:
                self.parts[-1] = last[:, : last.shape[1] - cut]
            self.size -= cut
            k -= cut

    def _take(self, k: int) -> np.ndarray:
        out = np.empty((self.parts[0].shape[0], k), dtype=np.float32)
        filled = 0
        while filled < k:
            part = self.parts[0]
            m = min(k - filled, part.shape[1])
            out[:, filled : filled + m] = part[:, :m]
            filled += m
            if m == part.shape[1]:
                self.parts.popleft()
            else:
                self.parts[0] = part[:, m:]
        self.size -= k
        return out

    def pop(self, final: bool = False) -> Iterator[np.ndarray]:
        """The full blocks held that are surely not the last one; all that is held when final."""
        while self.size > self.n or (final and self.size):
            yield self._take(min(self.n, self.size))


def _stream_blocks(
    src: _Source, sr: int | None, mono: bool, block: float, meta: AudioInfo
) -> Iterator[Audio]:
    """The generator behind :func:`stream`; it closes ``src`` when it ends or is closed."""
    try:
        if not src.fresh:
            src.reopen()
        src.fresh = False
        limit = src.limit  # the MP4 duration: samples past it wait until the end says more
        pos = 0  # samples decoded, counted as a full decode by :func:`load` counts them
        kept = 0  # of those, samples passed on to downmixing and resampling
        channels = 0
        rate = 0  # the output rate
        chunk_n = 1  # input samples gathered before they are passed on
        writers: dict[str, Any] = {}
        resampler = None
        gathered: list[np.ndarray] = []  # decoded samples not yet passed on
        gathered_n = 0
        held: list[np.ndarray] = []  # samples past ``limit``: encoder padding, or not
        blocks = _Blocks(1)
        emitted = 0  # output samples yielded

        def finish(x: np.ndarray, last: bool = False) -> None:
            """Downmix and resample ``x`` as :func:`_finish` does, into ``blocks``."""
            if mono and x.shape[0] > 1:
                x = x.mean(axis=0, keepdims=True, dtype=np.float32)
            if resampler is None:
                blocks.push(x)
            elif x.shape[0] == 1:
                blocks.push(resampler.resample_chunk(x[0], last=last)[np.newaxis, :])
            else:
                blocks.push(resampler.resample_chunk(np.ascontiguousarray(x.T), last=last).T)

        def pass_on() -> None:
            nonlocal gathered, gathered_n, kept
            if gathered_n:
                x = gathered[0] if len(gathered) == 1 else np.concatenate(gathered, axis=1)
                gathered, kept = [], kept + gathered_n
                gathered_n = 0
                finish(x)

        for frame in src.frames():
            nch = frame.layout.nb_channels
            if not channels:  # the first frame: what it says decides, as in load()
                if src.t0 is None and frame.pts is not None:
                    src.t0 = int(frame.pts)
                src.sr = frame.sample_rate or src.sr
                channels = src.channels = nch
                rate = src.sr if sr is None else sr
                blocks = _Blocks(max(1, round(min(block * rate, 2.0**62))))
                chunk_n = max(1, math.ceil(min(block, 1.0) * src.sr))
                if rate != src.sr:
                    import soxr

                    out_channels = 1 if mono else channels
                    resampler = soxr.ResampleStream(
                        src.sr, rate, out_channels, dtype="float32", quality="HQ"
                    )
            n = frame.samples
            if nch != channels or frame.sample_rate != src.sr:
                src.odd_frames += 1  # dropped, as in load()
                continue
            fmt = frame.format.name
            write = writers.get(fmt)
            if write is None:
                write = writers[fmt] = _converter(fmt)
            x = np.empty((channels, n), dtype=np.float32)
            write(frame, x, 0, n)
            end = pos + n
            if limit is not None and end > limit:
                cut = max(limit - pos, 0)
                if cut:
                    gathered.append(x[:, :cut])
                    gathered_n += cut
                held.append(x[:, cut:])
                if end > limit + _MAX_PADDING:  # too long to be padding: keep it all
                    gathered.extend(held)
                    gathered_n += sum(h.shape[1] for h in held)
                    held, limit = [], None
            else:
                gathered.append(x)
                gathered_n += n
            pos = end
            if gathered_n >= chunk_n:
                pass_on()
                for y in blocks.pop():
                    yield Audio(samples=y, sample_rate=rate, info=meta, offset=emitted / rate)
                    emitted += y.shape[1]
        if held:  # load() cuts these as the MP4's encoder padding
            pos = limit
        src.eof_at = pos
        pass_on()
        if kept == 0:
            raise _nothing_decoded(src)
        if resampler is not None:
            finish(np.zeros((1 if mono else channels, 0), dtype=np.float32), last=True)
            # soxr.resample() (used by load) gives at most floor(n * out / in) + 1 samples,
            # where the stream's flush has no such cap: cut to it (no sample was ever cut in
            # the tests: the stream and the one-shot give the same samples, of the same count)
            cap = int(float(kept) * float(rate) / float(src.sr)) + 1
            blocks.trim(emitted + blocks.size - cap)
        extra = _report(src)
        for y in blocks.pop(final=True):
            last = blocks.size == 0
            yield Audio(
                samples=y,
                sample_rate=rate,
                info=meta,
                offset=emitted / rate,
                extra=dict(extra) if last else {},
            )
            emitted += y.shape[1]
    finally:
        src.close()


def stream(
    path: PathLike,
    *,
    sr: int | None = None,
    mono: bool = False,
    block: float = 30.0,
    info: AudioInfo | None = None,
) -> Iterator[Audio]:
    """Decode a whole file front to back in consecutive blocks, never holding all of it.

    The file is opened and checked now; decoding happens as the blocks are taken. The
    samples held at any time are about one block, plus a second of decoded input.

    Parameters
    ----------
    path : str, os.PathLike or bytes
        any file :func:`load` reads
    sr : int > 0 or None
        resample to this rate, as :func:`load` does (soxr, quality "HQ"), with one
        streaming resampler that runs across the blocks; None keeps the file's rate
    mono : bool
        average the channels into one (before resampling, as :func:`load` does)
    block : float > 0
        seconds per block at the output rate: ``round(block * rate)`` samples, at least 1
    info : the file's :class:`AudioInfo` if it was already probed; it is attached to the
        blocks instead of the one read now

    Yields
    ------
    audio : Audio
        ``audio.samples`` : np.ndarray [shape=(channels, n), dtype=float32], channels = 1
        when ``mono``; every block has the same ``n`` but the last, which may be shorter;
        ``audio.offset`` is where the block starts, in seconds. Put end to end, the blocks
        hold the samples of ``load(path, sr=sr, mono=mono)``: bit-identical without
        resampling; with it, of the same count and the same values (soxr's streaming and
        one-shot resamplers agree; the stream is cut at the end to the at most
        ``floor(n * sr / file_rate) + 1`` samples the one-shot gives for ``n`` input
        samples, which in the tests never cut anything). A damaged or truncated
        file gives what decodes, with the problems in the last block's
        ``extra["warnings"]`` (also logged on the ``audiolens`` logger).

    Raises
    ------
    DecodeError
        naming the file, as :func:`load`: a file that is missing, unreadable, empty, a
        directory, not audio or without an audio stream raises from this call, before any
        block; one with no audio decodable at all (e.g. a WAV header with no samples) raises
        when the first block is asked for.
    ParameterError
        for a bad ``sr`` or ``block``.

    Notes
    -----
    The file stays open until the blocks run out or the generator is closed (``close()``,
    the end of a ``with contextlib.closing(...)`` block, or garbage collection).
    """
    _check_sr(sr)
    _check_seconds("block", block, allow_zero=False)
    src = _open_source(path)
    blocks = _stream_blocks(src, sr, bool(mono), float(block), src.info if info is None else info)
    weakref.finalize(blocks, src.close)  # a generator never started runs no ``finally``
    return blocks
