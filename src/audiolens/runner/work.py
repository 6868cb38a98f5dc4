"""What runs on one file: probe once, decode once per distinct request, run the tasks.

A :class:`Worker` holds one instance of each task and the device; it lives in each process of
the pool (made once by :func:`init_worker`) or in the main process. Its methods never raise for
a bad file: every problem becomes a failed :class:`~audiolens.runner.jobs.TaskOutcome` whose
message names the file.

This module imports nothing heavy at import time, so a worker process can limit its math
libraries' threads before numpy loads.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..errors import AudiolensError, DeviceError, MissingDependency, ModelNotFound, _show_path
from ..store._json import dumps
from .jobs import DecodedFile, FileJob, FileOutcome, TaskOutcome, TaskSpec

logger = logging.getLogger("audiolens")

if TYPE_CHECKING:  # pragma: no cover
    from ..audio.request import AudioRequest, TaskInput
    from ..devices import Device
    from ..tasks.base import Task

__all__ = ["FATAL_ERRORS", "Worker", "call", "init_worker", "watch_parent"]

#: errors about the setup, not the file: they stop the run instead of failing every file
FATAL_ERRORS: tuple[type[AudiolensError], ...] = (MissingDependency, ModelNotFound, DeviceError)

_THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def describe(exc: BaseException, path: str) -> str:
    """A failure message that names the file once."""
    shown = _show_path(path)
    text = str(exc) if isinstance(exc, AudiolensError) else f"{type(exc).__name__}: {exc}"
    text = text.rstrip() or type(exc).__name__
    return text if shown in text else f"{shown}: {text}"


def _detail(exc: BaseException) -> str | None:
    if isinstance(exc, AudiolensError):
        return None
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def identity_problem(job: FileJob, *, when: str) -> str | None:
    """Why the file on disk is no longer the one found (vanished, changed), or None."""
    shown = _show_path(job.path)
    try:
        st = os.stat(job.path)
    except FileNotFoundError:
        return f"{shown}: the file vanished {when}"
    except OSError as exc:
        return f"{shown}: cannot stat the file {when} ({exc.strerror or exc})"
    if not stat.S_ISREG(st.st_mode):
        return f"{shown}: is no longer a regular file {when}"
    if (st.st_size, st.st_mtime_ns) != (job.size, job.mtime_ns):
        return (
            f"{shown}: the file changed {when} (size or modification time differ); "
            "it will be analyzed again on the next run"
        )
    return None


class Worker:
    """Runs tasks on files; one per process.

    Parameters
    ----------
    specs : the tasks to run
    device : where the tasks compute
    instances : task instances already made in this process (else each spec is instantiated)
    """

    def __init__(
        self,
        specs: Sequence[TaskSpec],
        device: Device,
        instances: dict[str, Task] | None = None,
    ) -> None:
        self.device = device
        self.versions = {s.name: s.version for s in specs}
        self.tasks: dict[str, Task] = {
            s.name: (instances or {}).get(s.name) or s.instantiate() for s in specs
        }

    # -- stage 1: probe and decode ------------------------------------------------------------

    def decode(self, job: FileJob) -> DecodedFile:
        """Check the file is still the one found, probe it, and decode what the tasks ask for.

        Decode warnings are not logged here: they travel with the outcome (see
        :attr:`TaskOutcome.warnings`), so the main process reports them with any workers."""
        from ..audio.damage import collecting_damage

        with collecting_damage():
            return self._decode(job)

    def _decode(self, job: FileJob) -> DecodedFile:
        from ..audio import probe
        from ..store.identity import content_hash

        out = DecodedFile(job=job, content_hash=None)
        t0 = time.perf_counter()
        problem = identity_problem(job, when="after it was found")
        if problem is None:
            try:
                out.content_hash = content_hash(job.path, job.size)
                out.info = probe(job.path)
            except OSError as exc:
                problem = f"{_show_path(job.path)}: cannot read the file ({exc.strerror or exc})"
            except Exception as exc:
                return self._fail_all(out, exc, time.perf_counter() - t0)
        if problem is not None:
            return self._fail_all(out, problem, time.perf_counter() - t0)
        probe_s = time.perf_counter() - t0
        pending = list(job.tasks)
        while pending:
            pending = self._decode_some(out, pending, probe_s)
        return out

    def _decode_some(self, out: DecodedFile, pending: list[str], probe_s: float) -> list[str]:
        """Decode what the ``pending`` tasks ask for; the tasks left when a decode found the
        file longer than its header says (their requests are made again for its true length)."""
        from ..audio.request import decode_request

        path = out.job.path
        groups = self._requests(out, pending)
        left = [n for names in groups.values() for n in names]
        for request, names in groups.items():
            t1 = time.perf_counter()
            left = [n for n in left if n not in names]
            try:
                plan = self.tasks[names[0]].request  # tasks asking alike replan alike
                inp = decode_request(path, out.info, request, replan=plan)
            except Exception as exc:
                for name in names:
                    out.failed[name] = self._failure(name, exc, path, probe_s)
                continue
            for name in names:
                _prepare(self.tasks[name], inp)
            spent = probe_s + time.perf_counter() - t1
            for name in names:
                out.inputs[name] = inp
                out.prep_s[name] = spent
            if inp.info.duration != out.info.duration:  # the header lied about the length
                out.info = inp.info
                return left
        return []

    def _requests(self, out: DecodedFile, names: Sequence[str]) -> dict[AudioRequest, list[str]]:
        groups: dict[AudioRequest, list[str]] = {}
        for name in names:
            try:
                request = self.tasks[name].request(out.info)
            except Exception as exc:
                out.failed[name] = self._failure(name, exc, out.job.path, 0.0)
                continue
            groups.setdefault(request, []).append(name)
        return groups

    # -- stage 2: run the tasks ---------------------------------------------------------------

    def run_batch(self, name: str, files: Sequence[DecodedFile]) -> list[TaskOutcome]:
        """Run task ``name`` on decoded files, one batch; on an error, halve and retry.

        Splitting isolates the file that fails (and backs off on out-of-memory), so a batch
        gives the same results as running its files one by one. Each outcome carries its
        input's decode warnings (those of a streamed input are known once it was read).
        """
        from ..audio.damage import collecting_damage

        with collecting_damage():
            out = self._run_batch(name, files)
        for f, o in zip(files, out, strict=True):
            o.warnings = f.inputs[name].warnings
        return out

    def _run_batch(self, name: str, files: Sequence[DecodedFile]) -> list[TaskOutcome]:
        task = self.tasks[name]
        t0 = time.perf_counter()
        try:
            results = task.run([f.inputs[name] for f in files], device=self.device)
            if len(results) != len(files):
                raise RuntimeError(
                    f"task {name!r} returned {len(results)} results for {len(files)} inputs"
                )
        except Exception as exc:
            if len(files) == 1:
                spent = files[0].prep_s.get(name, 0.0) + time.perf_counter() - t0
                return [self._failure(name, exc, files[0].job.path, spent)]
            half = len(files) // 2
            return self._run_batch(name, files[:half]) + self._run_batch(name, files[half:])
        share = (time.perf_counter() - t0) / len(files)
        out = []
        for f, result in zip(files, results, strict=True):
            spent = f.prep_s.get(name, 0.0) + share
            try:
                record = json.loads(dumps(result.to_dict()))  # plain JSON, checked here
            except Exception as exc:
                out.append(self._failure(name, exc, f.job.path, spent))
                continue
            out.append(TaskOutcome(name, self.versions[name], "ok", result=record, elapsed_s=spent))
        return out

    def analyze(self, job: FileJob) -> FileOutcome:
        """The whole pipeline for one file: decode, run each task, check the file held still."""
        decoded = self.decode(job)
        outcomes = dict(decoded.failed)
        for name in decoded.inputs:
            outcomes[name] = self.run_batch(name, [decoded])[0]
        return finish(decoded, outcomes)

    # -- failures -----------------------------------------------------------------------------

    def _failure(self, name: str, exc: BaseException | str, path: str, spent: float):
        if isinstance(exc, str):
            return TaskOutcome(name, self.versions[name], "failed", exc, elapsed_s=spent)
        if isinstance(exc, FATAL_ERRORS):
            return TaskOutcome(
                name, self.versions[name], "failed", str(exc), fatal=type(exc).__name__
            )
        return TaskOutcome(
            name,
            self.versions[name],
            "failed",
            describe(exc, path),
            elapsed_s=spent,
            detail=_detail(exc),
        )

    def _fail_all(self, out: DecodedFile, exc: BaseException | str, spent: float) -> DecodedFile:
        for name in out.job.tasks:
            out.failed[name] = self._failure(name, exc, out.job.path, spent)
        return out


def _prepare(task: Task, item: TaskInput) -> None:
    """The task's own work on a decoded input where it was decoded (its ``prepare``, if it has
    one; see :mod:`audiolens.tasks.base`). Its errors are left for the task's ``run``, which
    computes what was not prepared, to meet and report with the file's name."""
    prepare = getattr(task, "prepare", None)
    if prepare is None:
        return
    try:
        prepare(item)
    except Exception as exc:
        logger.debug("%s: %s prepare left to run: %s", _show_path(item.info.path), task.name, exc)


