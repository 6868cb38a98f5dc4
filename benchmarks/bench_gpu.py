"""Each task with a torch path on a device against the same machine's CPU process pool.

For ``quality``, ``beats``, ``structure``, ``notes`` and ``speakers`` (the tasks that compute
on a torch device), the same files go through :func:`audiolens.analyze` twice in one run:

- **CPU pool**: ``device="cpu"`` (the numpy/scipy reference), one worker process per core (the
  runner's default pool), each file analysed in a worker;
- **device**: ``--device`` (``auto``: CUDA, then MPS, then torch on the CPU), with the same
  number of workers. On an accelerator the workers only decode and this process runs the tasks
  on batches of ``--batch`` files on its device thread (the runner's ``_batched`` path and its
  bounded feed; ``beats`` and ``structure`` batch the songs' spectrograms and network calls);
  with ``torch:cpu`` each worker runs the torch backend on its own files (the runner's
  per-file path). ``notes`` runs
  basic-pitch's graph by PyTorch there (``--notes-runtime torch``, the path of a GPU without
  onnxruntime-gpu; ``auto`` lets the task choose); the CPU pool runs it by ONNX Runtime. The
  task cell names the engine the device side used.

``--batched`` sends the device side through the runner's batched path on any device (the
task is marked ``batch_files``): with ``torch:cpu`` the workers decode and this process runs
the tasks on batches of files, as on CUDA, which measures the code a GPU runs (``speakers``:
one encoder queue shared by a batch's files) on a machine without one.

Both are whole runs (pool start, model loading, decoding, the store's writes). The device side
follows a one-file warm-up run in this process (the CUDA context, cuFFT plans, the compiled
basic-pitch graph), which a long collection run pays once; the pool's workers are new
processes in each run, as in a real run, and load their models there.

Columns: files/s and times real time (seconds of audio per second of wall time) of each side,
the device's speed-up, the peak device memory this process allocated (CUDA only,
``torch.cuda.max_memory_allocated``; ``-`` elsewhere), and parity: the device's results against
the CPU pool's, file by file, with the comparisons the tests make:

- quality: the same verdict, bitrate class and origin (``tests/test_quality.py`` checks the
  features to 1e-9 on torch:cpu; a verdict is what a user sees);
- beats: the same number of beats, bar positions and meter, and no beat moved by more than one
  spectrogram frame (10 ms); ``tests/beats/test_track.py`` asks for identical beats on torch:cpu
  (float64), which CUDA (float32) is not expected to give bit for bit;
- structure: the same form and the same number of segments, boundaries within 10 ms;
- notes: identical note lists (``tests/notes/test_onnx_torch.py``);
- speakers: the same speakers and turns, each turn's ends within one VAD frame (32 ms)
  (``tests/speakers/test_device_path.py`` asks for identical turns on torch:cpu; the CPU pool
  runs silero VAD by ONNX Runtime and the encoder in numpy, the device both by torch, the
  encoder's windows of a batch's files in shared calls).

``speech`` has no torch path (Whisper runs by CTranslate2, see ``bench_speech.py``): the
table says so.

Files: the repository's own recordings (``examples/`` and ``tests/data/eval``), so the script
runs on a machine with only the working tree. ``--repeat N`` analyses each file N times (as
N linked copies) so that a GPU gets batches worth sending.

``--calls`` prints another table instead, for the tasks whose ``run`` batches files on the
device (``beats``, ``structure``): the task's own ``run`` in this process on the same decoded
inputs, numpy one file per call, the device one file per call, and the device on all files in
one call (what the runner's batched path gives it), with the batched call's speed-up over one
file per call on the device and its parity with numpy.

Usage::

    python benchmarks/bench_gpu.py --device torch:cpu --quick   # this CPU machine, minutes
    python benchmarks/bench_gpu.py --device cuda --repeat 8      # a GPU machine
    python benchmarks/bench_gpu.py --device cuda --calls --tasks beats,structure --repeat 4
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT / "tests" / "data" / "eval"
MUSIC = [
    EVAL / "music_transcription" / "guitarset_00_BN1-129-Eb_comp_mic.wav",
    EVAL / "music_transcription" / "madmom_stereo_sample.wav",
    EVAL / "beats" / "ballroom_Media-105901.wav",
    EVAL / "music_transcription" / "vocadito_1.wav",
    EVAL / "music_transcription" / "slakh_Track01876_S00.flac",
]
#: the speakers task's files: the three conversations (30 s each) and single speakers
SPEECH = [
    *(EVAL / "diarization" / f"pyannote_{n}.wav" for n in ("sample", "ami_dev00", "ami_tst00")),
    EVAL / "speech" / "fw_stereo_diarization.wav",
    EVAL / "speech" / "jfk.flac",
    EVAL / "speech" / "librispeech_2412-153948-0000.flac",
    EVAL / "speech" / "LDC93S1.wav",
]
QUALITY = [
    *sorted((ROOT / "examples").glob("song_*")),
    *sorted((EVAL / "transcode").glob("madmom_stereo_sample*")),
    *MUSIC,
]
#: the files of each task: all of them, and the first ``quick`` of them for ``--quick``
FILES: dict[str, tuple[list[Path], int]] = {
    "quality": (QUALITY, 4),
    "beats": (MUSIC, 2),
    "structure": (MUSIC, 2),
    "notes": (MUSIC, 2),
    "speakers": (SPEECH, 2),
}
NO_TORCH_PATH = {
    "speech": "no torch path: CTranslate2 (CUDA needs its CUDA 12 libraries; bench_speech.py)",
}
FRAME_S = 0.01  # one frame of the beats spectrogram (100 frames per second)
VAD_FRAME_S = 0.032  # one frame of silero VAD (512 samples at 16 kHz)


@dataclass
class Side:
    """One timed run of one task on one device."""

    seconds: float
    results: dict[str, dict[str, Any]]  # file name -> the stored result
    failed: list[str]
    peak_mb: float | None = None


def _close(a: list[float], b: list[float], tol: float) -> bool:
    return len(a) == len(b) and all(abs(x - y) <= tol for x, y in zip(a, b))


def _same_quality(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    keys = ("verdict", "bitrate_class", "origin")
    diff = [k for k in keys if a.get(k) != b.get(k)]
    return None if not diff else ", ".join(f"{k} {a.get(k)} vs {b.get(k)}" for k in diff)


def _same_beats(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    if len(a["beats"]) != len(b["beats"]) or a["meter"] != b["meter"]:
        return f"{len(a['beats'])} vs {len(b['beats'])} beats, meter {a['meter']} vs {b['meter']}"
    if a["positions"] != b["positions"]:
        moved = sum(x != y for x, y in zip(a["positions"], b["positions"]))
        return f"{moved} of {len(a['positions'])} bar positions differ"
    if not _close(a["beats"], b["beats"], FRAME_S + 1e-9):
        shift = max(abs(x - y) for x, y in zip(a["beats"], b["beats"]))
        return f"a beat moved {shift * 1000:.0f} ms"
    return None


def _same_structure(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    if a["form"] != b["form"]:
        return f"form {a['form']} vs {b['form']}"
    starts = [[s["start"] for s in r["segments"]] for r in (a, b)]
    return None if _close(*starts, FRAME_S + 1e-9) else "a boundary moved"


def _same_notes(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    if a["notes"] == b["notes"]:
        return None
    differ = sum(x != y for x, y in zip(a["notes"], b["notes"]))
    differ += abs(len(a["notes"]) - len(b["notes"]))
    return f"{differ} of {len(a['notes'])} notes differ"


def _same_speakers(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    if a["speakers"] != b["speakers"] or len(a["turns"]) != len(b["turns"]):
        return f"{len(a['speakers'])} vs {len(b['speakers'])} speakers, " + (
            f"{len(a['turns'])} vs {len(b['turns'])} turns"
        )
    if [t["speaker"] for t in a["turns"]] != [t["speaker"] for t in b["turns"]]:
        return "a turn changed speaker"
    ends = [[x for t in r["turns"] for x in (t["start"], t["end"])] for r in (a, b)]
    if not _close(*ends, VAD_FRAME_S + 1e-9):
        shift = max(abs(x - y) for x, y in zip(*ends))
        return f"a turn moved {shift * 1000:.0f} ms"
    return None


SAME: dict[str, Callable[[dict[str, Any], dict[str, Any]], str | None]] = {
    "quality": _same_quality,
    "beats": _same_beats,
    "structure": _same_structure,
    "notes": _same_notes,
    "speakers": _same_speakers,
}


def parity(task: str, cpu: Side, dev: Side) -> str:
    """``"yes"`` when every file's device result equals its CPU result, else what differs."""
    if cpu.failed or dev.failed:
        return f"failed: cpu {len(cpu.failed)}, device {len(dev.failed)} files"
    if cpu.results.keys() != dev.results.keys():
        return "different files"
    problems = [
        f"{name}: {why}"
        for name in sorted(cpu.results)
        if (why := SAME[task](cpu.results[name], dev.results[name])) is not None
    ]
    if not problems:
        return f"yes ({len(cpu.results)} files)"
    return f"NO {len(problems)}/{len(cpu.results)}: " + "; ".join(problems[:2])


