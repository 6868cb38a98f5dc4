"""Decoding a whole file in consecutive blocks without holding all of it: :func:`stream`."""

from __future__ import annotations

import collections
import math
import weakref
from collections.abc import Iterator

import numpy as np

from .damage import _all_nonfinite, _nothing_decoded, _report
from .decoding import _MAX_PADDING, _check_seconds, _check_sr, _limit
from .source import _downmix, _open_source, _Source, _zero_nonfinite
from .types import Audio, AudioInfo, PathLike


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
        resampler = None
        gathered: list[np.ndarray] = []  # decoded samples not yet passed on
        gathered_n = 0
        held: list[np.ndarray] = []  # samples past ``limit``: encoder padding, or not
        blocks = _Blocks(1)
        emitted = 0  # output samples yielded

        def finish(x: np.ndarray, last: bool = False) -> None:
            """Downmix and resample ``x`` as :func:`_finish` does, into ``blocks``."""
            if mono and x.shape[0] > 1:
                x = _downmix(x)
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
                if src.floating:  # NaN and infinite values set to 0, a chunk at a time
                    src.nonfinite += _zero_nonfinite(x)
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
            src.check_end(pos + n)
            fmt = frame.format.name
            write = src.writer(fmt)
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
        bad = _all_nonfinite(src, kept * channels)
        if bad is not None:
            raise bad
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
        when the first block is asked for; one that runs past the limit on any file
        (:func:`audiolens.audio.limits.max_seconds`) raises
        :class:`~audiolens.errors.AudioTooLong` when the block past it is asked for.
    ParameterError
        for a bad ``sr`` or ``block``.

    Notes
    -----
    The file stays open until the blocks run out or the generator is closed (``close()``,
    the end of a ``with contextlib.closing(...)`` block, or garbage collection).
    """
    _check_sr(sr)
    _check_seconds("block", block, allow_zero=False)
    limit, why = _limit(None)
    src = _open_source(path)
    src.bound(limit, why)
    blocks = _stream_blocks(src, sr, bool(mono), float(block), src.info if info is None else info)
    weakref.finalize(blocks, src.close)  # a generator never started runs no ``finally``
    return blocks
