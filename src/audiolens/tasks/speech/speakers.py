"""A speaker-attributed transcript: each word gets the speaker active at its time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

import numpy as np

from .types import SpeechResult, SpeechSegment, Word

__all__ = ["attribute_speakers"]

#: a word with no turn over it takes the nearest turn's speaker within this many seconds
NEAREST_S = 1.0


class _Turn(Protocol):
    start: float
    end: float
    speaker: str


#: where turns overlap (two people at once), a speaker whose turn covers at least this share of
#: what the best covers counts as a tie, and a tie goes to the previous word's speaker
TIE = 0.9


def _speaker_at(
    start: float, end: float, turns: Sequence[_Turn], previous: str | None = None
) -> str | None:
    cover: dict[str, float] = {}
    for t in turns:
        o = min(end, t.end) - max(start, t.start)
        if o > 0:
            cover[t.speaker] = max(cover.get(t.speaker, 0.0), o)
    if cover:
        best = max(cover, key=lambda k: cover[k])
        if previous in cover and previous != best and cover[previous] >= TIE * cover[best]:
            return previous
        return best
    mid = (start + end) / 2
    gaps = [(min(abs(mid - t.start), abs(mid - t.end)), t.speaker) for t in turns]
    gap, speaker = min(gaps, default=(np.inf, None))
    return speaker if gap <= NEAREST_S else None


def attribute_speakers(result: SpeechResult, turns: Sequence[_Turn]) -> SpeechResult:
    """A copy of ``result`` whose words carry the speaker of the turn that overlaps them most
    (where two speakers' turns cover a word about as much, the previous word's speaker keeps
    it: see :data:`TIE`; with no turn over it, the nearest turn within :data:`NEAREST_S`, or
    else its neighbour's in the segment),
    whose segments are split where the speaker changes and carry their speaker
    (``[SPEAKER_1]`` prefixes in SRT, VTT and TXT; ``speaker`` fields in JSON).

    Parameters
    ----------
    result : a transcript with word times
    turns : speaker turns, each with ``start``, ``end`` [s] and ``speaker`` (e.g. the
        ``turns`` of a SpeakersResult)

    Returns
    -------
    SpeechResult
    """
    segments: list[SpeechSegment] = []
    for seg in result.segments:
        if not seg.words:
            speaker = _speaker_at(seg.start, seg.end, turns)
            segments.append(replace(seg, speaker=speaker))
            continue
        words: list[Word] = []
        for w in seg.words:
            previous = words[-1].speaker if words else None
            words.append(replace(w, speaker=_speaker_at(w.start, w.end, turns, previous)))
        _fill_gaps(words)
        group: list[Word] = []
        for w in words:
            if group and w.speaker != group[-1].speaker:
                segments.append(_segment(group, seg))
                group = []
            group.append(w)
        segments.append(_segment(group, seg))
    return replace(result, segments=segments, paths=dict(result.paths))


def _fill_gaps(words: list[Word]) -> None:
    """A word of a segment that no turn covers (a pause the diarization left out) keeps the
    speaker of the word before it (or after it, at the segment's start)."""
    known = [w.speaker for w in words if w.speaker is not None]
    if not known:
        return
    last = known[0]
    for w in words:
        if w.speaker is None:
            w.speaker = last
        last = w.speaker


def _segment(words: list[Word], like: SpeechSegment) -> SpeechSegment:
    text = "".join(w.word for w in words).strip()
    return replace(
        like,
        start=words[0].start,
        end=words[-1].end,
        text=text,
        words=words,
        speaker=words[0].speaker,
    )
