"""Running worker calls on a Ray cluster: the only module that imports ``ray``.

:class:`RayExecutor` has the interface of :class:`~audiolens.runner.pool.LocalExecutor`
(``imap_unordered``, ``main``, ``close``): the runner plans, claims and stores exactly as with
the local pool, and only this process (the driver) writes the store.

- Each file job is a Ray task asking for one CPU (``num_cpus=1``); Ray runs it again when its
  worker process or node dies (``max_retries``, bounded). A file whose retries are spent is
  stored as failed with the reason. At most ``in_flight`` tasks are out at once, so a run of
  100,000 files holds little in memory.
- Tasks that batch across files (speech) and everything on an accelerator run in Ray actors
  that load their models once and take batches of decoded files; on CUDA each actor asks for
  ``gpus_per_actor`` GPUs (fractions share a GPU), so GPU nodes do the model work and CPU nodes
  decode.
- Files are read where the tasks run (a shared file system), or, for files up to
  ``ship_bytes`` bytes, sent from the driver.
- Every stored row names the node it was computed on: ``ray:cpu@node2``.

Ray is imported on first use, never when this module is imported.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..errors import MissingDependency, ParameterError, _show_path
from .jobs import DecodedFile, FileJob, FileOutcome, TaskOutcome, TaskSpec
from .work import Worker

if TYPE_CHECKING:  # pragma: no cover
    from ..devices import Device

__all__ = ["RayExecutor", "RayOptions", "RayWorkLost"]

logger = logging.getLogger("audiolens")


@dataclass(frozen=True)
class RayOptions:
    """How a run uses Ray (``analyze(..., executor=RayOptions(...))``; ``executor="ray"`` is
    ``RayOptions()``).

    Attributes
    ----------
    address : ``"auto"`` (the cluster this machine belongs to: ``$RAY_ADDRESS`` or the one
        ``ray start`` made here), ``"HOST:PORT"`` of a head node, or None to start a Ray
        instance on this machine for the run (no dashboard, no usage statistics)
    ship_bytes : files up to this many bytes are read by the driver and sent with their task
        (for workers that do not see the driver's files); 0 reads every file by its path where
        the task runs (a shared file system). Only per-file runs ship bytes: tasks that batch
        across files, and runs on an accelerator, read their files by path
    in_flight : file tasks out at once; None: two per CPU of the cluster
    max_retries : times Ray runs a file's task again when its worker process or node dies
    gpus_per_actor : GPUs each model actor asks for on CUDA (0.5: two actors share a GPU)
    """

    address: str | None = "auto"
    ship_bytes: int = 0
    in_flight: int | None = None
    max_retries: int = 2
    gpus_per_actor: float = 1.0

    def __post_init__(self) -> None:
        for name in ("ship_bytes", "max_retries"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ParameterError(f"{name}={value!r} must be a non-negative integer")
        n = self.in_flight
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise ParameterError(f"in_flight={n!r} must be a positive integer or None")
        g = self.gpus_per_actor
        if isinstance(g, bool) or not isinstance(g, (int, float)) or not 0 < g <= 64:
            raise ParameterError(f"gpus_per_actor={g!r} must be a number above 0")
        if self.address is not None and not isinstance(self.address, str):
            raise ParameterError(f"address={self.address!r} must be 'auto', 'HOST:PORT' or None")


class RayWorkLost(RuntimeError):
    """Ray gave up on a file: its worker process or node died more often than retries allow."""

    def __init__(self, path: str, reason: BaseException, retries: int) -> None:
        first = str(reason).strip().splitlines()[0] if str(reason).strip() else ""
        why = f"{type(reason).__name__}: {first}" if first else type(reason).__name__
        super().__init__(
            f"{_show_path(path)}: the Ray worker analyzing this file was lost after "
            f"{retries} retries ({why[:300]})"
        )


def _ray() -> Any:
    try:
        import ray
    except ModuleNotFoundError:
        raise MissingDependency("executor='ray' needs Ray: pip install 'audiolens[ray]'") from None
    return ray


# -- the workers' side (Ray worker processes) -------------------------------------------------

_WORKERS: dict[str, Worker] = {}


def _worker(token: str, specs: Sequence[TaskSpec], device: Device) -> Worker:
    """This process's worker for the run ``token`` (tasks made once per process and run)."""
    worker = _WORKERS.get(token)
    if worker is None:
        _WORKERS.clear()  # a process serves one run at a time; an old run's models go
        worker = _WORKERS[token] = Worker(specs, device)
    return worker


def _node() -> str:
    import ray

    return ray.get_runtime_context().get_node_id()


def _call(
    token: str,
    specs: Sequence[TaskSpec],
    device: Device,
    method: str,
    job: FileJob,
    data: bytes | None,
) -> tuple[Any, str]:
    """``Worker.<method>(job)`` in a Ray worker process, and the id of its node."""
    worker = _worker(token, specs, device)
    if data is None:
        return getattr(worker, method)(job), _node()
    with tempfile.TemporaryDirectory(prefix="audiolens-ray-") as tmp:
        local = os.path.join(tmp, os.path.basename(job.path) or "audio")
        with open(local, "xb") as f:
            f.write(data)
        os.utime(local, ns=(job.mtime_ns, job.mtime_ns))
        out = getattr(worker, method)(replace(job, path=local))
    return _as_sent(out, job, local), _node()


def _as_sent(outcome: FileOutcome, job: FileJob, local: str) -> FileOutcome:
    """A shipped file's outcome, naming the driver's path instead of the temporary copy."""
    here, there = _show_path(local), _show_path(job.path)
    for o in outcome.outcomes:
        if o.error is not None:
            o.error = o.error.replace(here, there)
        o.warnings = [w.replace(here, there) for w in o.warnings]
    outcome.path = job.path
    return outcome


class _ModelActor:
    """Holds the tasks (and their models) of one run; runs batches of decoded files."""

    def __init__(self, specs: Sequence[TaskSpec], device: Device) -> None:
        self.worker = Worker(specs, device)

    def run_batch(self, name: str, files: Sequence[DecodedFile]) -> tuple[list[TaskOutcome], str]:
        return self.worker.run_batch(name, files), _node()


# -- the driver's side ------------------------------------------------------------------------


class _Actors:
    """The model actors, seen by the runner as a worker with ``run_batch``."""

    def __init__(self, executor: RayExecutor) -> None:
        ray = _ray()
        ex = executor
        gpus = ex.options.gpus_per_actor if ex.device.name.startswith("cuda") else 0
        total = float(ray.cluster_resources().get("GPU", 0))
        n = max(1, int(total // gpus)) if gpus else 1
        # a GPU actor holds no CPU slot (its node's CPUs keep decoding); a CPU one holds one
        cls = ray.remote(_ModelActor).options(
            num_cpus=0 if gpus else 1, num_gpus=gpus, max_restarts=1, max_task_retries=1
        )
        self.executor = ex
        self.actors = [cls.remote(ex.specs, ex.device) for _ in range(n)]
        self._next = 0

    @property
    def batches_in_flight(self) -> int:
        """Batches the runner may have out at once while it goes on decoding: one per actor."""
        return len(self.actors)

    def submit_batch(
        self, name: str, files: Sequence[DecodedFile]
    ) -> Callable[[], list[TaskOutcome]]:
        """Send a batch to the next actor; returns what waits for its outcomes."""
        actor = self.actors[self._next % len(self.actors)]
        self._next += 1
        ref = actor.run_batch.remote(name, list(files))
        return lambda: self._outcomes(ref, name, files)

    def run_batch(self, name: str, files: Sequence[DecodedFile]) -> list[TaskOutcome]:
        """Run a batch on an actor and wait for it."""
        return self.submit_batch(name, files)()

    def _outcomes(self, ref: Any, name: str, files: Sequence[DecodedFile]) -> list[TaskOutcome]:
        ray = _ray()
        try:
            outcomes, node = ray.get(ref)
        except ray.exceptions.RayError as exc:  # the actor died twice (restarted once)
            version = self.executor.versions[name]
            return [
                TaskOutcome(name, version, "failed", str(RayWorkLost(f.job.path, exc, 1)))
                for f in files
            ]
        label = self.executor.label_of(node)
        for o in outcomes:
            o.device = label
        return outcomes

    def close(self) -> None:
        ray = _ray()
        for actor in self.actors:
            ray.kill(actor)
        self.actors = []


class RayExecutor:
    """Runs :class:`~audiolens.runner.work.Worker` methods over jobs on a Ray cluster.

    Parameters
    ----------
    specs, device : what each worker runs, and where (resolved on the driver)
    options : the cluster's address and how work is sent (:class:`RayOptions`)
    """

    def __init__(self, specs: Sequence[TaskSpec], device: Device, options: RayOptions) -> None:
        self.specs = list(specs)
        self.device = device
        self.options = options
        self.versions = {s.name: s.version for s in self.specs}
        self.restarts = 0
        self._owned = _connect(options)
        ray = _ray()
        self._token = uuid.uuid4().hex
        self._specs_ref = ray.put(self.specs)
        self._task = ray.remote(_call).options(
            num_cpus=1, max_retries=options.max_retries, retry_exceptions=False
        )
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.in_flight = options.in_flight or max(2, 2 * cpus)
        self._labels: dict[str, str] = {}
        self._inflight: dict[Any, FileJob] = {}
        self._actors: _Actors | None = None
        self.label = f"ray:{device.label} ({len(self._nodes())} nodes, {cpus} CPUs)"

    # -- nodes and labels ----------------------------------------------------------------------

    @staticmethod
    def _nodes() -> list[dict[str, Any]]:
        return [n for n in _ray().nodes() if n.get("Alive")]

    def label_of(self, node_id: str) -> str:
        """``ray:<device>@<host>`` for a node (the host with the node id's start when several
        nodes share a host name)."""
        if node_id not in self._labels:
            nodes = _ray().nodes()
            hosts = [n.get("NodeManagerHostname") or n.get("NodeManagerAddress") for n in nodes]
            for n, host in zip(nodes, hosts):
                name = host if hosts.count(host) == 1 else f"{host}-{n['NodeID'][:6]}"
                self._labels[n["NodeID"]] = f"ray:{self.device.label}@{name}"
        return self._labels.get(node_id, f"ray:{self.device.label}@{node_id[:6]}")

    # -- the runner's interface ----------------------------------------------------------------

    @property
    def main(self) -> _Actors:
        """The model actors (started on first use): ``main.run_batch(name, files)``."""
        if self._actors is None:
            self._actors = _Actors(self)
        return self._actors

    def imap_unordered(self, method: str, jobs: Iterable[FileJob]) -> Iterator[tuple[FileJob, Any]]:
        """Yield ``(job, Worker.<method>(job))`` as tasks finish, with at most ``in_flight``
        tasks out; a lost task is yielded as a :class:`RayWorkLost`, never raised."""
        ray = _ray()
        pending = iter(jobs)
        more = True
        inflight = self._inflight
        try:
            while more or inflight:
                while more and len(inflight) < self.in_flight:
                    job = next(pending, None)
                    if job is None:
                        more = False
                    else:
                        inflight[self._submit(method, job)] = job
                if not inflight:
                    continue
                done, _ = ray.wait(list(inflight), num_returns=1)
                for ref in done:
                    job = inflight.pop(ref)
                    yield job, self._settle(ref, job)
        except BaseException:
            self.close(kill=True)
            raise

    def _submit(self, method: str, job: FileJob) -> Any:
        data = None
        ship = self.options.ship_bytes
        if method == "analyze" and ship and job.size <= ship:
            try:
                with open(job.path, "rb") as f:
                    data = f.read(ship + 1)
            except OSError:
                data = None  # read where the task runs, which says what is wrong
        return self._task.remote(self._token, self._specs_ref, self.device, method, job, data)

    def _settle(self, ref: Any, job: FileJob) -> Any:
        ray = _ray()
        try:
            result, node = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # raised by our code in the worker
            return exc.cause if isinstance(exc.cause, Exception) else RuntimeError(str(exc))
        except ray.exceptions.RayError as exc:  # the worker process or its node died
            return RayWorkLost(job.path, exc, self.options.max_retries)
        label = self.label_of(node)
        outcomes = result.outcomes if isinstance(result, FileOutcome) else result.failed.values()
        for o in outcomes:
            o.device = label
        return result

    def close(self, *, kill: bool = False) -> None:
        """Cancel the tasks in flight (``kill``: at once, after Ctrl-C), stop the model actors,
        and leave the cluster when this executor joined it."""
        if not self._owned and self._actors is None and not self._inflight:
            return
        ray = _ray()
        if not ray.is_initialized():
            return
        for ref in list(self._inflight):
            with contextlib.suppress(Exception):  # already finished, or its worker is gone
                ray.cancel(ref, force=kill)
        self._inflight.clear()
        if self._actors is not None:
            self._actors.close()
            self._actors = None
        if self._owned:
            ray.shutdown()
            self._owned = False


def _connect(options: RayOptions) -> bool:
    """Join the cluster (or start Ray here); True when this call did it (and shuts it down)."""
    ray = _ray()
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {
        "log_to_driver": False,
        "configure_logging": False,
        "include_dashboard": False,
    }
    if options.address is None:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # read by the Ray it starts
        kwargs["_node_ip_address"] = "127.0.0.1"
    elif options.address != "auto":
        _check_reachable(options.address)
    try:
        ray.init(address=options.address, **kwargs)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = options.address or "this machine"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ParameterError(f"cannot join a Ray cluster at {where!r}: {first}") from None
    return True


def _check_reachable(address: str, timeout_s: float = 10.0) -> None:
    """Fail at once for a head node that is not there (Ray itself retries for minutes)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ParameterError(f"ray address {address!r} is not 'auto' or 'HOST:PORT'")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ParameterError(f"cannot join a Ray cluster at {address!r}: {reason}") from None
