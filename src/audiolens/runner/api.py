"""``analyze()``: run tasks over files and folders into a results store."""

from __future__ import annotations

import logging
import os
import pickle
import sys
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from ..errors import (
    AudiolensError,
    DeviceError,
    MissingDependency,
    ModelNotFound,
    ParameterError,
    _show_path,
)
from ..store import DEFAULT_DB, ResultRow, Store, encode_path
from ..store.db import remove_store
from .discover import Candidate, discover
from .jobs import FileJob, FileOutcome, TaskOutcome, TaskSpec, resolve_tasks
from .pool import Executor, LocalExecutor
from .progress import HookChain, TqdmHook
from .work import Worker

if TYPE_CHECKING:  # pragma: no cover
    from ..devices import Device
    from ..tasks.base import Task
    from .ray_executor import RayOptions

__all__ = ["RunSummary", "analyze"]

logger = logging.getLogger("audiolens")

PathArg = str | bytes | os.PathLike

_FATAL: dict[str, type[AudiolensError]] = {
    e.__name__: e for e in (MissingDependency, ModelNotFound, DeviceError)
}


@dataclass
class RunSummary:
    """How a run went.

    Attributes
    ----------
    total : files found
    done : files analyzed in this run with every task ok
    skipped : files whose results were already stored and current
    failed : files with at least one failed task in this run
    elapsed_s : wall-clock seconds for the whole run
    device : the device the tasks ran on (``"cpu"``, ``"cuda:0"``, ...)
    tasks : the task names
    db : the results store's file (not created when no file was found)
    failures : (path, task, message) for every failed task
    warnings : folders that could not be read or held no audio files
    damaged : (path, message) for every file analyzed in this run that decoded with damage
        (truncated, damaged packets, NaN samples): its rows are stored with these warnings
    interrupted : the run was stopped (Ctrl-C) before it finished
    elsewhere : files left to another run of the same store (it was analysing them, or stored
        them while this run planned); counted in ``skipped``
    """

    total: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    elapsed_s: float = 0.0
    device: str = "cpu"
    tasks: tuple[str, ...] = ()
    db: str = DEFAULT_DB
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    damaged: list[tuple[str, str]] = field(default_factory=list)
    interrupted: bool = False
    elsewhere: int = 0

    @property
    def files_per_s(self) -> float:
        """Files analyzed (ok or failed, not skipped) per second."""
        n = self.done + self.failed
        return n / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def ok(self) -> bool:
        """True when nothing failed and no folder was unreadable or empty."""
        return self.failed == 0 and not self.warnings and not self.interrupted

    def __str__(self) -> str:
        damaged = f" ({len(self.damaged)} with warnings)" if self.damaged else ""
        elsewhere = f" ({self.elsewhere} by another run)" if self.elsewhere else ""
        return (
            f"{self.total} files: {self.done} analyzed{damaged}, "
            f"{self.skipped} skipped{elsewhere}, {self.failed} failed in {self.elapsed_s:.1f} s "
            f"({self.files_per_s:.1f} files/s) on {self.device}"
        )


def _check_workers(workers: int | None, n_jobs: int) -> int:
    if workers is None:
        return max(1, min(os.cpu_count() or 1, n_jobs))
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ParameterError(f"workers={workers!r} must be a positive integer or None")
    return workers


def _open_store(db: str | os.PathLike | Store | None) -> tuple[Store, bool, bool]:
    """The store, whether this run opened it (and closes it), and whether it made the file."""
    if isinstance(db, Store):
        return db, False, False
    path = os.fspath(DEFAULT_DB if db is None else db)
    new = not os.path.lexists(path)
    return Store(path), True, new


def _plan(
    files: Sequence[Candidate],
    specs: Sequence[TaskSpec],
    store: Store,
    force: bool,
    verify: bool = False,
) -> tuple[list[FileJob], list[Candidate], int]:
    """Split the files into jobs (with the tasks each still needs), broken ones, and skips.

    With ``verify``, a file whose rows are current by size and modification time is hashed
    again (:func:`~audiolens.store.content_hash`) and redone when the hash differs."""
    from ..store import content_hash

    index = {} if force else store.done_index([s.name for s in specs])
    jobs, broken, skipped = [], [], 0
    for c in files:
        if c.error is not None:
            broken.append(c)
            continue
        key = encode_path(c.path)
        stored = {s.name: index.get((key, s.name)) for s in specs}
        need = tuple(
            s.name
            for s in specs
            if stored[s.name] is None or stored[s.name][:3] != (c.size, c.mtime_ns, s.version)
        )
        if verify and not need:
            try:
                now = content_hash(c.path, c.size)
            except OSError:
                now = None  # the worker will say what is wrong with it
            need = tuple(s.name for s in specs if stored[s.name][3] != now)
        if need:
            jobs.append(FileJob(c.path, c.size, c.mtime_ns, need))
        else:
            skipped += 1
    return jobs, broken, skipped


