"""Run the ``bitrater`` 0.1.5 baseline on the quality corpus, the way its users run it.

bitrater (PyPI, MIT) classifies a file into 7 LAME-style classes (128, V2, 192, V0, 256, 320,
LOSSLESS) with a CNN + sequence model in ONNX Runtime, and flags a transcode when the class the
container claims ranks above the detected one. Its CLI is ``bitrater [-v] analyze TARGET``,
where TARGET is one file or a directory (scanned for .mp3 .flac .wav .ogg .m4a .aac); for each
file it prints::

    [OK] name.mp3: 192 192kbps (confidence: 87%)
    [TRANSCODE] name.flac: 128 128kbps (confidence: 93%)
      warn: File appears to be transcoded from 128 (quality gap: 6)     (with -v)

This script keeps bitrater in its own virtual environment (``benchmarks/_work/venv-bitrater``,
created on first use with ``pip install bitrater==0.1.5``; no torch), runs the CLI over a
directory of links to the files still to do, time-stamps every line it prints, and appends one
row per file to a CSV, so a killed run resumes where it stopped. Files in containers its
directory scan skips (.opus, .aiff) are then run one by one (``mode=single``).

Usage::

    python benchmarks/bitrater_baseline.py --split test          # predictions on the test split
    python benchmarks/bitrater_baseline.py --speed 120           # files/s on the speed set

Outputs go to ``benchmarks/_work/``: ``bitrater_predictions.csv`` (test split; other splits
``bitrater_<split>.csv``), ``bitrater_speed.csv``, and ``timing_<csv name>.json`` beside each.
``path`` in them is absolute; ``rel_path`` is the manifest's (relative to the manifest folder).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "benchmarks" / "_work"
VENV = WORK / "venv-bitrater"
LINKS = WORK / "bitrater-links"
CORPUS = REPO / "benchmarks" / "_corpus"
BITRATER_VERSION = "0.1.5"
#: Extensions bitrater's directory scan picks up (bitrater/cli.py, cmd_analyze).
DIR_SCAN_EXTS = frozenset({".mp3", ".flac", ".wav", ".ogg", ".m4a", ".aac"})
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")

RESULT_RE = re.compile(
    r"^\[(?P<status>OK|TRANSCODE)\] (?P<name>.+): (?P<cls>\S+) (?P<kbps>\d+)kbps "
    r"\(confidence: (?P<conf>\d+)%\)$"
)
WARN_RE = re.compile(r"^\s+warn: File appears to be transcoded from (?P<src>\S+)")
SKIP_RE = re.compile(r"SKIP (?P<name>.+) \(analysis failed\)$")
START_RE = re.compile(r"Analyzing (?P<n>\d+) file\(s\)")


@dataclass
class Prediction:
    """bitrater's answer for one file, with the time it took."""

    path: str
    rel_path: str
    kind: str
    predicted_class: str = ""
    predicted_kbps: str = ""
    is_transcode: str = ""
    transcoded_from: str = ""
    predicted_verdict: str = ""
    confidence: str = ""
    seconds: float = 0.0
    mode: str = "dir"
    status: str = "ok"


FIELDS = list(Prediction.__dataclass_fields__)


# --------------------------------------------------------------------------- environment


