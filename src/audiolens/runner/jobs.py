"""The small records the runner passes between its main process and its workers.

Everything here is cheap to import and to pickle: a worker process imports this module (and
:mod:`audiolens.runner.work`) before it sets its thread limits and loads numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # pragma: no cover
    from ..audio import AudioInfo
    from ..tasks.base import Task, TaskInput

__all__ = [
    "DecodedFile",
    "FileJob",
    "FileOutcome",
    "TaskOutcome",
    "TaskSpec",
    "resolve_tasks",
]


@dataclass(frozen=True)
class TaskSpec:
    """How a worker process gets its own instance of a task.

    Attributes
    ----------
    name : the task's name (the store's key)
    version : the task's version (stored rows with another version are stale)
    ref : ``"module:Class"`` to import and instantiate, or a (picklable) task instance
    """

    name: str
    version: int
    ref: Any

    def instantiate(self) -> Task:
        """A task instance: a fresh one for a ``"module:Class"`` reference, else ``ref`` itself."""
        if isinstance(self.ref, str):
            module, attr = self.ref.split(":")
            return getattr(import_module(module), attr)()
        return self.ref


@dataclass(frozen=True)
class FileJob:
    """One file to analyze: where it is, what it looked like when found, which tasks to run."""

    path: str
    size: int
    mtime_ns: int
    tasks: tuple[str, ...]


@dataclass
class TaskOutcome:
    """What one task made of one file.

    Attributes
    ----------
    task, version : which task
    status : ``"ok"`` or ``"failed"``
    error : the message naming the file (failed only)
    result : ``Result.to_dict()`` (ok only)
    elapsed_s : seconds spent, probing and decoding included
    detail : a traceback for unexpected errors, logged at debug level, never stored
    fatal : the error's class name when it is not about this file but about the setup
        (missing model or dependency, unusable device): the run stops with that error
    warnings : the damage met decoding the file for this task (truncated, damaged packets,
        NaN samples), in plain words; stored on the row and shown by the CLI
    device : where it was computed, when not the run's device (a Ray node: ``ray:cpu@node2``)
    """

    task: str
    version: int
    status: Literal["ok", "failed"]
    error: str | None = None
    result: dict[str, Any] | None = None
    elapsed_s: float = 0.0
    detail: str | None = None
    fatal: str | None = None
    warnings: list[str] = field(default_factory=list)
    device: str | None = None


@dataclass
class FileOutcome:
    """Everything one file gave: its identity and one :class:`TaskOutcome` per task run."""

    path: str
    size: int | None
    mtime_ns: int | None
    content_hash: str | None
    outcomes: list[TaskOutcome]
    seconds: float | None = None  # the audio's duration, when it was read

    @property
    def ok(self) -> bool:
        """Whether every task succeeded."""
        return all(o.status == "ok" for o in self.outcomes)

    @property
    def warnings(self) -> list[str]:
        """The decode warnings of all its tasks, each once."""
        out: list[str] = []
        for o in self.outcomes:
            out.extend(w for w in o.warnings if w not in out)
        return out


@dataclass
class DecodedFile:
    """A file probed and decoded by a worker, waiting for its tasks to run on it.

    ``inputs`` maps each task that can run to its input (tasks that asked for the same audio
    share one); ``failed`` holds the tasks that already failed (probe, request or decode).
    """

    job: FileJob
    content_hash: str | None
    info: AudioInfo | None = None
    inputs: dict[str, TaskInput] = field(default_factory=dict)
    prep_s: dict[str, float] = field(default_factory=dict)
    failed: dict[str, TaskOutcome] = field(default_factory=dict)

    @property
    def audio_bytes(self) -> int:
        """Bytes of decoded audio it holds: the samples of its inputs' pieces, each input once
        (a streamed input holds none: it is decoded block by block as its task reads it)."""
        distinct = {id(inp): inp for inp in self.inputs.values()}.values()
        return sum(int(a.samples.nbytes) for inp in distinct for a in inp.pieces)


def resolve_tasks(tasks: str | Sequence[str | Task]) -> tuple[list[TaskSpec], dict[str, Task]]:
    """Turn task names (or task instances) into specs and one instance of each.

    Parameters
    ----------
    tasks : names (``"quality"``), a comma-separated string of names, or Task instances

    Returns
    -------
    specs : one :class:`TaskSpec` per distinct task, in the order given
    instances : task name -> an instance made in this process

    Raises
    ------
    ParameterError
        for no tasks or an unknown name (the message lists the known ones).
    """
    from .. import tasks as registry
    from ..errors import ParameterError

    items = [t.strip() for t in tasks.split(",")] if isinstance(tasks, str) else list(tasks)
    items = [t for t in items if t != ""]
    if not items:
        raise ParameterError("tasks=() names no task; give at least one, e.g. tasks=('quality',)")
    specs: list[TaskSpec] = []
    instances: dict[str, Task] = {}
    for item in items:
        if isinstance(item, str):
            ref = registry.TASKS.get(item)
            instance = TaskSpec(item, 0, ref).instantiate() if ref else registry.get_task(item)
            if ref is None:
                ref = instance
        else:
            instance = ref = item
        name = str(instance.name)
        if name in instances:
            continue
        specs.append(TaskSpec(name, int(instance.version), ref))
        instances[name] = instance
    return specs, instances