def _broken_outcome(c: Candidate, specs: Sequence[TaskSpec]) -> FileOutcome:
    rows = [TaskOutcome(s.name, s.version, "failed", c.error) for s in specs]
    return FileOutcome(c.path, c.size, c.mtime_ns, None, rows)


def _crashed_outcome(job: FileJob, exc: BaseException, versions: dict[str, int]) -> FileOutcome:
    from .work import describe

    message = describe(exc, job.path)
    rows = [TaskOutcome(t, versions[t], "failed", message) for t in job.tasks]
    return FileOutcome(job.path, job.size, job.mtime_ns, None, rows)


def _per_file(
    executor: Executor, jobs: Iterable[FileJob], versions: dict[str, int]
) -> Generator[FileOutcome, None, None]:
    """Each worker decodes and runs every task on its file (CPU devices)."""
    for job, res in executor.imap_unordered("analyze", jobs):
        yield res if isinstance(res, FileOutcome) else _crashed_outcome(job, res, versions)


def _batched(
    executor: Executor,
    jobs: Iterable[FileJob],
    versions: dict[str, int],
    batch_size: int,
    max_bytes: int | None = None,
) -> Generator[FileOutcome, None, None]:
    """Workers decode; the device runs the tasks on batches of files (accelerators).

    The decoded files go to the device through a :class:`~audiolens.runner.feed.DeviceFeed`:
    batches run on a thread of this process (or, for an executor whose ``main`` has
    ``submit_batch``, Ray's model actors, with up to ``main.batches_in_flight`` batches out)
    while the workers go on decoding, and a new decode starts only while the decoded audio
    held is under ``max_bytes`` (:func:`~audiolens.runner.feed.queue_bytes` when None)."""
    from .feed import DeviceFeed, queue_bytes
    from .jobs import DecodedFile

    bound = queue_bytes() if max_bytes is None else max_bytes
    feed = DeviceFeed(executor.main, batch_size=batch_size, max_bytes=bound)
    try:
        for job, res in executor.imap_unordered("decode", feed.gate(jobs)):
            if isinstance(res, DecodedFile):
                yield from feed.add(res, res.failed)
            else:
                yield from feed.outcomes()
                yield _crashed_outcome(job, res, versions)
            del res  # the feed holds what it needs: no decoded audio kept here
        yield from feed.finish()
    finally:
        feed.close()


@dataclass
class _Claims:
    """Claims each job in the store as the executor takes it (:meth:`Store.claim`): a file
    another run is analysing, or stored while this one planned, is left to it (a skipped
    ``"file"`` event for the progress bar); a file whose tasks are partly held goes on with
    the others."""

    store: Store
    run_id: int
    since: float  # when this run read what was done
    versions: dict[str, int]
    summary: RunSummary
    chain: HookChain
    todo: int

    def __call__(self, jobs: Iterable[FileJob]) -> Iterator[FileJob]:
        for job in jobs:
            granted = self.store.claim(
                job.path,
                size=job.size,
                mtime_ns=job.mtime_ns,
                tasks={t: self.versions[t] for t in job.tasks},
                run_id=self.run_id,
                since=self.since,
            )
            if granted:
                yield job if granted == job.tasks else replace(job, tasks=granted)
                continue
            logger.debug("%s: left to another run of this store", _show_path(job.path))
            s = self.summary
            s.skipped += 1
            s.elsewhere += 1
            self.chain(
                "file",
                path=job.path,
                status="skipped",
                error=None,
                completed=s.done + s.failed,
                todo=self.todo,
                failed=s.failed,
                seconds=None,
                warnings=[],
            )


