"""Beats, downbeats and tempo: accuracy and speed beside librosa's ``beat.beat_track``.

Accuracy (``mir_eval.beat.f_measure``, 70 ms window) on the annotated real clips of
``shared/eval/beats`` (never trained on; scored from 0 s because they are short: madmom's
sample is 2.8 s) and on the ``test`` split of ``benchmarks/_corpus_beats`` (53 rendered pieces
the network never saw; scored after mir_eval's usual 5 s trim): beat F of both, downbeat F of
ours (librosa has no downbeats), and tempo: within 4% of the annotated tempo (the median
annotated beat period; Acc1), and within 4% of it or of its double, half, triple or third
(Acc2). librosa's tempo is the one ``beat_track`` returns.

Speed: one 3-minute song (``_work/beats_180s.*``: corpus test pieces joined, as WAV, FLAC and
MP3), from the file to beats, downbeats and tempo, on one thread (``OMP_NUM_THREADS=1`` and
friends are set before numpy loads), median of 7 runs, side by side with ``librosa.load`` +
``beat_track`` on the same file; the same over every file of the accuracy run; and one 1-hour
FLAC, each tracker in a fresh process, with its peak memory.

Usage::

    python benchmarks/beats_corpus.py --jobs 2     # the corpus, once
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

HERE = Path(__file__).resolve().parent
EVAL = HERE.parent.parent / "shared" / "eval" / "beats"
CORPUS = HERE / "_corpus_beats"
WORK = HERE / "_work"


def files(limit: int | None) -> list[tuple[str, Path, Path]]:
    """(group, audio, .beats) for the eval clips and the corpus's test pieces."""
    out = [
        ("eval (real)", a, a.with_name(a.stem.replace("_mic", "") + ".beats"))
        for a in sorted(EVAL.glob("*.wav"))
    ]
    manifest = CORPUS / "manifest.csv"
    if manifest.exists():
        with open(manifest, newline="") as fh:
            rows = [r for r in csv.DictReader(fh) if r["split"] == "test"]
        for r in rows[:limit]:
            audio = CORPUS / r["path"]
            out.append((f"corpus {r['meter']}", audio, audio.with_suffix(".beats")))
    return [f for f in out if f[2].exists()]


def ours(path: Path) -> tuple[np.ndarray, np.ndarray, float | None]:
    from audiolens import beats

    r = beats(path, device="cpu")
    return np.asarray(r.beats), np.asarray(r.downbeats), r.tempo


def theirs(path: Path) -> tuple[np.ndarray, np.ndarray, float | None]:
    import librosa

    y, sr = librosa.load(path, sr=22050, mono=True)
    tempo, beats = librosa.beat.beat_track(y=y, sr=sr, units="time")
    return beats, np.zeros(0), float(np.atleast_1d(tempo)[0])


def f_measure(ref: np.ndarray, est: np.ndarray, trim: bool) -> float:
    import mir_eval

    if trim:
        ref, est = mir_eval.beat.trim_beats(ref), mir_eval.beat.trim_beats(est)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(mir_eval.beat.f_measure(ref, est))


def tempo_scores(ref_bpm: float, est: float | None) -> tuple[bool, bool]:
    if not est:
        return False, False
    ok = lambda f: abs(est / (ref_bpm * f) - 1) <= 0.04  # noqa: E731
    return ok(1.0), any(ok(f) for f in (1.0, 2.0, 0.5, 3.0, 1 / 3))


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
    args = ap.parse_args()
    todo = files(args.limit)
    librosa.beat.beat_track(y=np.zeros(22050 * 6, np.float32), sr=22050)  # numba's first call
    ours(todo[0][1])  # load the network once, as a worker does
    groups: dict[str, dict[str, list[float]]] = {}
    secs = {"ours": 0.0, "librosa": 0.0}
    audio_s = 0.0
    print(f"{'file':30s}{'group':>12s}{'beat F':>8s}{'librosa':>9s}{'down F':>8s}"
          f"{'tempo':>8s}{'librosa':>9s}{'truth':>8s}")  # fmt: skip
    for group, audio, truth in todo:
        ann = np.loadtxt(truth, ndmin=2)
        ref = ann[:, 0]
        ref_down = ref[ann[:, 1] == 1] if ann.shape[1] > 1 else None
        ref_bpm = 60.0 / float(np.median(np.diff(ref)))
        trim = not group.startswith("eval")
        row: dict[str, float] = {}
        shown = {}
        for name, fn in (("ours", ours), ("librosa", theirs)):
            t = time.perf_counter()
            est, down, bpm = fn(audio)
            secs[name] += time.perf_counter() - t
            row[f"{name} beat F"] = f_measure(ref, est, trim)
            acc1, acc2 = tempo_scores(ref_bpm, bpm)
            row[f"{name} Acc1"], row[f"{name} Acc2"] = float(acc1), float(acc2)
            if name == "ours" and ref_down is not None:
                row["ours downbeat F"] = f_measure(ref_down, down, trim)
            shown[name] = bpm or 0.0
        for key, value in row.items():
            groups.setdefault(group, {}).setdefault(key, []).append(value)
        audio_s += librosa.get_duration(path=audio)
        print(f"{audio.name[:29]:30s}{group:>12s}{row['ours beat F']:8.3f}"
              f"{row['librosa beat F']:9.3f}{row.get('ours downbeat F', float('nan')):8.3f}"
              f"{shown['ours']:8.1f}{shown['librosa']:9.1f}{ref_bpm:8.1f}")  # fmt: skip
    keys = ("ours beat F", "librosa beat F", "ours downbeat F", "ours Acc1", "librosa Acc1",
            "ours Acc2", "librosa Acc2")  # fmt: skip
    print(f"\n{'means':22s}{'files':>6s}" + "".join(f"{k:>16s}" for k in keys))
    every: dict[str, list[float]] = {}
    corpus: dict[str, list[float]] = {}
    for group, s in sorted(groups.items()):
        n = len(s["ours beat F"])
        cells = "".join(f"{statistics.mean(s[k]) if k in s else float('nan'):16.3f}" for k in keys)
        print(f"{group:22s}{n:6d}{cells}")
        for k, v in s.items():
            every.setdefault(k, []).extend(v)
            if group.startswith("corpus"):
                corpus.setdefault(k, []).extend(v)
    for label, s in (("corpus test split", corpus), ("all", every)):
        if s:
            cells = "".join(f"{statistics.mean(s[k]):16.3f}" for k in keys)
            print(f"{label:22s}{len(s['ours beat F']):6d}{cells}")
    print(
        f"\nall files, {audio_s / 60:.1f} min of audio, decoding included, one thread: ours "
        f"{secs['ours']:.2f} s ({secs['ours'] / audio_s * 100:.3f}% of the duration), librosa "
        f"{secs['librosa']:.2f} s ({secs['librosa'] / audio_s * 100:.3f}%): "
        f"{secs['librosa'] / secs['ours']:.2f}x"
    )
    print(f"\n3-minute song, file to beats, downbeats, tempo; one thread; median of {args.repeat}")
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
        "beat DBN + bars": lambda _: track_activations(act),
    }
    print(f"\nstages on {path.name}:")
    for name, fn in parts.items():
        print(f"  {name:28s}{median_time(fn, path, repeat) * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
