"""Speed of the ``quality`` task, measured side by side with its baselines in one run.

Three tables:

1. per file: ``audiolens.quality()`` against a faithful re-creation of bitrater 0.1.5's
   feature extraction (``librosa.load(sr=None, mono=True)``; ``scipy.signal.welch(nperseg=8192)``
   on the whole file and on each of 8 equal parts; ``librosa.stft(n_fft=4096, hop_length=2048)``
   and ``librosa.stft(n_fft=8192)``), one process, same files, alternating;
2. per collection: ``audiolens analyze --tasks quality`` against ``bitrater analyze`` as its
   users run it (one process; 0.1.5 has no parallel option), same files;
3. against the decode floor: decoding every file whole and nothing else, with the same number
   of processes as ``audiolens analyze``.

Usage::

    python benchmarks/bench_quality_speed.py --files benchmarks/_corpus/speed --limit 120

The bitrater side needs the venv made by ``benchmarks/bitrater_baseline.py``; without it that
row is skipped (and says so).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
AUDIO_EXT = {".mp3", ".flac", ".wav", ".m4a", ".ogg", ".opus", ".aiff"}


def recreation(path: str) -> None:
    """bitrater 0.1.5's feature extraction passes, re-created with the same library calls."""
    import librosa
    import scipy.signal

    y, sr = librosa.load(path, sr=None, mono=True)
    scipy.signal.welch(y, fs=sr, nperseg=8192)
    for part in np.array_split(y, 8):
        if part.size >= 8192:
            scipy.signal.welch(part, fs=sr, nperseg=8192)
    np.abs(librosa.stft(y, n_fft=4096, hop_length=2048))
    np.abs(librosa.stft(y, n_fft=8192))


def ours(path: str) -> None:
    """The whole quality analysis of one file (decode included)."""
    import audiolens

    audiolens.quality(path, device="cpu")


def decode_only(path: str) -> int:
    """Decode the whole file and nothing else (the decode floor)."""
    from audiolens.audio import load

    return load(path).samples.shape[1]


def _files(root: Path, limit: int) -> list[str]:
    files = sorted(str(p.resolve()) for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXT)
    return files[:limit]


def per_file(files: list[str], repeats: int) -> tuple[float, float]:
    """Median seconds per file of (ours, re-creation), alternating on each file."""
    ours(files[0]), recreation(files[0])  # warm-up: imports, model load, librosa caches
    t_ours, t_rec = [], []
    for f in files:
        for _ in range(repeats):
            t = time.perf_counter()
            ours(f)
            t_ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            recreation(f)
            t_rec.append(time.perf_counter() - t)
    return statistics.median(t_ours), statistics.median(t_rec)


def run_ours(
    files: list[str], workers: int, src: Path | None = None
) -> tuple[float, dict[str, dict[str, str]]]:
    """Wall seconds of ``audiolens analyze --tasks quality`` over ``files`` (fresh store), and
    its answers by file; ``src``: run the audiolens source tree there instead (an earlier
    revision checked out with ``git worktree add``)."""
    import json

    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(src), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )

    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "files"
        listing.mkdir()
        for i, f in enumerate(files):
            os.symlink(f, listing / f"{i:04d}{Path(f).suffix}")
        cmd = [
            sys.executable,
            "-m",
            "audiolens",
            "analyze",
            str(listing),
            "--tasks",
            "quality",
            "--db",
            str(Path(tmp) / "r.sqlite"),
            "--workers",
            str(workers),
            "--no-progress",
            "--device",
            "cpu",
        ]
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t
        if proc.returncode not in (0, 1):
            raise SystemExit(f"audiolens analyze failed:\n{proc.stderr}")
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "audiolens",
                "export",
                "--db",
                str(Path(tmp) / "r.sqlite"),
                "--format",
                "json",
            ],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        ).stdout
    answers = {}
    for rec in json.loads(out):
        f = files[int(Path(rec["path"]).stem)]
        answers[f] = {
            "verdict": rec.get("verdict", "error"),
            "bitrate_class": rec.get("bitrate_class", ""),
        }
    return wall, answers


BITRATER = HERE / "_work" / "venv-bitrater" / "bin" / "bitrater"


def run_bitrater(files: list[str]) -> tuple[float, dict[str, dict[str, str]]]:
    """Wall seconds of ``bitrater analyze`` over ``files``, and its answers by file.

    Its output lines read ``[OK|TRANSCODE] NAME: CLASS KBPSkbps (confidence: N%)``.
    """
    with tempfile.TemporaryDirectory() as tmp:
        for i, f in enumerate(files):
            os.symlink(f, Path(tmp) / f"{i:04d}{Path(f).suffix}")
        t = time.perf_counter()
        proc = subprocess.run([str(BITRATER), "analyze", tmp], capture_output=True, text=True)
        wall = time.perf_counter() - t
    answers = {}
    for line in proc.stdout.splitlines():
        if not line.startswith("["):
            continue
        status, rest = line[1:].split("]", 1)
        name, _, claim = rest.strip().partition(": ")
        cls = claim.split()[0] if claim else ""
        cls = "lossless" if cls.upper() == "LOSSLESS" else cls
        verdict = (
            "transcode" if status == "TRANSCODE" else ("lossless" if cls == "lossless" else "lossy")
        )
        answers[files[int(Path(name).stem)]] = {"verdict": verdict, "bitrate_class": cls}
    return wall, answers