def _rows(outcome: FileOutcome, device: str, run_id: int) -> list[ResultRow]:
    return [
        ResultRow(
            path=outcome.path,
            task=o.task,
            task_version=o.version,
            status=o.status,
            error=o.error,
            result=o.result,
            size=outcome.size,
            mtime_ns=outcome.mtime_ns,
            content_hash=outcome.content_hash,
            device=o.device or device,
            elapsed_s=o.elapsed_s,
            run_id=run_id,
            warnings=list(o.warnings),
        )
        for o in outcome.outcomes
    ]


def _uses_accelerator(device: Device) -> bool:
    return device.backend == "torch" and device.name != "cpu"


def analyze(
    paths: PathArg | Iterable[PathArg],
    *,
    tasks: str | Sequence[str | Task] = ("quality",),
    db: str | os.PathLike | Store | None = None,
    workers: int | None = None,
    device: str | Device = "auto",
    force: bool = False,
    verify: bool = False,
    progress: bool = True,
    hook: Callable[..., Any] | None = None,
    batch_size: int = 16,
    executor: Literal["local", "ray"] | RayOptions = "local",
) -> RunSummary:
    """Run tasks over files and folders, storing one row per file and task.

    Parameters
    ----------
    paths : a file or folder, or several; folders are walked for audio files, files named
        explicitly are always attempted
    tasks : task names (``"quality"``), or Task instances (picklable when ``workers > 1``)
    db : the results store (a file, created when missing, or an open :class:`Store`);
        None uses ``audiolens.sqlite`` in the current directory. A file is not created when
        ``paths`` hold no file to analyze (only folders without audio)
    workers : processes for decoding and CPU work; None uses one per CPU core (at most one per
        file); 1 runs everything in this process
    device : ``"auto"`` (``$AUDIOLENS_DEVICE``, else CUDA, MPS, CPU), ``"cpu"``, ``"cuda:1"``...
    force : analyze every file again, even when its stored results are current
    verify : also compare the content hash of files whose size and modification time match
        their stored rows, and analyze again those that changed (content rewritten with the
        same size and time). It costs reading 128 KiB of each file (its first and last
        64 KiB, which the hash covers: a change only in between goes unnoticed)
    progress : draw a progress bar on stderr (only when stderr is a terminal)
    hook : called as ``hook(event, **info)`` on ``"start"``, each ``"file"``, and ``"end"``
        (see :mod:`audiolens.runner.progress`)
    batch_size : files per task call when the tasks run on an accelerator, or when a task
        batches across files (``batch_files``, e.g. speech)
    executor : ``"local"`` (this machine's process pool), ``"ray"`` (the Ray cluster this
        machine belongs to; needs ``audiolens[ray]``), or a
        :class:`~audiolens.runner.ray_executor.RayOptions` (the cluster's address, shipping
        small files from here, tasks in flight, retries, GPUs per model actor). On Ray,
        ``workers`` is unused (the cluster's CPUs decide), and each row's device names the node
        that computed it (``ray:cpu@node2``)

    Returns
    -------
    summary : RunSummary
        counts (total, done, skipped, failed), elapsed time, files/s, the device, and every
        failure's message. A file that cannot be analyzed never stops the run: it becomes a
        ``failed`` row whose message names it.

    Raises
    ------
    ParameterError
        for an unknown task, a bad device name, a bad ``workers``, a bad
        ``$AUDIOLENS_MAX_HOURS`` or a bad ``$AUDIOLENS_QUEUE_MB``.
    DeviceError, MissingDependency
        when the device asked for is not available.
    StoreError
        when ``db`` is not an audiolens store.

    Notes
    -----
    A store file is made only when there is something to store: not when ``paths`` hold no
    file (folders without audio), and a store this run made is deleted again when the run stops
    before its first file (a missing model, Ctrl-C).

    No file is decoded past ``$AUDIOLENS_MAX_HOURS`` hours of audio (24 by default): one that
    holds more fails with a message saying so. Memory does not depend on what a header claims
    (see :func:`audiolens.audio.request.decode_request`). On an accelerator (and for tasks
    that batch across files) the workers decode while the device runs batches on a thread of
    this process, and the decoded audio waiting for the device stays under
    ``$AUDIOLENS_QUEUE_MB`` MiB (1024 by default; see :mod:`audiolens.runner.feed`).

    A rerun skips files whose stored row has the same path, size, modification time and task
    version with status ok; failed rows are retried. Each file's rows are written in one
    transaction, so a run killed at any point loses only the files in flight. Runs may share a
    store at the same time: each claims a file in the store just before analysing it, and
    leaves to the other the files it holds (``RunSummary.elsewhere``), so no file is analysed
    twice; the claims of a killed run end when a later run marks it ``killed``.

    With ``workers > 1`` the pool's processes are started with ``forkserver`` or ``spawn``:
    scripts that call :func:`analyze` need the usual ``if __name__ == "__main__":`` guard.
    A KeyboardInterrupt (Ctrl-C; the CLI raises one on SIGTERM too) stops the busy workers at
    once and marks the run ``interrupted``; when this process is killed outright, its workers
    notice and exit (nothing of the pool is left running).
    """
    from ..audio.limits import max_seconds
    from ..devices import resolve_device
    from .feed import queue_bytes

    t0 = time.perf_counter()
    max_seconds()  # a bad $AUDIOLENS_MAX_HOURS stops the run here, not every file
    queue_bytes()  # and a bad $AUDIOLENS_QUEUE_MB
    if isinstance(paths, (str, bytes, os.PathLike)):
        paths = [paths]
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ParameterError(f"batch_size={batch_size!r} must be a positive integer")
    if workers is not None:
        _check_workers(workers, 0)
    ray_options = _ray_options(executor)
    dev = resolve_device(device)
    specs, instances = resolve_tasks(tasks)
    versions = {s.name: s.version for s in specs}
    found = discover(paths)
    for message in found.warnings:
        logger.warning("%s", message)
    if not found.files and not isinstance(db, Store):  # nothing to store: no store file
        summary = RunSummary(
            device=dev.label, tasks=tuple(versions), db=os.fspath(DEFAULT_DB if db is None else db)
        )
        summary.warnings = list(found.warnings)
        return _nothing_found(summary, hook, t0)
    store, owned, new = _open_store(db)
    summary = RunSummary(device=dev.label, tasks=tuple(versions), db=store.path)
    summary.warnings = list(found.warnings)
    chain = HookChain([TqdmHook() if progress and _isatty(sys.stderr) else None, hook])
    run_id, status = None, "finished"
    pool: Executor | None = None
    outcomes: Generator[FileOutcome, None, None] | None = None
    try:
        specs, instances = _name_outputs(specs, instances, [c.path for c in found.files])
        since = time.time()  # rows another run stores from now on are claimed by _Claims
        jobs, broken, summary.skipped = _plan(found.files, specs, store, force, verify)
        summary.total = len(found.files)
        n_workers = _check_workers(workers, len(jobs))
        # model tasks that batch across files (speech) run here on batches of decoded files,
        # on any device; so does everything on an accelerator
        batches = _uses_accelerator(dev) or any(
            getattr(t, "batch_files", False) for t in (instances.get(s.name) for s in specs)
        )
        if ray_options is not None:
            from .ray_executor import RayExecutor

            _check_picklable(specs)
            pool = RayExecutor(specs, dev, ray_options)
            summary.device = pool.label
            n_workers = pool.in_flight
        elif n_workers > 1:
            _check_picklable(specs)
            # biggest files first, so the last ones to finish are short and no worker waits
            # long for another at the end (longest-processing-time-first scheduling)
            jobs.sort(key=lambda j: -j.size)
        run_id = store.begin_run(list(versions), summary.device, workers=n_workers)
        todo = len(jobs) + len(broken)
        logger.info(
            "%d files found, %d to analyze, %d already done; %s on %s with %d worker(s)",
            *(summary.total, todo, summary.skipped, "+".join(versions), summary.device, n_workers),
        )
        chain(
            "start",
            total=summary.total,
            todo=todo,
            skipped=summary.skipped,
            device=summary.device,
            tasks=list(versions),
            workers=n_workers,
        )
        if pool is None:
            main = Worker(specs, dev, instances) if n_workers == 1 or batches else None
            pool = LocalExecutor(specs, dev, n_workers, main=main)
        claimed = _Claims(store, run_id, since, versions, summary, chain, todo)(jobs)
        if batches:
            outcomes = _batched(pool, claimed, versions, batch_size)
        else:
            outcomes = _per_file(pool, claimed, versions)
        for outcome in _chain_outcomes((_broken_outcome(c, specs) for c in broken), outcomes):
            _record(store, outcome, dev.label, run_id, summary, chain, todo)
    except BaseException as exc:
        summary.interrupted = True
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        if outcomes is not None:
            outcomes.close()  # stops the pool's busy workers now, not at garbage collection
        if pool is not None:
            pool.close(kill=True)
        raise
    finally:
        if pool is not None:
            pool.close()  # leaves the Ray cluster; the local pool has closed itself
        summary.elapsed_s = time.perf_counter() - t0
        if run_id is not None:
            store.end_run(
                run_id,
                status=status,
                total=summary.total,
                done=summary.done,
                skipped=summary.skipped,
                failed=summary.failed,
            )
        if summary.interrupted:
            chain.close()
        else:
            chain("end", summary=summary)
        if owned:
            store.close()
        if new and status != "finished" and summary.done + summary.failed == 0:
            remove_store(store.path)  # a run that stopped before its first file: no litter
    logger.info("%s", summary)
    return summary


