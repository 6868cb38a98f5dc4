"""``quality``'s compute on a device, file by file against batched across files.

The files of ``bench_gpu.py``'s quality row (``--repeat`` copies of each) are decoded once, as
the task asks (the stretches it reads), and then analysed by :meth:`QualityTask.run` in one
process, four ways, on the same decoded inputs:

- **numpy, per file**: ``device="cpu"``, one file per call: the reference, what each worker of
  the CPU pool computes;
- **device, per file**: ``--device``, one file per call (the runner's per-file path: a
  ``torch:cpu`` pool worker);
- **device, batched**: ``--device``, ``--batch`` files per call (the runner's batched path on
  an accelerator, :func:`audiolens.tasks.quality.features.summarize_batch`: the 4096- and
  512-point frames of all their stretches made and measured on the device, only a few
  numbers per file coming back, and the AAC lattice's MDCTs and fits there too);
- **device, batched, prepared in the workers**: the same, after
  :meth:`QualityTask.prepare` (the clipped frames, read on every channel), which the runner's
  CPU workers call after decoding; its time is the pool's, reported apart.

Decoding is left out (the CPU pool does it in every case); what is timed is the features, the
model and the verdicts. Columns: seconds, of which the STFTs (with the copies to the device),
the per-frame statistics, the lattice and clipped frames, and the rest on the host (the mono
mix, the features from the long-term spectrum, the model, the verdicts); files/s, the
speed-up over numpy per file, the peak device memory of the run (CUDA only), and parity: the
largest feature difference from the numpy reference and whether every result (verdict,
class, origin, cutoff, confidence) is the same. Each path runs once on one file first (the
CUDA context, cuFFT plans, the model). The last lines estimate, Amdahl-style, the most a GPU
could give against a ``--cores`` CPU pool.

Usage::

    python benchmarks/bench_quality_batch.py --device torch:cpu           # this CPU machine
    python benchmarks/bench_quality_batch.py --device cuda --repeat 8     # a GPU machine
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from bench_gpu import QUALITY, table_row

HEADER = [
    "path",
    "device",
    "files",
    "audio s",
    "s",
    "of which STFT s",
    "frame stats s",
    "lattice, grid, clipped s",
    "rest (host) s",
    "files/s",
    "speed-up vs numpy per file",
    "peak device MiB",
    "max |feature diff|",
    "results = numpy",
]


class Clock:
    """Adds up the seconds spent in some functions of some modules while it is entered
    (waiting for CUDA at the end of each call), by replacing them with timed wrappers."""

    def __init__(self, device: Any, targets: Sequence[tuple[Any, str]]) -> None:
        self.targets, self.seconds, self.saved = targets, 0.0, []
        self.sync = None
        if device.name.startswith("cuda"):
            import torch

            self.sync = torch.cuda.synchronize

    def wrap(self, inner: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            out = inner(*args, **kwargs)
            if self.sync is not None:
                self.sync()
            self.seconds += time.perf_counter() - t0
            return out

        return timed

    def __enter__(self) -> Clock:
        for module, name in self.targets:
            inner = getattr(module, name)
            self.saved.append((module, name, inner))
            setattr(module, name, self.wrap(inner))
        return self

    def __exit__(self, *exc: object) -> None:
        for module, name, inner in self.saved:
            setattr(module, name, inner)
        self.saved.clear()


def clocks(device: Any) -> dict[str, Clock]:
    """The parts timed: the STFTs (with their copies to and from the device), the per-frame
    statistics (numpy: on the host; a device: there, with the few host steps between), and
    the AAC lattice, and the clipped frames and the MP3 grid (on the host, here unless
    prepared in the workers);
    and, inside the device's parts, the steps that stay on the host file by file (the wall
    found on the long-term spectrum, the clipped rows' mask, the lattice's frames picked)."""
    from audiolens.tasks.quality import device_stats, features, lattice

    return {
        "stft": Clock(device, [(features, "piece_powers"), (device_stats, "device_power")]),
        "stats": Clock(
            device,
            [
                (features, "_power_stats"),
                (device_stats, "_long_call"),
                (device_stats, "_flicker_call"),
                (features, "_flicker_share"),
            ],
        ),
        "lattice": Clock(
            device,
            [
                (features, "host_measures"),
                (features, "lattice_share"),
                (features, "device_lattice_shares"),
            ],
        ),
        "inner host": Clock(
            device,
            [(device_stats, "_wall"), (device_stats, "_unclipped"), (lattice, "_frames")],
        ),
    }


def run_path(
    task: Any, inputs: Sequence[Any], device: Any, batch: int
) -> tuple[float, dict[str, float], list]:
    """Seconds to analyse ``inputs`` ``batch`` files per call, the seconds of that in each
    part of :func:`clocks`, and the results with their summaries."""
    from audiolens.tasks.quality.features import summarize_batch

    parts = clocks(device)
    t0 = time.perf_counter()
    results = []
    with parts["stft"], parts["stats"], parts["lattice"], parts["inner host"]:
        for i in range(0, len(inputs), batch):
            results.extend(task.run(inputs[i : i + batch], device=device))
    seconds = time.perf_counter() - t0
    summaries = []  # the features, computed the same way again (untimed)
    for i in range(0, len(inputs), batch):
        stretches = [task.stretches(x) for x in inputs[i : i + batch]]
        summaries.extend(summarize_batch(stretches, device=device))
    spent = {name: clock.seconds for name, clock in parts.items()}
    spent["rest"] = seconds - spent["stft"] - spent["stats"] - spent["lattice"]
    return seconds, spent, list(zip(results, summaries, strict=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="auto, torch:cpu, cuda, cuda:N")
    parser.add_argument("--repeat", type=int, default=1, help="analyse each file N times")
    parser.add_argument("--batch", type=int, default=16, help="files per call, batched")
    parser.add_argument(
        "--cores", type=int, default=16, help="CPU pool size of the GPU estimate (16)"
    )
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.batch < 1:
        parser.error("counts must be positive")
    import numpy as np

    import audiolens
    from audiolens.tasks.quality import QualityTask, read_input

    device = audiolens.resolve_device(args.device)
    if device.backend != "torch":
        parser.error(f"--device {args.device} is numpy: name a torch device")
    cpu = audiolens.resolve_device("cpu")
    task = QualityTask()
    files = [f for f in QUALITY if f.is_file()]
    read_input(files[0], task)  # warm-up: the decoder's first use
    t0 = time.perf_counter()
    inputs = [read_input(f, task) for f in files] * args.repeat
    decode_s = (time.perf_counter() - t0) / len(files)  # per file
    seconds = sum(a.samples.shape[-1] / a.sample_rate for x in inputs for a in x.pieces)
    print(
        f"{len(inputs)} files decoded in {time.perf_counter() - t0:.1f} s "
        f"({seconds:.0f} s of stretches); device {device.label}, batch {args.batch}",
        file=sys.stderr,
    )
    cuda = None
    if device.name.startswith("cuda"):
        import torch

        cuda = torch.cuda
    print(f"quality compute, decoding left out; device {device.label}")
    print(table_row(HEADER))
    print("|" + "---|" * len(HEADER), flush=True)
    ref_s, ref = None, None
    # the runner's workers call QualityTask.prepare after decoding: copies of the inputs
    # prepared here, timed apart (that work is the pool's, not this process's)
    prepared = [replace(x, features={}) for x in inputs]
    t0 = time.perf_counter()
    for x in prepared:
        task.prepare(x)
    prepare_s = (time.perf_counter() - t0) / len(inputs)  # per file, in a worker
    host_s = 0.0
    for name, dev, batch, items in (
        ("numpy, per file", cpu, 1, inputs),
        ("device, per file", device, 1, inputs),
        ("device, batched", device, args.batch, inputs),
        ("device, batched, prepared in the workers", device, args.batch, prepared),
    ):
        task.run(items[:1], device=dev)  # warm-up
        if cuda is not None:
            cuda.synchronize()
            cuda.reset_peak_memory_stats()
        took, spent, out = run_path(task, items, dev, batch)
        peak = "-"
        if cuda is not None and dev is device:
            peak = f"{cuda.max_memory_allocated() / 2**20:.0f}"
        if ref is None:
            ref_s, ref = took, out
        host_s = (spent["rest"] + spent["inner host"]) / len(inputs)
        diff = max(
            float(np.max(np.abs(s.features - r.features))) for (_, s), (_, r) in zip(out, ref)
        )
        same = all(a.to_dict() == b.to_dict() for (a, _), (b, _) in zip(out, ref))
        row = [
            name,
            dev.label,
            str(len(inputs)),
            f"{seconds:.0f}",
            f"{took:.2f}",
            f"{spent['stft']:.2f}",
            f"{spent['stats']:.2f}",
            f"{spent['lattice']:.2f}",
            f"{spent['rest']:.2f}",
            f"{len(inputs) / took:.1f}",
            f"{ref_s / took:.2f}x",
            peak,
            f"{diff:.1e}",
            "yes" if same else "NO",
        ]
        print(table_row(row), flush=True)
    # Amdahl: a device that did all of the compute leaves the pool's cores the decoding
    numpy_s = ref_s / len(inputs)
    print(
        f"\nper file, one core: decode {decode_s * 1000:.0f} ms, numpy compute "
        f"{numpy_s * 1000:.0f} ms (of which prepare {prepare_s * 1000:.1f} ms); the most any "
        f"device can gain over the CPU pool (its cores then only decode): "
        f"{(decode_s + numpy_s) / decode_s:.1f}x"
    )
    # on a GPU machine the pool's cores decode and prepare; this process does, file by file,
    # the rest and the host steps inside the device's parts (the device's own work and the
    # launching of it taken as free; the copy of the decoded audio from the workers left
    # out): at most 1 / host_s files per second
    pool = args.cores / (decode_s + numpy_s)
    gpu = min(args.cores / (decode_s + prepare_s), 1.0 / host_s)
    print(
        f"prepared batched path, host work per file left in this process (rest and the host "
        f"steps inside the device's parts): {host_s * 1000:.1f} ms; a GPU against a "
        f"{args.cores}-core pool, at most {gpu / pool:.1f}x ({pool:.0f} files/s pool, "
        f"{gpu:.0f} files/s GPU)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
