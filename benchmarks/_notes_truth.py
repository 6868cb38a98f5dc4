"""Ground truth for the ``notes`` benchmark: note lists from the eval set's annotation formats.

Every loader returns ``(intervals, pitches)``: ``intervals`` is a float array ``[n, 2]`` of
(onset, offset) in seconds, ``pitches`` a float array ``[n]`` of MIDI note numbers (fractional
where the annotation is, as in GuitarSet and vocadito), sorted by onset then pitch. That is what
``mir_eval.transcription`` takes once the pitches are turned into Hz (:func:`to_hz`).

Formats:

- GuitarSet ``*.notes.tsv`` (a flat copy of the ``.jams`` ``note_midi`` annotations; columns
  onset_s, midi_pitch_float, duration_s, string) and the ``.jams`` itself;
- madmom ``.notes`` (onset_s, MIDI pitch, duration_s, velocity);
- MIDI files (Slakh stems, our renders): tempo changes, note-on with velocity 0 as note-off,
  and a note-on on a key that is still sounding ends the sounding note there (as a synthesizer
  does); the drum channel (10) is left out;
- vocadito ``notesA1.csv`` / ``notesA2.csv`` (onset_s, pitch in Hz, duration_s).

:func:`eval_music_clips` lists the eval set's music clips with their ground truth.
``python benchmarks/_notes_truth.py`` prints them and cross-checks the GuitarSet TSV against the
JAMS and the madmom ``.notes`` against its ``.mid``.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

REPO = Path(__file__).resolve().parents[1]
EVAL_DIR = Path(os.environ.get("AUDIOLENS_EVAL_DIR", REPO.parent / "shared" / "eval"))
DRUM_CHANNEL = 9

Truth = tuple[np.ndarray, np.ndarray]


def _finish(rows: list[tuple[float, float, float]]) -> Truth:
    """Sort (onset, offset, pitch) rows into the (intervals, pitches) pair."""
    rows = sorted(rows, key=lambda r: (r[0], r[2], r[1]))
    arr = np.asarray(rows, dtype=np.float64).reshape(-1, 3)
    return arr[:, :2].copy(), arr[:, 2].copy()


def to_hz(pitches_midi: np.ndarray) -> np.ndarray:
    """MIDI note numbers (fractional allowed) to Hz."""
    return 440.0 * 2.0 ** ((np.asarray(pitches_midi, dtype=np.float64) - 69.0) / 12.0)


def hz_to_midi(hz: np.ndarray) -> np.ndarray:
    """Hz to fractional MIDI note numbers."""
    return 69.0 + 12.0 * np.log2(np.asarray(hz, dtype=np.float64) / 440.0)


# --------------------------------------------------------------------------- the formats


def load_guitarset_tsv(path: str | os.PathLike[str]) -> Truth:
    """GuitarSet notes from the flat TSV: onset_s, midi_pitch_float, duration_s, string."""
    rows = []
    with open(path) as fh:
        for line in fh:
            if not line.strip() or line.startswith("#"):
                continue
            onset, pitch, dur = (float(v) for v in line.split("\t")[:3])
            rows.append((onset, onset + dur, pitch))
    return _finish(rows)


def load_guitarset_jams(path: str | os.PathLike[str]) -> Truth:
    """GuitarSet notes from the ``.jams`` file: every ``note_midi`` annotation (one per string)."""
    with open(path) as fh:
        jams = json.load(fh)
    rows = []
    for ann in jams["annotations"]:
        if ann["namespace"] != "note_midi":
            continue
        for obs in ann["data"]:
            rows.append((obs["time"], obs["time"] + obs["duration"], float(obs["value"])))
    return _finish(rows)


def load_madmom_notes(path: str | os.PathLike[str]) -> Truth:
    """madmom ``.notes``: onset_s, MIDI pitch, duration_s, velocity ('#' starts a comment)."""
    arr = np.loadtxt(path, comments="#", ndmin=2)
    return _finish([(r[0], r[0] + r[2], r[1]) for r in arr])


def load_midi(path: str | os.PathLike[str], *, drums: bool = False) -> Truth:
    """Notes of a MIDI file (type 0 or 1), in seconds.

    - Tempo changes anywhere in the file apply to all tracks (mido's merged iteration).
    - A note-on with velocity 0 is a note-off. At one instant, note-offs are taken before
      note-ons, so a note that ends where the next one on its key starts stays whole.
    - A note-on on a (channel, key) that is still sounding ends that note at the new onset, as a
      synthesizer retriggers the key; a later note-off then ends the new note and any extra
      note-off is ignored.
    - Notes still sounding at the end of the file end at the file's last event.
    - Zero-length notes are dropped; the drum channel (10) is left out unless ``drums``.
    """
    import mido

    mid = mido.MidiFile(str(path))
    events: list[tuple[float, int, int, int]] = []  # (time, 0=off/1=on, channel, key)
    t = 0.0
    for msg in mid:  # merged tracks; msg.time is the delta in seconds, tempo map applied
        t += msg.time
        if msg.type not in ("note_on", "note_off"):
            continue
        if msg.channel == DRUM_CHANNEL and not drums:
            continue
        on = msg.type == "note_on" and msg.velocity > 0
        events.append((t, int(on), msg.channel, msg.note))
    end = t
    events.sort(key=lambda e: (e[0], e[1]))  # stable: file order within (time, kind)
    sounding: dict[tuple[int, int], float] = {}
    rows = []
    for time, on, ch, key in events:
        k = (ch, key)
        start = sounding.pop(k, None)
        if start is not None and time > start:
            rows.append((start, time, float(key)))
        if on:
            sounding[k] = time
    for (_, key), start in sounding.items():
        if end > start:
            rows.append((start, end, float(key)))
    return _finish(rows)


def load_vocadito(path: str | os.PathLike[str]) -> Truth:
    """vocadito note annotation CSV: onset_s, pitch in Hz, duration_s (no header)."""
    rows = []
    with open(path, newline="") as fh:
        for rec in csv.reader(fh):
            if not rec or not rec[0].strip():
                continue
            onset, hz, dur = (float(v) for v in rec[:3])
            rows.append((onset, onset + dur, float(hz_to_midi(hz))))
    return _finish(rows)


# --------------------------------------------------------------------------- the eval clips


class EvalClip(NamedTuple):
    """One music clip of the eval set.

    Attributes
    ----------
    name : short name (the file's stem)
    audio : absolute path of the audio file
    truth : None (no note annotation), or a callable returning ``{label: (intervals, pitches)}``
        with one entry per annotation (``"notes"``; ``"A1"`` and ``"A2"`` for vocadito)
    source : where the truth comes from (a file name), for the tables
    """

    name: str
    audio: Path
    truth: Callable[[], dict[str, Truth]] | None
    source: str = ""


def _truth_for(audio: Path) -> tuple[Callable[[], dict[str, Truth]] | None, str]:
    """The loader of an audio file's note annotation, if it has one next to it."""
    d, stem = audio.parent, audio.stem
    tsv = d / f"{stem.removesuffix('_mic')}.notes.tsv"
    if tsv.exists():
        return (lambda: {"notes": load_guitarset_tsv(tsv)}), tsv.name
    if (d / f"{stem}.notes").exists():
        return (lambda: {"notes": load_madmom_notes(d / f"{stem}.notes")}), f"{stem}.notes"
    if stem.startswith("slakh_") and (d / f"{stem}.mid").exists():
        return (lambda: {"notes": load_midi(d / f"{stem}.mid")}), f"{stem}.mid"
    a1, a2 = d / f"{stem}_notesA1.csv", d / f"{stem}_notesA2.csv"
    if a1.exists():
        labelled = {"A1": a1} | ({"A2": a2} if a2.exists() else {})
        return (lambda: {k: load_vocadito(p) for k, p in labelled.items()}), a1.name
    return None, ""


def eval_music_clips(eval_dir: str | os.PathLike[str] | None = None) -> list[EvalClip]:
    """The eval set's music clips, each once, with their note ground truth where there is one.

    ``music_transcription/*.wav|flac`` first, then ``beats/*.wav``. A clip whose stem was already
    listed is a duplicate and is skipped: the madmom stereo sample is there as FLAC and WAV (the
    same samples; the FLAC is kept) and the GuitarSet WAV sits in both folders (same bytes).
    The beats clips other than GuitarSet (ballroom, madmom sample) have no note annotation.
    """
    root = Path(eval_dir) if eval_dir is not None else EVAL_DIR
    seen: set[str] = set()
    clips = []
    for sub, exts in (("music_transcription", (".flac", ".wav")), ("beats", (".wav",))):
        for audio in sorted((root / sub).iterdir()):
            if audio.suffix.lower() not in exts or audio.stem in seen:
                continue
            seen.add(audio.stem)
            truth, source = _truth_for(audio)
            clips.append(EvalClip(audio.stem, audio.resolve(), truth, source))
    return clips


# --------------------------------------------------------------------------- checks


def _same(a: Truth, b: Truth, tol: float = 1e-6) -> bool:
    return (
        a[0].shape == b[0].shape
        and bool(np.allclose(a[0], b[0], atol=tol))
        and bool(np.allclose(a[1], b[1], atol=tol))
    )


def main() -> int:
    """Print the eval clips and their truth, and cross-check the duplicated annotations."""
    import soundfile as sf

    clips = eval_music_clips()
    print(f"{'clip':40s}{'seconds':>9s}{'notes':>8s}  truth")
    for c in clips:
        secs = sf.info(str(c.audio)).duration
        if c.truth is None:
            print(f"{c.name:40s}{secs:9.2f}{'-':>8s}  none")
            continue
        for label, (iv, p) in c.truth().items():
            span = f"{iv[:, 0].min():.2f}-{iv[:, 1].max():.2f} s, MIDI {p.min():.1f}-{p.max():.1f}"
            print(f"{c.name:40s}{secs:9.2f}{len(p):8d}  {label} {c.source} ({span})")
    mt = EVAL_DIR / "music_transcription"
    tsv = load_guitarset_tsv(mt / "guitarset_00_BN1-129-Eb_comp.notes.tsv")
    jams = load_guitarset_jams(mt / "guitarset_00_BN1-129-Eb_comp.jams")
    print(f"\nGuitarSet TSV == JAMS note_midi ({len(jams[1])} notes): {_same(tsv, jams)}")
    notes = load_madmom_notes(mt / "madmom_stereo_sample.notes")
    midi = load_midi(mt / "madmom_stereo_sample.mid")
    print(f"madmom .notes == .mid ({len(midi[1])} notes, 1 ms): {_same(notes, midi, 1e-3)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
