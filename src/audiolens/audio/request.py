"""What a task asks to have decoded from a file, and decoding it: the meeting point of the
tasks and the runner.

A task says what it needs with an :class:`AudioRequest`; :func:`decode_request` turns the
request into the :class:`TaskInput` the task reads. Both the runner's workers and the
single-file API (``read_input``) use it; it lives here, below both, so that the tasks never
import the runner.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .decoding import load
from .streaming import stream
from .types import Audio, AudioInfo, PathLike
from .windows import load_windows

__all__ = ["AudioRequest", "AudioStream", "TaskInput", "decode_request"]

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
        return iter(stream(self.path, sr=self.sr, mono=self.mono, block=self.block, info=self.info))


@dataclass
class TaskInput:
    """What the runner hands a task for one file: the container's claims and the audio asked for.

    ``pieces`` holds one :class:`Audio` per requested window (a single one for the whole file);
    for a streamed request (``AudioRequest.block``) it is empty and ``stream`` gives the blocks.
    Tasks that ask for the same audio get the same TaskInput, and share what they compute from
    it through :meth:`feature` (one spectrogram per file, not one per task). The damage met
    while decoding it (:attr:`warnings`) travels with each task's outcome.
    """

    info: AudioInfo
    pieces: list[Audio]
    stream: AudioStream | None = field(default=None)
    features: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    _streamed: list[str] = field(default_factory=list, repr=False, compare=False)

    @property
    def warnings(self) -> list[str]:
        """The decode warnings of this input so far (truncation, damaged packets, NaN samples):
        those of its pieces, and of its stream once it was read to the end; each once."""
        out: list[str] = []
        for a in self.pieces:
            out.extend(w for w in a.extra.get("warnings", ()) if w not in out)
        out.extend(w for w in self._streamed if w not in out)
        return out

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
            for a in self.stream:
                for w in a.extra.get("warnings", ()):
                    if w not in self._streamed:
                        self._streamed.append(w)
                yield a
        else:
            yield from self.pieces


def decode_request(path: PathLike, info: AudioInfo, request: AudioRequest) -> TaskInput:
    """Decode what one :class:`AudioRequest` asks of a probed file, as a ``TaskInput``.

    The one place that turns a task's request into audio: the runner's workers and the
    single-file API (:func:`audiolens.quality`) both use it.
    """
    if request.block is not None:
        stream = AudioStream(path, request.sr, request.mono, request.block, info)
        return TaskInput(info=info, pieces=[], stream=stream)
    if request.windows is None:
        pieces = [load(path, sr=request.sr, mono=request.mono)]
    else:
        pieces = load_windows(path, request.windows, sr=request.sr, mono=request.mono, info=info)
    return TaskInput(info=info, pieces=pieces)
