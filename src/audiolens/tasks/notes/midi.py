"""Standard MIDI Files of transcribed notes, written byte by byte (no MIDI library needed).

The file is SMF format 1: track 0 holds the tempo (set-tempo meta event) and a 4/4 time
signature; the other tracks hold the notes, one track per MIDI channel used. Every note track
starts (at tick 0) with a track name, a program change (``program``, by default 4 = Electric
Piano 1, as basic-pitch writes) and the pitch-bend-range RPN set to ±2 semitones (CC 101 = 0,
CC 100 = 0, CC 6 = 2, CC 38 = 0).

Times
    Seconds become ticks as ``round(t * ticks_per_beat * 1e6 / us_per_beat)`` where
    ``us_per_beat = round(60e6 / tempo)`` is the tempo as the file stores it (a whole number
    of microseconds per beat); for tempos that divide 60e6 (120 BPM: 500000 µs) this is exactly
    ``round(t * ticks_per_beat * tempo / 60)``, and in every case a reader converting ticks back
    with the file's tempo gets the times to within half a tick. A note that rounds to zero
    length lasts 1 tick.
Note-offs
    Written as real note-off messages (status ``0x80``) with release velocity 64 (the MIDI
    default for "no release velocity"), never as note-on with velocity 0. Running status is
    not used.
Order at equal ticks
    A note's last pitch bend, then note-offs, then pitch-bend resets, then the pitch bends of
    starting notes, then note-ons (each group in the notes' order: onset, then pitch). So a
    pitch that ends and starts again at the same tick re-strikes cleanly, and a bent note
    starts at its bent pitch.
Pitch bends
    ``Note.bends`` holds one value per model frame in thirds of a semitone. Each value becomes
    a 14-bit pitch-bend event ``8192 + round(b * 4096 / 3)`` (±2 semitones range, clipped to
    0..16383); the events are spread evenly over the note (``linspace(onset, offset, n)``),
    and the bend is reset to 8192 at the note's end. A pitch bend moves every note sounding on
    its channel, so the bends of a note that overlaps (in ticks) another note on the same
    channel are dropped (the note itself is kept).
Channels
    ``multiple_pitch_bends=False``: every note goes on channel 0 (one note track), so a note
    keeps its bends only when no other note overlaps it. ``multiple_pitch_bends=True``: each
    distinct pitch gets its own channel, from 0 to 15 skipping 9 (the General MIDI drum
    channel), in ascending pitch order, one track per channel. With more than 15 distinct
    pitches, the 16th and later pitches (ascending) share a channel: each goes to the channel
    where its notes overlap the fewest notes with bends (counting pairs where either note has
    bends), then the fewest notes overall, ties taking channels round-robin. Whatever overlap
    is left on a channel drops the bends as above.
Pedals
    A pedal (sustain CC64, soft CC67) becomes a control change to its value at its onset
    and to 0 at its offset, on every note channel, sent after the note-offs and before the
    note-ons of its tick.
Same pitch, overlapping
    Two overlapping notes of one pitch on one channel are written as they are (note-on,
    note-on, note-off, note-off); readers pair note-offs first-in first-out.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import ParameterError
from ...writing import replace_into
from .types import Note, Pedal

__all__ = ["midi_bytes", "write_midi"]

#: pitch-bend units per third of a semitone with a ±2 semitone range (8192 units = 2 semitones)
BEND_UNITS_PER_THIRD = 4096.0 / 3.0
BEND_CENTRE = 8192
#: the 15 melodic channels, in the order they are given out (9 is the GM drum channel)
CHANNELS: tuple[int, ...] = tuple(c for c in range(16) if c != 9)
#: release velocity of the note-off messages
NOTE_OFF_VELOCITY = 64

_MAX_DELTA = 0x0FFFFFFF  # the largest variable-length quantity of a delta time
_MAX_US_PER_BEAT = 0xFFFFFF  # set-tempo stores microseconds per beat in 3 bytes

# priorities of events at the same tick (lower first)
_LAST_BEND, _NOTE_OFF, _PEDAL, _BEND_RESET, _BEND, _NOTE_ON = range(6)


@dataclass
class _Placed:
    """A note as written: ticks, channel, and the pitch-bend values kept for it."""

    on: int
    off: int
    pitch: int
    velocity: int
    channel: int
    bends: tuple[int, ...] | None  # thirds of a semitone, None when none are written
    onset: float
    offset: float


def _check_number(name: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ParameterError(f"{name}={value!r} must be a number")
    v = float(value)
    if not math.isfinite(v) or not low <= v <= high:
        raise ParameterError(f"{name}={value!r} must be from {low:g} to {high:g}")
    return v


def _check_int(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ParameterError(f"{name}={value!r} must be an integer")
    if not low <= int(value) <= high:
        raise ParameterError(f"{name}={value!r} must be from {low} to {high}")
    return int(value)


def _vlq(n: int) -> bytes:
    """A MIDI variable-length quantity (7 bits a byte, high bit set on all but the last)."""
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def _meta(kind: int, data: bytes) -> bytes:
    return bytes((0xFF, kind)) + _vlq(len(data)) + data


def _track(events: list[tuple[int, bytes]]) -> bytes:
    """An ``MTrk`` chunk of ``(absolute tick, message bytes)`` already in order, then the
    end-of-track meta event at the last tick."""
    body = bytearray()
    now = 0
    for tick, msg in events:
        delta = tick - now
        if delta > _MAX_DELTA:
            raise ParameterError(
                f"a gap of {delta} ticks between MIDI events is longer than a MIDI file can "
                f"hold ({_MAX_DELTA} ticks); use a lower tempo or ticks_per_beat"
            )
        body += _vlq(delta)
        body += msg
        now = tick
    body += _vlq(0) + _meta(0x2F, b"")
    return b"MTrk" + struct.pack(">I", len(body)) + bytes(body)


def _overlaps(on: np.ndarray, off: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each ``[a, b)``, how many of the intervals ``[on, off)`` (``on`` and ``off`` each
    sorted) overlap it: those starting before ``b`` less those ending by ``a``."""
    return np.searchsorted(on, b, "left") - np.searchsorted(off, a, "right")


