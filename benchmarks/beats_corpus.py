"""Build the corpus of the ``beats`` and ``structure`` tasks: rendered pieces with exact beats.

Every piece is composed from a seed (``[seed, 7300, index]``) in one of three meters, in turn
by index: 3/4, 4/4 and 6/8. In 6/8 the annotated beat is the dotted quarter (two beats per bar,
bar positions 1 2), as in the usual annotation conventions; ``bpm`` always counts annotated beats
(dotted quarters in 6/8). Tempi are drawn from 60-200 BPM (6/8: 60-160, dotted quarters).
One piece in three changes tempo: a step of 12-25% at a bar line (at a section boundary or in
mid-section), or a gradual accelerando/ritardando over 4-8 bars (the tempo is set every eighth
note), sometimes a final ritardando.

A piece is a form of sections (``ABA``, ``AABA``, ``ABAC``, ``ABCBA``, ..., or pop forms such as
intro-verse-chorus-verse-chorus-outro, written with letters in order of first appearance) of
4 or 8 bars each, on bar lines. A label's material is composed once and repeated exactly (same
chords, key, melody, bass and comping patterns, instruments); repeats vary only in velocities,
drum fills and crashes. Different labels differ in chord progression and melody, and often in
key, instruments or drum pattern. The parts are meter-aware (3/4 waltz comping on beats 2 and 3,
6/8 eighths grouped 3+3, 4/4 rock, four-on-the-floor, half-time and a few one-drop grooves whose
kick is not on the downbeat) and accent the metric strong positions a little. Half of the band
pieces have GM drums (channel 10, kick mostly on downbeats); the others rely on bass and
harmony. One piece in ten is solo piano, in time but with phrase-shaped, accented velocities.
Instruments come from ``notes_corpus.ROLE_PROGRAMS`` (pianos, guitars, basses, strings, organs,
pads, winds). Pitched parts are humanised by up to 5 ms; the kick is on the grid.

The MIDI is rendered with fluidsynth (FluidR3_GM) at 44.1 kHz (``quality_corpus.render``),
preceded by 0.05-0.8 s of silence, mastered (``quality_corpus.master``) and stored as 16-bit
FLAC, or for one piece in eight as MP3 (LAME V2). Lengths are 30-90 s (most 30-36 s, so that
132 pieces are about 85 minutes). The music ends on a final chord on the downbeat after the last
bar, 2.5 s before the end.

Ground truth, computed from the MIDI tempo map (``notes_corpus.TempoMap``) plus the lead-in:

* ``<name>.beats``: ``time<TAB>position`` per beat (position 1 = downbeat), like the Ballroom and
  madmom annotations; the final downbeat is included.
* ``<name>.segments``: ``start<TAB>end<TAB>label`` per section; the first starts at 0 (it takes
  the lead-in) and the last ends at the end of the file (it takes the final chord).
* ``<name>.mid`` (what was rendered, without the lead-in) and ``<name>.json`` (all choices).
* ``manifest.csv``: path, split, meter, beats_per_bar, bpm (at the start), bpm_end,
  tempo_change (none/step/gradual), drums (0/1), drum_style, style, format, duration_s,
  n_sections, labels (e.g. ``ABAC``). Paths are relative to the manifest's folder.

The split is by piece seed: the pieces whose hash ranks lowest, 40% of them and at least 50, are
``test``; the rest ``train``. A model must train on ``train`` only. Reruns are incremental: a
piece whose files all exist is kept.

``--check N`` reads back every drum piece's MIDI with mido (kick note-ons against the annotated
downbeats) and measures kick onsets in the audio of N drum pieces against the downbeats.

Usage::

    python benchmarks/beats_corpus.py --jobs 2                 # 132 pieces, ~85 min of audio
    python benchmarks/beats_corpus.py --limit 10 --check 5     # a quick look
    python benchmarks/beats_corpus.py --check 8                # (re)check an existing corpus

Needs ``fluidsynth``, the GM soundfont ``/usr/share/sounds/sf2/FluidR3_GM.sf2`` (Debian:
``apt-get install fluidsynth fluid-soundfont-gm``), ``lame`` and ``ffmpeg``, and mido, numpy,
scipy, soundfile in the Python environment.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import mido
import numpy as np
import soundfile as sf
from scipy import signal
from scipy.ndimage import uniform_filter1d

from notes_corpus import GM_NAMES, PIANOS, ROLE_PROGRAMS, TempoMap, require_render_tools
from quality_corpus import (
    DRUM_KITS,
    DRUM_NOTES,
    PROGRESSIONS,
    SCALES,
    TPB,
    Track,
    lame,
    master,
    parallel,
    render,
    setup_channel,
    unit_hash,
    write_csv,
    write_pcm16,
)

HERE = Path(__file__).resolve().parent
SR = 44100
EIGHTH = TPB // 2
STEP = TPB // 4  # drum grid step (a sixteenth)
#: the final chord sounds this long; the file ends TAIL_S after the final downbeat
TAIL_S = 2.5
LAME_ARGS = ("-V", "2")
MANIFEST_FIELDS = (
    "path",
    "split",
    "meter",
    "beats_per_bar",
    "bpm",
    "bpm_end",
    "tempo_change",
    "drums",
    "drum_style",
    "style",
    "format",
    "duration_s",
    "n_sections",
    "labels",
)


@dataclass(frozen=True)
class Meter:
    """A meter: annotated beats per bar, MIDI ticks per annotated beat, eighths per beat."""

    name: str
    beats: int
    beat_ticks: int
    subdiv: int
    signature: tuple[int, int]

    @property
    def bar_ticks(self) -> int:
        """MIDI ticks per bar."""
        return self.beats * self.beat_ticks

    @property
    def eighths(self) -> int:
        """Eighth notes per bar."""
        return self.beats * self.subdiv

    def tempo_us(self, bpm: float) -> int:
        """MIDI tempo (microseconds per quarter note) for ``bpm`` annotated beats per minute."""
        return int(round(60e6 / bpm * TPB / self.beat_ticks))

    def bpm(self, tempo_us: int) -> float:
        """Annotated beats per minute of a MIDI tempo."""
        return 60e6 * TPB / self.beat_ticks / tempo_us


METERS = (
    Meter("3/4", 3, TPB, 2, (3, 4)),
    Meter("4/4", 4, TPB, 2, (4, 4)),
    Meter("6/8", 2, 3 * EIGHTH, 3, (6, 8)),
)
BPM_RANGE = {"3/4": (60, 200), "4/4": (60, 200), "6/8": (60, 160)}

#: forms: letters, or section functions (labelled with letters in order of first appearance)
FORMS: tuple[tuple[str, ...], ...] = (
    tuple("ABA"),
    tuple("AABA"),
    tuple("ABAB"),
    tuple("ABAC"),
    tuple("ABACA"),
    tuple("ABCA"),
    tuple("ABCBA"),
    tuple("AABB"),
    tuple("ABABCB"),
    tuple("ABCAB"),
    ("intro", "verse", "chorus", "verse", "chorus", "outro"),
    ("verse", "chorus", "verse", "chorus", "bridge", "chorus"),
    ("intro", "verse", "verse", "chorus", "verse", "chorus", "outro"),
    ("intro", "chorus", "verse", "chorus"),
    ("verse", "verse", "chorus", "verse", "chorus"),
)

#: per meter: bass and comping rhythms as (eighth, length in eighths) within a bar
BASS_PATTERNS = {
    "4/4": (((0, 4), (4, 4)), ((0, 2), (2, 2), (4, 2), (6, 2)), ((0, 3), (3, 1), (4, 4))),
    "3/4": (((0, 6),), ((0, 2), (2, 2), (4, 2)), ((0, 4), (4, 2))),
    "6/8": (((0, 3), (3, 3)), ((0, 2), (2, 1), (3, 2), (5, 1)), ((0, 6),)),
}
COMP_PATTERNS = {
    "4/4": (
        ((0, 8),),
        ((0, 4), (4, 4)),
        ((0, 2), (2, 2), (4, 2), (6, 2)),
        ((0, 3), (3, 3), (6, 2)),
        ((2, 1), (6, 1)),
    ),
    "3/4": (((0, 6),), ((2, 2), (4, 2)), ((0, 2), (2, 2), (4, 2))),
    "6/8": (((0, 3), (3, 3)), ((0, 2), (2, 1), (3, 2), (5, 1)), ((0, 6),)),
}
#: per meter: melody rhythm cells for one beat, in eighths (onset, length)
BEAT_CELLS = {
    2: (((0, 2),), ((0, 1), (1, 1)), ((0, 2),), ((0, 1), (1, 1))),
    3: (((0, 3),), ((0, 2), (2, 1)), ((0, 1), (1, 1), (2, 1)), ((0, 1), (1, 2))),
}
#: drum grooves per meter: sixteenth steps of kick, snare and hats, and the hat note
DRUM_STYLES = {
    "4/4": {
        "rock": ({0, 8}, {4, 12}, set(range(0, 16, 2))),
        "rock16": ({0, 7, 8}, {4, 12}, set(range(16))),
        "four": ({0, 4, 8, 12}, {4, 12}, {2, 6, 10, 14}),
        "half": ({0, 10}, {8}, set(range(0, 16, 2))),
        "onedrop": ({8}, {8}, set(range(0, 16, 2))),
    },
    "3/4": {
        "waltz": ({0}, {4, 8}, set(range(0, 12, 2))),
        "waltz2": ({0}, {8}, set(range(0, 12, 2))),
        "jazz": ({0}, {4, 8}, {0, 4, 8}),
    },
    "6/8": {
        "68": ({0}, {6}, set(range(0, 12, 2))),
        "68b": ({0, 4}, {6}, set(range(0, 12, 2))),
        "68c": ({0, 6}, {6}, {0, 6}),
    },
}
KICK_ON_DOWNBEAT = {"rock", "rock16", "four", "half", "waltz", "waltz2", "jazz", "68", "68b", "68c"}


# --------------------------------------------------------------------------- the plan


@dataclass
class Material:
    """What one section label plays (repeated exactly wherever the label recurs)."""

    label: str
    function: str
    bars: int
    root: int
    scale: str
    chords: list[int]
    programs: dict[str, int]
    bass: tuple[tuple[int, int], ...]
    comp: tuple[tuple[int, int], ...]
    melody: list[tuple[int, int, int]] = field(default_factory=list)  # (tick, length, pitch)
    drums: str | None = None
    vel: int = 90


def pitch_of(root: int, scale: str, step: int, base: int) -> int:
    """MIDI pitch of scale ``step`` (may be negative or above 7) above ``base + root``."""
    s = SCALES[scale]
    return base + root + s[step % 7] + 12 * (step // 7)


def chord_tones(root: int, scale: str, degree: int, base: int, size: int = 3) -> list[int]:
    """Triad (or seventh) on a scale degree, near ``base``."""
    return [pitch_of(root, scale, degree + 2 * k, base) for k in range(size)]


def make_melody(
    rng: np.random.Generator, meter: Meter, mat: Material, low: int
) -> list[tuple[int, int, int]]:
    """A two-bar rhythm repeated over the section, with chord tones on the beats."""
    rhythm = []
    for b in range(2):
        for beat in range(meter.beats):
            cells = BEAT_CELLS[meter.subdiv]
            for on, ln in cells[int(rng.integers(len(cells)))]:
                rhythm.append((b * meter.eighths + beat * meter.subdiv + on, ln))
    notes, step = [], int(rng.integers(2, 7))
    for start in range(0, mat.bars, 2):
        for on, ln in rhythm:
            bar = start + on // meter.eighths
            if bar >= mat.bars:
                break
            if bar == mat.bars - 1 and on % meter.eighths:
                continue  # the section's last bar: one long note
            if rng.random() < 0.12 and on % meter.subdiv:
                continue
            deg = mat.chords[bar]
            if on % meter.subdiv == 0:  # on a beat: the nearest chord tone
                options = [deg + 2 * k + 7 * o for k in range(3) for o in (-1, 0, 1)]
                step = min(options, key=lambda s: abs(s - step) + 0.1 * rng.random())
            else:
                step += int(rng.choice([-2, -1, -1, 1, 1, 2]))
            step = int(np.clip(step, -3, 11))
            length = meter.eighths if bar == mat.bars - 1 else ln
            notes.append((on * EIGHTH + start * meter.bar_ticks, length * EIGHTH, step))
    return [(t, d, pitch_of(mat.root, mat.scale, s, low)) for t, d, s in notes]


def plan_materials(
    rng: np.random.Generator, meter: Meter, form: Sequence[str], style: str, drums: bool
) -> tuple[list[str], dict[str, Material]]:
    """Labels of the form's sections and the material of each label."""
    letters: dict[str, str] = {}
    for f in form:
        letters.setdefault(f, "ABCDEFG"[len(letters)])
    labels = [letters[f] for f in form]
    song_root = int(rng.integers(0, 12))
    song_scale = str(rng.choice(["major", "major", "minor", "dorian", "mixolydian"]))
    base = {r: int(rng.choice(p)) for r, p in ROLE_PROGRAMS.items()}
    if style == "solo piano":
        base = dict.fromkeys(("bass", "chords", "melody"), int(rng.choice(PIANOS)))
    progs = list(rng.permutation(len(PROGRESSIONS)))
    styles = list(DRUM_STYLES[meter.name])
    main_groove = str(rng.choice([s for s in styles if s != "onedrop"]))
    if meter.name == "4/4" and rng.random() < 0.15:
        main_groove = "onedrop"
    mats = {}
    for i, (f, letter) in enumerate(letters.items()):
        short = f in ("intro", "outro")
        bars = 4 if short or rng.random() < 0.5 else 8
        root, scale = song_root, song_scale
        if i and rng.random() < 0.35:
            root = (song_root + int(rng.choice([2, 5, 7, -2, 3, -3]))) % 12
        if i and rng.random() < 0.2:
            scale = "minor" if scale != "minor" else "major"
        prog = PROGRESSIONS[int(progs[i % len(progs)])]
        chords = [prog[b % len(prog)] for b in range(bars)]
        if bars == 8 and rng.random() < 0.5:
            chords[-1] = 4
        if style == "solo piano":
            programs = dict(base)
            if i and rng.random() < 0.3:
                programs = dict.fromkeys(base, int(rng.choice(PIANOS)))
        else:
            roles = ["bass", "chords"]
            if not short or rng.random() < 0.5:
                roles.append("melody")
            roles += [
                str(r) for r in rng.choice(["pad", "arp", "counter"], int(rng.integers(0, 3)))
            ]
            programs = {}
            for r in dict.fromkeys(roles):
                same = i == 0 or rng.random() < 0.6
                programs[r] = base[r] if same else int(rng.choice(ROLE_PROGRAMS[r]))
        groove = None
        if drums and not (short and rng.random() < 0.5):
            groove = main_groove if rng.random() < 0.7 else str(rng.choice(styles))
            if groove == "onedrop" and main_groove != "onedrop":
                groove = main_groove
        mat = Material(
            label=letter,
            function=f if len(f) > 1 else "",
            bars=bars,
            root=root,
            scale=scale,
            chords=chords,
            programs=programs,
            bass=BASS_PATTERNS[meter.name][int(rng.integers(len(BASS_PATTERNS[meter.name])))],
            comp=COMP_PATTERNS[meter.name][int(rng.integers(len(COMP_PATTERNS[meter.name])))],
            drums=groove,
            vel=int(rng.integers(70, 106)),
        )
        if "melody" in programs or style == "solo piano":
            mat.melody = make_melody(rng, meter, mat, 67 if style == "solo piano" else 72)
        mats[letter] = mat
    return labels, mats


