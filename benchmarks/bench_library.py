"""A beets library in one pass: ``beet audiolens -t quality,loudness,key,beats`` beside beets'
own ``replaygain`` (ffmpeg backend) followed by ``autobpm`` (librosa), on the same library.

Library: the rendered songs of ``bench_key.py`` (its 96 test pieces and every fourth dev piece:
108 songs of ``--seconds`` (60 s; bitrater analyses nothing under 49 s), 44.1 kHz stereo, all
24 keys, half with drums, tempo 70-170 BPM), made into a third FLAC (as rendered), a third MP3
(LAME V2) and a third M4A (AAC 192k), tagged, in album folders of 9 tracks
(``benchmarks/_work/library``), imported once with ``beet import -A``
(no copy, no writing into the files). Every timed run gets a fresh copy of that library's
database (no audiolens results store, no fields from the other run); the two sides alternate
within a round (the order reversed every other round) on the same files; the best time of
each is reported.

- audiolens: ``beet audiolens -t quality,loudness,key,beats --workers 2`` (one decode per file
  for the four tasks, album gain per beets album), and ``-t loudness,beats`` (only what the
  beets side answers);
- beets: ``beet replaygain -a`` (ffmpeg backend, ``threads: 2``: track and album gain) then
  ``beet autobpm`` (librosa's ``beat_track``, one process: beets runs it so). Neither answers
  transcodes nor keys; with ``--bitrater``, ``bitrater -v analyze`` (0.1.5, in its own venv
  ``benchmarks/_work/venv-bitrater``, made from PyPI on first use) answers transcodes, over a
  folder of links to the files, in the one process its CLI uses; the beets side is then
  replaygain + autobpm + bitrater. beets' ``keyfinder`` needs the KeyFinder program, not
  packaged here: no key baseline.

Accuracy, from the library database after each run (``beet ls -f`` rounds gains to 0.1 dB):

- loudness: track and album gain against libebur128 (Debian's ``loudgain -s s -a`` per album
  folder), mean and largest absolute difference in dB;
- bpm: the songs' known tempo (from their composition plan); right within 4 %, and "any
  octave" also counting half, double, a third and three times the tempo;
- key: the songs' known key, MIREX weighted score (``bench_key.mirex``);
- quality: every file is a genuine encode, so the share not called a transcode.

Usage::

    python benchmarks/bench_library.py [--rounds 1] [--files 108] [--seconds 60] [--bitrater]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_key  # noqa: E402  (the rendered songs in known keys, the MIREX score)
import quality_corpus as qc  # noqa: E402  (the composition plan: the songs' tempo)

WORK = HERE / "_work" / "library"
ALBUM_SIZE = 9
FORMATS = (("flac", ()), ("mp3", ("-c:a", "libmp3lame", "-q:a", "2")),
           ("m4a", ("-c:a", "aac", "-b:a", "192k")))  # fmt: skip


def songs(n: int, seconds: float) -> list[dict[str, object]]:
    """The songs: path, true key and tempo (the plan ``make_piece`` drew from the same seed)."""
    rows = []
    for split, per_key, step in (("test", 4, 1), ("dev", 2, 4)):
        for index, row in enumerate(bench_key.corpus(split, per_key, 2, seconds)):
            if index % step == 0:
                rng = np.random.default_rng([bench_key.SEEDS[split], index])
                rows.append({**row, "bpm": qc.plan_song(rng, seconds).bpm})
    return rows[:n]


def music_dir(seconds: float) -> Path:
    """Where the library's files of songs this long are kept between runs."""
    return WORK / ("music" if seconds == bench_key.SECONDS else f"music-{seconds:g}s")


