"""The records of the ``notes`` task: a note, the options of note creation, the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ...errors import ParameterError
from ..base import Result

__all__ = ["ENGINES", "Note", "NotesOptions", "NotesResult", "Pedal"]

#: the models ``NotesOptions.engine`` names
ENGINES = ("basic-pitch", "transkun")


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
class Pedal:
    """A piano pedal held down (engines that transcribe pedals: Transkun).

    Attributes
    ----------
    onset, offset : when it goes down and comes up, in seconds from the start of the file
    control : its MIDI controller: 64 sustain (damper), 67 soft (una corda)
    value : the controller value written while it is down (1-127)
    """

    onset: float
    offset: float
    control: int
    value: int = 127

    def to_dict(self) -> dict[str, Any]:
        """``{onset, offset, control, value}``."""
        return {
            "onset": round(float(self.onset), 6),
            "offset": round(float(self.offset), 6),
            "control": int(self.control),
            "value": int(self.value),
        }


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
    engine : the model: ``"basic-pitch"`` (any instrument, light; the thresholds above apply
        to it) or ``"transkun"`` (solo piano, with velocities and sustain/soft pedals; it
        writes notes itself, so the thresholds, melodia and pitch bends do not apply)
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
    engine: Literal["basic-pitch", "transkun"] = "basic-pitch"

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ParameterError(
                f"engine={self.engine!r} is not known; use one of {', '.join(ENGINES)}"
            )
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
    pedals : the pedals held (sustain CC64, soft CC67), from engines that find them
    """

    task = "notes"

    notes: list[Note] = field(default_factory=list)
    midi_path: str | None = None
    duration: float = 0.0
    engine: str = ""
    pedals: list[Pedal] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The export record: ``notes`` as ``{onset, offset, pitch, velocity}``, ``midi_path``,
        ``duration``, ``engine`` (and ``pedals`` as ``{onset, offset, control, value}`` when
        the engine found some)."""
        d: dict[str, Any] = {
            "notes": [n.to_dict() for n in self.notes],
            "midi_path": self.midi_path,
            "duration": round(float(self.duration), 6),
            "engine": self.engine,
        }
        if self.pedals:
            d["pedals"] = [p.to_dict() for p in self.pedals]
        return d