def _intervals(notes: list[_Placed]) -> tuple[np.ndarray, ...]:
    """Sorted onsets and offsets of ``notes``, then of those of them with bends."""
    on = np.array([p.on for p in notes], dtype=np.int64)
    off = np.array([p.off for p in notes], dtype=np.int64)
    bent = np.array([bool(p.bends) for p in notes], dtype=bool)
    return np.sort(on), np.sort(off), np.sort(on[bent]), np.sort(off[bent])


def _assign_channels(placed: list[_Placed], multiple: bool) -> None:
    if not multiple:
        for p in placed:
            p.channel = CHANNELS[0]
        return
    by_pitch: dict[int, list[_Placed]] = {}
    for p in placed:
        by_pitch.setdefault(p.pitch, []).append(p)
    taken: dict[int, list[_Placed]] = {c: [] for c in CHANNELS}
    spans = {c: _intervals([]) for c in CHANNELS}
    for i, pitch in enumerate(sorted(by_pitch)):
        mine = by_pitch[pitch]
        channel = CHANNELS[i % len(CHANNELS)]
        if i >= len(CHANNELS):
            a = np.array([p.on for p in mine], dtype=np.int64)
            b = np.array([p.off for p in mine], dtype=np.int64)
            bent = np.array([bool(p.bends) for p in mine], dtype=bool)
            best: tuple[int, int, int] | None = None
            for j in range(len(CHANNELS)):
                c = CHANNELS[(i + j) % len(CHANNELS)]
                on_all, off_all, on_b, off_b = spans[c]
                n_all = _overlaps(on_all, off_all, a, b)
                n_bent = np.where(bent, n_all, _overlaps(on_b, off_b, a, b))
                cost = (int(n_bent.sum()), int(n_all.sum()), j)
                if best is None or cost < best:
                    best, channel = cost, c
        for p in mine:
            p.channel = channel
        taken[channel].extend(mine)
        spans[channel] = _intervals(taken[channel])


def _drop_overlapping_bends(placed: list[_Placed]) -> None:
    """Bends of a note that overlaps another note on its channel are dropped."""
    by_channel: dict[int, list[_Placed]] = {}
    for p in placed:
        by_channel.setdefault(p.channel, []).append(p)
    for group in by_channel.values():
        on, off = _intervals(group)[:2]
        a = np.array([p.on for p in group], dtype=np.int64)
        b = np.array([p.off for p in group], dtype=np.int64)
        for p, n in zip(group, _overlaps(on, off, a, b)):
            if p.bends and n > 1:  # the note itself counts once
                p.bends = None


