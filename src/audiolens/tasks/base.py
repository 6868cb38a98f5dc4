"""The contract between the runner and the tasks.

A task is an object with a ``name``, a ``version`` (bumped whenever its output changes, so
stored results go stale), a :meth:`~Task.request` that says which audio it needs from a file
(rate, mono, and which stretches), and a :meth:`~Task.run` over a batch of already-decoded
inputs that returns one :class:`Result` per input. A task never decodes, never opens the store
and never picks a device: the runner does those and hands the task what it asked for.

A task may also have ``prepare(item: TaskInput) -> None``: host work on one decoded input that
needs no device, which the runner calls where the file was decoded (its CPU workers), right
after decoding, so that a batch run on an accelerator in the main process does not pay for it
file by file. It keeps what it computes on the input (:meth:`TaskInput.feature`), and ``run``
computes whatever was not prepared, so the results are the same with it or without it; an
error in it is left for ``run`` to meet and report.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from ..audio import AudioInfo
from ..audio.request import AudioRequest, AudioStream, TaskInput, decode_request
from ..devices import Device

if TYPE_CHECKING:  # pragma: no cover
    from .names import OutputNames

__all__ = [
    "AudioRequest",
    "AudioStream",
    "Result",
    "Task",
    "TaskInput",
    "mono_blocks",
    "output_name",
    "read_input",
]


@dataclass
class Result:
    """Base of every task's result: a dataclass whose fields are the task's own output.

    Subclasses add fields; :meth:`to_dict` gives the JSON-ready record that the store keeps and
    the exports write at the top level of each row.
    """

    task: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        """The result's own fields as plain JSON-ready values."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


def _plain(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy scalar
        return value.item()
    return value


@runtime_checkable
class Task(Protocol):
    """What every task provides (see the module docstring)."""

    name: str
    version: int

    def request(self, info: AudioInfo) -> AudioRequest:
        """The audio this task needs from a file with this ``info``."""
        ...

    def run(self, batch: Sequence[TaskInput], *, device: Device) -> list[Result]:
        """Analyze a batch of files; one Result per input, in order."""
        ...


def mono_blocks(item: TaskInput) -> Iterator[Any]:
    """The input's audio in order as 1-D float32 numpy arrays (channels averaged)."""
    import numpy as np

    for a in item.blocks():
        x = np.asarray(a.samples, dtype=np.float32)
        yield x.mean(axis=0) if x.ndim == 2 and x.shape[0] > 1 else x.reshape(-1)


def read_input(path: str | bytes | os.PathLike, task: Task) -> TaskInput:
    """Probe a file and decode what ``task`` asks of it, as the runner would.

    Raises
    ------
    DecodeError
        when the file cannot be read as audio (the message names the file and the problem)
    """
    from ..audio import probe

    info = probe(path)
    return decode_request(info.path, info, task.request(info), replan=task.request)


def output_name(
    path: str | bytes | os.PathLike, *, suffix: str, names: OutputNames | None = None
) -> str:
    """The name of the file a task writes for an input: ``<stem><suffix>`` (``jfk.srt``), or
    the name ``names`` gives it when two inputs of the run share a stem (see
    :mod:`audiolens.tasks.names`).

    Parameters
    ----------
    path : the input file
    suffix : what follows the base name, e.g. ``".srt"`` or ``".quality.png"``
    names : the run's names (None: the plain stem)
    """
    from .names import output_stem

    if names is not None:
        return names.name(path, suffix=suffix)
    return f"{output_stem(path)}{suffix}"