def accuracy(files: list[str], labels: dict[str, dict[str, str]], answers) -> str:
    """Verdict accuracy on all files and 7-class accuracy on LAME + lossless files."""
    verdict = [answers.get(f, {}).get("verdict") == labels[f]["verdict"] for f in files]
    seven = [
        answers.get(f, {}).get("bitrate_class") == labels[f]["bitrate_class"]
        for f in files
        if labels[f]["verdict"] == "lossless"
        or (labels[f]["verdict"] == "lossy" and labels[f]["codec"] == "mp3")
    ]
    return (
        f"verdict {100 * np.mean(verdict):5.1f}%, "
        f"7-class (LAME + lossless) {100 * np.mean(seven):5.1f}%"
    )


def read_labels(root: Path) -> dict[str, dict[str, str]]:
    """Ground truth of the speed set, from its manifest (when there is one)."""
    import csv

    manifest = root.parent / "manifest.csv" if root.name == "files" else root / "manifest.csv"
    if not manifest.exists():
        return {}
    with open(manifest, newline="") as fh:
        return {str((manifest.parent / r["path"]).resolve()): r for r in csv.DictReader(fh)}


def decode_floor(files: list[str], workers: int) -> float:
    """Wall seconds to decode every file whole with ``workers`` processes."""
    t = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as ex:
        list(ex.map(decode_only, files, chunksize=2))
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=Path, default=HERE / "_corpus" / "speed")
    ap.add_argument("--limit", type=int, default=120)
    ap.add_argument("--per-file", type=int, default=12, help="files for table 1")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--skip-bitrater", action="store_true")
    ap.add_argument(
        "--before-src",
        type=Path,
        help="the src/ folder of an earlier revision (git worktree add DIR REV): its "
        "`analyze` runs beside today's, alternating, --repeats times each",
    )
    args = ap.parse_args(argv)
    files = _files(args.files, args.limit)
    if not files:
        raise SystemExit(f"no audio under {args.files}; run benchmarks/quality_corpus.py --long")
    secs = sum(__import__("audiolens").probe(f).duration for f in files)
    print(
        f"{len(files)} files, {secs / 60:.1f} min of audio, mean {secs / len(files):.0f} s; "
        f"{args.workers} worker(s); {os.cpu_count()} cores"
    )

    sample = files[:: max(1, len(files) // args.per_file)][: args.per_file]
    t_ours, t_rec = per_file(sample, args.repeats)
    print("\n1. per file (one process, median over files)")
    print(f"{'':28s}{'seconds/file':>14s}{'ratio':>9s}")
    print(f"{'bitrater re-creation':28s}{t_rec:14.3f}{1.0:9.2f}")
    print(f"{'audiolens quality':28s}{t_ours:14.3f}{t_rec / t_ours:9.2f}x faster")

    if args.before_src:
        before, now = [], []
        for _ in range(args.repeats):
            before.append(run_ours(files, args.workers, args.before_src)[0])
            now.append(run_ours(files, args.workers)[0])
        n = len(files)
        b, a = statistics.median(before), statistics.median(now)
        print(
            f"\n0. audiolens analyze, this revision against {args.before_src} "
            f"(median of {args.repeats})"
        )
        print(f"{'':36s}{'seconds':>10s}{'files/s':>10s}{'change':>12s}")
        print(f"{'before':36s}{b:10.1f}{n / b:10.2f}{'':>12s}")
        print(f"{'now':36s}{a:10.1f}{n / a:10.2f}{100 * (b / a - 1):+11.1f}%")
        print(
            "  all runs, seconds: before "
            + ", ".join(f"{v:.1f}" for v in before)
            + "; now "
            + ", ".join(f"{v:.1f}" for v in now)
        )
    wall_ours, ours_ans = run_ours(files, args.workers)
    wall_floor = decode_floor(files, args.workers)
    if args.skip_bitrater or not BITRATER.exists():
        wall_br, br_ans = None, {}
    else:
        wall_br, br_ans = run_bitrater(files)
    n = len(files)
    print("\n2./3. per collection (wall clock, same files)")
    print(f"{'':36s}{'seconds':>10s}{'files/s':>10s}{'ours vs it':>12s}")
    if wall_br is None:
        why = "skipped" if args.skip_bitrater else f"skipped: no {BITRATER}"
        print(f"{'bitrater analyze (1 process)':36s}  {why}")
    else:
        print(
            f"{'bitrater analyze (1 process)':36s}{wall_br:10.1f}{n / wall_br:10.2f}"
            f"{wall_br / wall_ours:11.1f}x"
        )
    print(
        f"{f'decode floor ({args.workers} processes)':36s}{wall_floor:10.1f}"
        f"{n / wall_floor:10.2f}{wall_floor / wall_ours:11.2f}x"
    )
    print(
        f"{f'audiolens analyze ({args.workers} workers)':36s}{wall_ours:10.1f}"
        f"{n / wall_ours:10.2f}{1.0:11.2f}x"
    )
    print("\n'ours vs it' > 1 means audiolens is that many times faster.")
    labels = read_labels(args.files)
    known = [f for f in files if str(Path(f).resolve()) in labels]
    if known:
        lab = {f: labels[str(Path(f).resolve())] for f in known}
        print(f"\naccuracy on these {len(known)} files (labels from the speed set's manifest):")
        print(f"  audiolens: {accuracy(known, lab, ours_ans)}")
        if br_ans:
            print(f"  bitrater:  {accuracy(known, lab, br_ans)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
