"""Beats material from real produced music labelled by the shipped tracker (self-training).

The network has heard real recordings only through the Frets on Fire band songs; game music
in Debian packages is real produced music in quantity, but unlabelled. Self-training labels it
with the shipped pipeline itself (network, beat-synchronous cues, bar model: its beats and bar
positions are better than the network's raw activations, the cue models having learnt from
exact grids) and keeps only the excerpts where that labelling is likely right:

* the pulse is clear (:func:`audiolens.beats`' confidence, the pulse clarity, at least
  ``--min-confidence``), at least 12 beats, and steady (the beat intervals' deviation under 8%
  of their mean);
* librosa's ``beat_track``, a tracker with nothing in common with ours, puts its beats on the
  same phase at some metrical level (beat F >= 0.8 against its beats, its beats with the
  midpoints added, or either half of them). This guards the beat phase, not the level or the
  bar: those stay ours.

Excerpts: 30 s at random offsets (``--per-track`` per track), mono 44.1 kHz 16-bit FLAC, with
a ``.beats`` file (time, bar position) and a ``manifest.csv`` row, as the other corpora. Tracks
are files with "music" in their path and at least 40 s long.

Session 23 (see RESULTS.md) used these Debian packages, none of them in any evaluation or
calibration set (unpack with ``dpkg -x`` and pass the folders): ``naev-data``,
``supertux-data``, ``wesnoth-1.16-music``, ``hedgewars-data``, ``warmux-data``,
``plee-the-bear-data``, ``ardentryst``, ``davegnukem-data``, ``starfighter-data``,
``planetblupi-music-ogg``, ``marsshooter-data``, ``extremetuxracer-data``, ``xmoto-data``,
``trackballs-data``, ``wizznic-data``, ``amoebax-data``, ``lordsawar-data``, ``flare-game``,
``megaglest-data`` (332 tracks; 582 excerpts, 281 kept).

Usage::

    python benchmarks/beats_selftrain.py --src UNPACKED/ --out benchmarks/_corpus_beats_self23
"""

from __future__ import annotations

import argparse
import csv
import warnings
from pathlib import Path

import numpy as np

AUDIO = {".ogg", ".mp3", ".flac", ".opus", ".wav"}
EXCERPT_S = 30.0
MIN_TRACK_S = 40.0


def tracks(folders: list[Path]) -> list[Path]:
    """Audio files with "music" in their path, sorted."""
    return sorted(
        p
        for d in folders
        for p in d.rglob("*")
        if p.suffix.lower() in AUDIO and "music" in str(p).lower() and p.is_file()
    )


def phase_agreement(y: np.ndarray, beats: np.ndarray) -> float:
    """Beat F of ``beats`` against librosa's beats at the same phase, at any of four levels."""
    import librosa
    import mir_eval

    theirs = librosa.beat.beat_track(
        y=librosa.resample(y, orig_sr=44100, target_sr=22050), sr=22050, units="time"
    )[1]
    if theirs.size < 4:
        return 0.0
    doubled = np.sort(np.concatenate([theirs, (theirs[1:] + theirs[:-1]) / 2]))
    levels = (theirs, doubled, theirs[0::2], theirs[1::2])
    return max(float(mir_eval.beat.f_measure(ref, beats)) for ref in levels)


def main() -> None:
    import soundfile as sf

    import audiolens

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, nargs="+", required=True, help="unpacked packages")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=23)
    ap.add_argument("--per-track", type=int, default=2, help="excerpts tried per track")
    ap.add_argument("--min-confidence", type=float, default=0.6)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    files = tracks(args.src)
    rows, tried = [], 0
    for f in files:
        try:
            seconds = float(audiolens.probe(f).duration)
        except audiolens.AudiolensError:
            continue
        if seconds < MIN_TRACK_S:
            continue
        where = f.relative_to(next(d for d in args.src if f.is_relative_to(d)))
        for k in range(args.per_track):
            offset = float(rng.uniform(3.0, seconds - EXCERPT_S - 3.0))
            try:
                y = audiolens.load(f, sr=44100, mono=True, offset=offset, duration=EXCERPT_S)
            except audiolens.AudiolensError:
                continue
            x = y.samples[0]
            if x.size < 44100 * (EXCERPT_S - 1):
                continue
            tried += 1
            stem = "_".join((where.parts[0], f.parent.name, f.stem, str(k))).replace(" ", "_")
            path = args.out / f"{stem[:100]}.flac"
            sf.write(path, x, 44100, subtype="PCM_16")
            r = audiolens.beats(path, device="cpu")
            b = np.asarray(r.beats)
            ibi = np.diff(b)
            keep = (
                r.confidence >= args.min_confidence
                and b.size >= 12
                and r.meter is not None
                and ibi.std() < 0.08 * ibi.mean()
                and phase_agreement(x, b) >= 0.8
            )
            if not keep:
                path.unlink()
                continue
            lines = (f"{t:.4f}\t{p}\n" for t, p in zip(b, r.positions))
            path.with_suffix(".beats").write_text("".join(lines))
            rows.append(
                {
                    "path": path.name,
                    "split": "train",
                    "meter": str(r.meter),
                    "beats_per_bar": r.meter,
                    "bpm": f"{r.tempo:.2f}",
                    "source": f"{where} @ {offset:.1f} s",
                    "master": "",
                    "duration_s": f"{EXCERPT_S:.1f}",
                }
            )
        print(f"{f.name}: {tried} excerpts tried, {len(rows)} kept", flush=True)
    if not rows:
        raise SystemExit("no excerpt kept")
    with open(args.out / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"{tried} excerpts tried, {len(rows)} kept in {args.out}")


if __name__ == "__main__":
    main()
