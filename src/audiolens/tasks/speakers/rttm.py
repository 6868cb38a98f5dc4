"""RTTM files (NIST Rich Transcription Time Marked): one ``SPEAKER`` line per turn.

``SPEAKER <uri> 1 <start> <duration> <NA> <NA> <speaker> <NA> <NA>``, times in seconds.
"""

from __future__ import annotations

import os
from pathlib import Path

from ...errors import ParameterError
from ...writing import write_file
from .types import Turn

__all__ = ["read_rttm", "rttm_text", "write_rttm"]


def _token(text: str) -> str:
    """A field without white space (RTTM splits on it)."""
    cleaned = "_".join(str(text).split())
    return cleaned or "audio"


def rttm_text(turns: list[Turn], *, uri: str) -> str:
    """The RTTM lines for ``turns`` of the recording ``uri``."""
    uri = _token(uri)
    return "".join(
        f"SPEAKER {uri} 1 {t.start:.3f} {t.end - t.start:.3f} <NA> <NA> {_token(t.speaker)} "
        "<NA> <NA>\n"
        for t in turns
    )


def write_rttm(turns: list[Turn], path: str | os.PathLike, *, uri: str | None = None) -> Path:
    """Write ``turns`` as an RTTM file (whole or not at all: :func:`audiolens.writing.write_file`).

    Parameters
    ----------
    turns : the turns, in any order (written as given)
    path : the file to write
    uri : the recording's name in the file (default: the file's stem)

    Returns
    -------
    path : the file written
    """
    target = Path(path)
    name = uri if uri is not None else target.stem
    return write_file(target, rttm_text(turns, uri=name))


def read_rttm(path: str | os.PathLike, *, uri: str | None = None) -> dict[str, list[Turn]]:
    """Read the ``SPEAKER`` lines of an RTTM file, per recording.

    Parameters
    ----------
    path : the file
    uri : keep only this recording

    Returns
    -------
    turns : ``{uri: [Turn, ...]}``, turns sorted by start

    Raises
    ------
    ParameterError
        naming the file and line when a SPEAKER line is malformed
    """
    out: dict[str, list[Turn]] = {}
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            parts = line.split()
            if not parts or parts[0] != "SPEAKER":
                continue
            try:
                name, start, dur, who = parts[1], float(parts[3]), float(parts[4]), parts[7]
            except (IndexError, ValueError):
                raise ParameterError(
                    f"{os.fsdecode(path)}: line {number} is not an RTTM SPEAKER line: {line!r}"
                ) from None
            if dur < 0:
                raise ParameterError(
                    f"{os.fsdecode(path)}: line {number} has a negative duration {dur}"
                )
            if uri is None or name == uri:
                out.setdefault(name, []).append(Turn(start, start + dur, who))
    for turns in out.values():
        turns.sort(key=lambda t: (t.start, t.end, t.speaker))
    return out