def tempo_events(
    meter: Meter, bpm: float, change: dict, starts: list[int], n_bars: int
) -> list[tuple[int, int]]:
    """MIDI tempo changes (tick, microseconds per quarter) of a piece, from ``(0, start)``."""
    events = [(0, meter.tempo_us(bpm))]
    if change["kind"] == "step":
        inner = starts[1:]
        if change["at_boundary"] and inner:
            bar = inner[int(change["u"] * len(inner))]
        else:
            bar = 2 + int(change["u"] * max(1, n_bars - 4))
        events.append((bar * meter.bar_ticks, meter.tempo_us(change["bpm_end"])))
    elif change["kind"] == "gradual":
        length = change["bars"]
        if change["final"]:
            first = max(2, n_bars - length)
        else:
            first = 2 + int(change["u"] * max(1, n_bars - length - 3))
        n = (min(n_bars, first + length) - first) * meter.eighths
        for k in range(n):
            b = bpm + (change["bpm_end"] - bpm) * (k + 1) / n
            events.append(((first * meter.eighths + k) * EIGHTH, meter.tempo_us(b)))
    return events


def draw_change(rng: np.random.Generator, bpm: float, index: int) -> dict:
    """Tempo change of piece ``index``: none for 2 pieces in 3, else a step or a ramp."""
    u = unit_hash("tempo", index)
    if u < 2 / 3:
        return {"kind": "none", "bpm_end": bpm}
    factor = float(rng.uniform(1.12, 1.25))
    if bpm * factor > 200 or (rng.random() < 0.5 and bpm / factor >= 60):
        factor = 1 / factor
    end = round(bpm * factor, 1)
    if u < 5 / 6:
        return {
            "kind": "step",
            "bpm_end": end,
            "at_boundary": bool(rng.random() < 0.6),
            "u": rng.random(),
        }
    final = bool(rng.random() < 0.3)
    if final:
        end = round(bpm * float(rng.uniform(0.7, 0.85)), 1)
    bars = int(rng.integers(2, 5)) if final else int(rng.integers(4, 9))
    return {"kind": "gradual", "bpm_end": end, "final": final, "bars": bars, "u": rng.random()}


