"""A speaker-attributed transcript: each word gets the speaker active at its time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from itertools import pairwise
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


#: a pause between two words at least this long [s] is a place where the speaker may change
PAUSE_S = 0.25
#: a speaker change between two words that is neither at a pause nor at a sentence end moves to
#: the nearest one within this many seconds
SNAP_S = 1.0
#: a run of one speaker's words that starts or ends inside a sentence (no pause, no sentence
#: end) is kept only when it lasts at least this long [s]; shorter, its words go to the
#: neighbouring speaker: a change inside a sentence needs strong evidence
STRONG_S = 2.0
_SENTENCE_END = (".", "?", "!", "\u2026", "\u3002", "\uff1f", "\uff01")

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
    else its neighbour's in the segment); a change of speaker moves to a pause or a sentence
    end within :data:`SNAP_S`, and a change inside a sentence stands only for a run of at
    least :data:`STRONG_S` seconds (see :func:`_settle`);
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
        _settle(words)
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


def _breaks(words: list[Word]) -> np.ndarray:
    """[shape=(n + 1,)] bool: True where a speaker may change before word i (at a pause, after
    a sentence end, and at both ends of the segment)."""
    ok = np.ones(len(words) + 1, dtype=bool)
    for i in range(1, len(words)):
        pause = words[i].start - words[i - 1].end >= PAUSE_S
        ok[i] = pause or words[i - 1].word.strip().endswith(_SENTENCE_END)
    return ok


def _runs(words: list[Word]) -> list[tuple[int, int]]:
    cuts = [i for i in range(1, len(words)) if words[i].speaker != words[i - 1].speaker]
    bounds = [0, *cuts, len(words)]
    return list(pairwise(bounds))


def _settle(words: list[Word]) -> None:
    """Speaker changes inside a segment moved to word boundaries that fit them: a change
    within :data:`SNAP_S` of a pause or a sentence end moves there; a run of words that still
    starts or ends inside a sentence and lasts less than :data:`STRONG_S` joins the
    neighbour it shares that sentence with."""
    if len(words) < 2 or any(w.speaker is None for w in words):
        return
    ok = _breaks(words)
    for a, _ in _runs(words)[1:]:
        if ok[a]:
            continue
        near = [
            i for i in np.nonzero(ok[1:-1])[0] + 1 if abs(words[i].start - words[a].start) <= SNAP_S
        ]
        if not near:
            continue
        b = min(near, key=lambda i: abs(words[i].start - words[a].start))
        lo, hi, who = (b, a, words[a].speaker) if b < a else (a, b, words[a - 1].speaker)
        for w in words[lo:hi]:
            w.speaker = who
    while True:
        runs = _runs(words)
        weak = [
            (words[b - 1].end - words[a].start, a, b)
            for a, b in runs
            if len(runs) > 1 and (not ok[a] or not ok[b])
        ]
        weak = [r for r in weak if r[0] < STRONG_S]
        if not weak:
            return
        _, a, b = min(weak)
        left = words[a - 1].speaker if a > 0 else None
        right = words[b].speaker if b < len(words) else None
        who = left if (not ok[a] and left is not None) or right is None else right
        for w in words[a:b]:
            w.speaker = who


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