def _place(notes: Sequence[Note], ticks_per_second: float) -> list[_Placed]:
    placed = []
    for k, n in enumerate(notes):
        pitch = _check_int(f"notes[{k}].pitch", n.pitch, 0, 127)
        onset = _check_number(f"notes[{k}].onset", n.onset, 0.0, math.inf)
        offset = _check_number(f"notes[{k}].offset", n.offset, 0.0, math.inf)
        if offset < onset:
            raise ParameterError(f"notes[{k}] ends (offset={offset}) before it starts ({onset})")
        vel = _check_number(f"notes[{k}].velocity", n.velocity, -math.inf, math.inf)
        velocity = min(127, max(1, round(vel)))
        on = round(onset * ticks_per_second)
        off = max(round(offset * ticks_per_second), on + 1)
        bends = None
        if n.bends is not None and len(n.bends) > 0:
            bends = tuple(
                round(_check_number(f"notes[{k}].bends", b, -math.inf, math.inf)) for b in n.bends
            )
        placed.append(_Placed(on, off, pitch, velocity, 0, bends, onset, offset))
    placed.sort(key=lambda p: (p.on, p.pitch, p.off))
    return placed


def _bend_message(channel: int, value: int) -> bytes:
    value = min(16383, max(0, value))
    return bytes((0xE0 | channel, value & 0x7F, value >> 7))


def _pedal_events(
    pedals: Sequence[Pedal], channel: int, ticks_per_second: float
) -> list[tuple[int, int, int, bytes]]:
    out = []
    for k, p in enumerate(pedals):
        control = _check_int(f"pedals[{k}].control", p.control, 0, 127)
        value = _check_int(f"pedals[{k}].value", p.value, 1, 127)
        onset = _check_number(f"pedals[{k}].onset", p.onset, 0.0, math.inf)
        offset = _check_number(f"pedals[{k}].offset", p.offset, onset, math.inf)
        on = round(onset * ticks_per_second)
        off = max(round(offset * ticks_per_second), on + 1)
        out.append((on, _PEDAL, -2 * len(pedals) + 2 * k, bytes((0xB0 | channel, control, value))))
        out.append((off, _PEDAL, -2 * len(pedals) + 2 * k + 1, bytes((0xB0 | channel, control, 0))))
    return out


def _note_track(
    name: str,
    channel: int,
    program: int,
    notes: list[_Placed],
    ticks_per_second: float,
    pedals: Sequence[Pedal] = (),
) -> bytes:
    setup = [
        _meta(0x03, name.encode("ascii")),
        bytes((0xC0 | channel, program)),
        bytes((0xB0 | channel, 101, 0)),  # RPN MSB: pitch-bend range
        bytes((0xB0 | channel, 100, 0)),  # RPN LSB
        bytes((0xB0 | channel, 6, 2)),  # data entry MSB: 2 semitones
        bytes((0xB0 | channel, 38, 0)),  # data entry LSB: 0 cents
    ]
    # (tick, priority, sequence, message)
    events: list[tuple[int, int, int, bytes]] = [(0, -1, i, m) for i, m in enumerate(setup)]
    seq = len(setup)
    for p in notes:
        if p.bends:
            times = np.linspace(p.onset, p.offset, len(p.bends))
            for t, b in zip(times, p.bends):
                tick = min(max(round(float(t) * ticks_per_second), p.on), p.off)
                prio = _LAST_BEND if tick == p.off else _BEND
                value = BEND_CENTRE + round(b * BEND_UNITS_PER_THIRD)
                events.append((tick, prio, seq, _bend_message(channel, value)))
                seq += 1
            events.append((p.off, _BEND_RESET, seq, _bend_message(channel, BEND_CENTRE)))
            seq += 1
        events.append((p.on, _NOTE_ON, seq, bytes((0x90 | channel, p.pitch, p.velocity))))
        events.append((p.off, _NOTE_OFF, seq, bytes((0x80 | channel, p.pitch, NOTE_OFF_VELOCITY))))
        seq += 1
    events.extend(_pedal_events(pedals, channel, ticks_per_second))
    events.sort(key=lambda e: e[:3])
    return _track([(tick, msg) for tick, _, _, msg in events])


