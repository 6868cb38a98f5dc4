"""Decoding: the one place audiolens turns a file into samples.

:func:`load` decodes any container and codec FFmpeg knows (through PyAV) into float32
``(channels, samples)``; :func:`probe` reads what the container claims without decoding;
:func:`load_windows` decodes only chosen stretches of a file, for analyses that do not need all
of it; :func:`stream` decodes a whole file in consecutive blocks without holding all of it.
Resampling uses soxr.

Positions
---------
Sample ``i`` of a file is sample ``i`` of its full decode: every frame the decoder returns,
in order, after the codec's own priming is dropped (LAME encoder delay and padding of an MP3,
the edit list of an MP4/M4A, the pre-skip of an Opus stream, the granule positions of Ogg).
``load(offset=..., duration=...)`` and :func:`load_windows` return exactly that slice:

- in WAV, AIFF, FLAC, MP3, Ogg and MP4/M4A files, whose timestamps are sample-accurate, they
  seek, decode 0.2 s before the target and drop it, and place frames by timestamp. The
  samples are bit-identical to the full decode for PCM, the lossless codecs, MP3 and Vorbis.
  AAC and Opus decoders carry state that a seek resets (the noise generator of AAC's
  perceptual noise substitution, Opus' energy predictors), so after a seek their samples
  are aligned to the sample but may differ slightly (in noise-filled bands for AAC);
- in other containers (Matroska/WebM, ASF/WMA, AVI, MPEG-TS, ...), whose timestamps are
  coarser than a sample, they decode from the start and count samples, which is exact but
  costs a decode of everything before the last window.

Damaged files
-------------
A file that cannot be opened, has no audio stream, or yields no audio at all raises
:class:`~audiolens.errors.DecodeError` naming the file and the problem. Damage after some
audio decoded does not raise: packets that fail to decode are skipped (as ``ffmpeg`` does), a
file that ends before its header says is decoded as far as it goes, and each such problem is
logged as a warning on the ``audiolens`` logger and listed in ``Audio.extra["warnings"]``.
"""

from .decoding import load
from .probing import LOSSLESS_CODECS as LOSSLESS_CODECS
from .probing import probe
from .streaming import stream
from .types import Audio, AudioInfo
from .types import PathLike as PathLike
from .windows import load_windows

__all__ = ["Audio", "AudioInfo", "load", "load_windows", "probe", "stream"]
