"""Song sections: boundary hit rate and pairwise label F beside two baselines, and speed.

Data: the ``test`` split of ``benchmarks/_corpus_beats`` (``beats_corpus.py``): rendered
pieces built from labelled sections of 4 or 8 bars repeated exactly (ABA, AABA, ABAC,
intro-verse-chorus ...), with exact section times (``.segments``). Scores with mir_eval:
``segment.detection`` (window 3 s, first and last boundary trimmed: the hit rate F) and
``segment.pairwise`` (pairwise label F).

Beside audiolens's ``structure``:

- librosa: ``segment.agglomerative`` on beat-synchronous CQT chroma stacked with MFCCs
  (librosa's own beat tracker), given the TRUE number of sections of each piece (a generous
  baseline: it cannot find that number itself), labels from clustering the sections' mean
  features with the true number of distinct labels;
- fixed: one section every 8 bars of the annotated tempo, all labelled differently (what a
  tool without structure analysis gives).

- before: audiolens's segmentation at revision ``--before`` (the code before issue 15), run
  on the same spectrogram, beats and bars as ours (side by side, same process).

Seconds are from the decoded file to the sections (ours includes its own beat tracking; the
spectrogram and the beats are timed once and added to both ours and before's own time).

``--real`` also prints, for real recordings without section truth (the two Slakh stems of
``shared/eval/music_transcription``, Debian's ``frozen-bubble-data`` and
``warzone2100-music`` when installed), the letter strings and section lengths before and after.

Usage::

    python benchmarks/bench_structure.py [--limit N] [--split test] [--before REV] [--real]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import time
import types
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "_corpus_beats"
#: the last revision before issue 15 changed the segmentation
BEFORE = "f1b5572"
REAL = [
    HERE.parent.parent / "shared/eval/music_transcription/slakh_Track01876_S00.flac",
    HERE.parent.parent / "shared/eval/music_transcription/slakh_Track01876_S09.flac",
    # frozen-bubble-data's renders (fb-music-high's own file is a tracker module FFmpeg lacks)
    Path("/usr/share/games/frozen-bubble/snd/frozen-mainzik-1p.ogg"),
    Path("/usr/share/games/frozen-bubble/snd/frozen-mainzik-2p.ogg"),
    *(
        Path("/usr/share/games/warzone2100/music/albums") / f"{album}/track{n}.opus"
        for album, n in (
            ("legacy_soundtrack", 10),
            ("legacy_soundtrack", 12),
            ("aftermath_soundtrack", 17),
            ("aftermath_soundtrack", 20),
        )
    ),
]


def read_segments(path: Path) -> tuple[np.ndarray, list[str]]:
    rows = [line.split("\t") for line in path.read_text().strip().splitlines()]
    return np.array([[float(a), float(b)] for a, b, _ in rows]), [c.strip() for *_, c in rows]


def before_segment(rev: str):
    """``segment`` of audiolens's structure module at git revision ``rev``."""
    name = "audiolens.tasks.structure._before"
    src = subprocess.run(
        ["git", "show", f"{rev}:src/audiolens/tasks/structure/segment.py"],
        cwd=HERE, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    mod = types.ModuleType(name)
    mod.__package__ = "audiolens.tasks.structure"
    sys.modules[name] = mod
    exec(compile(src, f"{rev}:segment.py", "exec"), mod.__dict__)
    return mod.segment


def beats_of(y: np.ndarray):
    """The spectrogram and the beats/bars (what ``structure`` shares with ``beats``)."""
    from audiolens.tasks.beats import track
    from audiolens.tasks.beats.features import logspec

    S = logspec(y)
    return S, track(S)


def sections(fn, S: np.ndarray, found) -> tuple[np.ndarray, list[str]]:
    segs, _ = fn(S, beats=found.beats, downbeats=found.downbeats)
    return np.array([[s.start, s.end] for s in segs]), [s.label for s in segs]


def theirs(y: np.ndarray, k: int, n_labels: int) -> tuple[np.ndarray, list[str]]:
    import librosa
    from scipy.cluster.vq import kmeans2

    x = librosa.resample(y, orig_sr=44100, target_sr=22050)
    sr = 22050
    _, beats = librosa.beat.beat_track(y=x, sr=sr)
    chroma = librosa.feature.chroma_cqt(y=x, sr=sr)
    mfcc = librosa.feature.mfcc(y=x, sr=sr, n_mfcc=13)
    feats = np.vstack([
        librosa.util.sync(chroma, beats), librosa.util.sync(mfcc, beats) / 50.0
    ])  # fmt: skip
    frames = librosa.util.fix_frames(beats, x_min=0)
    k = max(min(k, feats.shape[1] - 1), 1)
    bounds = librosa.segment.agglomerative(feats, k)
    times = librosa.frames_to_time(frames[bounds], sr=sr)
    times = np.unique(np.concatenate([[0.0], times, [len(x) / sr]]))
    intervals = np.stack([times[:-1], times[1:]], axis=1)
    means = np.array([
        feats[:, bounds[i] : (bounds[i + 1] if i + 1 < len(bounds) else None)].mean(axis=1)
        for i in range(len(intervals))
    ])  # fmt: skip
    rng = np.random.default_rng(0)
    _, lab = kmeans2(means, min(n_labels, len(means)), minit="++", seed=rng)
    return intervals, [chr(65 + int(v)) for v in lab]


def fixed(duration: float, bpm: float, meter: int) -> tuple[np.ndarray, list[str]]:
    step = 8 * meter * 60.0 / bpm
    t = np.concatenate([np.arange(0.0, duration, step), [duration]])
    return np.stack([t[:-1], t[1:]], axis=1), [f"S{i}" for i in range(len(t) - 1)]


def score(ref, est) -> tuple[float, float, float, float]:
    """Boundary precision, recall and F within 3 s (first and last trimmed); pairwise F."""
    import mir_eval

    (ri, rl), (ei, el) = ref, est
    ei = ei.copy()
    ei[-1, 1] = ri[-1, 1]
    ei[0, 0] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, r, f = mir_eval.segment.detection(ri, ei, window=3, trim=True)
        pair = mir_eval.segment.pairwise(ri, rl, ei, el)[2]
    return float(p), float(r), float(f), float(pair)


def real_files(fn_before, fn_after) -> None:
    """Letter strings and section lengths of real recordings, before and after."""
    from audiolens import load

    print("\nreal recordings (no section truth): form, then section lengths [s]")
    for path in REAL:
        if not path.exists():
            print(f"{path.name}: not installed")
            continue
        y = load(path, sr=44100, mono=True).samples[0]
        S, found = beats_of(y)
        print(f"{path.name} ({y.size / 44100:.0f} s, {len(found.downbeats)} downbeats)")
        for name, fn in (("before", fn_before), ("after", fn_after)):
            iv, lab = sections(fn, S, found)
            lengths = " ".join(f"{b - a:.0f}" for a, b in iv)
            print(f"  {name:7s}{''.join(lab):32s} {lengths}")


def main() -> None:
    from audiolens import load
    from audiolens.tasks.structure import segment

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help="pieces to use")
    ap.add_argument("--split", default="test", choices=("test", "train"))
    ap.add_argument("--before", default=BEFORE, help="git revision of the 'before' column")
    ap.add_argument("--real", action="store_true", help="also real recordings (no truth)")
    args = ap.parse_args()
    before = before_segment(args.before)
    with open(CORPUS / "manifest.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == args.split][: args.limit]
    beats_of(np.zeros(44100 * 10, np.float32))  # load the beat network once
    names = ("audiolens", "before", "librosa (true k)", "fixed 8 bars")
    results: dict[str, dict[str, list[float]]] = {}
    secs = dict.fromkeys(("beats", "audiolens", "before", "librosa (true k)"), 0.0)
    minutes = 0.0
    print(f"{'piece':16s}{'form':>9s}{'ours':>9s}{'P':>6s}{'R':>6s}{'pair':>6s}"
          f"{'before':>11s}{'P':>6s}{'R':>6s}{'pair':>6s}")  # fmt: skip
    for r in rows:
        path = CORPUS / r["path"]
        ref = read_segments(path.with_suffix(".segments"))
        y = load(path, sr=44100, mono=True).samples[0]
        minutes += y.size / 44100 / 60
        t = time.perf_counter()
        S, found = beats_of(y)
        secs["beats"] += time.perf_counter() - t
        est = {}
        for name, fn in (("audiolens", segment), ("before", before)):
            t = time.perf_counter()
            est[name] = sections(fn, S, found)
            secs[name] += time.perf_counter() - t
        t = time.perf_counter()
        est["librosa (true k)"] = theirs(y, len(ref[1]), len(set(ref[1])))
        secs["librosa (true k)"] += time.perf_counter() - t
        est["fixed 8 bars"] = fixed(y.size / 44100, float(r["bpm"]), int(r["beats_per_bar"]))
        row = {}
        for name in names:
            sc = score(ref, est[name])
            for key, v in zip(("P", "R", "F", "pair"), sc):
                results.setdefault(r["meter"], {}).setdefault(f"{name} {key}", []).append(v)
                results.setdefault("all", {}).setdefault(f"{name} {key}", []).append(v)
            row[name] = sc
        a, b = row["audiolens"], row["before"]
        print(f"{r['path']:16s}{''.join(ref[1]):>9s}{''.join(est['audiolens'][1]):>9s}"
              f"{a[0]:6.2f}{a[1]:6.2f}{a[3]:6.2f}{''.join(est['before'][1]):>11s}"
              f"{b[0]:6.2f}{b[1]:6.2f}{b[3]:6.2f}")  # fmt: skip
    print("\nboundaries within 3 s: P precision, R recall, F their F (the hit rate); pair: "
          "pairwise label F")  # fmt: skip
    print(f"{'means':10s}{'pieces':>7s}" + "".join(f"{n:>26s}" for n in names))
    print(f"{'':17s}" + f"{'P    R    F pair':>26s}" * len(names))
    for group in sorted(results):
        s = results[group]
        cells = "".join(
            f"{'':6s}"
            + "".join(f"{statistics.mean(s[f'{n} {k}']):5.2f}" for k in ("P", "R", "F", "pair"))
            for n in names
        )
        print(f"{group:10s}{len(s['audiolens F']):7d}{cells}")
    per_min = {k: v / minutes for k, v in secs.items()}
    print(f"\nseconds per minute of audio (decoded audio in, sections out, one process; the "
          f"spectrogram and beats {per_min['beats']:.3f} in both audiolens columns): audiolens "
          f"{per_min['beats'] + per_min['audiolens']:.3f} (segmentation alone "
          f"{per_min['audiolens']:.4f}), before {per_min['beats'] + per_min['before']:.3f} "
          f"(segmentation alone {per_min['before']:.4f}), librosa "
          f"{per_min['librosa (true k)']:.3f}; {minutes:.1f} min")  # fmt: skip
    if args.real:
        real_files(before, segment)


if __name__ == "__main__":
    main()
