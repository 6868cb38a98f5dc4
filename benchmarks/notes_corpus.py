"""Build the corpus of the ``notes`` benchmark: rendered pieces with exact MIDI ground truth.

Each piece is composed from a seed with the song generator of ``quality_corpus.py`` (chord
progression, bass, block chords or pads, melody, arpeggios, counter-melody), with instruments
drawn from piano, electric piano, guitar, bass, strings, organ and a few solo instruments; about
a quarter are solo piano and a quarter have GM drums (channel 10, which the ground truth leaves
out). A third get tempo changes (steps at bar lines, or a ritardando/accelerando one beat at a
time). The MIDI is then cleaned so that the file says exactly what sounds: no note starts on a
key that is still sounding (the earlier note is cut where the next begins), every note ends
2 s before the end of the piece. fluidsynth renders that MIDI (FluidR3_GM) at 44.1 kHz; the
render is mastered (level, sometimes an EQ tilt or a noise floor; ``quality_corpus.master``) and
stored as FLAC, or as MP3 (LAME V2) or M4A (AAC 192k) for 1 piece in 5 each.

Lengths are 30-240 s: of each 8 pieces one is 30-60 s, one 180-240 s, six 60-180 s.

Output in ``--out`` (default ``benchmarks/_corpus_notes/``, git-ignored): ``piece_NNN.<ext>``, its
``piece_NNN.mid`` (the ground truth; read it with ``_notes_truth.load_midi``), ``piece_NNN.json``
(the choices made) and ``manifest.csv`` (path, midi_path, duration_s, instruments, format,
style, drums, bpm, tempo_changes, notes). Paths are relative to the manifest's folder.
Reruns are incremental: a piece whose audio, MIDI and JSON exist is kept.

Usage::

    python benchmarks/notes_corpus.py --jobs 2            # 24 pieces, ~45 min of audio
    python benchmarks/notes_corpus.py --n 40 --jobs 2

Needs ``fluidsynth``, the GM soundfont ``/usr/share/sounds/sf2/FluidR3_GM.sf2``
(Debian: ``apt-get install fluidsynth fluid-soundfont-gm``), ``lame`` and ``ffmpeg``, and mido,
numpy, scipy, soundfile in the Python environment.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import mido
import numpy as np

from _notes_truth import load_midi
from quality_corpus import (
    DRUM_KITS,
    PROGRESSIONS,
    SCALES,
    SOUNDFONT,
    TPB,
    SongPlan,
    compose,
    ffmpeg,
    lame,
    master,
    parallel,
    render,
    write_pcm16,
)

HERE = Path(__file__).resolve().parent
SR = 44100
#: every note ends this long before the end of the piece (release tails, the master's fade)
TAIL_S = 2.0
#: notes shorter than this after cleaning are dropped (none is meant to be this short)
MIN_NOTE_S = 0.05

#: GM programs per role (the names are GM's, as written in the manifest)
GM_NAMES = {
    0: "Acoustic Grand Piano",
    1: "Bright Acoustic Piano",
    2: "Electric Grand Piano",
    4: "Electric Piano 1",
    5: "Electric Piano 2",
    11: "Vibraphone",
    16: "Drawbar Organ",
    17: "Percussive Organ",
    19: "Church Organ",
    24: "Acoustic Guitar (nylon)",
    25: "Acoustic Guitar (steel)",
    26: "Electric Guitar (jazz)",
    27: "Electric Guitar (clean)",
    32: "Acoustic Bass",
    33: "Electric Bass (finger)",
    34: "Electric Bass (pick)",
    35: "Fretless Bass",
    40: "Violin",
    42: "Cello",
    46: "Orchestral Harp",
    48: "String Ensemble 1",
    49: "String Ensemble 2",
    50: "Synth Strings 1",
    56: "Trumpet",
    65: "Alto Sax",
    71: "Clarinet",
    73: "Flute",
}
ROLE_PROGRAMS = {
    "bass": (32, 33, 33, 34, 35),
    "chords": (0, 1, 2, 4, 5, 16, 17, 24, 25, 26, 27),
    "pad": (48, 49, 50, 16, 19),
    "melody": (0, 4, 11, 24, 26, 27, 40, 56, 65, 71, 73),
    "arp": (0, 4, 11, 24, 25, 46),
    "counter": (42, 71, 24, 0, 48),
}
PIANOS = (0, 0, 1, 2)
#: output format by piece index modulo 5
FORMATS = ("flac", "flac", "mp3", "flac", "m4a")
LAME_ARGS = ("-V", "2")
AAC_ARGS = ("-c:a", "aac", "-b:a", "192k")
MANIFEST_FIELDS = (
    "path",
    "midi_path",
    "duration_s",
    "instruments",
    "format",
    "style",
    "drums",
    "bpm",
    "tempo_changes",
    "notes",
)


# --------------------------------------------------------------------------- the plan


def piece_seconds(index: int, rng: np.random.Generator) -> float:
    """Length of piece ``index``: of each 8, one 30-60 s, one 180-240 s, six 60-180 s."""
    lo, hi = {0: (30, 60), 5: (180, 240)}.get(index % 8, (60, 180))
    return round(float(rng.uniform(lo, hi)), 2)


def plan_piece(index: int, seed: int) -> tuple[SongPlan, dict, np.random.Generator]:
    """Draw one piece: its song plan (for ``quality_corpus.compose``), its tempo changes and the
    rest of the choices. Returns (plan, info, rng); the rng goes on to compose and master."""
    rng = np.random.default_rng([seed, 9100, index])
    seconds = piece_seconds(index, rng)
    style = "solo piano" if index % 4 == 1 else "band"
    bpm = int(rng.integers(60, 161))
    beats = 3 if rng.random() < 0.2 else 4
    if style == "solo piano":
        piano = int(rng.choice(PIANOS))
        roles = ["bass", "chords", "melody"] + (["arp"] if rng.random() < 0.4 else [])
        programs = dict.fromkeys(roles, piano)
        kit = None
    else:
        extra = rng.choice(["pad", "arp", "counter"], int(rng.integers(0, 3)), replace=False)
        roles = ["bass", "chords", "melody", *(str(r) for r in extra)]
        programs = {r: int(rng.choice(ROLE_PROGRAMS[r])) for r in roles}
        kit = int(rng.choice(DRUM_KITS)) if index % 4 == 3 else None
    changes = tempo_changes(rng, bpm, beats, seconds)
    fastest = max([bpm] + [b for _, b in changes])
    plan = SongPlan(
        bpm=bpm,
        beats_per_bar=beats,
        root=int(rng.integers(0, 12)),
        scale=str(rng.choice(list(SCALES))),
        progression=PROGRESSIONS[int(rng.integers(len(PROGRESSIONS)))],
        programs=programs,
        kit=kit,
        bars=int(np.ceil(seconds / (beats * 60.0 / fastest))) + 1,
    )
    info = {
        "index": index,
        "seed": seed,
        "seconds": seconds,
        "style": style,
        "format": FORMATS[index % len(FORMATS)],
        "bpm": bpm,
        "beats_per_bar": beats,
        "tempo_changes": [[tick, b] for tick, b in changes],
        "note_on_velocity_0_as_off": bool(rng.random() < 0.5),
        "instruments": [f"{role}: {GM_NAMES[p]}" for role, p in programs.items()],
        "drum_kit": kit,
        "scale": plan.scale,
        "root": plan.root,
    }
    return plan, info, rng


def tempo_changes(
    rng: np.random.Generator, bpm: int, beats: int, seconds: float
) -> list[tuple[int, int]]:
    """Tempo changes (tick, BPM) for 1 piece in 3: steps at bar lines or a beat-by-beat ramp."""
    u = rng.random()
    bar = beats * TPB
    n_bars = int(seconds / (beats * 60.0 / bpm))
    if u < 2 / 3 or n_bars < 12:
        return []
    if u < 5 / 6:  # steps: a new tempo every 8-16 bars
        out, b = [], int(rng.integers(8, 17))
        while b < n_bars:
            out.append((b * bar, int(round(bpm * rng.uniform(0.8, 1.2)))))
            b += int(rng.integers(8, 17))
        return out
    # a ritardando or accelerando over 4 bars, one change per beat, from the middle on
    start, factor = n_bars // 2, float(rng.choice([0.75, 1.25]))
    n = 4 * beats
    return [
        (start * bar + k * TPB, int(round(bpm * (1 + (factor - 1) * (k + 1) / n))))
        for k in range(n)
    ]


# --------------------------------------------------------------------------- MIDI clean-up


class TempoMap:
    """Tick <-> seconds for a list of tempo changes."""

    def __init__(self, changes: Sequence[tuple[int, int]], tpb: int) -> None:
        self.tpb = tpb
        self.ticks = [0]
        self.tempos = [changes[0][1]]  # microseconds per beat
        self.secs = [0.0]
        for tick, tempo in changes[1:]:
            self.secs.append(self.seconds(tick))
            self.ticks.append(tick)
            self.tempos.append(tempo)

    def seconds(self, tick: int) -> float:
        """Seconds at ``tick``."""
        i = bisect.bisect_right(self.ticks, tick) - 1
        return self.secs[i] + (tick - self.ticks[i]) * self.tempos[i] / 1e6 / self.tpb

    def tick(self, seconds: float) -> int:
        """The last tick at or before ``seconds``."""
        i = bisect.bisect_right(self.secs, seconds) - 1
        return self.ticks[i] + int((seconds - self.secs[i]) * 1e6 * self.tpb / self.tempos[i])


def absolute(track: mido.MidiTrack) -> list[tuple[int, mido.Message]]:
    """(absolute tick, message) pairs of a track."""
    tick, out = 0, []
    for msg in track:
        tick += msg.time
        out.append((tick, msg))
    return out


def clean_track(track: mido.MidiTrack, end_tick: int, tm: TempoMap, vel0_off: bool):
    """Rewrite a note track so it holds exactly what sounds up to ``end_tick``.

    Notes are paired first-in first-out per (channel, key); a note that is still sounding when
    the next on its key starts is cut there; notes starting at or after ``end_tick`` are dropped
    and the others end by it; notes shorter than ``MIN_NOTE_S`` are dropped. Note-offs are
    written as note-on velocity 0 when ``vel0_off``. Returns (track, note count).
    """
    other: list[tuple[int, mido.Message]] = []
    open_: dict[tuple[int, int], list[tuple[int, int]]] = {}
    notes: list[list[int]] = []  # [start, end, channel, key, velocity]
    for tick, msg in absolute(track):
        if msg.type == "note_on" and msg.velocity > 0:
            open_.setdefault((msg.channel, msg.note), []).append((tick, msg.velocity))
        elif msg.type in ("note_on", "note_off"):
            queue = open_.get((msg.channel, msg.note))
            if queue:
                start, vel = queue.pop(0)
                notes.append([start, tick, msg.channel, msg.note, vel])
        elif msg.type != "end_of_track":
            other.append((tick, msg))
    by_key: dict[tuple[int, int], list[list[int]]] = {}
    for n in sorted(notes):
        by_key.setdefault((n[2], n[3]), []).append(n)
    kept = []
    for seq in by_key.values():
        for a, b in zip(seq, [*seq[1:], None]):
            if b is not None and b[0] < a[1]:
                a[1] = b[0]
            a[1] = min(a[1], end_tick)
            if a[0] < end_tick and tm.seconds(a[1]) - tm.seconds(a[0]) >= MIN_NOTE_S:
                kept.append(a)
    events: list[tuple[int, int, mido.Message]] = [(t, 0, m) for t, m in other]
    for start, end, ch, key, vel in kept:
        events.append((start, 2, mido.Message("note_on", channel=ch, note=key, velocity=vel)))
        off = (
            mido.Message("note_on", channel=ch, note=key, velocity=0)
            if vel0_off
            else mido.Message("note_off", channel=ch, note=key, velocity=0)
        )
        events.append((end, 1, off))
    out, last = mido.MidiTrack(), 0
    for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        out.append(msg.copy(time=tick - last))
        last = tick
    return out, len(kept)


def finalize_midi(mid: mido.MidiFile, info: dict) -> tuple[mido.MidiFile, int]:
    """Add the tempo changes, clean every note track, and make the file last the whole piece.

    Returns the new file and its number of pitched (non-drum) notes.
    """
    bpm = info["bpm"]
    changes = [(0, mido.bpm2tempo(bpm))] + [
        (tick, mido.bpm2tempo(b)) for tick, b in info["tempo_changes"]
    ]
    tm = TempoMap(changes, mid.ticks_per_beat)
    end_tick = tm.tick(info["seconds"] - TAIL_S)
    skip = ("set_tempo", "end_of_track")
    meta = [(t, m) for t, m in absolute(mid.tracks[0]) if m.type not in skip]
    meta += [(tick, mido.MetaMessage("set_tempo", tempo=tempo)) for tick, tempo in changes]
    meta_track, last = mido.MidiTrack(), 0
    for tick, msg in sorted(meta, key=lambda e: e[0]):
        meta_track.append(msg.copy(time=tick - last))
        last = tick
    # the file lasts the whole piece, so fluidsynth renders the release tails
    meta_track.append(mido.MetaMessage("end_of_track", time=tm.tick(info["seconds"]) - last))
    out = mido.MidiFile(type=1, ticks_per_beat=mid.ticks_per_beat)
    out.tracks.append(meta_track)
    pitched = 0
    for track in mid.tracks[1:]:
        cleaned, n = clean_track(track, end_tick, tm, info["note_on_velocity_0_as_off"])
        out.tracks.append(cleaned)
        if not any(m.type == "note_on" and m.channel == 9 for m in cleaned):
            pitched += n
    return out, pitched


# --------------------------------------------------------------------------- one piece


def piece_paths(out: Path, index: int, fmt: str) -> tuple[Path, Path, Path]:
    """(audio, MIDI, JSON) paths of piece ``index``."""
    stem = out / f"piece_{index:03d}"
    return stem.with_suffix(f".{fmt}"), stem.with_suffix(".mid"), stem.with_suffix(".json")


def make_piece(out: Path, index: int, seed: int) -> None:
    """Compose, clean, render, master and encode piece ``index`` (unless it exists)."""
    plan, info, rng = plan_piece(index, seed)
    audio, midi_path, json_path = piece_paths(out, index, info["format"])
    if audio.exists() and midi_path.exists() and json_path.exists():
        return
    mid, n_notes = finalize_midi(compose(plan, rng), info)
    with tempfile.TemporaryDirectory(prefix="nc-") as tmp_name:
        tmp = Path(tmp_name)
        x = render(mid, SR, tmp)
        n = int(round(info["seconds"] * SR))
        if len(x) < n:
            x = np.concatenate([x, np.zeros((n - len(x), x.shape[1]))])
        y, master_note = master(x, SR, info["seconds"], rng)
        if info["format"] == "flac":
            write_pcm16(audio, y, SR)
        else:
            flac = tmp / "master.flac"
            write_pcm16(flac, y, SR)
            if info["format"] == "mp3":
                wav = tmp / "master.wav"
                ffmpeg(flac, wav, ["-c:a", "pcm_s16le"])
                lame(wav, audio, LAME_ARGS)
            else:
                ffmpeg(flac, audio, AAC_ARGS)
    tmp_mid = midi_path.with_name(f".part-{midi_path.name}")
    mid.save(str(tmp_mid))
    tmp_mid.replace(midi_path)
    encoder = {"flac": "FLAC 16-bit", "mp3": f"LAME {' '.join(LAME_ARGS)}", "m4a": "AAC 192k"}
    info |= {
        "notes": n_notes,
        "master": master_note,
        "encoding": encoder[info["format"]],
        "duration_s": round(len(y) / SR, 3),
    }
    json_path.write_text(json.dumps(info, indent=1) + "\n")


def manifest_row(out: Path, index: int, seed: int) -> dict[str, object] | None:
    """The manifest row of an existing piece (None when it is missing)."""
    _, info, _ = plan_piece(index, seed)
    audio, midi_path, json_path = piece_paths(out, index, info["format"])
    if not (audio.exists() and midi_path.exists() and json_path.exists()):
        return None
    info = json.loads(json_path.read_text())
    changes = info["tempo_changes"]
    return {
        "path": audio.name,
        "midi_path": midi_path.name,
        "duration_s": info["duration_s"],
        "instruments": "; ".join(info["instruments"]),
        "format": info["format"],
        "style": info["style"],
        "drums": "" if info["drum_kit"] is None else f"GM kit {info['drum_kit']}",
        "bpm": info["bpm"],
        "tempo_changes": len(changes),
        "notes": info["notes"],
    }


def check(out: Path, rows: list[dict[str, object]]) -> None:
    """Read every MIDI back with the benchmark's loader; its notes must all be in the piece."""
    bad = 0
    for r in rows:
        iv, _ = load_midi(out / str(r["midi_path"]))
        dur = float(r["duration_s"])
        if len(iv) != int(r["notes"]) or iv[:, 1].max() > dur - TAIL_S + 1e-3:
            bad += 1
            print(f"  ! {r['path']}: {len(iv)} notes read back, {r['notes']} written", flush=True)
    print(f"MIDI read back with _notes_truth.load_midi: {len(rows) - bad}/{len(rows)} match")


