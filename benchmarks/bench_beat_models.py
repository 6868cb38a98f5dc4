"""Beat networks side by side: the same tracker with each weights file, on every test set.

Sets (none of them trained on): the real clips of ``shared/eval/beats``, each also
time-stretched to 0.85 and 1.2 times its duration as ``bench_beats.py`` does (rubberband R3,
annotations scaled; scored from 0 s); the ``test`` split of
``benchmarks/_corpus_beats`` (rendered, FluidR3_GM); and ``benchmarks/_corpus_beats_realtest``
(``beats_real.py --split test``: other instrument sets, real drum kits held out from training,
comping without drums, swing, drift, pickups, room and bus). ``--validation`` scores the
validation pieces instead, to choose between networks without looking at a test set: the 20
``train`` pieces of ``_corpus_beats`` that ``train_beats.py --holdout 20`` keeps out, and
``_corpus_beats_realval`` (``beats_real.py --seed 202 --n 20``, never trained on) and
``_corpus_beats_syncoval`` (``beats_real.py --seed 505 --n 16 --syncopated-only``), and
``_corpus_beats_modval`` (``beats_modules.py --split test``: tracker modules of two games that
training never reads, against their exact beat grid; bench_beats.py section 2b), and
``_corpus_beats_chartval`` (``beats_charts.py --split test``: two recorded band songs that
training never reads, against their game chart's tempo map; bench_beats.py section 2c), and
``_corpus_beats_slowval`` (``beats_real.py --seed 707 --n 16 --slow``: slow grooves with busy
hi-hats, counted at the slow beat), and real
produced music: one 40 s excerpt of every track in the calibration half of the Debian game
music (``_beats_material.py``; about 45 with a steady pulse), scored against madmom's downbeat
tracker as ``bench_beats.py`` scores the agreement half, which is never read here. Per set
and network: mean beat F, downbeat F, tempo within 4% (Acc1) and the octave errors (tempo
within 4% of 2x, 1/2, 3x or 1/3 of the annotated) counted apart. Each network runs in its
own process (``load_net`` keeps one network per process) on one thread.

Usage::

    python benchmarks/bench_beat_models.py OLD.npz NEW.npz [--limit N] [--per-file]
    python benchmarks/bench_beat_models.py A.npz B.npz --validation      # choose A or B
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SETS = {"rendered": HERE / "_corpus_beats", "realistic": HERE / "_corpus_beats_realtest"}
VALIDATION = {
    "rendered val": SETS["rendered"],
    "realistic val": HERE / "_corpus_beats_realval",
    "syncopated val": HERE / "_corpus_beats_syncoval",
    "module val": HERE / "_corpus_beats_modval",
    "chart val": HERE / "_corpus_beats_chartval",
    "slow val": HERE / "_corpus_beats_slowval",
}
SETS |= VALIDATION


def stretched_clips() -> list[tuple[str, Path, np.ndarray]]:
    """(set, audio, annotations) of the eval clips, as they are and time-stretched
    (``_beats_material.stretched``: rubberband R3 to 0.85 and 1.2 times the duration)."""
    from _beats_material import stretched

    return [(f"real clips x{f}", a, np.loadtxt(b, ndmin=2)) for _, f, a, b in stretched()]


def real_music_val(limit: int | None) -> list[tuple[str, Path, np.ndarray]]:
    """(set, audio, madmom's beats and bar positions) of one excerpt of every track of the
    Debian music's calibration half (``_beats_material.music("calib", every=True)``; the
    agreement half that ``bench_beats.py`` reports is never read) whose reference is a steady
    pulse (``bench_beats.STEADY_SUPPORT``): real produced music to choose networks on."""
    from _beats_material import music, reference
    from bench_beats import STEADY_SUPPORT

    out = []
    for ex in music("calib", every=True):
        ref, pos, support = reference(ex.path)
        if support >= STEADY_SUPPORT and ref.size > 1:
            out.append(("real music val", ex.path, np.stack([ref, pos], axis=1)))
    return out[:limit]


def corpus(name: str, limit: int | None) -> list[tuple[str, Path, np.ndarray]]:
    """(set, audio, annotations) of a corpus's ``test`` rows; for the validation sets, the
    last 20 ``train`` rows of ``_corpus_beats`` (``train_beats.py --holdout 20``) and every
    row of ``_corpus_beats_realval`` and ``_corpus_beats_syncoval``."""
    folder = SETS[name]
    if not (folder / "manifest.csv").exists():
        return []
    with open(folder / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if name == "rendered val":
        rows = [r for r in rows if r["split"] == "train"][-20:]
    elif name not in VALIDATION:
        rows = [r for r in rows if r["split"] == "test"]
    return [
        (name, folder / r["path"], np.loadtxt((folder / r["path"]).with_suffix(".beats"), ndmin=2))
        for r in rows[:limit]
    ]


_CHILD = """
import json, sys
from pathlib import Path
from audiolens import beats
from audiolens.tasks.beats import activation
activation.MODEL_PATH = Path(sys.argv[1])
for line in sys.stdin:
    r = beats(line.strip(), device="cpu")
    print(json.dumps([list(map(float, r.beats)), list(map(float, r.downbeats)), r.tempo]),
          flush=True)
