"""audiolens: fast audio analysis on whatever hardware is there.

The public API, imported lazily so ``import audiolens`` stays fast:

- :func:`load`, :func:`probe`, :class:`Audio`, :class:`AudioInfo` -- decoding
- :func:`quality` -- is this file really lossless? what was it encoded from?
- :func:`transcribe` -- the notes of a music file (MIDI), :class:`NotesOptions`
- :func:`beats` -- beats, downbeats, tempo and meter of music, :class:`BeatsOptions`
- :func:`structure` -- the sections of a song and which repeat, :class:`StructureOptions`
- :func:`loudness` -- EBU R128 loudness, true peak, ReplayGain 2.0 gains; :func:`album_loudness`
- :func:`key` -- the musical key of a song (beets, Camelot and Open Key notation)
- :func:`analyze` -- run tasks over files and folders into a results store
- :func:`resolve_device`, :func:`available_devices` -- hardware
- the errors in :mod:`audiolens.errors`
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .errors import (
    AudiolensError,
    DecodeError,
    DeviceError,
    MissingDependency,
    ModelNotFound,
    ParameterError,
)

__version__ = "0.1.0"

logging.getLogger("audiolens").addHandler(logging.NullHandler())

_LAZY = {
    "Audio": "audiolens.audio",
    "AudioInfo": "audiolens.audio",
    "load": "audiolens.audio",
    "load_windows": "audiolens.audio",
    "stream": "audiolens.audio",
    "probe": "audiolens.audio",
    "Device": "audiolens.devices",
    "resolve_device": "audiolens.devices",
    "available_devices": "audiolens.devices",
    "quality": "audiolens.tasks.quality",
    "QualityResult": "audiolens.tasks.quality",
    "transcribe": "audiolens.tasks.notes",
    "Note": "audiolens.tasks.notes",
    "NotesOptions": "audiolens.tasks.notes",
    "NotesResult": "audiolens.tasks.notes",
    "beats": "audiolens.tasks.beats",
    "BeatsOptions": "audiolens.tasks.beats",
    "BeatsResult": "audiolens.tasks.beats",
    "structure": "audiolens.tasks.structure",
    "StructureOptions": "audiolens.tasks.structure",
    "StructureResult": "audiolens.tasks.structure",
    "speech": "audiolens.tasks.speech",
    "SpeechOptions": "audiolens.tasks.speech",
    "SpeechResult": "audiolens.tasks.speech",
    "speakers": "audiolens.tasks.speakers",
    "SpeakersOptions": "audiolens.tasks.speakers",
    "SpeakersResult": "audiolens.tasks.speakers",
    "loudness": "audiolens.tasks.loudness",
    "album_loudness": "audiolens.tasks.loudness",
    "LoudnessResult": "audiolens.tasks.loudness",
    "AlbumLoudness": "audiolens.tasks.loudness",
    "key": "audiolens.tasks.key",
    "KeyResult": "audiolens.tasks.key",
    "analyze": "audiolens.runner",
}

__all__ = [
    "AlbumLoudness",
    "Audio",
    "AudioInfo",
    "AudiolensError",
    "BeatsOptions",
    "BeatsResult",
    "DecodeError",
    "Device",
    "DeviceError",
    "KeyResult",
    "LoudnessResult",
    "MissingDependency",
    "ModelNotFound",
    "Note",
    "NotesOptions",
    "NotesResult",
    "ParameterError",
    "QualityResult",
    "SpeakersOptions",
    "SpeakersResult",
    "SpeechOptions",
    "SpeechResult",
    "StructureOptions",
    "StructureResult",
    "__version__",
    "album_loudness",
    "analyze",
    "available_devices",
    "beats",
    "key",
    "load",
    "load_windows",
    "loudness",
    "probe",
    "quality",
    "resolve_device",
    "speakers",
    "speech",
    "stream",
    "structure",
    "transcribe",
]

if TYPE_CHECKING:  # pragma: no cover
    from .audio import Audio, AudioInfo, load, load_windows, probe, stream
    from .devices import Device, available_devices, resolve_device
    from .runner import analyze
    from .tasks.beats import BeatsOptions, BeatsResult, beats
    from .tasks.key import KeyResult, key
    from .tasks.loudness import AlbumLoudness, LoudnessResult, album_loudness, loudness
    from .tasks.notes import Note, NotesOptions, NotesResult, transcribe
    from .tasks.quality import QualityResult, quality
    from .tasks.speakers import SpeakersOptions, SpeakersResult, speakers
    from .tasks.speech import SpeechOptions, SpeechResult, speech
    from .tasks.structure import StructureOptions, StructureResult, structure


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'audiolens' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
