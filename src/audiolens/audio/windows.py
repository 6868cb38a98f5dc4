"""Decoding only some stretches of a file, opening it once: :func:`load_windows`."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import ParameterError
from .damage import _all_nonfinite, _no_window_audio, _report
from .decoding import _check_seconds, _check_sr, _decode, _finish
from .source import _open_source
from .types import Audio, AudioInfo, PathLike


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
        bad = _all_nonfinite(src, sum(a.size for a in arrays))
        if bad is not None:
            raise bad
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