@dataclass
class Piece:
    """Everything drawn for one piece."""

    index: int
    name: str
    meter: Meter
    bpm: float
    style: str
    drums: bool
    kit: int | None
    fmt: str
    lead_s: float
    change: dict
    labels: list[str]
    mats: dict[str, Material]
    starts: list[int]  # first bar of each section
    n_bars: int
    events: list[tuple[int, int]]
    seconds: float
    rng: np.random.Generator


def plan_piece(index: int, seed: int, *, bpm_range: tuple[int, int] | None = None) -> Piece:
    """Draw piece ``index``: meter, tempo, form, materials, tempo map and length.

    ``bpm_range`` (lowest, highest) replaces the meter's :data:`BPM_RANGE` for the first tempo
    (a tempo change may still leave it); every other draw is the same."""
    rng = np.random.default_rng([seed, 7300, index])
    meter = METERS[index % 3]
    lo, hi = bpm_range or BPM_RANGE[meter.name]
    bpm = float(rng.integers(lo, hi + 1))
    style = "solo piano" if index % 10 == 7 else "band"
    drums = style == "band" and (index // 3) % 2 == 0
    kit = int(rng.choice(DRUM_KITS)) if drums else None
    fmt = "mp3" if index % 8 == 5 else "flac"
    lead = round(float(rng.uniform(0.05, 0.8)), 3)
    u = rng.random()
    target = (
        rng.uniform(30, 36) if u < 0.8 else rng.uniform(36, 60) if u < 0.93 else rng.uniform(60, 90)
    )
    change = draw_change(rng, bpm, index)
    best = None
    for _ in range(40):
        form = FORMS[int(rng.integers(len(FORMS)))]
        labels, mats = plan_materials(rng, meter, form, style, drums)
        starts = [0]
        for lab in labels:
            starts.append(starts[-1] + mats[lab].bars)
        n_bars = starts.pop()
        events = tempo_events(meter, bpm, change, starts, n_bars)
        tm = TempoMap(events, TPB)
        seconds = lead + tm.seconds(n_bars * meter.bar_ticks) + TAIL_S
        score = abs(seconds - target) + (1000 if not 30 <= seconds <= 90 else 0)
        if best is None or score < best[0]:
            best = (score, labels, mats, starts, n_bars, events, seconds)
    _, labels, mats, starts, n_bars, events, seconds = best
    return Piece(
        index=index,
        name=f"beats_{index:03d}",
        meter=meter,
        bpm=bpm,
        style=style,
        drums=drums,
        kit=kit,
        fmt=fmt,
        lead_s=lead,
        change=change,
        labels=labels,
        mats=mats,
        starts=starts,
        n_bars=n_bars,
        events=events,
        seconds=round(seconds, 3),
        rng=rng,
    )


# --------------------------------------------------------------------------- composing


def accent(meter: Meter, eighth: int) -> int:
    """Velocity offset of a position in the bar: downbeat > other beats > off-beats."""
    if eighth == 0:
        return 8
    return 3 if eighth % meter.subdiv == 0 else -4


def hum(rng: np.random.Generator, tick: int, p: Piece, ms: float = 5.0) -> int:
    """Shift a tick by up to ``ms`` milliseconds of timing jitter (at the starting tempo)."""
    ticks_per_ms = p.meter.beat_ticks * p.bpm / 60000.0
    return tick + int(round(rng.uniform(-ms, ms) * ticks_per_ms))


def play_section(
    tracks: dict[str, Track], p: Piece, mat: Material, bar0: int, rng: np.random.Generator
) -> None:
    """Write one occurrence of a section starting at bar ``bar0`` into the tracks."""
    m = p.meter
    t0 = bar0 * m.bar_ticks
    jitter = int(rng.integers(-6, 7))  # this occurrence's overall level
    solo = p.style == "solo piano"
    for role, program in mat.programs.items():
        tracks[role].add(
            t0, mido.Message("program_change", channel=tracks[role].channel, program=program), 0
        )
    for b in range(mat.bars):
        deg = mat.chords[b]
        bar_t = t0 + b * m.bar_ticks
        phrase = int(14 * math.sin(math.pi * (b + 0.5) / mat.bars)) if solo else 0
        vel = mat.vel + jitter + phrase
        if "bass" in mat.programs:
            root = chord_tones(mat.root, mat.scale, deg, 36)[0]
            for k, (on, ln) in enumerate(mat.bass):
                pitch = root + (7 if k % 2 and rng.random() < 0.3 else 0)
                v = vel + accent(m, on) + int(rng.integers(-4, 5))
                tracks["bass"].note(hum(rng, bar_t + on * EIGHTH, p), ln * EIGHTH - 20, pitch, v)
        if "chords" in mat.programs:
            tones = chord_tones(mat.root, mat.scale, deg, 55 if solo else 60)
            for on, ln in mat.comp:
                v = vel - 12 + accent(m, on) + int(rng.integers(-4, 5))
                for pitch in tones:
                    tracks["chords"].note(
                        hum(rng, bar_t + on * EIGHTH, p), ln * EIGHTH - 20, pitch, v
                    )
        if "pad" in mat.programs:
            for pitch in chord_tones(mat.root, mat.scale, deg, 48, 4):
                tracks["pad"].note(bar_t, m.bar_ticks - 10, pitch, vel - 25)
        if "arp" in mat.programs:
            tones = chord_tones(mat.root, mat.scale, deg, 67, 4)
            order = (0, 1, 2, 1, 2, 1) if m.subdiv == 3 else (0, 2, 1, 3, 2, 1, 3, 2)
            for e in range(m.eighths):
                v = vel - 15 + accent(m, e) + int(rng.integers(-4, 5))
                pitch = tones[order[e % len(order)]]
                tracks["arp"].note(hum(rng, bar_t + e * EIGHTH, p), EIGHTH - 20, pitch, v)
        if "counter" in mat.programs:
            tones = chord_tones(mat.root, mat.scale, deg, 55)
            for beat in range(m.beats):
                v = vel - 18 + accent(m, beat * m.subdiv)
                pitch = tones[(beat + b) % 3]
                tracks["counter"].note(bar_t + beat * m.beat_ticks, m.beat_ticks - 30, pitch, v)
    if mat.melody:
        track = tracks["melody"]
        for tick, length, pitch in mat.melody:
            e = (tick % m.bar_ticks) // EIGHTH
            b = tick // m.bar_ticks
            phrase = int(14 * math.sin(math.pi * (b + 0.5) / mat.bars)) if solo else 0
            v = mat.vel + jitter + phrase + 6 + accent(m, e) + int(rng.integers(-5, 6))
            track.note(hum(rng, t0 + tick, p), length - 15, pitch, v)
    if mat.drums:
        play_drums(tracks["drums"], p, mat, t0, rng)


def play_drums(t: Track, p: Piece, mat: Material, t0: int, rng: np.random.Generator) -> None:
    """One occurrence of a section's groove, with a crash and a fill now and then."""
    m = p.meter
    kick, snare, hats = DRUM_STYLES[m.name][str(mat.drums)]
    steps = m.bar_ticks // STEP
    per_beat = steps // m.beats
    hat = DRUM_NOTES["ride"] if mat.label in "BD" and rng.random() < 0.5 else DRUM_NOTES["hat"]
    snare_note = 37 if mat.drums == "onedrop" else DRUM_NOTES["snare"]
    crash = rng.random() < 0.7
    fill = rng.random() < 0.5
    base = mat.vel + int(rng.integers(-6, 7))
    for b in range(mat.bars):
        bar_t = t0 + b * m.bar_ticks
        in_fill = fill and b == mat.bars - 1
        for s in range(steps):
            tick = bar_t + s * STEP
            strong = 10 if s == 0 else 4 if s % per_beat == 0 else 0
            v = base + strong + int(rng.integers(-6, 5))
            if s in kick:
                t.note(tick, STEP, DRUM_NOTES["kick"], v + 12)
            if in_fill and s >= steps - per_beat:
                tom = ("tom_hi", "tom_mid", "tom_lo")[
                    min(2, (s - steps + per_beat) * 3 // per_beat)
                ]
                t.note(hum(rng, tick, p, 3), STEP, DRUM_NOTES[tom], v)
            elif s in snare:
                t.note(hum(rng, tick, p, 3), STEP, snare_note, v + 4)
            if s in hats:
                t.note(hum(rng, tick, p, 3), STEP, hat, v - 18 + strong)
        if b == 0 and crash:
            t.note(bar_t, 4 * STEP, DRUM_NOTES["crash"], base + 8)


def compose_piece(p: Piece) -> mido.MidiFile:
    """The piece as a type-1 MIDI file (tempo map, sections, final chord)."""
    rng = p.rng
    m = p.meter
    mid = mido.MidiFile(type=1, ticks_per_beat=TPB)
    end_tick = p.n_bars * m.bar_ticks
    tm = TempoMap(p.events, TPB)
    meta = mido.MidiTrack()
    num, den = m.signature
    meta.append(mido.MetaMessage("time_signature", numerator=num, denominator=den))
    last = 0
    for tick, tempo in p.events:
        meta.append(mido.MetaMessage("set_tempo", tempo=tempo, time=tick - last))
        last = tick
    file_end = end_tick + int(round((TAIL_S - 0.01) * TPB * 1e6 / p.events[-1][1]))
    meta.append(mido.MetaMessage("end_of_track", time=file_end - last))
    mid.tracks.append(meta)
    roles = ["bass", "chords", "melody", "pad", "arp", "counter"]
    tracks = {r: Track(ch) for ch, r in enumerate(roles)}
    for r, t in tracks.items():
        pan = int(rng.integers(54, 75)) if r == "bass" else int(rng.integers(20, 108))
        setup_channel(t, rng, None, pan)
    if p.drums:
        tracks["drums"] = Track(9)
        setup_channel(tracks["drums"], rng, p.kit, int(rng.integers(54, 75)))
    for lab, bar0 in zip(p.labels, p.starts):
        play_section(tracks, p, p.mats[lab], bar0, rng)
    # the final chord on the downbeat after the last bar
    last_mat = p.mats[p.labels[-1]]
    hold = int(round(1.8 * TPB * 1e6 / p.events[-1][1]))
    tonic = chord_tones(last_mat.root, last_mat.scale, 0, 60)
    for role, base, pitches in (("bass", 36, None), ("chords", 60, tonic)):
        for pitch in pitches or [chord_tones(last_mat.root, last_mat.scale, 0, base)[0]]:
            tracks[role].note(end_tick, hold, pitch, last_mat.vel)
    if p.drums:
        tracks["drums"].note(end_tick, STEP, DRUM_NOTES["kick"], 110)
        tracks["drums"].note(end_tick, 4 * STEP, DRUM_NOTES["crash"], 100)
    for t in tracks.values():
        if any(e[2].type == "note_on" for e in t.events):
            mid.tracks.append(t.to_midi_track())
    assert tm.seconds(end_tick) > 0
    return mid


def truth(p: Piece) -> tuple[list[tuple[float, int]], list[tuple[float, float, str]]]:
    """Beats (time, bar position) and segments (start, end, label) of a piece, in seconds."""
    m = p.meter
    tm = TempoMap(p.events, TPB)
    beats = [
        (p.lead_s + tm.seconds(k * m.beat_ticks), k % m.beats + 1)
        for k in range(p.n_bars * m.beats + 1)
    ]
    bounds = [p.lead_s + tm.seconds(b * m.bar_ticks) for b in p.starts]
    bounds[0] = 0.0
    bounds.append(p.seconds)
    segs = [(bounds[i], bounds[i + 1], lab) for i, lab in enumerate(p.labels)]
    return beats, segs


# --------------------------------------------------------------------------- one piece


def piece_files(out: Path, p: Piece) -> dict[str, Path]:
    """Paths of a piece's files by kind."""
    stem = out / p.name
    kinds = ("beats", "segments", "mid", "json")
    return {"audio": stem.with_suffix(f".{p.fmt}")} | {k: stem.with_suffix(f".{k}") for k in kinds}


def write_text(path: Path, text: str) -> None:
    """Write a text file through a temporary name."""
    tmp = path.with_name(f".part-{path.name}")
    tmp.write_text(text)
    tmp.replace(path)


def write_audio(path: Path, y: np.ndarray, tmp: Path) -> None:
    """Store 16-bit samples ``(n, 2)`` as FLAC, or as MP3 (LAME V2) when ``path`` ends so."""
    if path.suffix == ".flac":
        write_pcm16(path, y, SR)
    else:
        wav = tmp / "master.wav"
        sf.write(wav, y, SR, subtype="PCM_16")
        lame(wav, path, LAME_ARGS)


def write_truth(
    files: dict[str, Path], beats: list[tuple[float, int]], segs: list[tuple[float, float, str]]
) -> None:
    """Write the ``.beats`` (time, bar position) and ``.segments`` (start, end, label) files."""
    write_text(files["beats"], "".join(f"{t:.6f}\t{pos}\n" for t, pos in beats))
    write_text(files["segments"], "".join(f"{a:.6f}\t{b:.6f}\t{lab}\n" for a, b, lab in segs))


def make_piece(out: Path, index: int, seed: int) -> None:
    """Compose, render, master and annotate piece ``index`` (unless all its files exist)."""
    p = plan_piece(index, seed)
    files = piece_files(out, p)
    if all(f.exists() for f in files.values()):
        return
    mid = compose_piece(p)
    beats, segs = truth(p)
    with tempfile.TemporaryDirectory(prefix="bc-") as tmp_name:
        tmp = Path(tmp_name)
        x = render(mid, SR, tmp)
        lead = int(round(p.lead_s * SR))
        n = int(round(p.seconds * SR))
        x = np.concatenate([np.zeros((lead, x.shape[1])), x])[:n]
        if len(x) < n:
            x = np.concatenate([x, np.zeros((n - len(x), x.shape[1]))])
        y, master_note = master(x, SR, p.seconds, p.rng)
        write_audio(files["audio"], y, tmp)
    tmp_mid = files["mid"].with_name(f".part-{files['mid'].name}")
    mid.save(str(tmp_mid))
    tmp_mid.replace(files["mid"])
    write_truth(files, beats, segs)
    info = {
        "index": index,
        "seed": [seed, 7300, index],
        "meter": p.meter.name,
        "beats_per_bar": p.meter.beats,
        "bpm": p.bpm,
        "tempo_change": {k: v for k, v in p.change.items() if k != "u"},
        "tempo_map": [[tick, tempo] for tick, tempo in p.events],
        "ticks_per_beat_annotated": p.meter.beat_ticks,
        "lead_in_s": p.lead_s,
        "style": p.style,
        "drum_kit": p.kit,
        "format": p.fmt,
        "bars": p.n_bars,
        "labels": "".join(p.labels),
        "sections": [
            {
                "label": m.label,
                "function": m.function,
                "bars": m.bars,
                "root": m.root,
                "scale": m.scale,
                "chords": m.chords,
                "instruments": {r: GM_NAMES.get(pr, str(pr)) for r, pr in m.programs.items()},
                "drums": m.drums,
            }
            for m in p.mats.values()
        ],
        "master": master_note,
        "duration_s": p.seconds,
    }
    write_text(files["json"], json.dumps(info, indent=1) + "\n")


# --------------------------------------------------------------------------- manifest


def splits(n: int, seed: int) -> dict[int, str]:
    """test for the 40% (at least 50) of pieces whose seed hashes lowest, train for the rest."""
    order = sorted(range(n), key=lambda i: unit_hash(seed, "split", i))
    n_test = min(n, max(50, round(0.4 * n)))
    return {i: "test" if r < n_test else "train" for r, i in enumerate(order)}


def base_row(audio: Path, split: str, p: Piece) -> dict[str, object]:
    """The first manifest columns of a piece: path, split, meter, beats_per_bar, bpm."""
    return {
        "path": audio.name,
        "split": split,
        "meter": p.meter.name,
        "beats_per_bar": p.meter.beats,
        "bpm": p.bpm,
    }


def manifest_row(out: Path, index: int, seed: int, split: str) -> dict[str, object] | None:
    """Manifest row of an existing piece (None when a file is missing)."""
    p = plan_piece(index, seed)
    files = piece_files(out, p)
    if not all(f.exists() for f in files.values()):
        return None
    info = json.loads(files["json"].read_text())
    grooves = sorted({s["drums"] for s in info["sections"] if s["drums"]})
    return base_row(files["audio"], split, p) | {
        "bpm_end": p.change["bpm_end"],
        "tempo_change": p.change["kind"],
        "drums": int(p.drums),
        "drum_style": "+".join(grooves),
        "style": p.style,
        "format": p.fmt,
        "duration_s": info["duration_s"],
        "n_sections": len(p.labels),
        "labels": "".join(p.labels),
    }


# --------------------------------------------------------------------------- checks


def read_beats(path: Path) -> np.ndarray:
    """(time, position) rows of a ``.beats`` file."""
    return np.loadtxt(path, comments="#", ndmin=2)


def midi_kicks(path: Path) -> np.ndarray:
    """Times (s) of the kick note-ons in a MIDI file, read with mido's own tempo handling."""
    t, out = 0.0, []
    for msg in mido.MidiFile(str(path)):
        t += msg.time
        if msg.type == "note_on" and msg.velocity and msg.channel == 9 and msg.note == 36:
            out.append(t)
    return np.array(out)


def kick_onsets(x: np.ndarray, sr: int, times: np.ndarray) -> np.ndarray:
    """Onset time of the low-band (30-160 Hz) energy rise nearest each time in ``times``.

    The band is filtered forward and backward (no delay), its energy smoothed over 1 ms; the
    onset is where the energy first reaches 5% of its rise from the minimum in the 30 ms before
    the time to the maximum in the 60 ms after it.
    """
    sos = signal.butter(4, [30, 160], btype="bandpass", fs=sr, output="sos")
    e = uniform_filter1d(signal.sosfiltfilt(sos, x) ** 2, int(0.001 * sr))
    out = []
    for t in times:
        i = int(t * sr)
        a, b = max(0, i - int(0.03 * sr)), min(len(e), i + int(0.06 * sr))
        lo_i = a + int(np.argmin(e[a:i])) if i > a else a
        hi = float(e[i:b].max()) if b > i else 0.0
        lo = float(e[lo_i])
        above = np.flatnonzero(e[lo_i:b] >= lo + 0.05 * (hi - lo))
        out.append((lo_i + above[0]) / sr if above.size and hi > 4 * lo else np.nan)
    return np.array(out)


def check(out: Path, rows: list[dict[str, object]], n_audio: int) -> None:
    """MIDI read-back for every drum piece; kick onsets in the audio of ``n_audio`` of them."""
    kick_rows = [
        r
        for r in rows
        if int(r["drums"])
        and str(r["drum_style"])
        and set(str(r["drum_style"]).split("+")) <= KICK_ON_DOWNBEAT
    ]
    worst, n_ok = 0.0, 0
    for r in kick_rows:
        stem = out / Path(str(r["path"])).stem
        beats = read_beats(stem.with_suffix(".beats"))
        info = json.loads(stem.with_suffix(".json").read_text())
        down = beats[beats[:, 1] == 1, 0] - info["lead_in_s"]
        kicks = midi_kicks(stem.with_suffix(".mid"))
        err = np.abs(kicks[:, None] - down[None, :]).min(axis=0)
        # sections without drums (intros) have no kick: compare where a kick is near
        hit = err < 0.05
        worst = max(worst, float(err[hit].max()) if hit.any() else 0.0)
        n_ok += hit.mean() > 0.5
    print(
        f"MIDI read back with mido: {n_ok}/{len(kick_rows)} drum pieces have kicks on most "
        f"annotated downbeats; largest kick-downbeat gap {worst * 1000:.3f} ms"
    )
    picked = [r for r in kick_rows if r["tempo_change"] != "none"][: n_audio // 2]
    picked += [r for r in kick_rows if r not in picked][: n_audio - len(picked)]
    all_err = []
    print(f"\nkick onsets in the audio against annotated downbeats ({len(picked)} pieces)")
    print(
        f"{'piece':<18}{'meter':>6}{'bpm':>7}{'change':>9}{'n':>5}{'median ms':>11}"
        f"{'p95 |ms|':>10}{'<=10 ms':>9}"
    )
    for r in picked:
        stem = out / Path(str(r["path"])).stem
        beats = read_beats(stem.with_suffix(".beats"))
        info = json.loads(stem.with_suffix(".json").read_text())
        down = beats[beats[:, 1] == 1, 0]
        kicks = midi_kicks(stem.with_suffix(".mid")) + info["lead_in_s"]
        down = down[np.abs(kicks[:, None] - down[None, :]).min(axis=0) < 1e-3]
        x, sr = sf.read(str(out / str(r["path"])), always_2d=True, dtype="float64")
        on = kick_onsets(x.mean(axis=1), sr, down)
        d = (on - down)[np.isfinite(on)] * 1000
        all_err.append(d)
        print(
            f"{r['path']:<18}{r['meter']:>6}{r['bpm']:>7}{r['tempo_change']:>9}{len(d):>5}"
            f"{np.median(d):>11.1f}{np.percentile(np.abs(d), 95):>10.1f}"
            f"{np.mean(np.abs(d) <= 10):>9.0%}"
        )
    if all_err:
        d = np.concatenate(all_err)
        print(
            f"all: {len(d)} downbeats, median {np.median(d):.1f} ms, "
            f"p95 |offset| {np.percentile(np.abs(d), 95):.1f} ms, "
            f"within 10 ms {np.mean(np.abs(d) <= 10):.1%}"
        )


def summary(rows: list[dict[str, object]]) -> None:
    """Print counts per split, meter, tempo band, tempo change, drums, format."""
    for key in ("split", "meter", "tempo_change", "drums", "style", "format"):
        c = Counter(str(r[key]) for r in rows)
        print(f"{key:>13}: " + ", ".join(f"{k} {v}" for k, v in sorted(c.items())))
    bands = Counter(
        f"{int(float(r['bpm']) // 20 * 20)}-{int(float(r['bpm']) // 20 * 20 + 19)}" for r in rows
    )
    print(
        "    bpm bands: "
        + ", ".join(
            f"{k} {v}" for k, v in sorted(bands.items(), key=lambda kv: int(kv[0].split("-")[0]))
        )
    )
    for split in ("train", "test"):
        sel = [r for r in rows if r["split"] == split]
        if sel:
            meters = Counter(str(r["meter"]) for r in sel)
            mins = sum(float(r["duration_s"]) for r in sel) / 60
            print(
                f"{split:>13}: {len(sel)} pieces, {mins:.1f} min, "
                + ", ".join(f"{k} {v}" for k, v in sorted(meters.items()))
            )
    sections = [int(r["n_sections"]) for r in rows]
    print(f"     sections: {min(sections)}-{max(sections)} per piece, mean {np.mean(sections):.1f}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=HERE / "_corpus_beats")
    ap.add_argument(
        "--n", type=int, default=132, help="number of pieces (at least 130 for 50 test)"
    )
    ap.add_argument("--limit", type=int, default=None, help="make only the first N pieces")
    ap.add_argument("--jobs", type=int, default=2, help="pieces rendered at once")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--check", type=int, default=0, metavar="N", help="check kick onsets of N pieces"
    )
    args = ap.parse_args(argv)
    require_render_tools()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    n_make = min(args.n, args.limit) if args.limit else args.n
    t0 = time.monotonic()
    parallel(lambda i: make_piece(out, i, args.seed), range(n_make), args.jobs, "pieces")
    split = splits(args.n, args.seed)
    rows = [
        r for i in range(args.n) if (r := manifest_row(out, i, args.seed, split[i])) is not None
    ]
    write_csv(out / "manifest.csv", rows, MANIFEST_FIELDS)
    minutes = sum(float(r["duration_s"]) for r in rows) / 60
    size = sum((out / str(r["path"])).stat().st_size for r in rows) / 1e6
    print(
        f"{len(rows)} pieces, {minutes:.1f} min of audio, {size:.0f} MB, in "
        f"{time.monotonic() - t0:.0f} s -> {os.path.relpath(out / 'manifest.csv')}"
    )
    if rows:
        summary(rows)
    if args.check and rows:
        print()
        check(out, rows, args.check)
    return 0 if len(rows) == n_make else 1


if __name__ == "__main__":
    raise SystemExit(main())
