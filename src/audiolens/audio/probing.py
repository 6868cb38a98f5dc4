"""What a file's container and stream claim, read without decoding: :func:`probe`."""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np

from .._mpeg import read_lame_tag
from .opening import _av, _check_file, _fs_path, _not_audio, _open
from .types import AudioInfo, PathLike

LOSSLESS_CODECS = frozenset(
    {
        "flac",
        "alac",
        "ape",
        "wavpack",
        "tta",
        "mlp",
        "truehd",
        "tak",
        "wmalossless",
        "mp4als",
        "shorten",
        "ralf",
    }
)

_CODEC_ALIASES = {
    "mp3float": "mp3",
    "mp2float": "mp2",
    "mp1float": "mp1",
    "aac_fixed": "aac",
    "ac3_fixed": "ac3",
    "libopus": "opus",
    "libvorbis": "vorbis",
    "libfdk_aac": "aac",
    "libmp3lame": "mp3",
}

_MOV = "mov,mp4,m4a,3gp,3g2,mj2"

#: sample format (without the planar "p") -> dtype, scale to [-1, 1), offset of zero
_FORMATS: dict[str, tuple[type, float | None, float]] = {
    "u8": (np.uint8, 1.0 / 128.0, 128.0),
    "s16": (np.int16, 1.0 / 32768.0, 0.0),
    "s32": (np.int32, 1.0 / 2147483648.0, 0.0),
    "s64": (np.int64, 1.0 / 9.223372036854775808e18, 0.0),
    "flt": (np.float32, None, 0.0),
    "dbl": (np.float64, None, 0.0),
}


def _normalize_codec(name: str | None) -> str:
    name = name or "unknown"
    return _CODEC_ALIASES.get(name, name)


def _bit_depth(codec: str, ctx) -> int | None:
    """Bits per sample of the source PCM of a PCM or lossless stream, from its headers.

    -1 when only the decoded samples can tell (a 32-bit integer stream of another codec).
    """
    m = re.fullmatch(r"pcm_[suf](\d+)(?:le|be)?(?:_planar)?", codec)
    if m:
        return int(m.group(1))
    if codec in ("pcm_alaw", "pcm_mulaw", "pcm_vidc"):
        return 8
    extradata = ctx.extradata or b""
    if codec == "flac":
        info = extradata[8:] if extradata[:4] == b"fLaC" else extradata
        if len(info) >= 18:  # STREAMINFO: bits per sample - 1 sits in bytes 12-13
            return (((info[12] & 0x01) << 4) | (info[13] >> 4)) + 1
    if codec == "alac":
        cookie = extradata[12:] if extradata[4:8] == b"alac" else extradata
        if len(cookie) >= 6 and cookie[5] in (16, 20, 24, 32):
            return int(cookie[5])
    fmt = ctx.format
    if fmt is None:
        return None
    name = fmt.name.rstrip("p")
    if name in ("u8", "s16", "flt", "dbl"):
        return int(fmt.bits)
    return -1 if name == "s32" else None


def _bits_used(container, stream) -> int | None:
    """Bits of a 32-bit integer stream that carry data, from its first decoded frames.

    FFmpeg gives 20- and 24-bit sources as left-justified 32-bit samples, so the low bits of
    every sample are zero. None when the first frames are silent or cannot be decoded.
    """
    av = _av()
    acc = 0
    try:
        for i, frame in enumerate(container.decode(stream)):
            for plane_arr in _frame_planes(frame):
                acc |= int(np.bitwise_or.reduce(plane_arr.view(np.uint32), axis=None))
            if acc & 0xFF or i >= 8:
                break
    except (av.FFmpegError, ValueError, KeyError):
        return None
    if acc == 0:
        return None
    trailing = (acc & -acc).bit_length() - 1
    return max(8, 32 - trailing)


def _frame_planes(frame) -> list[np.ndarray]:
    dtype = _FORMATS[frame.format.name.rstrip("p")][0]
    n = frame.samples
    if frame.format.is_planar:
        return [np.frombuffer(p, dtype, count=n) for p in frame.planes]
    return [np.frombuffer(frame.planes[0], dtype, count=n * frame.layout.nb_channels)]


def _info_from(path: str, container, st: os.stat_result) -> tuple[AudioInfo, bool]:
    """The container's claims; and whether reading them consumed any audio packets."""
    stream = container.streams.audio[0]
    ctx = stream.codec_context
    codec = _normalize_codec(ctx.name)
    duration = 0.0
    if stream.duration and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration:
        duration = container.duration / 1_000_000.0
    bit_rate = int(ctx.bit_rate or 0)
    if not bit_rate and len(container.streams) == 1:
        bit_rate = int(container.bit_rate or 0)
    lossless = codec in LOSSLESS_CODECS or codec.startswith("pcm_")
    bit_depth = None
    consumed = False
    if lossless:
        bit_depth = _bit_depth(codec, ctx)
        if bit_depth == -1:
            bit_depth = _bits_used(container, stream)
            consumed = True
    lame = None
    vbr = None
    if codec == "mp3":
        try:
            with open(path, "rb") as fh:
                lame = read_lame_tag(fh)
        except OSError:
            lame = None
        if lame is not None:
            vbr = lame.is_vbr
    info = AudioInfo(
        path=path,
        container=container.format.name,
        codec=codec,
        sample_rate=int(ctx.sample_rate or 0),
        channels=int(ctx.channels or 0),
        duration=duration,
        bit_rate=bit_rate,
        bit_depth=bit_depth,
        lossless=lossless,
        vbr=vbr,
        lame=lame,
        size=int(st.st_size),
        layout=_layout(ctx),
    )
    return info, consumed


def _layout(ctx: Any) -> tuple[str, ...] | None:
    """The channels' names (``FL``, ``FR``, ``LFE``, ...), or None when the stream has no layout
    (or only unnamed channels)."""
    try:
        names = tuple(str(ch.name) for ch in ctx.layout.channels)
    except (AttributeError, ValueError):
        return None
    named = all(n and n != "NONE" and not n.startswith("USR") for n in names)
    return names if names and named else None


def probe(path: PathLike) -> AudioInfo:
    """Read what a file's container claims, without decoding audio.

    Parameters
    ----------
    path : str, os.PathLike or bytes

    Returns
    -------
    info : AudioInfo

    Raises
    ------
    DecodeError
        when the file is missing, unreadable, empty, a directory, not audio, or has no audio
        stream; the message names the file.
    """
    p = _fs_path(path)
    st, head = _check_file(p)
    container = _open(p, head)
    try:
        info, _ = _info_from(p, container, st)
    finally:
        container.close()
    if info.sample_rate <= 0 or info.channels <= 0:
        raise _not_audio(p, head, "the audio stream has no sample rate or no channels")
    return info
