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

Seconds are from the decoded file to the sections (ours includes its own beat tracking).

Usage::

    python benchmarks/bench_structure.py [--limit N]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "_corpus_beats"


def read_segments(path: Path) -> tuple[np.ndarray, list[str]]:
    rows = [line.split("\t") for line in path.read_text().strip().splitlines()]
    return np.array([[float(a), float(b)] for a, b, _ in rows]), [c.strip() for *_, c in rows]


def ours(y: np.ndarray) -> tuple[np.ndarray, list[str]]:
    from audiolens.tasks.beats import track
    from audiolens.tasks.beats.features import logspec
    from audiolens.tasks.structure import segment

    S = logspec(y)
    found = track(S)
    segs, _ = segment(S, beats=found.beats, downbeats=found.downbeats)
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


def score(ref, est) -> tuple[float, float]:
    import mir_eval

    (ri, rl), (ei, el) = ref, est
    ei = ei.copy()
    ei[-1, 1] = ri[-1, 1]
    ei[0, 0] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hit = mir_eval.segment.detection(ri, ei, window=3, trim=True)[2]
        pair = mir_eval.segment.pairwise(ri, rl, ei, el)[2]
    return float(hit), float(pair)


def main() -> None:
    from audiolens import load

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help="test pieces to use")
    args = ap.parse_args()
    with open(CORPUS / "manifest.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] == "test"][: args.limit]
    ours(np.zeros(44100 * 10, np.float32))  # load the beat network once
    results: dict[str, dict[str, list[float]]] = {}
    secs = {"audiolens": 0.0, "librosa (true k)": 0.0}
    minutes = 0.0
    print(f"{'piece':16s}{'form':>9s}{'ours':>9s}{'hit':>6s}{'pair':>6s}{'librosa':>10s}"
          f"{'hit':>6s}{'pair':>6s}")  # fmt: skip
    for r in rows:
        path = CORPUS / r["path"]
        ref = read_segments(path.with_suffix(".segments"))
        y = load(path, sr=44100, mono=True).samples[0]
        minutes += y.size / 44100 / 60
        t = time.perf_counter()
        mine = ours(y)
        secs["audiolens"] += time.perf_counter() - t
        t = time.perf_counter()
        base = theirs(y, len(ref[1]), len(set(ref[1])))
        secs["librosa (true k)"] += time.perf_counter() - t
        flat = fixed(y.size / 44100, float(r["bpm"]), int(r["beats_per_bar"]))
        row = {}
        for name, est in (("audiolens", mine), ("librosa (true k)", base), ("fixed 8 bars", flat)):
            hit, pair = score(ref, est)
            for key, v in ((f"{name} hit", hit), (f"{name} pair", pair)):
                results.setdefault(r["meter"], {}).setdefault(key, []).append(v)
                results.setdefault("all", {}).setdefault(key, []).append(v)
            row[name] = (hit, pair, "".join(est[1]) if name == "audiolens" else "")
        print(f"{r['path']:16s}{''.join(ref[1]):>9s}{row['audiolens'][2]:>9s}"
              f"{row['audiolens'][0]:6.2f}{row['audiolens'][1]:6.2f}{'':>10s}"
              f"{row['librosa (true k)'][0]:6.2f}{row['librosa (true k)'][1]:6.2f}")  # fmt: skip
    names = ("audiolens", "librosa (true k)", "fixed 8 bars")
    print(
        f"\n{'means':10s}{'pieces':>7s}" + "".join(f"{n + ' hit':>24s}{'pair':>7s}" for n in names)
    )
    for group in sorted(results):
        s = results[group]
        cells = "".join(
            f"{statistics.mean(s[n + ' hit']):24.3f}{statistics.mean(s[n + ' pair']):7.3f}"
            for n in names
        )
        print(f"{group:10s}{len(s['audiolens hit']):7d}{cells}")
    print(f"\nseconds per minute of audio (decoded audio in, sections out, one process): "
          f"audiolens {secs['audiolens'] / minutes:.3f} (beats included), librosa "
          f"{secs['librosa (true k)'] / minutes:.3f}; {minutes:.1f} min")  # fmt: skip


if __name__ == "__main__":
    main()
