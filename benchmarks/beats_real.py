"""Beats material that sounds like records: the ``beats_corpus.py`` pieces, played by people.

``beats_corpus.py`` renders every piece with FluidR3_GM, on the grid (5 ms of jitter), with GM
drums, and masters it lightly; a network trained on that alone hears real recordings badly
(acoustic guitar comping with no drums: no beats at all). This builder composes pieces with the
same composer (``beats_corpus.plan_piece`` / ``compose_piece``, other seeds, so other pieces)
and then changes how they are played and recorded:

* **Flavours** (by index, in turn of ten): four in ten are *comping without drums*: strummed
  guitar (down-strokes on the beats, up-strokes between, the strings 6-20 ms apart, in eighth
  strumming patterns, some syncopated), picked guitar (arpeggios) or piano comping, half with the
  guitarist's thumb or the left hand on the bass notes, some with a bass guitar or
  a melody; four in ten are a band with *real recorded drums* (the ``hydrogen-drumkits``
  samples, multi-velocity layers, played by ``_real_material.drum_track`` from the piece's own
  groove); one in ten a band with GM drums; one in ten a band with no drums at all.
* **Instrument sets**: FluidR3_GM, MuseScore_General and TimGM6mb in turn (Debian
  ``fluid-soundfont-gm``, ``musescore-general-soundfont``, ``timgm6mb-soundfont``).
* **Playing**: every onset is moved by a player's timing error (normal, 4-12 ms deviation,
  clipped at 10-25 ms; a chord's notes move together), one piece in four (3/4 and 4/4) is
  swung or shuffled (off-beat eighths at 58-68% of the beat), dynamics follow a slow
  per-bar curve (+-25%), and the tempo drifts expressively (a smooth curve of +-2-6% on top of
  the composer's steps and ramps, set every eighth note).
* **Pickups**: two pieces in five start in mid-bar, 0-30% of a beat before a beat that is not
  a downbeat: the music is already playing when the file starts, before the first downbeat.
* **Recording**: ``_real_material.master_chain`` (room reverb from a synthetic decaying-noise
  impulse response, bus compression, EQ shelf, limiter or level, 16-bit); half the pieces also
  get an audible noise floor (white, pink or mains hum, 30-60 dB under the music) and one in
  three a low-shelf tilt (+-6 dB under 80-250 Hz).
* Time-stretch and pitch-shift augmentation are had exactly by composition (every piece has
  its own tempo, 60-200 BPM, and key); ``train_beats.py --augment`` also stretches crops.

Ground truth is exact, as in ``beats_corpus.py``: ``<name>.beats`` (time, bar position) and
``<name>.segments`` from the tempo map (after the drift), shifted by the lead-in or the pickup
cut; ``<name>.json`` records all choices. Kits are split by ``_real_material.kit_split``: a
``--split test`` corpus uses only the held-out kits. ``manifest.csv``: path, split, meter,
beats_per_bar, bpm, flavour, soundfont, kit, swing, drift, pickup, format, duration_s.

``--slow`` (session 19) makes only slow grooves: a first tempo of 56-88 BPM, drums (real kits
three times in four, GM once) whose hi-hats play eighths or sixteenths, counted at the slow
beat as listeners count a ballad's backbeat. Fine-tuned on fast produced music alone, a
network comes to hear such hats as the beat (a 70 BPM rock groove read at 140).

Usage::

    python benchmarks/beats_real.py --seed 101 --n 150 --out benchmarks/_corpus_beats_real101
    python benchmarks/beats_real.py --seed 606 --n 120 --slow --out benchmarks/_corpus_beats_slow606
    python benchmarks/beats_real.py --seed 900 --n 36 --split test \\
        --out benchmarks/_corpus_beats_realtest           # held out: never trained on

Needs what ``beats_corpus.py`` needs, plus ``hydrogen-drumkits``,
``musescore-general-soundfont`` and ``timgm6mb-soundfont``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import mido
import numpy as np
from scipy import signal

from _real_material import _noise_floor, drum_track, kit_for, master_chain
from beats_corpus import (
    DRUM_STYLES,
    EIGHTH,
    SR,
    TAIL_S,
    Piece,
    base_row,
    compose_piece,
    plan_piece,
    truth,
    write_audio,
    write_text,
    write_truth,
)
from beats_corpus import MANIFEST_FIELDS as BASE_FIELDS
from notes_corpus import PIANOS, TempoMap, require_render_tools
from quality_corpus import TPB, parallel, render, write_csv

HERE = Path(__file__).resolve().parent
SOUNDFONTS = (
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/sounds/sf3/MuseScore_General.sf3"),
    Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),
)
FLAVOURS = ("strum", "picked", "piano", "strum", "drums", "drums", "drums", "drums", "gm", "band")
GUITARS = (24, 25, 25, 26, 27)
BASSES = (32, 33, 34, 35)
#: strumming patterns per meter: (eighth, length in eighths) within a bar
STRUMS = {
    "4/4": (
        ((0, 2), (2, 1), (3, 1), (5, 1), (6, 1), (7, 1)),
        tuple((e, 1) for e in range(8)),
        ((0, 2), (2, 1), (3, 1), (4, 2), (6, 1), (7, 1)),
        ((0, 3), (3, 3), (6, 2)),
        ((0, 2), (2, 2), (4, 2), (6, 2)),
        ((0, 2), (3, 2), (6, 2)),  # 3+3+2: 1, 2-and, 4
        ((0, 1), (3, 1), (4, 1), (6, 1), (7, 1)),  # bossa-like, chords off the beat
    ),
    "3/4": (
        ((0, 2), (2, 1), (3, 1), (4, 1), (5, 1)),
        tuple((e, 1) for e in range(6)),
        ((0, 2), (2, 2), (4, 2)),
    ),
    "6/8": (
        tuple((e, 1) for e in range(6)),
        ((0, 2), (2, 1), (3, 2), (5, 1)),
        ((0, 3), (3, 3)),
    ),
}
#: syncopated comping per meter (``--syncopated-only``): chord stabs mostly off the beats, where
#: real bossa nova, ska, funk and jazz comping put them (accented there by :func:`perform`),
#: over a thumb or left-hand bass on the beats
SYNCO = {
    "4/4": (
        ((1, 1), (3, 1), (5, 1), (7, 1)),  # every "and" (ska, reggae's skank doubled)
        ((0, 1), (3, 1), (6, 1)),  # 3+3+2 (tresillo)
        ((0, 1), (3, 2), (6, 1), (7, 1)),  # bossa-like: a bar of the two-bar pattern
        ((1, 1), (3, 2), (6, 1)),  # bossa's other bar
        ((0, 1), (3, 1)),  # Charleston
        ((1, 1), (2, 1), (5, 1), (7, 1)),  # funk stabs
    ),
    "3/4": (((1, 1), (3, 1), (5, 1)), ((0, 1), (3, 1), (5, 1)), ((1, 1), (2, 1), (5, 1))),
    "6/8": (((1, 1), (2, 1), (4, 1), (5, 1)), ((2, 1), (5, 1)), ((0, 1), (2, 1), (5, 1))),
}
#: the thumb's (or left hand's) bass on the beats: every beat, or the bar's strong beats
SYNCO_BASS = {
    "4/4": (((0, 2), (2, 2), (4, 2), (6, 2)), ((0, 4), (4, 4))),
    "3/4": (((0, 2), (2, 2), (4, 2)), ((0, 6),)),
    "6/8": (((0, 3), (3, 3)),),
}
#: ``--slow``: slow grooves (this first tempo range) whose hi-hats play eighths or sixteenths,
#: counted at the slow beat, as listeners count a ballad's backbeat (flavours with this prefix)
SLOW, SLOW_BPM = "slow-", (56, 88)
SLOW_FLAVOURS = ("slow-drums", "slow-gm", "slow-drums", "slow-drums")
#: MIDI channels of the composer's bass and chords tracks (``beats_corpus.compose_piece``)
BASS_CHANNEL, CHORDS_CHANNEL = 0, 1
#: GM percussion notes and the drum roles of ``_real_material.drum_track``
GM_ROLES = {35: "kick", 36: "kick", 37: "snare", 38: "snare", 39: "snare", 40: "snare"}
GM_ROLES |= {42: "hat", 44: "hat", 46: "open", 51: "ride", 53: "ride", 49: "crash", 57: "crash"}
GM_ROLES |= {45: "tom", 47: "tom", 48: "tom", 50: "tom"}
MANIFEST_FIELDS = (
    *BASE_FIELDS[:5], "flavour", "soundfont", "kit", "swing", "drift", "pickup", "format",
    "duration_s",
)  # fmt: skip


# --------------------------------------------------------------------------- the plan


def recast(p: Piece, flavour: str, rng: np.random.Generator, *, busy: bool = False) -> None:
    """Change a planned piece's band to the flavour's (in place); ``busy``: every groove of a
    drums flavour has more hi-hat strokes than beats (eighths or sixteenths)."""
    m = p.meter
    if flavour == "synco":
        p.style, p.drums, p.kit = "band", False, None
        program = int(rng.choice(GUITARS + PIANOS))
        comp = SYNCO[m.name][int(rng.integers(len(SYNCO[m.name])))]
        bass = SYNCO_BASS[m.name][int(rng.integers(len(SYNCO_BASS[m.name])))]
        for mat in p.mats.values():
            melody = mat.programs.get("melody")
            mat.programs = {"chords": program, "bass": program}
            if melody is not None and rng.random() < 0.3:
                mat.programs["melody"] = melody
            else:
                mat.melody = []
            mat.comp, mat.bass, mat.drums = comp, bass, None
    elif flavour in ("strum", "picked", "piano"):
        p.style, p.drums, p.kit = "band", False, None
        program = int(rng.choice(PIANOS if flavour == "piano" else GUITARS))
        bass = int(rng.choice(BASSES)) if rng.random() < 0.35 else None
        if rng.random() < 0.5:
            bass = program  # the left hand, or the guitarist's thumb
        strum = STRUMS[m.name][int(rng.integers(len(STRUMS[m.name])))]
        for mat in p.mats.values():
            melody = mat.programs.get("melody")
            mat.programs = {"arp" if flavour == "picked" else "chords": program}
            if bass is not None:
                mat.programs["bass"] = bass
            if melody is not None and rng.random() < 0.3:
                mat.programs["melody"] = melody
            else:
                mat.melody = []
            if flavour != "picked":
                mat.comp = strum if flavour == "strum" else mat.comp
            mat.drums = None
    elif flavour in ("drums", "gm"):
        p.drums = True
        p.kit = p.kit if p.kit is not None else 0
        styles = [s for s in DRUM_STYLES[m.name] if s != "onedrop"]
        if busy:
            styles = [s for s in styles if len(DRUM_STYLES[m.name][s][2]) > m.beats]
        main = str(rng.choice(styles))
        for mat in p.mats.values():
            if busy and mat.drums is not None and mat.drums not in styles:
                mat.drums = main
            if mat.drums is None and not (
                mat.function in ("intro", "outro") and rng.random() < 0.5
            ):
                mat.drums = main if rng.random() < 0.8 else str(rng.choice(styles))
    else:  # a band with no drums
        p.drums, p.kit = False, None
        for mat in p.mats.values():
            mat.drums = None


def drift(p: Piece, rng: np.random.Generator) -> float:
    """Put an expressive tempo curve (+-2-6%) on the piece's tempo map; returns its depth."""
    depth = float(rng.uniform(0.02, 0.06))
    m = p.meter
    ticks = np.arange(0, p.n_bars * m.bar_ticks, EIGHTH)
    ev_t = np.array([t for t, _ in p.events])
    ev_us = np.array([u for _, u in p.events], dtype=np.float64)
    base = ev_us[np.searchsorted(ev_t, ticks, side="right") - 1]
    bars = ticks / m.bar_ticks
    curve = np.zeros(len(ticks))
    for _ in range(3):
        period = float(rng.uniform(3, 16))
        curve += rng.uniform(0.3, 1) * np.sin(2 * np.pi * bars / period + rng.uniform(0, 6.3))
    curve += np.cumsum(rng.normal(0, 1, len(ticks))) / np.sqrt(len(ticks))
    curve = depth * (curve - curve.mean()) / (np.abs(curve - curve.mean()).max() + 1e-9)
    p.events = [(int(t), int(round(u))) for t, u in zip(ticks, base * np.exp(curve))]
    p.seconds = round(p.lead_s + TempoMap(p.events, TPB).seconds(int(ticks[-1] + EIGHTH)), 3)
    p.seconds = round(p.seconds + TAIL_S, 3)
    return depth


