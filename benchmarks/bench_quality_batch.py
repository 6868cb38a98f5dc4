"""``quality``'s compute on a device, file by file against batched across files.

The files of ``bench_gpu.py``'s quality row (``--repeat`` copies of each) are decoded once, as
the task asks (the stretches it reads), and then analysed by :meth:`QualityTask.run` in one
process, three ways, on the same decoded inputs:

- **numpy, per file**: ``device="cpu"``, one file per call: the reference, what each worker of
  the CPU pool computes;
- **device, per file**: ``--device``, one file per call (the runner's per-file path: a
  ``torch:cpu`` pool worker; the stretches of one file in one device call);
- **device, batched**: ``--device``, ``--batch`` files per call (the runner's batched path on
  an accelerator: the 4096- and 512-point frames of all their stretches in one float64 device
  call each, :func:`audiolens.tasks.quality.features.summarize_batch`).

Decoding is left out (the CPU pool does it in every case); what is timed is the features, the
model and the verdicts. Columns: seconds, the seconds of them in the STFTs (with the copies to
and from the device; the rest is the per-file statistics, the AAC lattice and the model, on the
host), files/s, the speed-up over numpy per file, the peak device memory of the run (CUDA
only), and parity: the largest feature difference from the numpy reference and whether every
result (verdict, class, origin, cutoff, confidence) is the same. Each path runs once on one
file first (the CUDA context, cuFFT plans, the model).

Usage::

    python benchmarks/bench_quality_batch.py --device torch:cpu           # this CPU machine
    python benchmarks/bench_quality_batch.py --device cuda --repeat 8     # a GPU machine
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench_gpu import QUALITY, table_row

HEADER = [
    "path",
    "device",
    "files",
    "audio s",
    "s",
    "of which STFT s",
    "files/s",
    "speed-up vs numpy per file",
    "peak device MiB",
    "max |feature diff|",
    "results = numpy",
]


class StftClock:
    """Wraps the features' :func:`piece_powers` (the STFTs, with their copies to and from
    the device) and adds up the seconds spent in it."""

    def __init__(self, device: Any) -> None:
        from audiolens.tasks.quality import features

        self.features, self.inner, self.seconds = features, features.piece_powers, 0.0
        self.sync = None
        if device.name.startswith("cuda"):
            import torch

            self.sync = torch.cuda.synchronize

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        out = self.inner(*args, **kwargs)
        if self.sync is not None:
            self.sync()
        self.seconds += time.perf_counter() - t0
        return out

    def __enter__(self) -> StftClock:
        self.features.piece_powers = self
        return self

    def __exit__(self, *exc: object) -> None:
        self.features.piece_powers = self.inner


def run_path(
    task: Any, inputs: Sequence[Any], device: Any, batch: int
) -> tuple[float, float, list]:
    """Seconds to analyse ``inputs`` ``batch`` files per call, the seconds of that in the
    STFTs, and the results with their summaries."""
    from audiolens.tasks.quality.features import summarize_batch

    t0 = time.perf_counter()
    results = []
    with StftClock(device) as clock:
        for i in range(0, len(inputs), batch):
            results.extend(task.run(inputs[i : i + batch], device=device))
    seconds = time.perf_counter() - t0
    summaries = []  # the features, computed the same way again (untimed)
    for i in range(0, len(inputs), batch):
        stretches = [task.stretches(x) for x in inputs[i : i + batch]]
        summaries.extend(summarize_batch(stretches, device=device))
    return seconds, clock.seconds, list(zip(results, summaries, strict=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="auto, torch:cpu, cuda, cuda:N")
    parser.add_argument("--repeat", type=int, default=1, help="analyse each file N times")
    parser.add_argument("--batch", type=int, default=16, help="files per call, batched")
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
    for name, dev, batch in (
        ("numpy, per file", cpu, 1),
        ("device, per file", device, 1),
        ("device, batched", device, args.batch),
    ):
        task.run(inputs[:1], device=dev)  # warm-up
        if cuda is not None:
            cuda.synchronize()
            cuda.reset_peak_memory_stats()
        took, stft, out = run_path(task, inputs, dev, batch)
        peak = "-"
        if cuda is not None and dev is device:
            peak = f"{cuda.max_memory_allocated() / 2**20:.0f}"
        if ref is None:
            ref_s, ref = took, out
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
            f"{stft:.2f}",
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
        f"{numpy_s * 1000:.0f} ms; the most any device can gain over the CPU pool (its cores "
        f"then only decode): {(decode_s + numpy_s) / decode_s:.1f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
