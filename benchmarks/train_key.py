"""Learn the ``key`` task's profile from rendered songs in known keys (never from shared/eval).

The profile is the mean of the songs' whitened chromas (each scaled to sum 1 and rotated so
that its tonic comes first), per mode, over the ``train`` split of ``bench_key.py``'s corpus
(other seeds than its ``dev`` and ``test`` splits). It prints the two rows to paste into
``src/audiolens/tasks/key/profiles.py`` (``PROFILES["audiolens"]``).

Usage::

    python benchmarks/train_key.py [--per-key 4]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_key  # noqa: E402


def learn(per_key: int, jobs: int) -> tuple[np.ndarray, np.ndarray]:
    """The (major, minor) profiles learnt on the train split."""
    import audiolens
    from audiolens.tasks.key import chroma_frames, parse_key

    rows = bench_key.corpus("train", per_key, jobs)
    acc = {False: np.zeros(12), True: np.zeros(12)}
    for r in rows:
        y = audiolens.load(r["path"], sr=44100, mono=True).samples[0]
        c = chroma_frames([y], sr=44100).sum(axis=1)
        tonic, minor = parse_key(str(r["key"]))
        acc[minor] += np.roll(c / c.sum(), -tonic)
    return acc[False] / acc[False].sum(), acc[True] / acc[True].sum()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-key", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    major, minor = learn(args.per_key, args.jobs)
    for row in (major, minor):
        print("(" + ", ".join(f"{v:.4f}" for v in row) + "),")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
