"""Beat tracking accuracy and speed beside librosa's ``beat.beat_track`` (early version).

What runs now: the spectral flux (SuperFlux) of the log-filtered spectrogram, scaled to 0-1 by
its 99th percentile, decoded by the beat DBN (``audiolens.tasks.beats.dbn``); librosa 0.11's
``beat.beat_track`` on the same files. Scored with ``mir_eval.beat.f_measure`` (70 ms window,
the first 5 s trimmed) on the annotated clips of ``shared/eval/beats`` and the test split of
``benchmarks/_corpus_beats`` (``python benchmarks/beats_corpus.py --jobs 2``). Seconds include
decoding. Downbeats, meter and tempo come with the ``beats`` task.

Usage::

    python benchmarks/bench_beats.py [--limit N]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
EVAL = HERE.parent.parent / "shared" / "eval" / "beats"


def files(limit: int | None) -> list[tuple[str, Path, Path]]:
    """(group, audio, .beats) for the eval clips and the corpus's test pieces."""
    out = [
        ("eval", a, a.with_name(a.stem.replace("_mic", "") + ".beats"))
        for a in sorted(EVAL.glob("*.wav"))
    ]
    manifest = HERE / "_corpus_beats" / "manifest.csv"
    if manifest.exists():
        with open(manifest, newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if r["split"] == "test"]
        for r in rows[:limit]:
            audio = HERE / "_corpus_beats" / r["path"]
            out.append((f"corpus {r['meter']}", audio, audio.with_suffix(".beats")))
    return [f for f in out if f[2].exists()]


def ours(path: Path) -> np.ndarray:
    from audiolens import load
    from audiolens.dsp import log_filtered_spectrogram, spectral_flux
    from audiolens.tasks.beats.dbn import track_beats

    y = load(path, sr=44100, mono=True).samples[0]
    env = spectral_flux(log_filtered_spectrogram(y, sr=44100), max_size=3)
    return track_beats(np.clip(env / (np.percentile(env, 99) + 1e-12), 0, 1))


def theirs(path: Path) -> np.ndarray:
    import librosa

    y, sr = librosa.load(path, sr=22050, mono=True)
    return librosa.beat.beat_track(y=y, sr=sr, units="time")[1]


def main() -> None:
    import librosa
    import mir_eval

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=None, help="corpus test pieces to use")
    args = ap.parse_args()
    todo = files(args.limit)
    librosa.beat.beat_track(y=np.zeros(22050 * 6, np.float32), sr=22050)  # numba's first call
    scores: dict[str, dict[str, list[float]]] = {}
    secs = {"ours": 0.0, "librosa": 0.0}
    audio_s = 0.0
    print(f"{'file':34s}{'group':>13s}{'ours F':>9s}{'librosa F':>11s}")
    for group, audio, truth in todo:
        ref = mir_eval.beat.trim_beats(np.loadtxt(truth, ndmin=2)[:, 0])
        row = {}
        for name, fn in (("ours", ours), ("librosa", theirs)):
            t = time.perf_counter()
            est = fn(audio)
            secs[name] += time.perf_counter() - t
            row[name] = mir_eval.beat.f_measure(ref, mir_eval.beat.trim_beats(est))
            scores.setdefault(group, {}).setdefault(name, []).append(row[name])
        audio_s += librosa.get_duration(path=audio)
        print(f"{audio.name[:33]:34s}{group:>13s}{row['ours']:9.3f}{row['librosa']:11.3f}")
    print(f"\n{'mean beat F':34s}{'files':>13s}{'ours':>9s}{'librosa':>11s}")
    for group, s in sorted(scores.items()):
        print(
            f"{group:34s}{len(s['ours']):13d}{statistics.mean(s['ours']):9.3f}"
            f"{statistics.mean(s['librosa']):11.3f}"
        )
    every = [v for s in scores.values() for v in s["ours"]]
    theirs_all = [v for s in scores.values() for v in s["librosa"]]
    print(
        f"{'all':34s}{len(every):13d}{statistics.mean(every):9.3f}{statistics.mean(theirs_all):11.3f}"
    )
    print(
        f"\nseconds for {audio_s / 60:.1f} min of audio (decoding included): ours "
        f"{secs['ours']:.1f} ({secs['ours'] / audio_s * 100:.2f}% of the duration), librosa "
        f"{secs['librosa']:.1f} ({secs['librosa'] / audio_s * 100:.2f}%)"
    )


if __name__ == "__main__":
    main()