"""


def run_model(model: Path, paths: list[Path]) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Beats, downbeats and tempo of every file with one weights file (in a child process)."""
    env = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(model)],
        input="".join(f"{p}\n" for p in paths),
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, **env},
    )
    out = []
    for line in proc.stdout.splitlines():
        b, d, t = json.loads(line)
        out.append((np.array(b), np.array(d), t))
    return out


def score(ann: np.ndarray, est, trim: bool) -> dict[str, float]:
    """Beat F, downbeat F, Acc1, octave error and "no beats" of one file (``bench_beats.score``)."""
    from bench_beats import score as bench_score

    row = bench_score(ann[:, 0], ann[:, 1], est, trim)
    return {
        "beat F": float(row["beat F"]),
        "down F": float(row.get("down F", 0.0)),
        "Acc1": float(row["level"] == "ok"),
        "octave": float(row["level"] in ("x2", "x1/2", "x3", "x1/3")),
        "no beats": float(len(est[0]) == 0),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", type=Path, nargs="+")
    ap.add_argument("--limit", type=int, default=None, help="test pieces per corpus")
    ap.add_argument("--per-file", action="store_true")
    ap.add_argument(
        "--validation",
        action="store_true",
        help="score the validation pieces instead (to choose between networks; no test set)",
    )
    args = ap.parse_args()
    if args.validation:
        todo = real_music_val(args.limit)
        todo += [f for name in VALIDATION for f in corpus(name, args.limit)]
    else:
        todo = stretched_clips() + corpus("rendered", args.limit) + corpus("realistic", args.limit)
    results = {m: run_model(m, [p for _, p, _ in todo]) for m in args.models}
    keys = ("beat F", "down F", "Acc1", "octave", "no beats")
    table: dict[tuple[str, Path], dict[str, list[float]]] = {}
    for m in args.models:
        for (group, path, ann), est in zip(todo, results[m]):
            s = score(ann, est, trim=group in SETS or group == "real music val")
            if args.per_file:
                print(f"{m.name:22s}{path.name[:34]:36s}" + "".join(f"{s[k]:7.3f}" for k in keys))
            for k in keys:
                table.setdefault((group, m), {}).setdefault(k, []).append(s[k])
    print(f"\n{'set':18s}{'files':>6s}{'network':>24s}" + "".join(f"{k:>10s}" for k in keys))
    for group in dict.fromkeys(g for g, _, _ in todo):
        for m in args.models:
            s = table[(group, m)]
            n = len(s["beat F"])
            cells = "".join(
                f"{np.mean(s[k]):10.3f}"
                if k in ("beat F", "down F", "Acc1")
                else f"{sum(s[k]):10.0f}"
                for k in keys
            )
            print(f"{group:18s}{n:6d}{m.name[:23]:>24s}{cells}")
    print("(beat F, down F, Acc1: means; octave, no beats: counts of files)")


if __name__ == "__main__":
    main()