def bitrater_exe() -> Path:
    """Path of the ``bitrater`` console script, creating its venv when missing."""
    exe = VENV / "bin" / "bitrater"
    if exe.exists():
        return exe
    print(f"creating {VENV} with bitrater=={BITRATER_VERSION} (CPU only, no torch)")
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, f"bitrater=={BITRATER_VERSION}"], check=True)
    probe = subprocess.run(
        [
            str(VENV / "bin" / "python"),
            "-c",
            "import importlib.util as u; print(u.find_spec('torch'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    if probe.stdout.strip() != "None":
        sys.exit("bitrater's venv pulled in torch; it should only need onnxruntime")
    return exe


def runner_env() -> dict[str, str]:
    """Environment for bitrater: one thread per numeric library, unbuffered output."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.update(dict.fromkeys(THREAD_ENV, "1"))
    return env


def pinned(cmd: list[str], cpu: int | None) -> list[str]:
    """Prefix a command with ``taskset -c CPU`` when asked and available."""
    if cpu is None or shutil.which("taskset") is None:
        return cmd
    return ["taskset", "-c", str(cpu), *cmd]


# --------------------------------------------------------------------------- running the CLI


def timed_lines(cmd: list[str]) -> Iterator[tuple[float, str]]:
    """Run a command and yield (monotonic time, line) for each line of stdout and stderr."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=runner_env()
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        yield time.monotonic(), line.rstrip("\n")
    proc.wait()


def verdict(cls: str, is_transcode: bool) -> str:
    """Map bitrater's class and flag to our verdicts (lossless, lossy, transcode)."""
    if is_transcode:
        return "transcode"
    return "lossless" if cls == "lossless" else "lossy"


def parse_run(
    lines: Iterator[tuple[float, str]], names: dict[str, tuple[str, str, str]], mode: str, t0: float
) -> Iterator[tuple[str, Prediction | float]]:
    """Turn bitrater's output into ('start', startup seconds) and ('file', Prediction) events.

    A result is emitted when the next result, skip or the end arrives, so that the ``warn:``
    line that follows a transcode is attached to it.
    """
    last_t, pending = t0, None
    for t, line in lines:
        if m := START_RE.search(line):
            yield "start", t - t0
            last_t = t
        elif (m := RESULT_RE.match(line)) and m["name"] in names:
            if pending:
                yield "file", pending
            path, rel, kind = names[m["name"]]
            cls = m["cls"].lower() if m["cls"] == "LOSSLESS" else m["cls"]
            flag = m["status"] == "TRANSCODE"
            pending = Prediction(
                path,
                rel,
                kind,
                cls,
                m["kbps"],
                str(flag).lower(),
                "",
                verdict(cls, flag),
                f"{int(m['conf']) / 100:.2f}",
                round(t - last_t, 3),
                mode,
            )
            last_t = t
        elif (m := WARN_RE.match(line)) and pending:
            pending.transcoded_from = m["src"]
        elif (m := SKIP_RE.search(line)) and m["name"] in names:
            if pending:
                yield "file", pending
            path, rel, kind = names[m["name"]]
            pending = Prediction(
                path, rel, kind, seconds=round(t - last_t, 3), mode=mode, status="failed"
            )
            last_t = t
    if pending:
        yield "file", pending


def link_dir(
    rows: list[dict[str, str]], base: Path, name: str
) -> tuple[Path, dict[str, tuple[str, str, str]]]:
    """Make a fresh folder of numbered links to the files; map link name -> (path, kind)."""
    folder = LINKS / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    names = {}
    for i, r in enumerate(rows):
        target = (base / r["path"]).resolve()
        link = folder / f"{i:05d}_{target.name}"
        link.symlink_to(target)
        names[link.name] = (str(target), r["path"], r["kind"])
    return folder, names


def analyze(
    rows: list[dict[str, str]], base: Path, out_csv: Path, name: str, cpu: int | None
) -> dict[str, float]:
    """Run bitrater over the rows (dir scan, then singles), appending to ``out_csv``."""
    exe = str(bitrater_exe())
    scan = [r for r in rows if Path(r["path"]).suffix.lower() in DIR_SCAN_EXTS]
    singles = [r for r in rows if Path(r["path"]).suffix.lower() not in DIR_SCAN_EXTS]
    stats = {"files": 0.0, "startup_s": 0.0, "analysis_s": 0.0, "wall_s": 0.0}
    batches = ([("dir", scan)] if scan else []) + [("single", [r]) for r in singles]
    for mode, batch in batches:
        if mode == "dir":
            folder, names = link_dir(batch, base, name)
            target = str(folder)
        else:  # the CLI resolves a file argument, so it prints the real file name
            target = str((base / batch[0]["path"]).resolve())
            names = {Path(target).name: (target, batch[0]["path"], batch[0]["kind"])}
        t0 = time.monotonic()
        events = parse_run(
            timed_lines(pinned([exe, "-v", "analyze", target], cpu)), names, mode, t0
        )
        for what, value in events:
            if what == "start":
                stats["startup_s"] += float(value)  # type: ignore[arg-type]
            else:
                append_row(out_csv, value)  # type: ignore[arg-type]
                stats["files"] += 1
                stats["analysis_s"] += value.seconds  # type: ignore[union-attr]
        stats["wall_s"] += time.monotonic() - t0
    shutil.rmtree(LINKS / name, ignore_errors=True)
    return stats


# --------------------------------------------------------------------------- CSV and main


def read_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV file (empty when it does not exist)."""
    if not path.exists():
        return []
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def append_row(path: Path, pred: Prediction) -> None:
    """Append one prediction, writing the header first when the file is new."""
    new = not path.exists()
    with path.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        if new:
            writer.writeheader()
        writer.writerow(asdict(pred))


def run_set(
    manifest: Path, split: str | None, limit: int | None, out_csv: Path, cpu: int | None
) -> None:
    """Predict every not-yet-done file of a manifest (optionally one split) and save timings."""
    rows = [r for r in read_csv(manifest) if split is None or r.get("split") == split]
    rows = rows[:limit] if limit else rows
    done = {r["path"] for r in read_csv(out_csv)}
    todo = [r for r in rows if str((manifest.parent / r["path"]).resolve()) not in done]
    print(f"{manifest}: {len(rows)} files, {len(rows) - len(todo)} done, {len(todo)} to do")
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    stats = analyze(todo, manifest.parent, out_csv, out_csv.stem, cpu) if todo else {}
    summarize(manifest, rows, out_csv, stats)


def summarize(
    manifest: Path, rows: list[dict[str, str]], out_csv: Path, stats: dict[str, float]
) -> None:
    """Print and store throughput: files/s and audio seconds per second over all done rows."""
    durations = {
        str((manifest.parent / r["path"]).resolve()): float(r.get("duration_s") or 0) for r in rows
    }
    preds = [p for p in read_csv(out_csv) if p["path"] in durations]
    analysis = sum(float(p["seconds"]) for p in preds)
    audio = sum(durations[p["path"]] for p in preds)
    summary = {
        "bitrater_version": BITRATER_VERSION,
        "manifest": str(manifest),
        "files": len(preds),
        "failed": sum(p["status"] != "ok" for p in preds),
        "analysis_s": round(analysis, 1),
        "files_per_s": round(len(preds) / analysis, 3) if analysis else None,
        "audio_s_per_s": round(audio / analysis, 1) if analysis else None,
        "last_run": {k: round(v, 2) for k, v in stats.items()},
        "note": "analysis_s sums per-file times, each measured between consecutive lines of the "
        "CLI's output (the model load happens before its 'Analyzing' line and is in startup_s); "
        "pinned to one CPU core, numeric libraries at 1 thread",
    }
    timing = out_csv.with_name(f"timing_{out_csv.stem}.json")
    timing.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--split", default="test", help="split of manifest.csv to predict")
    ap.add_argument("--speed", type=int, default=0, metavar="N", help="time N speed-set files")
    ap.add_argument("--limit", type=int, default=None, help="only the first N files (smoke test)")
    ap.add_argument("--out", type=Path, default=None, help="predictions CSV (see above)")
    ap.add_argument("--cpu", type=int, default=1, help="CPU core to pin to (-1: no pinning)")
    args = ap.parse_args(argv)
    cpu = None if args.cpu < 0 else args.cpu
    if args.speed:
        out = args.out or WORK / "bitrater_speed.csv"
        run_set(args.corpus / "speed" / "manifest.csv", None, args.speed, out, cpu)
    else:
        name = "bitrater_predictions.csv" if args.split == "test" else f"bitrater_{args.split}.csv"
        run_set(args.corpus / "manifest.csv", args.split, args.limit, args.out or WORK / name, cpu)


if __name__ == "__main__":
    main()