def _ray_options(executor: Any) -> RayOptions | None:
    """The Ray options a run's ``executor`` asks for, or None for the local pool."""
    if isinstance(executor, str) and executor == "local":
        return None
    from .ray_executor import RayOptions

    if isinstance(executor, RayOptions):
        return executor
    if isinstance(executor, str) and executor == "ray":
        return RayOptions()
    raise ParameterError(f"executor={executor!r} must be 'local', 'ray' or a RayOptions")


def _nothing_found(summary: RunSummary, hook: Callable[..., Any] | None, t0: float) -> RunSummary:
    """The end of a run that found no files: the hook hears a start and an end, nothing else."""
    chain = HookChain([hook])
    chain(
        "start",
        total=0,
        todo=0,
        skipped=0,
        device=summary.device,
        tasks=list(summary.tasks),
        workers=0,
    )
    summary.elapsed_s = time.perf_counter() - t0
    chain("end", summary=summary)
    logger.info("%s", summary)
    return summary


def _chain_outcomes(*its: Iterable[FileOutcome]) -> Iterator[FileOutcome]:
    for it in its:
        yield from it


def _record(
    store: Store,
    outcome: FileOutcome,
    device: str,
    run_id: int,
    summary: RunSummary,
    chain: HookChain,
    todo: int,
) -> None:
    for o in outcome.outcomes:
        if o.fatal:
            raise _FATAL.get(o.fatal, AudiolensError)(o.error)
    store.write_file(_rows(outcome, device, run_id))
    damage = outcome.warnings
    if damage:
        message = "; ".join(damage)
        summary.damaged.append((outcome.path, message))
        logger.warning("%s: %s", _show_path(outcome.path), message)
    first_error = None
    for o in outcome.outcomes:
        if o.status == "failed":
            summary.failures.append((outcome.path, o.task, o.error or ""))
            first_error = first_error or o.error
            logger.warning("%s failed: %s", o.task, o.error)
            if o.detail:
                logger.debug("%s", o.detail)
    if outcome.ok:
        summary.done += 1
    else:
        summary.failed += 1
    chain(
        "file",
        path=outcome.path,
        status="ok" if outcome.ok else "failed",
        error=first_error,
        completed=summary.done + summary.failed,
        todo=todo,
        failed=summary.failed,
        seconds=outcome.seconds,
        warnings=damage,
    )


def _name_outputs(
    specs: list[TaskSpec], instances: dict[str, Task], paths: list[str]
) -> tuple[list[TaskSpec], dict[str, Task]]:
    """The tasks, those that write files per input given the run's output names (decided here,
    from every file found, so that the names do not depend on the worker or on what a resumed
    run has left to do); the caller's task objects are not changed."""
    from ..tasks.names import OutputNames, with_names

    names = OutputNames(paths)
    named = {name: with_names(task, names) for name, task in instances.items()}
    specs = [
        s if named[s.name] is instances[s.name] else replace(s, ref=named[s.name]) for s in specs
    ]
    return specs, named


def _check_picklable(specs: Sequence[TaskSpec]) -> None:
    for spec in specs:
        try:
            pickle.dumps(spec)
        except Exception as exc:
            raise ParameterError(
                f"task {spec.name!r} cannot be sent to worker processes ({exc}); "
                "pass workers=1 or make the task picklable"
            ) from None


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
