"""The ``key`` task: the musical key of a song (24 keys) with a confidence, in beets' spelling
(``C``, ``Am``, ``F#m``) and the DJs' Camelot and Open Key codes.

How: a chroma of the tonal peaks of a fine spectrum (:mod:`.chroma`), averaged over the song,
is correlated with a key profile rotated to each tonic in major and minor (:mod:`.profiles`);
the best correlation is the key. The same is done over windows of the song, and stretches in
another key than the whole (a modulation) are listed as ``sections``.

It reads the same decoded audio as ``beats`` (44.1 kHz mono), so with ``beats`` or
``structure`` in the same run the file is decoded once.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ...audio import AudioInfo
from ...devices import Device
from ...errors import ParameterError
from .. import shown
from ..base import AudioRequest, Result, TaskInput, mono_blocks, read_input
from .chroma import HOP, chroma_frames
from .profiles import KEY_NAMES, PROFILES, camelot, key_name, key_scores, open_key, parse_key

__all__ = [
    "KEY_NAMES",
    "KeyResult",
    "KeyTask",
    "camelot",
    "chroma_frames",
    "estimate",
    "key",
    "key_name",
    "key_scores",
    "open_key",
    "parse_key",
]

PathLike = str | bytes | os.PathLike

SAMPLE_RATE = 44100
#: the profile used unless told otherwise (benchmarks/bench_key.py compares them)
DEFAULT_PROFILE = "audiolens"
#: seconds per window of the per-section keys, and their hop
SECTION_S = 30.0
SECTION_HOP_S = 10.0
#: windows in a row a modulation needs, and how much better its key must fit them
MIN_WINDOWS = 3
MARGIN = 0.1
#: softmax temperature turning the 24 correlations into a confidence
TEMPERATURE = 0.05
#: correlations at or under WEAK give no confidence, those over TONAL full confidence
WEAK, TONAL = 0.3, 0.7


@dataclass
class KeyResult(Result):
    """The answer of the ``key`` task for one file.

    Attributes
    ----------
    key : beets' ``initial_key`` spelling: ``"C"``, ``"Am"``, ``"F#m"``, ``"A#"``; None when
        the file has no tonal content (silence, noise, drums alone)
    tonic : the tonic's name (``"F#"``)
    mode : ``"major"`` or ``"minor"``
    camelot : the Camelot code (``"8A"`` for A minor)
    open_key : the Open Key code (``"1m"`` for A minor)
    confidence : in [0, 1]: the key's share of the 24 keys' evidence (a softmax of their
        correlations), scaled down when the best correlation is weak (speech, noise)
    strength : the correlation of the chroma with the key's profile, in [-1, 1]
    sections : stretches in another key than the song's (``{start, end, key}``, times in
        seconds) when it modulates: at least 50 s (three 30 s windows 10 s apart) that fit
        another key clearly better; empty otherwise
    """

    task: ClassVar[str] = "key"
    key: str | None
    tonic: str | None = None
    mode: str | None = None
    camelot: str | None = None
    open_key: str | None = None
    confidence: float = 0.0
    strength: float = 0.0
    sections: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.confidence = shown.fraction(self.confidence)
        self.strength = shown.fraction(self.strength)


def _confidence(scores: np.ndarray) -> float:
    """The best key's softmax share of the 24 correlations, scaled down when even the best
    correlation is weak (tonal music measures 0.7-0.95, speech 0.25-0.5)."""
    z = (scores - scores.max()) / TEMPERATURE
    p = np.exp(z)
    tonal = np.clip((scores.max() - WEAK) / (TONAL - WEAK), 0.0, 1.0)
    return float(p.max() / p.sum() * tonal)


def estimate(chroma: np.ndarray, *, profile: str = DEFAULT_PROFILE) -> KeyResult:
    """The key of a chroma (a whole song's, or a window's).

    Parameters
    ----------
    chroma : np.ndarray [shape=(12,)] summed or averaged pitch-class energy (C ... B)
    profile : a name in :data:`~.profiles.PROFILES`
    """
    c = np.asarray(chroma, dtype=np.float64)
    if c.shape != (12,) or not np.isfinite(c).all():
        raise ParameterError(f"chroma must be 12 finite values, not shape {c.shape}")
    if c.max() <= 0 or c.std() < 1e-3 * c.max():  # nothing tonal
        return KeyResult(key=None)
    scores = key_scores(c, profile)
    best = int(np.argmax(scores))
    tonic, minor = best % 12, best >= 12
    return KeyResult(
        key=key_name(tonic, minor),
        tonic=key_name(tonic, False),
        mode="minor" if minor else "major",
        camelot=camelot(tonic, minor),
        open_key=open_key(tonic, minor),
        confidence=_confidence(scores),
        strength=float(scores[best]),
    )


def _sections(frames: np.ndarray, song: str, profile: str) -> list[dict[str, Any]]:
    """Stretches of at least ``MIN_WINDOWS`` consecutive windows that agree on one key other
    than the song's, and fit it clearly better (by ``MARGIN`` in correlation)."""
    fps = SAMPLE_RATE / HOP
    size, hop = round(SECTION_S * fps), round(SECTION_HOP_S * fps)
    if frames.shape[1] < size + (MIN_WINDOWS - 1) * hop:
        return []
    starts = list(range(0, frames.shape[1] - size + 1, hop))
    sums = np.stack([frames[:, s : s + size].sum(axis=1) for s in starts], axis=1)
    scores = key_scores(sums, profile)  # (24, n_windows)
    own = KEY_NAMES.index(song)
    best = np.argmax(scores, axis=0)
    other = [
        int(b) if b != own and scores[b, i] - scores[own, i] > MARGIN else -1
        for i, b in enumerate(best)
    ]
    out: list[dict[str, Any]] = []
    i = 0
    while i < len(other):
        j = i
        while j + 1 < len(other) and other[j + 1] == other[i]:
            j += 1
        if other[i] >= 0 and j - i + 1 >= MIN_WINDOWS:
            out.append(
                {
                    "start": shown.seconds(starts[i] / fps),
                    "end": shown.seconds((starts[j] + size) / fps),
                    "key": KEY_NAMES[other[i]],
                }
            )
        i = j + 1
    return out