# --------------------------------------------------------------------------- the playing


def perform(
    mid: mido.MidiFile,
    p: Piece,
    rng: np.random.Generator,
    *,
    swing: float,
    strum: bool,
    hum_ms: float,
    synco: bool = False,
) -> None:
    """Swing, timing errors, strums and dynamics on a composed MIDI file (in place).

    ``swing`` (0 for none) is where the off-beat eighth falls, as a fraction of the beat; the
    beats themselves stay on the grid, so the annotations do not move. ``synco``: the chords
    off the beat are accented (8-18 velocity steps) and the bass on the beats played softer
    (0-12 steps), as in syncopated comping, where the loudest attacks fall between the beats.
    """
    m = p.meter
    ticks_per_ms = TPB / (p.events[0][1] / 1000.0)
    bars = p.n_bars + 2
    dyn = np.exp(0.25 * np.sin(np.linspace(0, rng.uniform(2, 9), bars) + rng.uniform(0, 6.3)))

    def warp(t: int) -> float:
        if not swing or m.beat_ticks != TPB:
            return float(t)
        b, f = divmod(t, TPB)
        f /= TPB
        g = f * 2 * swing if f < 0.5 else swing + (f - 0.5) * 2 * (1 - swing)
        return b * TPB + g * TPB

    for track in mid.tracks[1:]:
        events, now = [], 0
        for msg in track:
            now += msg.time
            events.append([now, msg])
        groups: dict[int, float] = {}
        accents: dict[tuple[str, int], float] = {}
        shift: dict[tuple[int, int], float] = {}
        order: dict[tuple[int, int], int] = {}
        for ev in events:
            tick, msg = ev
            if msg.type not in ("note_on", "note_off"):
                continue
            key = (msg.channel, msg.note)
            if msg.type == "note_on" and msg.velocity:
                g = int(round(tick / 60))
                if g not in groups:
                    err = float(np.clip(rng.normal(0, hum_ms / 2.5), -hum_ms, hum_ms))
                    groups[g] = err * ticks_per_ms
                off = groups[g]
                if strum and msg.channel != 9:
                    k = order[(g, 0)] = order.get((g, 0), -1) + 1
                    up = (tick % m.beat_ticks) >= m.beat_ticks // 4
                    spread = rng.uniform(6, 20) * ticks_per_ms
                    off += (max(0, 2 - k) * 0.7 if up else k) * spread  # up-strokes from the top
                shift[key] = off
                v = msg.velocity * dyn[min(tick // m.bar_ticks, bars - 1)]
                if synco and msg.channel == CHORDS_CHANNEL and tick % m.beat_ticks:
                    v += accents.setdefault(("c", g), float(rng.uniform(8, 18)))
                elif synco and msg.channel == BASS_CHANNEL:
                    v -= accents.setdefault(("b", g), float(rng.uniform(0, 12)))
                ev[1] = msg.copy(velocity=int(np.clip(v + rng.normal(0, 4), 1, 127)))
                ev[0] = max(0, int(round(warp(tick) + off)))
            else:
                ev[0] = max(0, int(round(warp(tick) + shift.get(key, 0.0))))
        events.sort(key=lambda e: (e[0], 0 if e[1].type != "note_on" or not e[1].velocity else 1))
        track.clear()
        last = 0
        for tick, msg in events:
            track.append(msg.copy(time=tick - last))
            last = tick


def drum_hits(mid: mido.MidiFile, lead_s: float) -> list[tuple[float, str, int]]:
    """The GM drum notes (channel 10) of a MIDI file as (time s, role, velocity); removes them."""
    hits, t = [], lead_s
    for msg in mid:
        t += msg.time
        if msg.type == "note_on" and msg.velocity and msg.channel == 9:
            role = GM_ROLES.get(msg.note)
            if role:
                hits.append((t, role, msg.velocity))
    mid.tracks[:] = [
        tr for tr in mid.tracks if not any(getattr(m, "channel", None) == 9 for m in tr)
    ]
    return hits


#: ``--body``: the acoustic guitar body's resonance (Hz) under each guitar chord, its decay
#: (s) and its level against the mix (dB, RMS over the attack's first 50 ms against the
#: mix's); drawn once per piece
BODY_HZ, BODY_DECAY_S, BODY_DB = (85.0, 135.0), (0.04, 0.12), (-18.0, -6.0)


def chord_attacks(mid: mido.MidiFile, lead_s: float) -> list[tuple[float, float]]:
    """The chords track's attacks as (time s, mean velocity 0-1): the notes of a strum (within
    60 ms of the first) are one attack."""
    out: list[list[float]] = []
    t = lead_s
    for msg in mid:
        t += msg.time
        if msg.type == "note_on" and msg.velocity and msg.channel == CHORDS_CHANNEL:
            if out and t - out[-1][0] < 0.06:
                out[-1][1] += msg.velocity / 127
                out[-1][2] += 1
            else:
                out.append([t, msg.velocity / 127, 1])
    return [(a, v / k) for a, v, k in out]


def body_thumps(
    attacks: list[tuple[float, float]], n: int, sr: int, rms: float, rng: np.random.Generator
) -> tuple[np.ndarray, str]:
    """What a real acoustic guitar adds under each chord and a microphone hears: the
    body's air resonance (a decaying sine near 100 Hz) and the hand's thump (low-passed noise,
    20 ms), loud whichever strings are struck. A soundfont's upper-string chord has almost
    nothing under 150 Hz, so without this only the bass notes on the beats move the low band
    and a model learns that as the beat; on a recorded guitar the off-beat stabs move it too.

    Returns the mono signal (``n`` samples) and a note of the draw."""
    f0, decay = float(rng.uniform(*BODY_HZ)), float(rng.uniform(*BODY_DECAY_S))
    db = float(rng.uniform(*BODY_DB))
    m, head = int(round(5 * decay * sr)), int(0.05 * sr)
    tt = np.arange(m) / sr

    def unit(z: np.ndarray) -> np.ndarray:  # RMS 1 over the attack's first 50 ms
        return z / (np.sqrt(np.mean(z[:head] ** 2)) + 1e-12)

    ring = unit(np.exp(-tt / decay) * np.sin(2 * np.pi * f0 * tt))
    sos = signal.butter(2, 200.0, btype="lowpass", fs=sr, output="sos")
    thump = unit(signal.sosfilt(sos, rng.normal(0, 1, m)) * np.exp(-tt / 0.02))
    shape = rms * 10 ** (db / 20) * unit(ring + float(rng.uniform(0.3, 1.0)) * thump)
    y = np.zeros(n)
    for t, v in attacks:
        i = int(round(t * sr))
        if 0 <= i < n:
            k = min(m, n - i)
            y[i : i + k] += v * shape[:k]
    return y, f"{f0:.0f} Hz, {decay * 1000:.0f} ms, {db:+.1f} dB"


def low_shelf_tilt(x: np.ndarray, sr: int, f0: float, gain_db: float) -> np.ndarray:
    """A gentle low shelf: the signal plus a gained copy of its 2nd-order low-passed part."""
    sos = signal.butter(2, f0, btype="lowpass", fs=sr, output="sos")
    return x + (10 ** (gain_db / 20) - 1) * signal.sosfilt(sos, x, axis=0)


# --------------------------------------------------------------------------- one piece


def files_of(out: Path, name: str, fmt: str) -> dict[str, Path]:
    """Paths of a piece's files by kind."""
    stem = out / name
    return {"audio": stem.with_suffix(f".{fmt}")} | {
        k: stem.with_suffix(f".{k}") for k in ("beats", "segments", "json")
    }


def plan(
    index: int, seed: int, flavours: Sequence[str] = FLAVOURS
) -> tuple[Piece, np.random.Generator, dict[str, object]]:
    """The composed plan of piece ``index``, this builder's own draws and its choices."""
    flavour = flavours[index % len(flavours)]
    slow = flavour.startswith(SLOW)
    p = plan_piece(index, seed, bpm_range=SLOW_BPM if slow else None)
    rng = np.random.default_rng([seed, 7311, index])
    recast(p, flavour.removeprefix(SLOW), rng, busy=slow)
    choice: dict[str, object] = {
        "flavour": flavour,
        "soundfont": SOUNDFONTS[(index // 2) % len(SOUNDFONTS)].name,
        "swing": round(float(rng.uniform(0.58, 0.68)), 3)
        if p.meter.beat_ticks == TPB and rng.random() < 0.25
        else 0.0,
        "hum_ms": round(float(rng.uniform(10, 25)), 1),
        "drift": round(drift(p, rng), 3),
        "pickup": bool(rng.random() < 0.4),
        "format": "mp3" if index % 8 == 5 else "flac",
    }
    p.name = f"real_{index:03d}"
    p.fmt = str(choice["format"])
    return p, rng, choice


def make_piece(
    out: Path,
    index: int,
    seed: int,
    split: str,
    flavours: Sequence[str] = FLAVOURS,
    *,
    body: bool = False,
) -> None:
    """Compose, perform, render, record and annotate piece ``index`` (unless it exists);
    ``body``: guitar chords (strummed or plucked) also sound the guitar's body
    (:func:`body_thumps`, drawn from a generator of its own, so every other draw stays as
    without it)."""
    p, rng, choice = plan(index, seed, flavours)
    files = files_of(out, p.name, p.fmt)
    if all(f.exists() for f in files.values()):
        return
    mid = compose_piece(p)
    beats, segs = truth(p)
    flavour = choice["flavour"]
    perform(
        mid,
        p,
        rng,
        swing=float(choice["swing"]),
        strum=flavour == "strum" or (flavour == "synco" and index % 2 == 1),
        hum_ms=float(choice["hum_ms"]),
        synco=flavour == "synco",
    )
    hits = drum_hits(mid, p.lead_s) if flavour.removeprefix(SLOW) == "drums" else []
    guitar_chords = flavour in ("strum", "synco") and any(
        mat.programs.get("chords") in GUITARS for mat in p.mats.values()
    )
    attacks = chord_attacks(mid, p.lead_s) if body and guitar_chords else []
    sf_path = next(s for s in SOUNDFONTS if s.name == choice["soundfont"])
    with tempfile.TemporaryDirectory(prefix="br-") as tmp_name:
        tmp = Path(tmp_name)
        x = render(mid, SR, tmp, soundfont=sf_path)
        lead, n = int(round(p.lead_s * SR)), int(round(p.seconds * SR))
        x = np.concatenate([np.zeros((lead, 2)), x, np.zeros((max(0, n - lead - len(x)), 2))])[:n]
        if attacks:
            rms = float(np.sqrt(np.mean(x**2)))
            y, choice["body"] = body_thumps(
                attacks, len(x), SR, rms, np.random.default_rng([seed, 7301, index])
            )
            x = x + y[:, None]
        if hits:
            kit = kit_for(index, seed, split)
            choice["kit"] = kit.name
            d = drum_track(kit, hits, p.seconds, SR, rng)[: len(x)]
            d = np.pad(d, ((0, len(x) - len(d)), (0, 0)))
            level = 10 ** (rng.uniform(-4, 4) / 20)
            x = x + level * d * np.sqrt(np.mean(x**2)) / (np.sqrt(np.mean(d**2)) + 1e-12)
        cut = 0.0
        if choice["pickup"]:
            inner = [t for t, pos in beats if pos != 1 and 1.0 < t < p.seconds / 3]
            if inner:
                k = int(rng.integers(len(inner)))
                period = 60.0 / p.bpm
                cut = max(0.0, inner[k] - float(rng.uniform(0, 0.3)) * period)
        start = int(round(cut * SR))
        x = x[start:]
        x[: int(0.02 * SR)] *= np.linspace(0, 1, int(0.02 * SR))[:, None]
        rms = np.sqrt(np.mean(x**2)) + 1e-12
        if rng.random() < 0.5:
            nz, kind = _noise_floor(x.shape, SR, rng)
            snr = float(rng.uniform(30, 60))
            x = x + rms * 10 ** (-snr / 20) * nz
            choice["noise"] = f"{kind} {snr:.0f} dB under"
        if rng.random() < 1 / 3:
            f0, g = float(rng.uniform(80, 250)), float(rng.uniform(-6, 6))
            x = low_shelf_tilt(x, SR, f0, g)
            choice["low_shelf"] = f"{g:+.1f} dB @ {f0:.0f} Hz"
        fade = int(1.5 * SR)
        x[-fade:] *= np.linspace(1, 0, fade)[:, None]
        y, notes = master_chain(x, SR, rng, dark=False)
        write_audio(files["audio"], y, tmp)
    seconds = len(y) / SR
    beats = [(t - cut, pos) for t, pos in beats if t - cut >= 0]
    segs = [(max(a - cut, 0.0), b - cut, lab) for a, b, lab in segs if b - cut > 0]
    write_truth(files, beats, segs)
    info = {
        "index": index,
        "seed": [seed, 7300, index],
        "meter": p.meter.name,
        "bpm": p.bpm,
        "tempo_change": {k: v for k, v in p.change.items() if k != "u"},
        "lead_in_s": p.lead_s,
        "cut_s": round(cut, 6),
        "labels": "".join(p.labels),
        "instruments": sorted({str(pr) for mat in p.mats.values() for pr in mat.programs.items()}),
        "master": notes,
        "duration_s": round(seconds, 3),
        **choice,
    }
    write_text(files["json"], json.dumps(info, indent=1) + "\n")


def manifest_row(
    out: Path, index: int, seed: int, split: str, flavours: Sequence[str] = FLAVOURS
) -> dict[str, object] | None:
    """Manifest row of an existing piece (None when a file is missing)."""
    p, _, _ = plan(index, seed, flavours)
    files = files_of(out, p.name, p.fmt)
    if not all(f.exists() for f in files.values()):
        return None
    info = json.loads(files["json"].read_text())
    return base_row(files["audio"], split, p) | {
        "kit": info.get("kit", ""),
        "pickup": int(info["cut_s"] > 0),
        **{k: info[k] for k in ("flavour", "soundfont", "swing", "drift", "format", "duration_s")},
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--n", type=int, default=150)
    ap.add_argument("--seed", type=int, default=101, help="not 0 (the rendered test set's)")
    ap.add_argument("--split", choices=("train", "test"), default="train")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument(
        "--comping-only",
        action="store_true",
        help="only comping without drums (strummed guitar twice, picked guitar, piano, in turn)",
    )
    ap.add_argument(
        "--syncopated-only",
        action="store_true",
        help="only syncopated comping without drums: accented chord stabs between the beats "
        "over a softer bass on them (guitar or piano; every other piece strummed)",
    )
    ap.add_argument(
        "--body",
        action="store_true",
        help="guitar chords (strummed or plucked) also sound the guitar's body (a resonance "
        "near 100 Hz and the hand's thump), as a microphone hears a real guitar",
    )
    ap.add_argument(
        "--slow",
        action="store_true",
        help=f"only slow grooves ({SLOW_BPM[0]}-{SLOW_BPM[1]} BPM at the start) with busy "
        "hi-hats, real drums three times in four, GM drums once",
    )
    args = ap.parse_args(argv)
    flavours = ("strum", "picked", "strum", "piano") if args.comping_only else FLAVOURS
    if args.syncopated_only:
        flavours = ("synco",)
    if args.slow:
        flavours = SLOW_FLAVOURS
    if args.seed == 0:
        ap.error("--seed 0 composes the pieces of the rendered test set; use another")
    require_render_tools()
    missing = [s for s in SOUNDFONTS if not s.exists()]
    if missing:
        ap.error(f"missing soundfont {missing[0]} (apt-get install the packages in the docstring)")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    if args.split == "test":  # train_beats.py refuses a corpus with this file
        write_text(out / "HELD_OUT", "a held-out test corpus: never train or tune on it\n")
    t0 = time.monotonic()
    parallel(
        lambda i: make_piece(out, i, args.seed, args.split, flavours, body=args.body),
        range(args.n),
        args.jobs,
        "pieces",
    )
    rows = [
        r for i in range(args.n) if (r := manifest_row(out, i, args.seed, args.split, flavours))
    ]
    write_csv(out / "manifest.csv", rows, MANIFEST_FIELDS)
    minutes = sum(float(r["duration_s"]) for r in rows) / 60
    print(f"{len(rows)} pieces, {minutes:.1f} min of audio, in {time.monotonic() - t0:.0f} s")
    return 0 if len(rows) == args.n else 1


if __name__ == "__main__":
    raise SystemExit(main())
