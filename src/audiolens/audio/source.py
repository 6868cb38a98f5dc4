"""An open file as a source of decoded frames: seeking, sample positions, conversion."""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from .opening import _av, _check_file, _fs_path, _not_audio, _open, _reason
from .probing import _FORMATS, _MOV, _info_from
from .types import PathLike

#: containers whose timestamps place every decoded frame to the sample, so seeking is exact
_EXACT_SEEK = frozenset({"wav", "w64", "aiff", "flac", "mp3", "ogg", _MOV})


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
        self.nonfinite = 0  # NaN or infinite samples met (written as 0)
        self.floating = False  # a frame came in a floating-point format (NaN possible)
        self._writers: dict[str, Callable[..., None]] = {}  # frame format -> _converter
        self.max_samples: int | None = None  # a decode stops past this many samples
        self.max_why = ""  # what that bound is, for the error

    def _setup(self) -> None:
        stream = self.container.streams.audio[0]
        self.stream = stream
        ctx = stream.codec_context
        if ctx.name == "flac":
            # every FLAC frame carries a CRC-16, which FFmpeg checks only when asked: a frame
            # damaged inside (garbage, flipped bits) would be decoded as if sound, garbage and
            # all, with no trace; checked, it is dropped, and the loss shows in the length
            ctx.options = {"err_detect": "crccheck+explode"}
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

    def writer(self, fmt: str) -> Callable[..., None]:
        """The :func:`_converter` of frames in format ``fmt``, made once per format; a
        floating-point format sets :attr:`floating` (the caller then checks what it wrote
        for NaN and infinite values with :func:`_zero_nonfinite`)."""
        write = self._writers.get(fmt)
        if write is None:
            write = self._writers[fmt] = _converter(fmt)
            self.floating = self.floating or _FORMATS[fmt.removesuffix("p")][1] is None
        return write

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

    def bound(self, seconds: float, why: str) -> None:
        """Stop any decode of this file past ``seconds`` of audio (:meth:`check_end`)."""
        self.max_samples = max(int(seconds * self.sr), 1)
        self.max_why = why

    def check_end(self, end: int) -> None:
        """Raise :class:`AudioTooLong` when sample ``end`` is past the bound."""
        if self.max_samples is not None and end > self.max_samples:
            from ..errors import AudioTooLong

            raise AudioTooLong(self.path, self.max_samples / self.sr, self.max_why)

    def position(self, pts: int) -> int:
        """Sample position of a pts, relative to the first frame of a full decode."""
        scaled = 2 * (pts - self.t0) * self.num * self.sr
        return (scaled + self.den) // (2 * self.den)


def _converter(fmt: str):
    """A function writing samples [start, stop) of a frame in format ``fmt`` as float32.

    ``write(frame, dst, start, stop)`` fills ``dst`` [shape=(channels, stop - start)]. NaN and
    infinite values of floating-point formats are left for the caller to set to 0 with
    :func:`_zero_nonfinite`, once over many frames rather than for each one (an MP3 frame is
    only 1152 samples, and checked per frame the check took nearly as long as the decoding),
    so that nothing computed later is NaN because of them.
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


def _downmix(x: np.ndarray) -> np.ndarray:
    """The mean of the channels of ``x`` [shape=(channels, n)] float32, [shape=(1, n)].

    The same float32 values as ``x.mean(axis=0, keepdims=True, dtype=np.float32)`` (row by
    row sums, then one division), in about a third of the time: numpy's reduction over the
    channel axis walks the samples a few at a time.
    """
    out = x[0:1].astype(np.float32, copy=True)
    for row in x[1:]:
        out[0] += row
    out /= np.float32(x.shape[0])
    return out


def _zero_nonfinite(d: np.ndarray) -> int:
    """Set the NaN and infinite values of ``d`` to 0; how many there were."""
    with np.errstate(all="ignore"):
        if np.isfinite(d.sum()):  # the usual case, checked cheaply
            return 0
    bad = ~np.isfinite(d)
    n = int(np.count_nonzero(bad))
    d[bad] = 0.0
    return n


def _open_source(path: PathLike) -> _Source:
    p = _fs_path(path)
    st, head = _check_file(p)
    src = _Source(p, head, st)
    if src.sr <= 0 or src.channels <= 0:
        src.close()
        raise _not_audio(p, head, "the audio stream has no sample rate or no channels")
    return src
