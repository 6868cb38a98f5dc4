"""Loudness: audiolens's ``loudness`` task beside libebur128 (Debian's ``loudgain``) and
pyloudnorm, on the same files: agreement (integrated loudness, LRA, true peak, album gain) and
speed (files per second, one process each).

Files: the real recordings of ``tests/data/eval`` (music and speech, 16-48 kHz, mono and
stereo, WAV/FLAC/MP3/M4A) and the rendered songs of ``bench_key.py``'s test split (30 s,
44.1 kHz stereo FLAC; run ``bench_key.py`` first, or ``--no-rendered``).

- loudgain 0.6.8 (libebur128 1.2.6, FFmpeg decoding): ``loudgain -q -O -s s -a FILES`` in one
  process (track and album gain, true peak; it writes no tags);
- audiolens: ``audiolens.analyze(FILES, tasks="loudness", workers=1)`` in one process
  (decoding included), album gain with ``album_loudness``;
- pyloudnorm 0.2.0 (``filter_class="DeMan"``, the exact BS.1770 filter at any rate) on the
  samples audiolens decodes (integrated loudness only: it has no LRA or true peak).

LRA differs by design: libebur128 takes a 3 s block every second, EBU Tech 3342 (2016) asks
for a new block at least every 100 ms (audiolens), which on files of 20-60 s moves the
percentiles.

Usage::

    python benchmarks/bench_loudness.py [--no-rendered] [--repeat 3]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
EVAL = HERE.parent / "tests" / "data" / "eval"
RENDERED = HERE / "_corpus_key" / "test"
AUDIO = (".wav", ".flac", ".mp3", ".m4a")


def files(rendered: bool) -> list[Path]:
    real = sorted({p.resolve() for p in EVAL.rglob("*") if p.suffix in AUDIO})
    # the same recording twice (copies in two folders) counts once
    seen, unique = set(), []
    for p in real:
        if (p.name, p.stat().st_size) not in seen:
            seen.add((p.name, p.stat().st_size))
            unique.append(p)
    return unique + (sorted(RENDERED.glob("*.flac")) if rendered else [])


def loudgain(paths: list[Path]) -> tuple[dict[str, dict[str, float]], float, float]:
    """Per-file figures, the album gain over all files, and the seconds it took."""
    t0 = time.perf_counter()
    run = subprocess.run(
        ["loudgain", "-q", "-O", "-s", "s", "-a", *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - t0
    out, album = {}, float("nan")
    for line in run.stdout.splitlines()[1:]:
        f = line.split("\t")
        row = {
            "lufs": float(f[1].split()[0]),
            "lra": float(f[2].split()[0]),
            "tp": float(f[4].split()[0]),
            "gain": float(f[8].split()[0]),
        }
        if f[0] == "Album":
            album = row["gain"]
        else:
            out[str(Path(f[0]).resolve())] = row
    return out, album, seconds


def ours(paths: list[Path]) -> tuple[dict[str, dict[str, float]], float, float]:
    import audiolens
    from audiolens.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "r.sqlite"
        t0 = time.perf_counter()
        audiolens.analyze(paths, tasks="loudness", db=db, workers=1, progress=False)
        seconds = time.perf_counter() - t0
        with Store(db) as store:
            rows = {r.path: r.result for r in store.rows(task="loudness") if r.status == "ok"}
    out = {
        str(Path(p).resolve()): {
            "lufs": r["integrated_lufs"],
            "lra": r["lra_lu"],
            "tp": r["true_peak_dbtp"],
            "gain": r["track_gain_db"],
        }
        for p, r in rows.items()
    }
    album = audiolens.album_loudness(list(rows.values())).gain_db
    return out, album, seconds


def pyloudnorm_lufs(paths: list[Path]) -> dict[str, float]:
    import pyloudnorm

    import audiolens

    out = {}
    for p in paths:
        a = audiolens.load(p)
        meter = pyloudnorm.Meter(a.sample_rate, filter_class="DeMan")
        out[str(p.resolve())] = meter.integrated_loudness(a.samples.T.astype(np.float64))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-rendered", action="store_true")
    ap.add_argument("--repeat", type=int, default=3, help="speed runs of each (best kept)")
    args = ap.parse_args(argv)
    paths = files(not args.no_rendered)
    n_real = sum(1 for p in paths if EVAL in p.parents or str(p).startswith(str(EVAL)))
    seconds_audio = 0.0
    import audiolens

    for p in paths:
        seconds_audio += audiolens.probe(p).duration
    lg, lg_album, _ = loudgain(paths)
    me, me_album, _ = ours(paths)
    pl = pyloudnorm_lufs(paths)
    lg_runs, me_runs = [], []
    for _ in range(args.repeat):  # interleaved, so that a busy moment hits both alike
        lg_runs.append(loudgain(paths)[2])
        me_runs.append(ours(paths)[2])
    lg_s, me_s = min(lg_runs), min(me_runs)
    keys = [k for k in me if k in lg]
    real = [k for k in keys if "tests/data/eval" in k]

    def diffs(key: str, among: list[str], ref: dict) -> np.ndarray:
        return np.array([me[k][key] - ref[k][key] for k in among if me[k][key] is not None])

    print(f"\n{len(paths)} files ({n_real} real recordings, {len(paths) - n_real} rendered songs), "
          f"{seconds_audio / 60:.1f} min of audio\n")  # fmt: skip
    print("| audiolens minus ... | files | integrated: max abs (LU) | mean abs | "
          "true peak: max abs (dB) | LRA: max abs (LU) |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for label, among in (("loudgain, real recordings", real), ("loudgain, all", keys)):
        i, t, r = diffs("lufs", among, lg), diffs("tp", among, lg), diffs("lra", among, lg)
        print(f"| {label} | {len(among)} | {np.abs(i).max():.3f} | {np.abs(i).mean():.4f} | "
              f"{np.abs(t).max():.2f} | {np.abs(r).max():.2f} |")  # fmt: skip
    for label, among in (("pyloudnorm, real recordings", real), ("pyloudnorm, all", keys)):
        d = np.array([me[k]["lufs"] - pl[k] for k in among if me[k]["lufs"] is not None])
        print(f"| {label} | {len(among)} | {np.abs(d).max():.3f} | {np.abs(d).mean():.4f} "
              "| - | - |")  # fmt: skip
    print(f"\nalbum gain over all files: audiolens {me_album:+.2f} dB, loudgain {lg_album:+.2f} dB")
    print("\n| tool (one process, decoding included) | seconds | files/s | x real time |")
    print("|---|---|---|---|")
    speeds = (("loudgain 0.6.8 -a (libebur128)", lg_s), ("audiolens analyze -t loudness", me_s))
    for label, s in speeds:
        print(f"| {label} | {s:.2f} | {len(paths) / s:.1f} | {seconds_audio / s:.0f} |")
    print(f"\naudiolens is {lg_s / me_s:.2f}x loudgain's speed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
