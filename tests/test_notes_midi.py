"""The notes task's MIDI writer: our files read back with mido (and pretty_midi when present)."""

from __future__ import annotations

import os
from pathlib import Path

import mido
import numpy as np
import pytest

from audiolens.errors import ParameterError
from audiolens.tasks.notes.midi import midi_bytes, write_midi
from audiolens.tasks.notes.types import Note

RPN = [(101, 0), (100, 0), (6, 2), (38, 0)]


def _abs(track) -> list[tuple[int, object]]:
    """``(absolute tick, message)`` of a mido track."""
    now, out = 0, []
    for msg in track:
        now += msg.time
        out.append((now, msg))
    return out


def _tempo(mid: mido.MidiFile) -> int:
    tempos = [m.tempo for m in mid.tracks[0] if m.type == "set_tempo"]
    assert len(tempos) == 1
    return tempos[0]


def _read_notes(path) -> list[tuple[float, float, int, int, int, int, int]]:
    """``(onset s, offset s, pitch, velocity, channel, on tick, off tick)`` of every note,
    note-offs paired first-in first-out, sorted by onset then pitch."""
    mid = mido.MidiFile(path)
    us = _tempo(mid)
    tpb = mid.ticks_per_beat
    found = []
    for track in mid.tracks[1:]:
        open_: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for tick, m in _abs(track):
            if m.type == "note_on" and m.velocity > 0:
                open_.setdefault((m.channel, m.note), []).append((tick, m.velocity))
            elif m.type == "note_off" or (m.type == "note_on" and m.velocity == 0):
                on, vel = open_[(m.channel, m.note)].pop(0)
                found.append(
                    (
                        mido.tick2second(on, tpb, us),
                        mido.tick2second(tick, tpb, us),
                        m.note,
                        vel,
                        m.channel,
                        on,
                        tick,
                    )
                )
        assert not any(open_.values()), "notes left open"
    return sorted(found, key=lambda n: (n[5], n[2]))


def _random_notes(n=200, seed=0, bends=False) -> list[Note]:
    rng = np.random.default_rng(seed)
    notes = []
    for _ in range(n):
        on = float(rng.uniform(0, 60))
        b = tuple(int(v) for v in rng.integers(-4, 5, size=int(rng.integers(1, 40))))
        notes.append(
            Note(
                onset=on,
                offset=on + float(rng.uniform(0.01, 2.0)),
                pitch=int(rng.integers(21, 109)),
                velocity=int(rng.integers(1, 128)),
                bends=b if bends else None,
            )
        )
    # no two overlapping notes of one pitch: their pairing would be ambiguous
    notes.sort(key=lambda x: (x.pitch, x.onset))
    kept: list[Note] = []
    for x in notes:
        if kept and kept[-1].pitch == x.pitch and kept[-1].offset > x.onset:
            continue
        kept.append(x)
    return sorted(kept, key=lambda x: (x.onset, x.pitch))


def _pairs(notes, got):
    """The written notes and those read back, matched: both sorted by pitch, then onset (the
    notes of one pitch never overlap in ``_random_notes``)."""
    mine = sorted(notes, key=lambda n: (n.pitch, n.onset))
    theirs = sorted(got, key=lambda g: (g[2], g[0]))
    assert len(mine) == len(theirs)
    return list(zip(mine, theirs))


def _channel_messages(path, kind):
    out = []
    for track in mido.MidiFile(path).tracks[1:]:
        out += [(tick, m) for tick, m in _abs(track) if m.type == kind]
    return out


# -- notes -----------------------------------------------------------------------------------


def test_round_trip_times_pitches_velocities(tmp_path):
    notes = _random_notes()
    path = write_midi(notes, tmp_path / "x.mid")
    assert path == tmp_path / "x.mid"
    mid = mido.MidiFile(path)
    assert mid.type == 1 and mid.ticks_per_beat == 480 and len(mid.tracks) == 2
    assert _tempo(mid) == 500000
    sig = [m for m in mid.tracks[0] if m.type == "time_signature"]
    assert [(s.numerator, s.denominator) for s in sig] == [(4, 4)]
    tick = 0.5 / 480
    for n, g in _pairs(notes, _read_notes(path)):
        assert abs(g[0] - n.onset) <= tick and abs(g[1] - n.offset) <= tick
        assert g[2] == n.pitch and g[3] == n.velocity and g[4] == 0
        assert g[5] == round(n.onset * 480 * 120 / 60)  # the documented formula at 120 BPM
    programs = [(m.channel, m.program) for _, m in _channel_messages(path, "program_change")]
    assert programs == [(0, 4)]
    names = [m.name for m in mid.tracks[1] if m.type == "track_name"]
    assert names == ["notes"]
    for track in mid.tracks:
        assert track[-1].type == "end_of_track"