def require_render_tools() -> None:
    """Exit with the install command when fluidsynth, lame, ffmpeg or the soundfont is missing."""
    for tool in ("fluidsynth", "lame", "ffmpeg"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not on PATH (Debian: apt-get install fluidsynth lame ffmpeg)")
    if not SOUNDFONT.exists():
        sys.exit(f"soundfont not found: {SOUNDFONT} (Debian package fluid-soundfont-gm)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=HERE / "_corpus_notes")
    ap.add_argument("--n", type=int, default=24, help="number of pieces (at least 20)")
    ap.add_argument("--jobs", type=int, default=2, help="pieces rendered at once")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    require_render_tools()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    parallel(lambda i: make_piece(out, i, args.seed), range(args.n), args.jobs, "pieces")
    rows = [r for i in range(args.n) if (r := manifest_row(out, i, args.seed)) is not None]
    tmp = out / ".part-manifest.csv"
    with tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(MANIFEST_FIELDS))
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(out / "manifest.csv")
    minutes = sum(float(r["duration_s"]) for r in rows) / 60
    size = sum((out / str(r["path"])).stat().st_size for r in rows) / 1e6
    fmts = ", ".join(f"{f} {sum(r['format'] == f for r in rows)}" for f in ("flac", "mp3", "m4a"))
    print(
        f"{len(rows)} pieces ({fmts}), {minutes:.1f} min of audio, {size:.0f} MB, "
        f"{sum(int(r['notes']) for r in rows)} notes, in {time.monotonic() - t0:.0f} s "
        f"-> {os.path.relpath(out / 'manifest.csv')}"
    )
    check(out, rows)
    return 0 if len(rows) == args.n else 1


if __name__ == "__main__":
    raise SystemExit(main())