def place_files(files: list[Path], repeat: int, into: Path) -> list[Path]:
    """``repeat`` copies of each file in ``into`` (hard links where the file system allows)."""
    out = []
    for k in range(repeat):
        for f in files:
            target = into / f"{k:02d}_{f.name}"
            try:
                os.link(f, target)
            except OSError:
                shutil.copyfile(f, target)
            out.append(target)
    return out


def run_side(
    task: str | Any, files: list[Path], device: str, workers: int, batch: int, db: Path
) -> Side:
    """One whole ``analyze`` run of ``task`` (a name or a Task) over ``files`` on ``device``."""
    import audiolens
    from audiolens.store import Store

    name = task if isinstance(task, str) else task.name

    cuda = _cuda(device)
    if cuda is not None:
        cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    summary = audiolens.analyze(
        [str(f) for f in files],
        tasks=[task],
        db=db,
        device=device,
        workers=workers,
        force=True,
        progress=False,
        batch_size=batch,
    )
    seconds = time.perf_counter() - t0
    peak = None if cuda is None else cuda.max_memory_allocated() / 2**20
    with Store(db) as store:
        rows = list(store.rows(task=name))
    results = {Path(r.path).name: r.result for r in rows if r.status == "ok"}
    failed = [f"{Path(p).name}: {m}" for p, _, m in summary.failures]
    return Side(seconds, results, failed, peak)


