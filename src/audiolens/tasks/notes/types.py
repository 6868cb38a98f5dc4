"""The records of the ``notes`` task: a note, the options of note creation, the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...errors import ParameterError
from ..base import Result

__all__ = ["Note", "NotesOptions", "NotesResult"]


@dataclass(frozen=True)
class Note:
    """One transcribed note.

    Attributes
    ----------
    onset, offset : start and end in seconds from the start of the file
    pitch : MIDI note number (21 = A0 ... 108 = C8)
    velocity : MIDI velocity 1-127, from the model's mean frame activation over the note
    bends : pitch deviation per model frame (86.13 frames/s) from ``onset`` on, in thirds of a
        semitone; only when pitch bends were asked for, else None
    """

    onset: float
    offset: float
    pitch: int
    velocity: int
    bends: tuple[int, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """``{onset, offset, pitch, velocity}`` (and ``bends`` when there are some)."""
        d: dict[str, Any] = {
            "onset": round(float(self.onset), 6),
            "offset": round(float(self.offset), 6),
            "pitch": int(self.pitch),
            "velocity": int(self.velocity),
        }
        if self.bends is not None:
            d["bends"] = [int(b) for b in self.bends]
        return d


@dataclass(frozen=True)
class NotesOptions:
    """How activations become notes (the defaults are basic-pitch's own).

    Attributes
    ----------
    onset_threshold : 0-1; an onset peak at least this high starts a note
    frame_threshold : 0-1; a note lasts while its frame activation stays at least this high
    min_note_ms : notes shorter than this are dropped
    min_hz, max_hz : drop notes outside this range (None: no limit)
    infer_onsets : also start notes where the frame activation jumps up
    melodia : after the onset pass, also turn the strongest remaining frame activations into
        notes (the "melodia trick"), which catches notes whose onset was missed
    pitch_bends : estimate a pitch-bend curve per note from the pitch contour
    multiple_pitch_bends : in the MIDI file, give each pitch its own channel so overlapping
        notes keep their bends (else bends of overlapping notes are dropped)
    midi_tempo : tempo written in the MIDI file (BPM); note times in seconds do not depend on it
    """

    onset_threshold: float = 0.5
    frame_threshold: float = 0.3
    min_note_ms: float = 127.70
    min_hz: float | None = None
    max_hz: float | None = None
    infer_onsets: bool = True
    melodia: bool = True
    pitch_bends: bool = False
    multiple_pitch_bends: bool = False
    midi_tempo: float = 120.0

    def __post_init__(self) -> None:
        for name in ("onset_threshold", "frame_threshold"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
                raise ParameterError(f"{name}={v!r} must be a number from 0 to 1")
        if not isinstance(self.min_note_ms, (int, float)) or self.min_note_ms < 0:
            raise ParameterError(f"min_note_ms={self.min_note_ms!r} must be a number >= 0")
        for name in ("min_hz", "max_hz"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, (int, float)) or v <= 0):
                raise ParameterError(f"{name}={v!r} must be a positive frequency in Hz or None")
        if self.min_hz is not None and self.max_hz is not None and self.min_hz >= self.max_hz:
            raise ParameterError(f"min_hz={self.min_hz!r} must be below max_hz={self.max_hz!r}")
        if not isinstance(self.midi_tempo, (int, float)) or not 4 <= self.midi_tempo <= 1000:
            raise ParameterError(f"midi_tempo={self.midi_tempo!r} must be 4-1000 BPM")


@dataclass
class NotesResult(Result):
    """What the ``notes`` task found in one file.

    Attributes
    ----------
    notes : the notes, sorted by onset then pitch
    midi_path : the MIDI file written for it, or None when none was asked for
    duration : seconds of audio transcribed
    engine : the model that made the activations (``"basic-pitch/icassp_2022"``)
    """

    task = "notes"

    notes: list[Note] = field(default_factory=list)
    midi_path: str | None = None
    duration: float = 0.0
    engine: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The export record: ``notes`` as ``{onset, offset, pitch, velocity}``, ``midi_path``,
        ``duration``, ``engine``."""
        return {
            "notes": [n.to_dict() for n in self.notes],
            "midi_path": self.midi_path,
            "duration": round(float(self.duration), 6),
            "engine": self.engine,
        }
