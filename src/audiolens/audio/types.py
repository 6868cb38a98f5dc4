"""What a decode gives: :class:`Audio`, and :class:`AudioInfo`, what a container claims."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .._mpeg import LameTag

PathLike = str | os.PathLike[str] | bytes


@dataclass(frozen=True)
class AudioInfo:
    """What a file's container and stream claim, read without decoding.

    Attributes
    ----------
    path : the file path as given (str; a bytes path is decoded with ``os.fsdecode``)
    container : the demuxer name, e.g. ``"mp3"``, ``"flac"``, ``"mov,mp4,m4a,3gp,3g2,mj2"``
    codec : the codec name, e.g. ``"mp3"``, ``"flac"``, ``"aac"``, ``"pcm_s16le"`` (FFmpeg's
        codec name, not its decoder's: ``"mp3"``, never ``"mp3float"``)
    sample_rate : Hz
    channels : number of channels
    duration : seconds (0.0 when the container does not say)
    bit_rate : bits per second claimed by the stream (or by the container when the audio is
        its only stream); 0 when unknown
    bit_depth : bits per sample of the source PCM, for PCM and lossless codecs (None otherwise
        or when it cannot be told)
    lossless : whether the codec is lossless (PCM and lossless codecs)
    vbr : True for VBR/ABR, False for CBR, None when the file does not say (MP3s with a
        Xing/Info tag say)
    lame : the Xing/Info/LAME header of an MP3, when present
    size : file size in bytes
    layout : the channels' names in order as FFmpeg gives them (``("FL", "FR", "FC", "LFE",
        "SL", "SR")`` for 5.1(side)); None when the file does not say
    """

    path: str
    container: str
    codec: str
    sample_rate: int
    channels: int
    duration: float
    bit_rate: int
    bit_depth: int | None
    lossless: bool
    vbr: bool | None = None
    lame: LameTag | None = None
    size: int = 0
    layout: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return asdict(self)


@dataclass
class Audio:
    """Decoded audio.

    Attributes
    ----------
    samples : np.ndarray [shape=(channels, n), dtype=float32], nominally in [-1, 1]
    sample_rate : Hz of ``samples`` (after any resampling)
    info : what the container claimed (its ``sample_rate`` is the file's own)
    offset : start of ``samples`` in the file, in seconds
    extra : ``"warnings"`` (list of str) when the file was damaged but partly decoded
    """

    samples: np.ndarray
    sample_rate: int
    info: AudioInfo
    offset: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        """Length of ``samples`` in seconds."""
        return self.samples.shape[-1] / float(self.sample_rate)

    @property
    def channels(self) -> int:
        """Number of channels in ``samples``."""
        return int(self.samples.shape[0])