def _cuda(device: str) -> Any:
    """``torch.cuda`` when ``device`` resolves to a CUDA device, else None."""
    from audiolens.devices import resolve_device

    if not resolve_device(device).name.startswith("cuda"):
        return None
    import torch

    return torch.cuda


def audio_seconds(files: list[Path]) -> float:
    """The files' total duration in seconds (from their headers)."""
    import audiolens

    return sum(audiolens.probe(f).duration or 0.0 for f in files)


def bench_task(task: str, files: list[Path], args: argparse.Namespace, work: Path) -> list[str]:
    """One row of the table for ``task``."""
    folder = work / task
    folder.mkdir()
    placed = place_files(files, args.repeat, folder)
    seconds = audio_seconds(placed)
    # warm-up: the device's context, plans and models in this process, on one short file
    shortest = min(files, key=lambda f: f.stat().st_size)
    on_device = device_task(task, args.notes_runtime, batched=args.batched)
    run_side(on_device, [shortest], args.device, 1, args.batch, work / f"{task}_warm.sqlite")
    cpu = run_side(task, placed, "cpu", args.workers, args.batch, work / f"{task}_cpu.sqlite")
    dev = run_side(
        on_device, placed, args.device, args.workers, args.batch, work / f"{task}_dev.sqlite"
    )
    n = len(placed)
    engines = {r.get("engine") for r in dev.results.values()} - {None}
    return [
        task + "".join(f" ({e})" for e in sorted(engines)) + (" (batched)" if args.batched else ""),
        str(n),
        f"{seconds:.0f}",
        f"{n / cpu.seconds:.2f}",
        f"{seconds / cpu.seconds:.1f}",
        f"{n / dev.seconds:.2f}",
        f"{seconds / dev.seconds:.1f}",
        f"{cpu.seconds / dev.seconds:.2f}x",
        "-" if dev.peak_mb is None else f"{dev.peak_mb:.0f}",
        parity(task, cpu, dev),
    ]