class KeyTask:
    """The ``key`` task for the runner (see :mod:`audiolens.tasks.base`).

    Parameters
    ----------
    profile : the key profile (a name in :data:`~.profiles.PROFILES`)
    """

    name = "key"
    version = 1

    def __init__(self, *, profile: str = DEFAULT_PROFILE) -> None:
        if profile not in PROFILES:
            raise ParameterError(f"profile={profile!r} is not known; use one of {sorted(PROFILES)}")
        self.profile = profile

    def request(self, info: AudioInfo) -> AudioRequest:
        """The same audio as ``beats`` asks for (44.1 kHz mono), so both share one decode."""
        from ..beats import BeatsTask

        return BeatsTask().request(info)

    def run(self, batch: Sequence[TaskInput], *, device: Device) -> list[KeyResult]:
        """Find the key of a batch of files; one KeyResult per input, in order (on the CPU)."""
        return [self.analyze(item) for item in batch]

    def analyze(self, item: TaskInput) -> KeyResult:
        """The result for one decoded input."""
        frames = item.feature("key/chroma", lambda it: chroma_frames(mono_blocks(it), sr=_sr(it)))
        if frames.shape[1] == 0:
            return KeyResult(key=None)
        result = estimate(frames.sum(axis=1), profile=self.profile)
        if result.key is not None:
            result.sections = _sections(frames, result.key, self.profile)
        return result


def _sr(item: TaskInput) -> int:
    for audio in item.pieces:
        return audio.sample_rate
    return SAMPLE_RATE  # streamed inputs are decoded at the rate asked for


def key(path: PathLike, *, profile: str = DEFAULT_PROFILE) -> KeyResult:
    """The musical key of one music file.

    Parameters
    ----------
    path : an audio file in any format FFmpeg reads
    profile : the key profile: ``"audiolens"`` (default, learnt on rendered songs),
        ``"temperley"`` or ``"krumhansl"``

    Returns
    -------
    result : KeyResult
        ``key`` (``"Am"``), ``tonic``, ``mode``, ``camelot``, ``open_key``, ``confidence``,
        ``sections`` (stretches in another key); ``key`` is None without tonal content

    Raises
    ------
    DecodeError
        when the file cannot be read as audio (the message names the file and the problem)
    """
    from ...devices import resolve_device

    task = KeyTask(profile=profile)
    return task.run([read_input(path, task)], device=resolve_device("cpu"))[0]