def test_notes_in_any_order_and_program(tmp_path):
    notes = _random_notes(50, seed=3)
    a = midi_bytes(notes)
    assert midi_bytes(list(reversed(notes))) == a
    path = write_midi(notes[::-1], tmp_path / "y.mid", program=0, ticks_per_beat=960)
    assert path.read_bytes() != a
    assert [m.program for _, m in _channel_messages(path, "program_change")] == [0]
    assert mido.MidiFile(path).ticks_per_beat == 960
    assert all(g[2] == n.pitch for n, g in _pairs(notes, _read_notes(path)))


def test_file_equals_midi_bytes(tmp_path):
    notes = _random_notes(30, seed=1, bends=True)
    path = write_midi(notes, tmp_path / "z.mid", multiple_pitch_bends=True)
    assert path.read_bytes() == midi_bytes(notes, multiple_pitch_bends=True)


@pytest.mark.parametrize("tempo", [60.0, 90.0, 100.5, 137.0, 1000.0, 4.0])
def test_other_tempos_round_trip(tmp_path, tempo):
    notes = [*_random_notes(40, seed=2), Note(3600.0, 3601.25, 60, 90)]
    notes.sort(key=lambda x: (x.onset, x.pitch))
    path = write_midi(notes, tmp_path / "t.mid", tempo=tempo)
    mid = mido.MidiFile(path)
    assert _tempo(mid) == round(60e6 / tempo)
    tick = mido.tick2second(1, 480, _tempo(mid))
    for n, g in _pairs(notes, _read_notes(path)):
        assert abs(g[0] - n.onset) <= tick / 2 + 1e-9
        assert abs(g[1] - n.offset) <= tick / 2 + 1e-9


def test_velocity_is_clamped(tmp_path):
    notes = [Note(0.0, 0.1, 60, 0), Note(0.2, 0.3, 61, 500), Note(0.4, 0.5, 62, -3)]
    got = _read_notes(write_midi(notes, tmp_path / "v.mid"))
    assert [g[3] for g in got] == [1, 127, 1]


def test_zero_length_note_gets_one_tick(tmp_path):
    notes = [Note(1.0, 1.0, 60, 80), Note(2.0, 2.0001, 62, 80)]
    got = _read_notes(write_midi(notes, tmp_path / "z.mid"))
    assert [(g[5], g[6]) for g in got] == [(960, 961), (1920, 1921)]


def test_note_offs_before_note_ons_at_the_same_tick(tmp_path):
    notes = [Note(0.0, 0.5, 60, 80), Note(0.5, 1.0, 60, 90), Note(0.5, 1.0, 64, 70)]
    path = write_midi(notes, tmp_path / "o.mid")
    at = [
        (m.type, m.note)
        for tick, m in _abs(mido.MidiFile(path).tracks[1])
        if tick == 480 and m.type.startswith("note")
    ]
    assert at == [("note_off", 60), ("note_on", 60), ("note_on", 64)]
    # a real note-off, not a note-on with velocity 0
    offs = _channel_messages(path, "note_off")
    assert len(offs) == 3 and all(m.velocity == 64 for _, m in offs)
    got = _read_notes(path)
    assert [(g[2], g[3], g[5], g[6]) for g in got] == [
        (60, 80, 0, 480),
        (60, 90, 480, 960),
        (64, 70, 480, 960),
    ]


@pytest.mark.parametrize("multiple", [False, True])
def test_no_notes_gives_an_empty_file(tmp_path, multiple):
    path = write_midi([], tmp_path / "empty.mid", multiple_pitch_bends=multiple)
    mid = mido.MidiFile(path)
    assert mid.type == 1 and len(mid.tracks) == 2
    assert not [m for t in mid.tracks for m in t if m.type in ("note_on", "note_off")]
    assert _tempo(mid) == 500000
    assert _read_notes(path) == []


@pytest.mark.parametrize("pitch", [-1, 128, 1000])
def test_bad_pitch(tmp_path, pitch):
    with pytest.raises(ParameterError, match="pitch"):
        write_midi([Note(0.0, 1.0, 60, 80), Note(0.0, 1.0, pitch, 80)], tmp_path / "p.mid")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tempo": 0.0},
        {"tempo": float("nan")},
        {"tempo": 3.0},
        {"program": 128},
        {"program": -1},
        {"ticks_per_beat": 0},
        {"ticks_per_beat": 40000},
    ],
)
def test_bad_settings(kwargs):
    with pytest.raises(ParameterError):
        midi_bytes([Note(0.0, 1.0, 60, 80)], **kwargs)


@pytest.mark.parametrize(
    "note",
    [Note(float("nan"), 1.0, 60, 80), Note(-0.5, 1.0, 60, 80), Note(1.0, 0.5, 60, 80)],
)
def test_bad_times(note):
    with pytest.raises(ParameterError):
        midi_bytes([note])