def device_task(task: str, notes_runtime: str, *, batched: bool = False) -> str | Any:
    """What the device side runs: the task by name, except ``notes`` on ``notes_runtime``
    (``"torch"``: basic-pitch's graph run by PyTorch, the path a GPU without onnxruntime-gpu
    takes; ``"auto"``: ONNX Runtime unless the device needs torch); ``batched``: an instance
    marked ``batch_files``, which the runner runs on batches of files on any device."""
    if task != "notes" and not batched:
        return task
    from audiolens.tasks import get_task
    from audiolens.tasks.notes import NotesTask

    instance = NotesTask(runtime=notes_runtime) if task == "notes" else get_task(task)
    if batched:
        instance.batch_files = True  # type: ignore[attr-defined]
    return instance


#: the tasks whose ``run`` batches files on a torch device (``--calls``)
BATCHED_TASKS = ("beats", "structure")
CALLS_HEADER = [
    "task",
    "files",
    "audio s",
    "numpy, 1 file per call s",
    "device, 1 file per call s",
    "device, batched s",
    "batched speed-up",
    "parity (batched = numpy)",
    "batched = device 1 per call",
]


def bench_calls(task: str, files: list[Path], args: argparse.Namespace) -> list[str]:
    """One row of the ``--calls`` table: the task's own ``run`` in this process on the same
    decoded inputs three ways: numpy one file per call (the CPU reference), the device one
    file per call, and the device on all files in one call (the batched device path the
    runner takes on an accelerator). Decoding is outside the timings; each way gets freshly
    decoded inputs (an input keeps what was computed on it)."""
    from audiolens.devices import resolve_device
    from audiolens.tasks import get_task
    from audiolens.tasks.base import read_input

    files = [f for _ in range(args.repeat) for f in files]
    device = resolve_device(args.device)
    cpu = resolve_device("cpu")

    def inputs() -> list[Any]:
        task_obj = get_task(task)
        return [read_input(f, task_obj) for f in files]

    def timed(runs: Callable[[Any, list[Any]], list[Any]]) -> tuple[float, list[Any]]:
        task_obj, items = get_task(task), inputs()
        _sync(device)
        t0 = time.perf_counter()
        results = runs(task_obj, items)
        _sync(device)
        return time.perf_counter() - t0, results

    def one_by_one(on: Any) -> Callable[[Any, list[Any]], list[Any]]:
        return lambda t, items: [t.run([it], device=on)[0] for it in items]

    get_task(task).run(inputs()[:1], device=device)  # warm-up: context, plans, weights
    t_np, ref = timed(one_by_one(cpu))
    t_one, alone = timed(one_by_one(device))
    t_batch, got = timed(lambda t, items: t.run(items, device=device))

    def same(want: list[Any]) -> str:
        problems = [
            f"{f.name}: {why}"
            for f, a, b in zip(files, want, got)
            if (why := SAME[task](a.to_dict(), b.to_dict())) is not None
        ]
        return f"yes ({len(files)} files)" if not problems else f"NO {len(problems)}: {problems[0]}"

    return [
        task,
        str(len(files)),
        f"{audio_seconds(files):.0f}",
        f"{t_np:.2f}",
        f"{t_one:.2f}",
        f"{t_batch:.2f}",
        f"{t_one / t_batch:.2f}x",
        same(ref),
        same(alone),
    ]


