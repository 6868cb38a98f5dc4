"""``speech``: transcripts with word times, through Whisper (faster-whisper / CTranslate2).

Each file's speech regions (silero VAD) are cut into pieces; pieces from the files of a batch
are packed into 30-second windows and decoded together by one loaded model
(:mod:`.engine`). Long files are streamed: decoded, voice-detected and decoded block by
block, so the audio held at once stays small whatever the file's length.

Use :func:`speech` for one file, or ``audiolens.analyze(paths, tasks=["speech"])`` for a
collection (the runner gives the task batches of files). Install with
``pip install 'audiolens[speech]'``.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..base import AudioRequest, TaskInput, mono_blocks, output_name, read_input
from ..names import OutputNames
from .engine import SR, FileText, WhisperBatcher, speech_pieces
from .speakers import attribute_speakers
from .types import SpeechOptions, SpeechResult, SpeechSegment, Word
from .writers import FORMATS, write_transcript

if TYPE_CHECKING:  # pragma: no cover
    from ...audio import AudioInfo
    from ...devices import Device
    from ..speakers import SpeakersOptions

__all__ = [
    "FORMATS",
    "SpeechOptions",
    "SpeechResult",
    "SpeechSegment",
    "SpeechTask",
    "Word",
    "attribute_speakers",
    "speech",
    "transcript_name",
    "write_transcript",
]

logger = logging.getLogger("audiolens")

#: files longer than this (seconds) are streamed rather than decoded whole
STREAM_ABOVE_S = 600.0
#: seconds of audio per decoded block when streaming
BLOCK_S = 60.0
#: a segment is split after a sentence end once it is this long [s], and anyway at this
SENTENCE_S, LONGEST_S = 3.0, 15.0
_MUSIC = re.compile(r"^[\s♪♫♬🎵🎶*#.…\-–—]*$|^\s*[\[(](music|musique|musik|música)[\])]\s*$", re.I)
PathLike = str | bytes | os.PathLike


def transcript_name(path: PathLike, *, suffix: str, names: OutputNames | None = None) -> str:
    """``<stem><suffix>``, with a suffix when ``names`` (the run's output names) says two inputs
    share the stem."""
    return output_name(path, names=names, suffix=suffix)


@dataclass
class SpeechTask:
    """The ``speech`` task for the runner: a batch of files through one loaded model.

    Attributes
    ----------
    options : see :class:`SpeechOptions`
    out_dir : where to write transcripts (None: none are written)
    formats : which files to write there, of ``srt``, ``vtt``, ``txt``, ``json``
    names : the run's output names (:class:`~audiolens.tasks.names.OutputNames`), which add a
        suffix to ``<stem>.srt`` etc. when two inputs share a stem; None: always the plain stem
    on_progress : called with (seconds of speech decoded, seconds of wall time) per batch
    speakers : also diarize each file (the ``speakers`` task with these options) and give
        every word and segment its speaker (:func:`attribute_speakers`)
    """

    options: SpeechOptions = field(default_factory=SpeechOptions)
    out_dir: str | os.PathLike | None = None
    formats: tuple[str, ...] = ("srt", "vtt", "txt", "json")
    names: OutputNames | None = None
    on_progress: Callable[[float, float], None] | None = None
    speakers: SpeakersOptions | None = None
    name: str = "speech"
    version: int = 2  # 2: the language from a 30-s window (as faster-whisper), not 10 s
    #: the runner gives this task batches of files on every device (cross-file batching)
    batch_files: ClassVar[bool] = True
    #: the diarization made once (a missing segmentation model fails here, before any work)
    _who: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        from ...errors import ParameterError

        bad = [f for f in self.formats if f not in FORMATS]
        if bad:
            raise ParameterError(
                f"formats={bad!r}: unknown transcript formats; use {', '.join(FORMATS)}"
            )
        if self.speakers is not None:
            from ..speakers import SpeakersTask

            self._who = SpeakersTask(options=self.speakers)

    def request(self, info: AudioInfo) -> AudioRequest:
        """Mono 16 kHz; streamed in blocks when the file is long."""
        long = info.duration is None or not info.duration <= STREAM_ABOVE_S
        return AudioRequest(sr=SR, mono=True, block=BLOCK_S if long else None)

    def run(self, batch: Sequence[TaskInput], *, device: Device) -> list[SpeechResult]:
        """Transcribe a batch of files together; one SpeechResult per input, in order."""
        from ...models.whisper import batch_size_for, load_whisper

        opts = self.options
        if self._who is not None:  # a broken segmentation model is named before Whisper loads
            self._who.load(device=device)
        loaded = load_whisper(
            opts.model,
            device=device,
            compute_type=opts.compute_type,
            model_dir=opts.model_dir,
            cpu_threads=opts.cpu_threads,
        )
        size = opts.batch_size or batch_size_for(device, model=opts.model)
        t0 = [time.perf_counter()]

        def progress(seconds: float) -> None:
            if self.on_progress is not None:
                now = time.perf_counter()
                self.on_progress(seconds, now - t0[0])
                t0[0] = now

        engine = WhisperBatcher(loaded, opts, batch_size=size, on_batch=progress)
        who = self._who
        durations, turns = [], []
        for key, item in enumerate(batch):
            seconds = [0.0]
            # one decode serves both: the diarization is fed the blocks the transcript reads
            stream = who.start(device=device) if who is not None else None

            def blocks(
                item: TaskInput = item, seconds: list[float] = seconds, stream: Any = stream
            ) -> Any:
                for y in mono_blocks(item):
                    seconds[0] += y.size / SR
                    if stream is not None:
                        stream.feed(y)
                    yield y

            fed = blocks()
            engine.add(key, speech_pieces(fed, key=key))  # reads the file's blocks to the end
            for _ in fed:  # (and should it not have, the diarization still gets them all)
                pass
            durations.append(seconds[0])
            turns.append(who.finish(stream, item).turns if who and stream else None)
        found = engine.finish()
        results = []
        for key, item in enumerate(batch):
            result = _result(found.get(key, FileText()), durations[key], model=opts.model)
            if turns[key] is not None:
                result = attribute_speakers(result, turns[key])
            if self.out_dir is not None:
                self.write(result, item.info.path)
            results.append(result)
        return results

    def write(self, result: SpeechResult, path: PathLike) -> None:
        """Write ``result``'s transcript files for the input ``path`` into :attr:`out_dir`."""
        assert self.out_dir is not None
        out = Path(os.fspath(self.out_dir))
        for fmt in self.formats:
            name = transcript_name(path, names=self.names, suffix=f".{fmt}")
            result.paths[fmt] = str(out / name)
        for fmt in self.formats:  # after the paths, so that the JSON lists them all
            write_transcript(result, result.paths[fmt])


def _result(found: FileText, duration: float, *, model: str) -> SpeechResult:
    segments: list[SpeechSegment] = []
    for part in sorted(found.parts, key=lambda p: p["start"]):
        if _MUSIC.match(part["text"]):
            continue
        if part["words"] is None:
            segments.append(
                SpeechSegment(
                    part["start"],
                    part["end"],
                    part["text"],
                    avg_logprob=part["avg_logprob"],
                    no_speech_prob=part["no_speech_prob"],
                )
            )
            continue
        words = [
            Word(float(w["start"]), float(w["end"]), w["word"], float(w["probability"]))
            for w in part["words"]
        ]
        for group in _sentences(words):
            text = "".join(w.word for w in group).strip()
            if text:
                segments.append(
                    SpeechSegment(
                        group[0].start,
                        group[-1].end,
                        text,
                        group,
                        avg_logprob=part["avg_logprob"],
                        no_speech_prob=part["no_speech_prob"],
                    )
                )
    text = " ".join(s.text for s in segments).strip()
    return SpeechResult(
        text=text,
        language=found.language,
        segments=segments,
        language_probability=found.language_probability,
        duration=duration,
        speech_duration=found.speech,
        model=model,
    )


def _sentences(words: list[Word]) -> list[list[Word]]:
    """Split a piece's words into segments: after a sentence end once a segment has lasted
    :data:`SENTENCE_S`, and before any word that would make it longer than
    :data:`LONGEST_S`."""
    out: list[list[Word]] = []
    group: list[Word] = []
    for w in words:
        if group and w.end - group[0].start > LONGEST_S:
            out.append(group)
            group = []
        group.append(w)
        if w.word.rstrip().endswith((".", "?", "!", "。", "？", "！")) and (
            w.end - group[0].start >= SENTENCE_S
        ):
            out.append(group)
            group = []
    if group:
        out.append(group)
    return out


def speech(
    path: PathLike,
    *,
    options: SpeechOptions | None = None,
    device: str | Device = "auto",
    out_dir: str | os.PathLike | None = None,
    formats: Sequence[str] = ("srt", "vtt", "txt", "json"),
    speakers: SpeakersOptions | bool | None = None,
) -> SpeechResult:
    """Transcribe one file.

    Parameters
    ----------
    path : an audio or video file (any format FFmpeg reads)
    options : model, language, translation, word times... (see :class:`SpeechOptions`)
    device : ``"auto"`` (CUDA, else the CPU; CTranslate2 has no MPS backend), ``"cpu"``,
        ``"cuda"``, ``"cuda:N"``
    out_dir : write ``<stem>.srt``, ``.vtt``, ``.txt`` and ``.json`` there
    formats : which of those to write
    speakers : a :class:`~audiolens.tasks.speakers.SpeakersOptions` (or True for the
        defaults) to diarize the file too: every word and segment then carries its speaker,
        and subtitle lines a ``[SPEAKER_1]``-style prefix

    Returns
    -------
    SpeechResult
        ``text``, ``language``, ``segments`` with ``words`` (times in seconds from the file's
        start); an empty transcript when there is no speech (silence, music).

    Raises
    ------
    DecodeError
        when the file cannot be read as audio.
    ModelNotFound
        when the model is not available (the message says where it looked and how to get it).
    ParameterError
        for bad options: an unknown model name or language code (the message lists the valid
        ones).
    MissingDependency
        when faster-whisper is not installed.
    """
    from ...devices import resolve_device

    who: SpeakersOptions | None = None
    if speakers is True:
        from ..speakers import SpeakersOptions

        who = SpeakersOptions()
    elif speakers:
        who = speakers
    task = SpeechTask(
        options=options or SpeechOptions(), out_dir=out_dir, formats=tuple(formats), speakers=who
    )
    return task.run([read_input(path, task)], device=resolve_device(device))[0]
