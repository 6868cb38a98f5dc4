"""What a task asks to have decoded from a file, and decoding it: the meeting point of the
tasks and the runner.

A task says what it needs with an :class:`AudioRequest`; :func:`decode_request` turns the
request into the :class:`TaskInput` the task reads. Both the runner's workers and the
single-file API (``read_input``) use it; it lives here, below both, so that the tasks never
import the runner.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..errors import AudioTooLong
from .decoding import load
from .limits import whole_file_cap
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
    _found: list[str] = field(default_factory=list, repr=False, compare=False)

    @property
    def warnings(self) -> list[str]:
        """The decode warnings of this input so far (truncation, damaged packets, NaN samples):
        those of its pieces, and of its stream once it was read to the end; each once."""
        out: list[str] = []
        for a in self.pieces:
            out.extend(w for w in a.extra.get("warnings", ()) if w not in out)
        out.extend(w for w in self._found if w not in out)
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
                    if w not in self._found:
                        self._found.append(w)
                yield a
        else:
            yield from self.pieces


#: seconds per block of a whole-file request streamed because the file is longer than it says
LONG_BLOCK_S = 60.0


def decode_request(
    path: PathLike,
    info: AudioInfo,
    request: AudioRequest,
    *,
    replan: Callable[[AudioInfo], AudioRequest] | None = None,
) -> TaskInput:
    """Decode what one :class:`AudioRequest` asks of a probed file, as a ``TaskInput``.

    The one place that turns a task's request into audio: the runner's workers and the
    single-file API (:func:`audiolens.quality`) both use it.

    A whole-file request is decoded into memory only as far as
    :func:`~audiolens.audio.limits.whole_file_cap` of what the header claims: a file that
    holds more (its header lies, or says nothing) is measured by streaming it once, and its
    audio is then what ``replan`` asks for a file of its true length (the task's ``request``,
    which may stream it or pick windows; without one, the whole file streamed in
    :data:`LONG_BLOCK_S` blocks). The input's
    ``info.duration`` is then the true length, and its warnings say what the header claimed.
    Memory stays bounded whatever the header says.

    Raises
    ------
    DecodeError
        as :func:`load`; :class:`~audiolens.errors.AudioTooLong` for a file past the limit on
        any file (``$AUDIOLENS_MAX_HOURS``).
    """
    if request.block is not None:
        stream = AudioStream(path, request.sr, request.mono, request.block, info)
        return TaskInput(info=info, pieces=[], stream=stream)
    if request.windows is not None:
        pieces = load_windows(path, request.windows, sr=request.sr, mono=request.mono, info=info)
        return TaskInput(info=info, pieces=pieces)
    cap = whole_file_cap(info.duration)
    try:
        pieces = [load(path, sr=request.sr, mono=request.mono, max_duration=cap)]
    except AudioTooLong as exc:
        if exc.limit_s < cap:  # the limit on any file, not this cap
            raise
        return _longer_than_claimed(path, info, request, replan)
    return TaskInput(info=info, pieces=pieces)


def _longer_than_claimed(
    path: PathLike,
    info: AudioInfo,
    request: AudioRequest,
    replan: Callable[[AudioInfo], AudioRequest] | None,
) -> TaskInput:
    """The input of a file that holds more audio than its header claims (see
    :func:`decode_request`)."""
    seconds = 0.0
    for a in stream(path, sr=None, mono=True, block=LONG_BLOCK_S, info=info):
        seconds += a.samples.shape[1] / a.sample_rate
    true = dataclasses.replace(info, duration=seconds)
    said = f"{info.duration:.2f} s" if info.duration > 0 else "no length"
    note = f"the file holds {seconds:.2f} s of audio though its header claims {said}"
    if replan is not None:
        again = replan(true)
    else:
        again = AudioRequest(sr=request.sr, mono=request.mono, block=LONG_BLOCK_S)
    item = decode_request(path, true, again)  # without replan: this happens once at most
    item._found.append(note)
    return item