# -- writing ---------------------------------------------------------------------------------


def test_atomic_write_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "new" / "deeper" / "song.mid"
    write_midi(_random_notes(20), target)
    assert [p.name for p in target.parent.iterdir()] == ["song.mid"]
    # replacing an existing file
    write_midi([], str(target))
    assert [p.name for p in target.parent.iterdir()] == ["song.mid"]
    assert _read_notes(target) == []


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "song.mid"
    write_midi([Note(0.0, 1.0, 60, 80)], target)
    before = target.read_bytes()

    def fail(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_midi([], target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["song.mid"]


# -- pitch bends ------------------------------------------------------------------------------


def test_pitch_bends_of_a_lone_note(tmp_path):
    bends = (0, 1, 3, -2, -6, 0)
    path = write_midi([Note(1.0, 2.0, 60, 80, bends)], tmp_path / "b.mid")
    track = _abs(mido.MidiFile(path).tracks[1])
    wheel = [(t, m.pitch) for t, m in track if m.type == "pitchwheel"]
    ticks = [round(t * 960) for t in np.linspace(1.0, 2.0, len(bends))]
    expected = [(t, round(b * 4096 / 3)) for t, b in zip(ticks, bends)] + [(1920, 0)]
    assert wheel == expected
    kinds = [m.type for _, m in track if m.type in ("pitchwheel", "note_on", "note_off")]
    # the first bend before the note-on, the last before the note-off, the reset after it
    assert kinds == ["pitchwheel", "note_on"] + ["pitchwheel"] * 5 + ["note_off", "pitchwheel"]


def test_pitch_bend_values_are_clipped(tmp_path):
    path = write_midi([Note(0.0, 1.0, 60, 80, (-7, 100, -100, 6))], tmp_path / "c.mid")
    wheel = [m.pitch for _, m in _channel_messages(path, "pitchwheel")]
    # -7 thirds = -9557 units, below -8192; +6 thirds = 8192 units, one above the top (8191)
    assert wheel == [-8192, 8191, -8192, 8191, 0]


def test_empty_bends_write_no_pitch_bend(tmp_path):
    path = write_midi([Note(0.0, 1.0, 60, 80, ())], tmp_path / "e.mid")
    assert _channel_messages(path, "pitchwheel") == []


def test_overlapping_notes_lose_their_bends_on_one_channel(tmp_path):
    notes = [
        Note(0.0, 1.0, 60, 80, (1, 2, 3)),
        Note(0.5, 1.5, 64, 80, (-1, -2)),
        Note(1.5, 2.5, 67, 80, (3, 3, 3, 3)),  # touches the one before, does not overlap it
        Note(3.0, 4.0, 60, 80),
        Note(3.5, 3.6, 72, 80, (2,)),  # inside a note without bends: still dropped
    ]
    path = write_midi(notes, tmp_path / "ov.mid")
    wheel = _channel_messages(path, "pitchwheel")
    assert {m.channel for _, m in wheel} == {0}
    assert [(t, m.pitch) for t, m in wheel] == [
        (1440, 4096),
        (1760, 4096),
        (2080, 4096),
        (2400, 4096),
        (2400, 0),
    ]
    assert len(_read_notes(path)) == 5  # the notes themselves are all kept


def test_multiple_pitch_bends_keep_overlapping_bends(tmp_path):
    notes = [
        Note(0.0, 1.0, 60, 80, (1, 2, 3)),
        Note(0.5, 1.5, 64, 80, (-1, -2)),
        Note(0.5, 1.5, 67, 80),
    ]
    path = write_midi(notes, tmp_path / "m.mid", multiple_pitch_bends=True)
    mid = mido.MidiFile(path)
    assert len(mid.tracks) == 4
    got = _read_notes(path)
    assert [(g[2], g[4]) for g in got] == [(60, 0), (64, 1), (67, 2)]
    wheel = _channel_messages(path, "pitchwheel")
    per_channel = {c: [m.pitch for _, m in wheel if m.channel == c] for c in range(16)}
    assert per_channel[0] == [1365, 2731, 4096, 0]
    assert per_channel[1] == [-1365, -2731, 0]
    assert per_channel[2] == []
    for track in mid.tracks[1:]:
        msgs = list(track)
        channel = next(m.channel for m in msgs if m.type == "program_change")
        assert [m.name for m in msgs if m.type == "track_name"] == [f"notes, channel {channel}"]
        assert msgs[1].type == "program_change" and msgs[1].program == 4
        cc = [(m.control, m.value) for m in msgs[2:6] if m.type == "control_change"]
        assert cc == RPN
        assert all(m.time == 0 for m in msgs[:6])


def test_rpn_on_channel_zero_too(tmp_path):
    path = write_midi([Note(0.0, 1.0, 60, 80, (1,))], tmp_path / "r.mid")
    cc = [(m.channel, m.control, m.value) for _, m in _channel_messages(path, "control_change")]
    assert cc == [(0, c, v) for c, v in RPN]


def test_same_pitch_overlap_drops_bends_with_multiple_pitch_bends(tmp_path):
    notes = [Note(0.0, 1.0, 60, 80, (1, 2)), Note(0.5, 1.5, 60, 80, (3,)), Note(2, 3, 60, 80, (1,))]
    path = write_midi(notes, tmp_path / "s.mid", multiple_pitch_bends=True)
    wheel = [(t, m.pitch) for t, m in _channel_messages(path, "pitchwheel")]
    assert wheel == [(1920, 1365), (2880, 0)]


def test_more_than_fifteen_pitches_never_use_channel_nine(tmp_path):
    # 30 pitches; the first 15 (ascending) get channels 0-8 and 10-15 in order
    notes = [Note(float(i), float(i) + 0.9, 40 + i, 80, (i % 4,)) for i in range(30)]
    path = write_midi(notes, tmp_path / "many.mid", multiple_pitch_bends=True)
    got = _read_notes(path)
    channels = [g[4] for g in got]
    assert 9 not in channels
    assert channels[:15] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15]
    assert len(mido.MidiFile(path).tracks) == 1 + 15
    # nothing overlaps, so every note keeps its bends (one value and the reset each)
    assert len(_channel_messages(path, "pitchwheel")) == 2 * 30


def test_shared_channels_avoid_overlapping_bent_notes(tmp_path):
    # 15 pitches take the 15 channels (held through 0-10 s, no bends); pitch 50 (bent, 11-12 s)
    # then goes to the 1st channel, pitches 51-64 (20-21 s) to the next 14; pitch 70 (bent,
    # 11.5-12.5 s) would come round to the 1st channel again, but that one holds the other
    # bent note at the time, so it goes elsewhere and both keep their bends
    held = [Note(0.0, 10.0, 30 + i, 60) for i in range(15)]
    later = [Note(20.0, 21.0, 51 + i, 60) for i in range(14)]
    bent = [Note(11.0, 12.0, 50, 80, (1, 2)), Note(11.5, 12.5, 70, 80, (-1, -2))]
    path = write_midi(held + later + bent, tmp_path / "share.mid", multiple_pitch_bends=True)
    got = {g[2]: g[4] for g in _read_notes(path)}
    assert 9 not in got.values()
    assert got[50] == 0 and got[70] not in (0, 9)
    wheel = _channel_messages(path, "pitchwheel")
    assert sorted(m.pitch for _, m in wheel) == sorted([1365, 2731, -1365, -2731, 0, 0])


def test_chord_of_twenty_bent_notes(tmp_path):
    notes = [Note(0.0, 1.0, 50 + i, 80, (1,)) for i in range(20)]
    path = write_midi(notes, tmp_path / "chord.mid", multiple_pitch_bends=True)
    got = _read_notes(path)
    assert len(got) == 20 and 9 not in {g[4] for g in got}
    wheel = _channel_messages(path, "pitchwheel")
    # 15 channels for 20 pitches: 5 channels hold two notes at once and lose their bends
    assert len({m.channel for _, m in wheel}) == 10
    assert len(wheel) == 2 * 10


# -- pretty_midi reads the same --------------------------------------------------------------


@pytest.mark.parametrize("multiple", [False, True])
@pytest.mark.parametrize("tempo", [120.0, 97.3])
def test_pretty_midi_reads_the_same_notes(tmp_path, multiple, tempo):
    pretty_midi = pytest.importorskip("pretty_midi")
    notes = _random_notes(300, seed=7, bends=True)
    path = write_midi(notes, tmp_path / "pm.mid", tempo=tempo, multiple_pitch_bends=multiple)
    pm = pretty_midi.PrettyMIDI(str(path))
    assert {i.program for i in pm.instruments} == {4}
    assert not any(i.is_drum for i in pm.instruments)
    theirs = [(n.start, n.end, n.pitch, n.velocity) for i in pm.instruments for n in i.notes]
    for n, t in _pairs(notes, theirs):
        assert abs(t[0] - n.onset) < 1e-3 and abs(t[1] - n.offset) < 1e-3
        assert (t[2], t[3]) == (n.pitch, n.velocity)
    bends = [b for i in pm.instruments for b in i.pitch_bends]
    if multiple:
        assert bends and all(-8192 <= b.pitch <= 8191 for b in bends)


def test_path_types(tmp_path):
    p = write_midi([], os.fspath(tmp_path / "s.mid"))
    assert isinstance(p, Path) and p.exists()