def _sync(device: Any) -> None:
    """Wait for the device's queued work (CUDA), so that timings hold all of it."""
    if device.name.startswith("cuda"):
        import torch

        torch.cuda.synchronize(device.torch_device)


HEADER = [
    "task",
    "files",
    "audio s",
    "CPU pool files/s",
    "CPU pool x real time",
    "device files/s",
    "device x real time",
    "device speed-up",
    "peak device MiB",
    "parity (device = CPU)",
]


def table_row(cells: list[str]) -> str:
    """One markdown table row."""
    return "| " + " | ".join(cells) + " |"


def table(rows: list[list[str]], header: list[str] = HEADER) -> str:
    """A markdown table of ``rows`` under ``header``."""
    return "\n".join([table_row(header), "|" + "---|" * len(header), *map(table_row, rows)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="auto, torch:cpu, cuda, cuda:N, mps")
    parser.add_argument("--tasks", default=",".join([*FILES, *NO_TORCH_PATH]), help="task names")
    parser.add_argument("--quick", action="store_true", help="a few files per task (minutes)")
    parser.add_argument("--repeat", type=int, default=1, help="analyse each file N times")
    parser.add_argument("--batch", type=int, default=16, help="files per batch on the device")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--calls",
        action="store_true",
        help="instead: time the batched tasks' own run() in this process, one file per call "
        "(numpy, device) against one batched call on the device",
    )
    parser.add_argument(
        "--batched",
        action="store_true",
        help="the device side through the runner's batched path on any device (as on CUDA)",
    )
    parser.add_argument(
        "--notes-runtime",
        default="torch",
        choices=("torch", "auto", "onnxruntime"),
        help="basic-pitch's runtime on the device side (the CPU pool uses ONNX Runtime)",
    )
    args = parser.parse_args(argv)
    from audiolens.devices import resolve_device

    device = resolve_device(args.device)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = [t for t in tasks if t not in FILES and t not in NO_TORCH_PATH]
    if unknown or args.repeat < 1 or args.batch < 1 or args.workers < 1:
        parser.error(f"unknown task(s) {unknown}" if unknown else "counts must be positive")
    print(
        f"device {device.label} ({device.precision}) against the CPU pool of {args.workers} "
        f"worker(s); batch {args.batch}; each file x{args.repeat}",
        file=sys.stderr,
    )
    if args.calls:
        return main_calls(tasks, args)
    # the header first and each row as it is done, so a run stopped by a time limit still
    # leaves the rows it finished
    print(f"device: {device.label}; workers: {args.workers}; repeat: {args.repeat}")
    print(table([]), flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_gpu_") as tmp:
        for task in tasks:
            if task in NO_TORCH_PATH:
                print(table_row([task, *["-"] * (len(HEADER) - 2), NO_TORCH_PATH[task]]))
                continue
            files, quick = FILES[task]
            files = [f for f in files if f.is_file()][: quick if args.quick else None]
            t0 = time.perf_counter()
            try:
                row = bench_task(task, files, args, Path(tmp))
            except Exception as exc:  # one task's failure leaves the others' rows
                row = [task, *["-"] * (len(HEADER) - 2), f"error: {type(exc).__name__}: {exc}"]
            print(table_row(row), flush=True)
            print(f"{task}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return 0


def main_calls(tasks: list[str], args: argparse.Namespace) -> int:
    """The ``--calls`` table, a row per task of :data:`BATCHED_TASKS` asked for."""
    print(f"device: {args.device}; repeat: {args.repeat}; in-process task calls")
    print(table([], CALLS_HEADER), flush=True)
    for task in tasks:
        if task not in BATCHED_TASKS:
            continue
        files, quick = FILES[task]
        files = [f for f in files if f.is_file()][: quick if args.quick else None]
        try:
            row = bench_calls(task, files, args)
        except Exception as exc:
            row = [task, *["-"] * (len(CALLS_HEADER) - 2), f"error: {type(exc).__name__}: {exc}"]
        print(table_row(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
