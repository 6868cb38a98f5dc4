"""The contract between the runner and the tasks.

A task is an object with a ``name``, a ``version`` (bumped whenever its output changes, so
stored results go stale), a :meth:`~Task.request` that says which audio it needs from a file
(rate, mono, and which stretches), and a :meth:`~Task.run` over a batch of already-decoded
inputs that returns one :class:`Result` per input. A task never decodes, never opens the store
and never picks a device: the runner does those and hands the task what it asked for.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, runtime_checkable

from ..audio import Audio, AudioInfo
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

T = TypeVar("T")


@dataclass(frozen=True)
class AudioRequest:
    """The audio a task needs from one file.

    Attributes
    ----------
    sr : resample to this rate, or None for the file's own
    mono : average channels
    windows : (start, duration) stretches in seconds, or None for the whole file
    block : seconds per block to STREAM the whole file in (``TaskInput.stream``), decoded
        only while the task reads it, so memory stays bounded on long files; None decodes
        up front into ``TaskInput.pieces``
    """

    sr: int | None = None
    mono: bool = False
    windows: tuple[tuple[float, float], ...] | None = None
    block: float | None = None


@dataclass(frozen=True)
class AudioStream:
    """A file to be decoded block by block when iterated (see :func:`audiolens.audio.stream`).

    Small and picklable: it is the file's name and how to read it, not audio.
    """

    path: str | bytes | os.PathLike
    sr: int | None
    mono: bool
    block: float
    info: AudioInfo | None = None

    def __iter__(self) -> Iterator[Audio]:
        from ..audio import stream

        return iter(stream(self.path, sr=self.sr, mono=self.mono, block=self.block, info=self.info))


@dataclass
class TaskInput:
    """What the runner hands a task for one file: the container's claims and the audio asked for.

    ``pieces`` holds one :class:`Audio` per requested window (a single one for the whole file);
    for a streamed request (``AudioRequest.block``) it is empty and ``stream`` gives the blocks.
    Tasks that ask for the same audio get the same TaskInput, and share what they compute from
    it through :meth:`feature` (one spectrogram per file, not one per task).
    """

    info: AudioInfo
    pieces: list[Audio]
    stream: AudioStream | None = field(default=None)
    features: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def feature(self, key: str, compute: Callable[[TaskInput], T]) -> T:
        """``compute(self)``, computed once per input and kept under ``key`` for the next task.

        Parameters
        ----------
        key : names what is computed, with its settings (e.g. ``"logspec/44100/2048/100"``)
        compute : makes it from this input
        """
        if key not in self.features:
            self.features[key] = compute(self)
        return self.features[key]

    def blocks(self) -> Iterator[Audio]:
        """The audio in order: the streamed blocks, or else the decoded pieces."""
        if self.stream is not None:
            yield from self.stream
        else:
            yield from self.pieces


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
    from ..runner.work import decode_request

    info = probe(path)
    return decode_request(info.path, info, task.request(info))


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
