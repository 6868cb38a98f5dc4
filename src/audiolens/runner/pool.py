"""Running worker calls in this process or in a process pool that survives crashes.

:class:`LocalExecutor` yields ``(job, result_or_exception)`` as calls finish. With more than
one worker it uses a :class:`~concurrent.futures.ProcessPoolExecutor` started with
``forkserver`` (``spawn`` where there is none), so workers never inherit the caller's threads or
open handles. When a worker dies (a decoder that segfaults, the kernel's OOM killer), the files
that were in flight are run again one at a time on a fresh pool; the one that kills its worker
again is reported as crashed, and the run goes on. Each worker exits by itself when the
process that runs the pool is gone (:func:`~audiolens.runner.work.watch_parent`), so a
``kill -9`` of that process leaves no worker, forkserver or resource tracker behind.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import _show_path
from .jobs import FileJob, TaskSpec
from .work import Worker, call, init_worker

if TYPE_CHECKING:  # pragma: no cover
    from ..devices import Device

__all__ = ["Executor", "LocalExecutor", "WorkerCrashed"]

logger = logging.getLogger("audiolens")


class WorkerCrashed(RuntimeError):
    """The worker process died while it was working on one file."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"{_show_path(path)}: the worker process died while analyzing this file (a crash "
            "in a decoder or native library, or killed for using too much memory)"
        )


class Executor(Protocol):
    """What the runner needs of an executor: this module's :class:`LocalExecutor`, or
    :class:`~audiolens.runner.ray_executor.RayExecutor` for a Ray cluster.

    ``imap_unordered(method, jobs)`` yields ``(job, Worker.<method>(job))`` as calls finish
    (an exception as the result, never raised), taking jobs only as room frees up; ``main``
    runs ``run_batch(name, files)`` on batches of decoded files; ``close(kill=...)`` stops what
    is still running.
    """

    def imap_unordered(
        self, method: str, jobs: Iterable[FileJob]
    ) -> Iterator[tuple[FileJob, Any]]: ...  # pragma: no cover

    @property
    def main(self) -> Any: ...  # pragma: no cover

    def close(self, *, kill: bool = False) -> None: ...  # pragma: no cover


def _context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


class LocalExecutor:
    """Runs :class:`~audiolens.runner.work.Worker` methods over jobs on this machine.

    Parameters
    ----------
    specs, device : what each worker runs, and where
    workers : processes; 1 runs in this process (using ``main``)
    main : the worker of this process (made when needed)
    """

    def __init__(
        self,
        specs: Sequence[TaskSpec],
        device: Device,
        workers: int,
        main: Worker | None = None,
    ) -> None:
        self.specs = list(specs)
        self.device = device
        self.workers = max(1, int(workers))
        self._main = main
        self._pool: ProcessPoolExecutor | None = None
        self.restarts = 0

    @property
    def main(self) -> Worker:
        """The worker of this process (tasks made once, on first use)."""
        if self._main is None:
            self._main = Worker(self.specs, self.device)
        return self._main

    # -- the pool ------------------------------------------------------------------------------

    def _new_pool(self) -> ProcessPoolExecutor:
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=_context(),
            initializer=init_worker,
            initargs=(self.specs, self.device, threads, os.getpid()),
        )

    def close(self, *, kill: bool = False) -> None:
        """Shut the pool down; ``kill`` stops busy workers at once (after Ctrl-C)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if kill:
            processes = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in processes:
                if proc.is_alive():
                    proc.terminate()
            for proc in processes:
                proc.join(timeout=5)
        else:
            pool.shutdown(wait=True)

    # -- running -------------------------------------------------------------------------------

    def imap_unordered(self, method: str, jobs: Iterable[FileJob]) -> Iterator[tuple[FileJob, Any]]:
        """Yield ``(job, Worker.<method>(job))`` as calls finish; an exception is yielded as
        the result, never raised (KeyboardInterrupt excepted)."""
        if self.workers == 1:
            for job in jobs:
                try:
                    yield job, getattr(self.main, method)(job)
                except Exception as exc:
                    yield job, exc
            return
        try:
            yield from self._pooled(method, jobs)
        except BaseException:
            self.close(kill=True)
            raise
        self.close()

    def _pooled(self, method: str, jobs: Iterable[FileJob]) -> Iterator[tuple[FileJob, Any]]:
        """The pool's loop. ``jobs`` is read as room frees up (at most ``2 * workers`` calls in
        flight), not all at once: a job is taken (and claimed in the store, see
        :func:`~audiolens.runner.api.analyze`) just before it is sent to a worker."""
        pending = iter(jobs)
        more = True  # pending may still give jobs
        alone: deque[FileJob] = deque()  # in flight when a worker died: rerun one at a time
        inflight: dict[Future, tuple[FileJob, bool]] = {}
        limit = 2 * self.workers

        def submit(job: FileJob, solo: bool) -> None:
            if self._pool is None:
                self._pool = self._new_pool()
            inflight[self._pool.submit(call, method, job)] = (job, solo)

        while more or alone or inflight:
            if alone:
                if not inflight:
                    submit(alone.popleft(), True)
            else:
                while more and len(inflight) < limit:
                    job = next(pending, None)
                    if job is None:
                        more = False
                    else:
                        submit(job, False)
            if not inflight:
                continue
            done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
            broken = False
            for fut in done:
                job, solo = inflight.pop(fut)
                item, died = self._settle(fut, job, solo, alone)
                broken = broken or died
                if item is not None:
                    yield item
            if broken:
                for fut in list(inflight):  # the rest fail at once, or finished just before
                    job, solo = inflight.pop(fut)
                    item, _ = self._settle(fut, job, solo, alone)
                    if item is not None:
                        yield item
                self.restarts += 1
                logger.debug("a worker process died; restarting the pool")
                self.close()

    @staticmethod
    def _settle(
        fut: Future, job: FileJob, solo: bool, alone: deque[FileJob]
    ) -> tuple[tuple[FileJob, Any] | None, bool]:
        """The (job, result) a finished future gives, and whether its worker died."""
        exc = fut.exception()
        if isinstance(exc, BrokenProcessPool):
            if solo:
                return (job, WorkerCrashed(job.path)), True
            alone.append(job)
            return None, True
        return (job, exc if exc is not None else fut.result()), False
