"""The records of the ``beats`` task: its options and its result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ...errors import ParameterError
from ..base import Result
from ..shown import bpm, fraction, seconds

__all__ = ["BeatsOptions", "BeatsResult"]


@dataclass(frozen=True)
class BeatsOptions:
    """What the beat tracker may find.

    Attributes
    ----------
    min_bpm, max_bpm : the tempo range of the beat (in 6/8, the dotted quarter)
    meters : the beats per bar it chooses from (2 covers 6/8 and 2/4 counted in dotted
        quarters or halves)
    """

    min_bpm: float = 55.0
    max_bpm: float = 215.0
    meters: tuple[int, ...] = (2, 3, 4)

    def __post_init__(self) -> None:
        if not 0 < self.min_bpm < self.max_bpm:
            raise ParameterError(
                f"min_bpm={self.min_bpm!r} and max_bpm={self.max_bpm!r} must satisfy "
                "0 < min_bpm < max_bpm"
            )
        if self.max_bpm > 400:
            raise ParameterError(f"max_bpm={self.max_bpm!r} must be at most 400")
        if not self.meters or any(not isinstance(m, int) or m < 2 or m > 12 for m in self.meters):
            raise ParameterError(
                f"meters={self.meters!r} must be beats per bar, whole numbers from 2 to 12"
            )


@dataclass
class BeatsResult(Result):
    """The answer of the ``beats`` task for one file.

    Attributes
    ----------
    beats : beat times in seconds, ascending
    positions : the bar position of each beat (1 = downbeat ... ``meter``); same length
    downbeats : the times of the beats at position 1
    tempo : the tempo in beats per minute (the median of the beat periods), None without beats
    meter : beats per bar, None without beats
    tempo_curve : ``[time, bpm]`` pairs, one per beat from the second on: the local tempo (the
        beat periods smoothed over a few beats), for songs whose tempo changes
    confidence : 0-1, how clearly the audio shows a steady pulse (the pulse clarity of the
        beat activation, :func:`.track.pulse_clarity`), given also when no beats are reported
    duration : the file's duration in seconds
    beats_path : the ``.beats`` file written for it, when one was asked for

    Times are held to the millisecond, tempi to 0.01 BPM and the confidence to 4 decimals
    (rounded when the result is made), so the API and the JSON agree.
    """

    task: ClassVar[str] = "beats"
    beats: list[float]
    positions: list[int]
    downbeats: list[float]
    tempo: float | None
    meter: int | None
    tempo_curve: list[list[float]] = field(default_factory=list)
    confidence: float = 0.0
    duration: float = 0.0
    beats_path: str | None = None

    def __post_init__(self) -> None:
        self.beats = [seconds(t) for t in self.beats]
        self.downbeats = [seconds(t) for t in self.downbeats]
        self.tempo = None if self.tempo is None else bpm(self.tempo)
        self.tempo_curve = [[seconds(t), bpm(b)] for t, b in self.tempo_curve]
        self.confidence = fraction(self.confidence)
        self.duration = seconds(self.duration)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready record (the values as held: see the class docstring)."""
        return {
            "beats": list(self.beats),
            "positions": [int(p) for p in self.positions],
            "downbeats": list(self.downbeats),
            "tempo": self.tempo,
            "meter": self.meter,
            "tempo_curve": [list(pair) for pair in self.tempo_curve],
            "confidence": self.confidence,
            "duration": self.duration,
            "beats_path": self.beats_path,
        }