def finish(decoded: DecodedFile, outcomes: dict[str, TaskOutcome]) -> FileOutcome:
    """Assemble a file's outcome; if the file changed while it was analyzed, fail its tasks."""
    job = decoded.job
    problem = None
    if any(o.status == "ok" for o in outcomes.values()):
        problem = identity_problem(job, when="while it was being analyzed")
    ordered = []
    for name in job.tasks:
        o = outcomes[name]
        if problem is not None and o.status == "ok":
            o = replace(o, status="failed", error=problem, result=None, detail=None)
        ordered.append(o)
    seconds = decoded.info.duration if decoded.info is not None else None
    return FileOutcome(job.path, job.size, job.mtime_ns, decoded.content_hash, ordered, seconds)


# -- the process pool's side ------------------------------------------------------------------

_WORKER: Worker | None = None
_START_ERROR: str | None = None


def init_worker(
    specs: Sequence[TaskSpec], device: Device, threads: int | None, parent: int | None = None
) -> None:
    """Pool initializer: limit math threads, ignore Ctrl-C (the main process handles it), exit
    when the process ``parent`` (the one that runs the pool) is gone, and make this process's
    :class:`Worker`. Never raises: a failure is reported per file."""
    import signal

    global _WORKER, _START_ERROR
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if parent is not None:
        watch_parent(parent)
    if threads is not None:
        limit_threads(threads)
    try:
        _WORKER = Worker(specs, device)
    except BaseException as exc:
        _START_ERROR = f"{type(exc).__name__}: {exc}"


