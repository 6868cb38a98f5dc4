"""The Ray executor against the local pool on this machine, and a plan for a 10-node cluster.

The same N files (default 200: hard links to the bundled examples and the eval clips, so each is
a file of its own for the store) are analyzed with ``quality`` by the local process pool
(``workers`` = the CPU cores) and by Ray on this machine (one node with as many CPUs, bound to
127.0.0.1, started once before the timed runs: starting a cluster is not part of a run). The two
alternate, ``--rounds`` times each; the best round of each is compared (the machine is shared).

From the Ray runs it measures the costs that decide how a cluster scales:

- ``c_file``: worker seconds per file (the rows' ``elapsed_s``: probe, decode, the task);
- ``c_driver``: the driver's CPU seconds per file (submitting, ``ray.get``, claiming the file
  and writing its rows to SQLite): the one process every result goes through.

The plan: ``files/s(W workers) = min(W / (c_file + c_task), 1 / c_driver)``, where ``c_task`` is
Ray's per-task cost on a worker, taken from the measured overhead; nodes of 16 CPUs.

    python benchmarks/bench_ray.py [--files 200] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "examples", ROOT / "tests" / "data" / "eval"]


def _library(folder: Path, n: int) -> float:
    """n hard links to the audio sources, in folder; their total size in MB."""
    from audiolens.runner import discover

    found = [c.path for c in discover([str(s) for s in SOURCES]).files]
    total = 0
    for i in range(n):
        src = found[i % len(found)]
        dst = folder / f"{i:04d}_{os.path.basename(src)}"
        os.link(src, dst)
        total += os.path.getsize(dst)
    return total / 1e6


def _timed(lib: Path, db: Path, **kw) -> tuple[float, float, float]:
    """(wall seconds, driver CPU seconds, worker seconds per file) of one run."""
    from audiolens.runner import analyze
    from audiolens.store import Store

    if db.exists():
        db.unlink()
    cpu0, t0 = time.process_time(), time.perf_counter()
    s = analyze([str(lib)], db=str(db), tasks="quality", progress=False, **kw)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    assert s.failed == 0 and s.done == s.total, s
    with Store(db) as store:
        work = [r.elapsed_s for r in store.rows()]
    return wall, cpu, sum(work) / len(work)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # stay on 127.0.0.1
    from ray.cluster_utils import Cluster

    from audiolens.runner.ray_executor import RayOptions

    cpus = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        lib = Path(tmp) / "lib"
        lib.mkdir()
        mb = _library(lib, args.files)
        t0 = time.perf_counter()
        cluster = Cluster(
            initialize_head=True,
            head_node_args={
                "node_ip_address": "127.0.0.1",
                "num_cpus": cpus,
                "include_dashboard": False,
            },
        )
        start_s = time.perf_counter() - t0
        try:
            ray = RayOptions(address=cluster.address)
            runs: dict[str, list[tuple[float, float, float]]] = {"local": [], "ray": []}
            for _ in range(args.rounds):
                runs["local"].append(_timed(lib, Path(tmp) / "local.sqlite", workers=cpus))
                runs["ray"].append(_timed(lib, Path(tmp) / "ray.sqlite", executor=ray))
        finally:
            cluster.shutdown()
    n = args.files
    best = {k: min(v) for k, v in runs.items()}
    rate = {k: n / best[k][0] for k in best}
    overhead = 1 - rate["ray"] / rate["local"]
    print(f"{n} files ({mb:.0f} MB), task quality, {cpus} CPU cores; best of {args.rounds} rounds")
    print(f"Ray cluster start (not in the runs): {start_s:.1f} s\n")
    print(f"{'executor':<28}{'wall s':>8}{'files/s':>9}{'driver CPU ms/file':>20}")
    for k, label in (
        ("local", f"local pool ({cpus} workers)"),
        ("ray", f"Ray (1 node, {cpus} CPUs)"),
    ):
        wall, cpu, _ = best[k]
        print(f"{label:<28}{wall:>8.1f}{rate[k]:>9.2f}{1000 * cpu / n:>20.1f}")
    print(f"\nRay's overhead: {100 * overhead:.1f}% fewer files/s (target <= 15%)")
    for k in runs:
        print(f"  every round, {k}: " + ", ".join(f"{n / w:.2f}" for w, _, _ in runs[k]))

    c_file = best["ray"][2]  # worker seconds per file
    c_driver = best["ray"][1] / n  # driver CPU seconds per file
    c_task = max(0.0, cpus / rate["ray"] - cpus / rate["local"])  # Ray's extra per task
    print(
        f"\nmeasured: c_file = {1000 * c_file:.0f} ms worker time per file, "
        f"c_task = {1000 * c_task:.0f} ms Ray cost per task, "
        f"c_driver = {1000 * c_driver:.1f} ms driver CPU per file"
    )
    print("plan (16 CPUs a node): files/s = min(W / (c_file + c_task), 1 / c_driver)\n")
    per_file_mb = mb / n
    print(
        f"{'nodes':>6}{'workers':>9}{'files/s':>10}{'bound by':>10}{'100k files':>12}{'reads':>12}"
    )
    for nodes in (1, 2, 5, 10):
        w = 16 * nodes
        work, drive = w / (c_file + c_task), 1 / c_driver
        fps = min(work, drive)
        hours = 100_000 / fps / 3600
        print(
            f"{nodes:>6}{w:>9}{fps:>10.0f}{'workers' if work < drive else 'driver':>10}"
            f"{hours:>10.1f} h{fps * per_file_mb:>7.0f} MB/s"
        )
    print("(reads: what the shared file system must serve at that rate, at this set's file size)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
