"""Decoding stretches of a file exactly (see :mod:`audiolens.audio`): :func:`load`."""

from __future__ import annotations

import math

import numpy as np

from ..errors import ParameterError
from .damage import _all_nonfinite, _nothing_decoded, _report
from .source import _downmix, _open_source, _Source, _zero_nonfinite
from .types import Audio, PathLike

_PREROLL_S = 0.2  # decoded and dropped before a seek target, so the decoder settles
_SEEK_MIN_S = 1.0  # stretches starting earlier than this decode from the start
_MERGE_GAP_S = 2.0  # stretches closer than this decode in one pass instead of seeking again
_MAX_PADDING = 8192  # samples of encoder padding an MP4 duration may cut from the end


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
    if src.max_samples is not None:
        claimed = min(claimed, src.max_samples)
    pos = 0
    channels = 0
    active = list(targets)
    next_stop = min((t.hi for t in active if t.hi is not None), default=None)
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
        src.check_end(end)
        fmt = frame.format.name
        write = src.writer(fmt)
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
    out = [t.result(channels) for t in targets]
    if src.floating:  # the NaN and infinite values written, set to 0 and counted once here
        src.nonfinite += sum(_zero_nonfinite(x) for x in out)
    return out


def _finish(x: np.ndarray, sr_in: int, sr: int | None, mono: bool) -> tuple[np.ndarray, int]:
    if mono and x.shape[0] > 1:
        x = _downmix(x)
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


def _limit(max_duration: float | None) -> tuple[float, str]:
    """The bound of a decode and what it is, for the error."""
    from .limits import ENV_MAX_HOURS, max_seconds

    most = max_seconds()
    if max_duration is not None and max_duration < most:
        return float(max_duration), f"max_duration={max_duration:g} s"
    return most, f"the limit on any file; {ENV_MAX_HOURS} sets it"


def load(
    path: PathLike,
    *,
    sr: int | None = None,
    mono: bool = False,
    offset: float = 0.0,
    duration: float | None = None,
    max_duration: float | None = None,
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
    max_duration : float > 0 or None
        refuse a file whose audio runs past this many seconds from its start (whatever its
        header claims); None: the limit on any file, :func:`audiolens.audio.limits.max_seconds`
        (24 h unless ``$AUDIOLENS_MAX_HOURS`` says otherwise)

    Returns
    -------
    audio : Audio
        ``audio.samples`` has shape (channels, n) (channels = 1 when ``mono``), dtype float32,
        exactly the samples ``[round(offset * rate), round((offset + duration) * rate))`` of a
        full decode at the file's rate (see :mod:`audiolens.audio`). A damaged or truncated file
        that still decodes in part gives what decoded, with the problems in
        ``audio.extra["warnings"]`` (also logged on the ``audiolens`` logger).

    Raises
    ------
    DecodeError
        naming the file: missing, unreadable, empty, a directory, not audio, no audio stream,
        or no audio decodable at all; :class:`~audiolens.errors.AudioTooLong` (a DecodeError)
        for audio running past ``max_duration``.
    ParameterError
        for a bad ``sr``, ``offset``, ``duration`` or ``max_duration``.
    """
    _check_sr(sr)
    _check_seconds("offset", offset, allow_zero=True)
    if duration is not None:
        _check_seconds("duration", duration, allow_zero=False)
    if max_duration is not None:
        _check_seconds("max_duration", max_duration, allow_zero=False)
    limit, why = _limit(max_duration)
    src = _open_source(path)
    try:
        src.bound(limit, why)
        first = int(round(offset * src.sr))
        last = None if duration is None else first + int(round(duration * src.sr))
        (x,) = _decode(src, [(first, last)])
        if x.shape[1] == 0 and (first == 0 or src.packets == 0):
            raise _nothing_decoded(src)
        bad = _all_nonfinite(src, x.size)
        if bad is not None:
            raise bad
        extra = _report(src)
    finally:
        src.close()
    samples, rate = _finish(x, src.sr, sr, mono)
    return Audio(
        samples=samples, sample_rate=rate, info=src.info, offset=float(offset), extra=extra
    )
