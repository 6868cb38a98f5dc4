"""The records of the ``speech`` task: its options and its result."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from ...errors import ParameterError
from ..base import Result

__all__ = ["SpeechOptions", "SpeechResult", "SpeechSegment", "Word"]


@dataclass(frozen=True)
class SpeechOptions:
    """How to transcribe.

    Attributes
    ----------
    model : a Whisper model name (``tiny``, ``base``, ``small``, ``medium``, ``large-v3``,
        ``turbo``, the ``.en`` and ``distil-`` variants) or a model folder in CTranslate2 form
    model_dir : where local models are (see :func:`audiolens.models.whisper.resolve_model`)
    language : the spoken language's code (``"en"``, ``"de"``...); None detects it per file
    translate : translate into English instead of transcribing
    word_timestamps : time every word (needed for speaker-attributed words)
    beam_size : beams of the decoder's beam search
    compute_type : CTranslate2's precision; None picks int8 on a CPU and float16 on CUDA
    batch_size : 30-second windows per model call; None picks by device and memory
    cpu_threads : CTranslate2's threads on a CPU; 0 lets it choose
    pack : let a 30-second window hold speech from several files of the same language:
        fewer encoder passes for short files, but a file's words then depend on its
        neighbours in the batch (off: every file gets what it gets alone). A file whose
        language is detected has its first window to itself (the language comes from that
        window's encoding), so packing gains most with ``language`` given
    """

    model: str = "base"
    model_dir: str | None = None
    language: str | None = None
    translate: bool = False
    word_timestamps: bool = True
    beam_size: int = 5
    compute_type: str | None = None
    batch_size: int | None = None
    cpu_threads: int = 0
    pack: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            if isinstance(self.model, os.PathLike):
                object.__setattr__(self, "model", os.fspath(self.model))
            else:
                raise ParameterError(f"model={self.model!r} must be a model name or folder")
        if self.model_dir is not None and isinstance(self.model_dir, os.PathLike):
            object.__setattr__(self, "model_dir", os.fspath(self.model_dir))
        if self.language is not None:
            if not isinstance(self.language, str) or not self.language.strip():
                raise ParameterError(f"language={self.language!r} must be a language code")
            object.__setattr__(self, "language", self.language.strip().lower())
        if not isinstance(self.beam_size, int) or not 1 <= self.beam_size <= 16:
            raise ParameterError(f"beam_size={self.beam_size!r} must be a whole number, 1-16")
        if self.batch_size is not None and (
            not isinstance(self.batch_size, int) or self.batch_size < 1
        ):
            raise ParameterError(f"batch_size={self.batch_size!r} must be a positive integer")
        if not isinstance(self.cpu_threads, int) or self.cpu_threads < 0:
            raise ParameterError(f"cpu_threads={self.cpu_threads!r} must be 0 or more")
        from ...models.whisper import check_options

        check_options(self.model, language=self.language, compute_type=self.compute_type)

    @property
    def task(self) -> Literal["transcribe", "translate"]:
        return "translate" if self.translate else "transcribe"


@dataclass
class Word:
    """One word: times in seconds from the file's start, and the model's probability."""

    start: float
    end: float
    word: str
    probability: float
    speaker: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "start": round(float(self.start), 3),
            "end": round(float(self.end), 3),
            "word": self.word,
            "probability": round(float(self.probability), 4),
        }
        if self.speaker is not None:
            out["speaker"] = self.speaker
        return out


@dataclass
class SpeechSegment:
    """A stretch of speech (one voice-activity region, or part of it)."""

    start: float
    end: float
    text: str
    words: list[Word] = field(default_factory=list)
    speaker: str | None = None
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "start": round(float(self.start), 3),
            "end": round(float(self.end), 3),
            "text": self.text,
            "words": [w.to_dict() for w in self.words],
        }
        if self.speaker is not None:
            out["speaker"] = self.speaker
        return out


@dataclass
class SpeechResult(Result):
    """The answer of the ``speech`` task for one file.

    Attributes
    ----------
    text : the whole transcript
    language : the language code used (given or detected); None when there was no speech
    language_probability : the detector's probability for it (1.0 when it was given)
    segments : the transcript in time order
    duration : the file's duration [s]
    speech_duration : the seconds of it the voice-activity detector kept
    model : the model's name or folder
    paths : the files written for it, by format
    """

    task: ClassVar[str] = "speech"
    text: str
    language: str | None
    segments: list[SpeechSegment]
    language_probability: float = 0.0
    duration: float = 0.0
    speech_duration: float = 0.0
    model: str = ""
    paths: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready record: ``text``, ``language``, ``segments`` (with ``words``) and
        the rest of the fields."""
        return {
            "text": self.text,
            "language": self.language,
            "language_probability": round(float(self.language_probability), 4),
            "segments": [s.to_dict() for s in self.segments],
            "duration": round(float(self.duration), 3),
            "speech_duration": round(float(self.speech_duration), 3),
            "model": self.model,
            "paths": dict(self.paths),
        }