def midi_bytes(
    notes: Sequence[Note],
    *,
    tempo: float = 120.0,
    program: int = 4,
    multiple_pitch_bends: bool = False,
    ticks_per_beat: int = 480,
    pedals: Sequence[Pedal] = (),
) -> bytes:
    """The Standard MIDI File (format 1) of ``notes``, as bytes.

    See the module's description for the layout, the note-off style, the event order and the
    channel rules.

    Parameters
    ----------
    notes : the notes, in any order; a note's ``bends`` (thirds of a semitone per model
        frame) become pitch-bend events; an empty sequence gives a file with the tempo track
        and one empty note track
    tempo : beats per minute written in the file; note times in seconds do not depend on it.
        From about 3.58 BPM (the slowest set-tempo a MIDI file can hold) up.
    program : General MIDI program 0-127 of every note track (4: Electric Piano 1)
    multiple_pitch_bends : give each pitch its own channel (one track each), so overlapping
        notes keep their bends; else all notes share channel 0 and overlapping notes lose them
    ticks_per_beat : time resolution, 1-32767 ticks per quarter note
    pedals : pedals held (sustain CC64, soft CC67), written as control changes on every
        note channel

    Returns
    -------
    data : the file's bytes

    Raises
    ------
    ParameterError
        a pitch outside 0-127, a negative or non-finite time, a note ending before it starts,
        or a bad ``tempo``, ``program`` or ``ticks_per_beat``
    """
    tempo = _check_number("tempo", tempo, 60e6 / _MAX_US_PER_BEAT, 60e6)
    program = _check_int("program", program, 0, 127)
    ticks_per_beat = _check_int("ticks_per_beat", ticks_per_beat, 1, 0x7FFF)
    us_per_beat = min(_MAX_US_PER_BEAT, max(1, round(60e6 / tempo)))
    ticks_per_second = ticks_per_beat * 1e6 / us_per_beat

    placed = _place(notes, ticks_per_second)
    _assign_channels(placed, bool(multiple_pitch_bends))
    _drop_overlapping_bends(placed)

    tempo_track = _track(
        [
            (0, _meta(0x51, us_per_beat.to_bytes(3, "big"))),
            (0, _meta(0x58, bytes((4, 2, 24, 8)))),  # 4/4, 24 clocks a click, 8 32nds a beat
        ]
    )
    channels = sorted({p.channel for p in placed}) or [CHANNELS[0]]
    tracks = [tempo_track]
    for c in channels:
        name = f"notes, channel {c}" if multiple_pitch_bends else "notes"
        mine = [p for p in placed if p.channel == c]
        tracks.append(_note_track(name, c, program, mine, ticks_per_second, pedals))
    header = b"MThd" + struct.pack(">IHHH", 6, 1, len(tracks), ticks_per_beat)
    return header + b"".join(tracks)


def write_midi(
    notes: Sequence[Note],
    path: str | os.PathLike[str],
    *,
    tempo: float = 120.0,
    program: int = 4,
    multiple_pitch_bends: bool = False,
    ticks_per_beat: int = 480,
    pedals: Sequence[Pedal] = (),
) -> Path:
    """Write ``notes`` as a Standard MIDI File (see :func:`midi_bytes`).

    The file is written whole or not at all: the bytes go to a temporary file in the same
    folder, which then replaces ``path``. The folder is created when missing.

    Parameters
    ----------
    notes : the notes (an empty sequence writes a valid file without notes)
    path : the ``.mid`` file to write (replaced when it exists)
    tempo, program, multiple_pitch_bends, ticks_per_beat, pedals : as in :func:`midi_bytes`

    Returns
    -------
    path : ``path`` as a :class:`~pathlib.Path`

    Raises
    ------
    ParameterError
        as :func:`midi_bytes` (nothing is written then)
    """
    data = midi_bytes(
        notes,
        tempo=tempo,
        program=program,
        multiple_pitch_bends=multiple_pitch_bends,
        ticks_per_beat=ticks_per_beat,
        pedals=pedals,
    )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with replace_into(target, "wb") as f:
        f.write(data)
    return target