def limit_threads(threads: int) -> None:
    """Give this process's math libraries ``threads`` threads each, unless the user chose.

    The thread variables (``OMP_NUM_THREADS``, ...) are set for what starts later, and the
    libraries already running are limited too (threadpoolctl): the forkserver that starts the
    workers imports the main module first, so numpy's BLAS is up, with a thread per core,
    before this runs. Two workers on two cores, each with two BLAS threads, ran the loudness
    meter at half speed on a busy machine. A variable set by the user wins.
    """
    if any(var in os.environ for var in _THREAD_VARS):
        return
    for var in _THREAD_VARS:
        os.environ[var] = str(threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def watch_parent(pid: int, *, poll_s: float = 0.5) -> None:
    """End this process (``os._exit``) as soon as the process ``pid`` is gone.

    A pool worker's parent is the forkserver, not the process that runs the pool; when that
    one is killed (``kill -9``, the OOM killer) nothing tells the worker, which would wait on
    its queue for ever, and keep the forkserver and the resource tracker alive with it. A
    daemon thread waits on a pidfd of ``pid`` (Linux 5.3+: readable the moment it exits, even
    before it is reaped); where there is no pidfd, it asks every ``poll_s`` seconds whether
    ``pid`` still exists (``os.kill(pid, 0)``).
    """
    import select
    import threading

    try:
        fd: int | None = os.pidfd_open(pid)
    except ProcessLookupError:  # gone before this worker started
        os._exit(1)
    except (AttributeError, OSError):  # no pidfd here (not Linux, old kernel, seccomp)
        fd = None

    def wait_for_exit() -> None:
        if fd is not None:
            select.select([fd], [], [])
        else:
            while _exists(pid):
                time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=wait_for_exit, name="audiolens-parent-watch", daemon=True).start()


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user took the number: ours is gone
        return False
    return True


def call(method: str, job: FileJob) -> Any:
    """Run ``Worker.<method>(job)`` in this pool process."""
    if _WORKER is None:
        raise RuntimeError(f"the worker process could not start its tasks ({_START_ERROR})")
    return getattr(_WORKER, method)(job)
