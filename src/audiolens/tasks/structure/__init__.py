"""The ``structure`` task: the sections of a song and which of them repeat (A B A C ...).

It reads the same log-filtered spectrogram and the same beats and bars as the ``beats`` task
(computed once per file when both run), and segments the song at bar lines (:mod:`.segment`):
sections of at least 4 bars, letters from clustering the sections, no two neighbours with the
same letter unless the second plays the first again. Long files are streamed like ``beats``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ...audio import AudioInfo
from ...devices import Device
from ...errors import ParameterError
from .. import shown
from ..base import AudioRequest, Result, TaskInput
from .segment import Segment, StructureOptions, segment

__all__ = [
    "Segment",
    "StructureOptions",
    "StructureResult",
    "StructureTask",
    "segment",
    "structure",
]

PathLike = str | bytes | os.PathLike


@dataclass
class StructureResult(Result):
    """The answer of the ``structure`` task for one file.

    Attributes
    ----------
    segments : the sections in order, covering the whole file: ``{start, end, label}``, the
        same label for sections that repeat (A, B, A, C, ...)
    duration : the file's duration in seconds
    form : the labels joined, e.g. ``"ABAC"``

    Times are held to the millisecond (rounded when the result is made).
    """

    task: ClassVar[str] = "structure"
    segments: list[Segment]
    duration: float = 0.0
    form: str = ""
    details: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.duration = shown.seconds(self.duration)

    def to_dict(self) -> dict[str, Any]:
        """``segments`` as ``{start, end, label}`` dicts, ``duration`` and ``form``."""
        return {
            "segments": [s.to_dict() for s in self.segments],
            "duration": self.duration,
            "form": self.form,
        }


class StructureTask:
    """The ``structure`` task for the runner (see :mod:`audiolens.tasks.base`).

    Parameters
    ----------
    options : the segmentation's settings (defaults when None)
    """

    name = "structure"
    # 2: times to the millisecond; 3: labels clustered, same-letter runs joined; 4: bars from
    # beats version 4, a boundary too near a higher one moved rather than dropped; 5: bars from
    # beats version 5; 6: bars from beats version 6; 7: bars from beats version 7; 8 and 9:
    # bars from beats versions 8 and 9
    version = 9

    def __init__(self, *, options: StructureOptions | None = None) -> None:
        if options is not None and not isinstance(options, StructureOptions):
            raise ParameterError(
                f"options must be a StructureOptions, not {type(options).__name__}"
            )
        from ..beats.batched import DeviceBatches

        self.options = options or StructureOptions()
        self.batches = DeviceBatches()

    def request(self, info: AudioInfo) -> AudioRequest:
        """The same audio as ``beats`` asks for (so both share one decode and spectrogram)."""
        from ..beats import BeatsTask

        return BeatsTask().request(info)

    def run(self, batch: Sequence[TaskInput], *, device: Device) -> list[StructureResult]:
        """Segment a batch of files; one StructureResult per input, in order.

        On a torch device the spectrograms and beats of the whole batch come from batched
        device calls (:func:`~audiolens.tasks.beats.tracked_batch`; shared with ``beats``
        when it ran first on the same inputs); the segmentation runs on numpy per file."""
        from ..beats import tracked_batch

        tracked_batch(batch, device=device, batches=self.batches)
        return [self.analyze(item, device=device) for item in batch]

    def analyze(self, item: TaskInput, *, device: Device | None = None) -> StructureResult:
        """The result for one decoded input (the spectrogram computed on ``device``)."""
        from ..beats import FPS, spectrogram, tracked

        S, seconds = spectrogram(item, device=device)
        found, _ = tracked(item, device=device)
        segs, details = segment(
            S, fps=FPS, beats=found.beats, downbeats=found.downbeats, options=self.options
        )
        if segs:
            segs[-1] = Segment(segs[-1].start, float(seconds), segs[-1].label)
        return StructureResult(
            segments=segs,
            duration=float(seconds),
            form="".join(s.label for s in segs),
            details=details,
        )


def structure(
    path: PathLike,
    *,
    options: StructureOptions | None = None,
    device: str | Device = "auto",
) -> StructureResult:
    """The sections of one music file and which of them repeat.

    Parameters
    ----------
    path : an audio file in any format FFmpeg reads
    options : the segmentation's settings (defaults when None)
    device : "auto", "cpu", "cuda", ...: where the spectrogram and the beat network run (the
        segmentation runs on numpy)

    Returns
    -------
    result : StructureResult
        ``segments`` (``start``, ``end`` in seconds and ``label``), ``form`` (e.g. "ABAC");
        ``details`` holds the self-similarity matrix (``"ssm"``) and its unit times
        (``"edges"``) for plots. Silence, noise and very short clips give one section.

    Raises
    ------
    DecodeError
        when the file cannot be read as audio (the message names the file and the problem)
    """
    from ...devices import resolve_device
    from ..base import read_input
    from ..beats import BeatsTask

    item = read_input(path, BeatsTask())
    return StructureTask(options=options).run([item], device=resolve_device(device))[0]
