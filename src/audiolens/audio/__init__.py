"""Decoding: the one place audiolens turns a file into samples (see :mod:`.decoding`)."""

from .decoding import LOSSLESS_CODECS as LOSSLESS_CODECS
from .decoding import Audio, AudioInfo, load, load_windows, probe, stream
from .decoding import PathLike as PathLike

__all__ = ["Audio", "AudioInfo", "load", "load_windows", "probe", "stream"]