def build(rows: list[dict[str, object]], seconds: float) -> list[dict[str, object]]:
    """Encode and tag the songs into album folders under ``music_dir`` (kept between runs)."""
    jobs = []
    music = music_dir(seconds)
    for i, row in enumerate(rows):
        ext, codec = FORMATS[i % len(FORMATS)]
        album = i // ALBUM_SIZE + 1
        dst = music / f"album{album:02d}" / f"{i % ALBUM_SIZE + 1:02d}.{ext}"
        row["file"] = dst
        tags = ("-metadata", f"title=Song {i:03d}", "-metadata", "artist=Bench",
                "-metadata", f"album=Album {album:02d}", "-metadata",
                f"track={i % ALBUM_SIZE + 1}")  # fmt: skip
        if not dst.exists():
            jobs.append((row["path"], dst, (*(codec or ("-c", "copy")), *tags)))

    def encode(job: tuple[Path, Path, tuple[str, ...]]) -> None:
        src, dst, args = job
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(".tmp-" + dst.name)
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), *args, str(tmp)],
                       check=True)  # fmt: skip
        tmp.rename(dst)

    if jobs:
        print(f"encoding {len(jobs)} files into {music} ...", file=sys.stderr)
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(encode, jobs))
    return rows


def beet(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    src = str(HERE.parent / "src")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUDIOLENS_", "BEETS"))}
    env.update(BEETSDIR=str(home), PYTHONPATH=src, HF_HUB_OFFLINE="1")
    run = subprocess.run([sys.executable, "-m", "beets", *args], cwd=home, env=env,
                         capture_output=True, text=True)  # fmt: skip
    if run.returncode != 0:
        raise SystemExit(f"beet {' '.join(args)} failed: {run.stderr.strip()[-2000:]}")
    return run


PLUGINS = "plugins: audiolens replaygain autobpm"
CONFIG = """directory: {home}/music
library: {home}/library.db
{plugins}
import:
  copy: no
  write: no
  autotag: no
  quiet: yes
audiolens:
  workers: 2
replaygain:
  backend: ffmpeg
  threads: 2
"""


def template(tmp: Path, music: Path) -> Path:
    """A beets library with every song imported (``beet import -A``), album by album."""
    home = tmp / "template"
    home.mkdir()
    # no plugin at import: replaygain and autobpm would answer there (their ``auto``)
    (home / "config.yaml").write_text(CONFIG.format(home=home, plugins="plugins: []"))
    beet(home, "import", "-A", "-q", *map(str, sorted(music.iterdir())))
    return home


def bitrater_run(rows: list[dict[str, object]], tmp: Path) -> tuple[float, list[bool]]:
    """``bitrater -v analyze`` over the library's files, as its users run it (one process, a
    folder scan): wall seconds, and per file whether it was called a transcode."""
    import bitrater_baseline as br

    listed = [{"path": str(r["file"]), "kind": r["file"].suffix[1:]} for r in rows]
    out_csv = tmp / "bitrater.csv"
    out_csv.unlink(missing_ok=True)
    stats = br.analyze(listed, Path("/"), out_csv, "library", None)
    answered = [p for p in br.read_csv(out_csv) if p["status"] == "ok"]
    flagged = [p["predicted_verdict"] == "transcode" for p in answered]
    return stats["wall_s"], flagged


def fresh(tmp: Path, base: Path, name: str) -> Path:
    home = tmp / name
    if home.exists():
        shutil.rmtree(home)
    home.mkdir()
    (home / "config.yaml").write_text(CONFIG.format(home=home, plugins=PLUGINS))
    shutil.copy(base / "library.db", home / "library.db")
    return home


def timed(home: Path, *commands: tuple[str, ...]) -> float:
    t0 = time.perf_counter()
    for args in commands:
        beet(home, *args)
    return time.perf_counter() - t0


def fields(home: Path) -> dict[str, list[str]]:
    """Per path: bpm, initial_key, rg_track_gain, rg_album_gain, is_transcoded, as stored
    (read from the database: ``beet ls -f`` rounds the gains to 0.1 dB)."""
    with sqlite3.connect(home / "library.db") as db:
        flex = dict(db.execute("SELECT entity_id, value FROM item_attributes "
                               "WHERE key = 'is_transcoded'").fetchall())  # fmt: skip
        rows = db.execute(
            "SELECT id, path, bpm, initial_key, rg_track_gain, rg_album_gain FROM items"
        ).fetchall()
    return {
        os.fsdecode(path): ["" if v is None else str(v) for v in (*vals, flex.get(i))]
        for i, path, *vals in rows
    }


def loudgain_truth(rows: list[dict[str, object]]) -> dict[str, tuple[float, float]]:
    """Track and album gain per file from libebur128 (``loudgain``), one album at a time."""
    truth = {}
    for album in sorted({r["file"].parent for r in rows}):
        members = sorted(p for p in album.iterdir() if not p.name.startswith("."))
        run = subprocess.run(["loudgain", "-q", "-O", "-s", "s", "-a", *map(str, members)],
                             capture_output=True, text=True, check=True)  # fmt: skip
        gains = {}
        for line in run.stdout.splitlines()[1:]:
            cols = line.split("\t")  # File, Loudness, Range, True_Peak, .., Track/Album gain
            gains[cols[0]] = float(cols[8].split()[0])
        for p in members:
            truth[str(p)] = (gains[str(p)], gains["Album"])
    return truth


def num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def accuracy(rows, got, truth) -> dict[str, str]:
    """One line of figures per field from a run's ``beet ls`` answers."""
    track, album, bpm1, bpm2, keys, genuine = [], [], [], [], [], []
    for r in rows:
        f = got.get(str(r["file"]))
        if f is None:
            continue
        b, k, tg, ag, tr = f
        if str(r["file"]) in truth and num(tg) is not None:
            track.append(abs(num(tg) - truth[str(r["file"])][0]))
        if str(r["file"]) in truth and num(ag) is not None:
            album.append(abs(num(ag) - truth[str(r["file"])][1]))
        found, true = num(b) or 0.0, float(r["bpm"])
        if found > 0:
            bpm1.append(abs(found / true - 1) <= 0.04)
            bpm2.append(any(abs(found / (true * m) - 1) <= 0.04 for m in (1, 2, 0.5, 3, 1 / 3)))
        else:
            bpm1.append(False)
            bpm2.append(False)
        keys.append(bench_key.mirex(str(r["key"]), k or None) if k else None)
        genuine.append(tr.strip().lower() in ("false", "0", "no") if tr.strip() else None)
    n = len(rows)

    def gain(d: list[float]) -> str:
        return f"{np.mean(d):.3f} / {np.max(d):.3f} ({len(d)}/{n})" if d else "none"

    k = [v for v in keys if v is not None]
    g = [v for v in genuine if v is not None]
    return {
        "track gain vs libebur128 (dB mean / max)": gain(track),
        "album gain vs libebur128 (dB mean / max)": gain(album),
        "bpm within 4 %": f"{np.mean(bpm1):.1%}",
        "bpm within 4 %, any octave (x2, x1/2, x3, x1/3)": f"{np.mean(bpm2):.1%}",
        "key (MIREX score)": f"{np.sum(k) / n:.3f} ({len(k)}/{n} answered)" if k else "none",
        "genuine files not called transcodes": f"{np.mean(g):.1%}" if g else "none",
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--files", type=int, default=108)
    ap.add_argument(
        "--seconds",
        type=float,
        default=60.0,
        help="length of the songs (bitrater analyses nothing under 49 s)",
    )
    ap.add_argument(
        "--bitrater",
        action="store_true",
        help="also time bitrater's analyze (its venv is made on first use, from PyPI)",
    )
    args = ap.parse_args(argv)
    rows = build(songs(args.files, args.seconds), args.seconds)
    n = len(rows)
    truth = loudgain_truth(rows) if shutil.which("loudgain") else {}
    commands = {
        "beets": (("replaygain", "-a"), ("autobpm",)),
        "audiolens": (("audiolens", "-t", "quality,loudness,key,beats", "--workers", "2"),),
        "audiolens-lb": (("audiolens", "-t", "loudness,beats", "--workers", "2"),),
    }
    if args.bitrater:
        commands["bitrater"] = ()
    secs: dict[str, list[float]] = {side: [] for side in commands}
    answers = {}
    flagged: list[bool] = []
    with tempfile.TemporaryDirectory(prefix="bench-library-") as t:
        tmp = Path(t)
        base = template(tmp, music_dir(args.seconds))
        for r in range(args.rounds):
            order = list(commands) if r % 2 == 0 else list(commands)[::-1]
            for side in order:
                if side == "bitrater":
                    took, flagged = bitrater_run(rows, tmp)
                    secs[side].append(took)
                else:
                    home = fresh(tmp, base, side)
                    secs[side].append(timed(home, *commands[side]))
                    answers[side] = fields(home)
                print(f"round {r + 1}: {side} {secs[side][-1]:.1f} s", file=sys.stderr)
    kinds = {}
    for r in rows:
        kinds[r["file"].suffix] = kinds.get(r["file"].suffix, 0) + 1
    print(
        f"\n{n} files ({', '.join(f'{v} {k[1:].upper()}' for k, v in sorted(kinds.items()))}), "
        f"{args.seconds:g} s each, {len({r['file'].parent for r in rows})} albums; "
        f"{args.rounds} round(s), "
        f"best time; {os.cpu_count()} CPUs\n"
    )
    ours, theirs, same = min(secs["audiolens"]), min(secs["beets"]), min(secs["audiolens-lb"])
    print("| run | answers | seconds | files/s | speed vs beets |")
    print("|---|---|---|---|---|")
    print(f"| beets replaygain -a (ffmpeg) + autobpm (librosa) | loudness, bpm | {theirs:.1f} | "
          f"{n / theirs:.2f} | 1.00x |")  # fmt: skip
    print(f"| beet audiolens -t quality,loudness,key,beats | transcodes, loudness, bpm, key | "
          f"{ours:.1f} | {n / ours:.2f} | {theirs / ours:.2f}x |")  # fmt: skip
    print(f"| beet audiolens -t loudness,beats | loudness, bpm | {same:.1f} | {n / same:.2f} | "
          f"{theirs / same:.2f}x |")  # fmt: skip
    if args.bitrater:
        br = min(secs["bitrater"])
        both = theirs + br
        print("\n| run | answers | seconds | files/s | speed vs beets + bitrater |")
        print("|---|---|---|---|---|")
        print(f"| bitrater analyze (1 process, as its CLI runs) | transcodes | {br:.1f} | "
              f"{n / br:.2f} | |")  # fmt: skip
        print(f"| beets replaygain + autobpm, then bitrater analyze | transcodes, loudness, bpm "
              f"| {both:.1f} | {n / both:.2f} | 1.00x |")  # fmt: skip
        print(f"| beet audiolens -t quality,loudness,key,beats | transcodes, loudness, bpm, key "
              f"| {ours:.1f} | {n / ours:.2f} | {both / ours:.2f}x |")  # fmt: skip
        kept = [not f for f in flagged]
        print(f"\nbitrater: genuine files not called transcodes {100 * np.mean(kept):.1f}% "
              f"({sum(kept)}/{len(kept)} answered)")  # fmt: skip
    else:
        print("\nbitrater analyze: not run (--bitrater)")
    if not truth:
        print("\nloudgain is not installed: no loudness reference")
    acc = {side: accuracy(rows, answers[side], truth) for side in ("beets", "audiolens")}
    print("\n| field | beets (replaygain + autobpm) | audiolens |")
    print("|---|---|---|")
    for name in acc["audiolens"]:
        print(f"| {name} | {acc['beets'][name]} | {acc['audiolens'][name]} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
