"""Transcript files: SRT, WebVTT, plain text and JSON, with speaker prefixes when known."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from .types import SpeechResult, SpeechSegment

__all__ = [
    "FORMATS",
    "format_timestamp",
    "to_json",
    "to_srt",
    "to_txt",
    "to_vtt",
    "write_transcript",
]

#: longest subtitle cue [s] and text [characters] before a segment is split at a word
MAX_CUE_S = 7.0
MAX_CUE_CHARS = 84


def format_timestamp(seconds: float, *, sep: str = ",", hours: bool = True) -> str:
    """``HH:MM:SS,mmm`` (SRT) or ``HH:MM:SS.mmm`` / ``MM:SS.mmm`` (WebVTT)."""
    ms = max(0, int(round(seconds * 1000)))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    if hours or h:
        return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"
    return f"{m:02d}:{s:02d}{sep}{ms:03d}"


def _label(seg: SpeechSegment) -> str:
    return f"[{seg.speaker}] " if seg.speaker else ""


def cues(result: SpeechResult) -> list[tuple[float, float, str]]:
    """Subtitle cues: each segment, split at word boundaries (and where the speaker changes)
    so that no cue is longer than :data:`MAX_CUE_S` or :data:`MAX_CUE_CHARS`."""
    out: list[tuple[float, float, str]] = []
    for seg in result.segments:
        if not seg.words:
            out.append((seg.start, seg.end, _label(seg) + seg.text.strip()))
            continue
        group: list = []
        for w in seg.words:
            if group:
                text = "".join(x.word for x in group) + w.word
                if (
                    w.end - group[0].start > MAX_CUE_S
                    or len(text.strip()) > MAX_CUE_CHARS
                    or w.speaker != group[0].speaker
                ):
                    out.append(_cue(group, seg))
                    group = []
            group.append(w)
        if group:
            out.append(_cue(group, seg))
    return [c for c in out if c[2].strip()]


def _cue(words: list, seg: SpeechSegment) -> tuple[float, float, str]:
    speaker = words[0].speaker or seg.speaker
    prefix = f"[{speaker}] " if speaker else ""
    return words[0].start, words[-1].end, prefix + "".join(w.word for w in words).strip()


def to_srt(result: SpeechResult) -> str:
    """SubRip: numbered cues, ``HH:MM:SS,mmm --> HH:MM:SS,mmm``."""
    blocks = []
    for i, (a, b, text) in enumerate(cues(result), 1):
        blocks.append(f"{i}\n{format_timestamp(a)} --> {format_timestamp(b)}\n{text}\n")
    return "\n".join(blocks)


def to_vtt(result: SpeechResult) -> str:
    """WebVTT: a ``WEBVTT`` header, then ``HH:MM:SS.mmm --> HH:MM:SS.mmm`` cues."""
    blocks = ["WEBVTT\n"]
    for a, b, text in cues(result):
        blocks.append(
            f"{format_timestamp(a, sep='.')} --> {format_timestamp(b, sep='.')}\n{text}\n"
        )
    return "\n".join(blocks)


def to_txt(result: SpeechResult) -> str:
    """Plain text, one segment per line (with its speaker's prefix when known)."""
    return "".join(f"{_label(s)}{s.text.strip()}\n" for s in result.segments if s.text.strip())


def to_json(result: SpeechResult) -> str:
    """The result's record as indented JSON."""
    return json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n"


FORMATS: dict[str, Callable[[SpeechResult], str]] = {
    "srt": to_srt,
    "vtt": to_vtt,
    "txt": to_txt,
    "json": to_json,
}


def write_transcript(result: SpeechResult, path: str | os.PathLike) -> Path:
    """Write ``result`` in the format the file extension names (.srt, .vtt, .txt, .json).

    Written whole or not at all (:func:`audiolens.writing.write_file`).

    Raises
    ------
    ParameterError
        for an extension that is not one of the formats.
    OSError
        when the file cannot be written.
    """
    from ...errors import ParameterError
    from ...writing import write_file

    target = Path(os.fspath(path))
    fmt = target.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ParameterError(
            f"{target}: unknown transcript format {fmt!r}; use one of {', '.join(FORMATS)}"
        )
    return write_file(target, FORMATS[fmt](result))
