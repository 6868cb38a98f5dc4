"""Damage met while decoding: the warnings of a partly decoded file, and the errors of a
file that gave no audio."""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator
from typing import Any

from ..errors import DecodeError, _show_path
from .opening import _not_audio
from .probing import _MOV
from .source import _Source
from .types import AudioInfo

logger = logging.getLogger("audiolens")

#: whether decode warnings are logged as they are found (off while the runner collects them:
#: it carries them with the file's outcome and reports them itself)
_LOG_DAMAGE: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "audiolens_log_damage", default=True
)


@contextlib.contextmanager
def collecting_damage() -> Iterator[None]:
    """Within this block, decode warnings are only put in ``Audio.extra["warnings"]``, not
    logged: for a caller that reports them with its own outcome (the runner)."""
    token = _LOG_DAMAGE.set(False)
    try:
        yield
    finally:
        _LOG_DAMAGE.reset(token)


#: containers whose duration is read from the header, not estimated from the bit rate
_HEADER_DURATION = frozenset({"wav", "w64", "aiff", "flac", "ogg", "asf", "matroska,webm", _MOV})


def _riff_seconds(head: bytes) -> float | None:
    """Seconds of PCM the data chunk of a WAV file claims (FFmpeg trusts the file size)."""
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos, rate, align = 12, 0, 0
    while pos + 8 <= len(head):
        cid, size = head[pos : pos + 4], int.from_bytes(head[pos + 4 : pos + 8], "little")
        if cid == b"fmt " and pos + 22 <= len(head):
            rate = int.from_bytes(head[pos + 12 : pos + 16], "little")
            align = int.from_bytes(head[pos + 20 : pos + 22], "little")
        elif cid == b"data":
            if not rate or not align or size in (0, 0xFFFFFFFF):
                return None  # unknown length: a stream written without seeking back
            return size // align / rate
        pos += 8 + size + (size & 1)
    return None


def _claimed_duration(info: AudioInfo, head: bytes = b"") -> float | None:
    """The duration a file's header states, when it states one (not an estimate)."""
    if info.container == "wav" and info.codec.startswith("pcm_"):
        riff = _riff_seconds(head)
        if riff:
            return max(riff, info.duration)
    if info.container in _HEADER_DURATION and info.duration > 0:
        return info.duration
    lame = info.lame
    if info.codec == "mp3" and lame is not None and lame.frames and info.sample_rate:
        per_frame = 1152 if info.sample_rate >= 32000 else 576
        return (lame.frames * per_frame - lame.delay - lame.padding) / info.sample_rate
    return None  # e.g. an MP3 without a Xing tag: FFmpeg guesses from the bit rate


def _warnings(src: _Source) -> list[str]:
    """Plain-words problems met while decoding."""
    out = []
    claimed = _claimed_duration(src.info, src.head)
    at_end = src.trailing_bad if src.eof_at is not None else 0  # a packet cut by the file's end
    if src.eof_at is not None and claimed and src.sr > 0:
        got = src.eof_at / src.sr
        tolerance = 0.02 if src.info.lossless else max(0.1, 0.005 * claimed)
        if got < claimed - tolerance:
            out.append(
                f"decoded {got:.2f} s of the {claimed:.2f} s its header claims: "
                "the file is truncated or damaged"
            )
        elif at_end:
            out.append("the last packet is incomplete: the file was cut short")
    elif at_end:
        out.append("the last packet is incomplete: the file was cut short")
    if src.bad_packets > at_end:
        out.append(
            f"skipped {src.bad_packets - at_end} damaged packet(s) of {src.packets} "
            f"({src.last_error}); the audio has gaps there"
        )
    if src.stopped:
        out.append(f"reading stopped before the end of the file ({src.stopped})")
    if src.nonfinite:
        out.append(
            f"{src.nonfinite} sample value(s) were NaN or infinite; they were read as silence"
        )
    if src.odd_frames:
        out.append(f"skipped {src.odd_frames} frame(s) whose channel count or sample rate changed")
    return out


def _all_nonfinite(src: _Source, values: int) -> DecodeError | None:
    """The DecodeError for audio whose ``values`` decoded sample values were all NaN or
    infinite (nothing real to analyse), else None."""
    if values and src.nonfinite >= values:
        return DecodeError(
            src.path, "every sample is NaN or infinite: there is no audio to analyse"
        )
    return None


def _nothing_decoded(src: _Source) -> DecodeError:
    """The DecodeError for a stream that gave no samples at all, saying why."""
    p = src.path
    if src.bad_packets:
        return DecodeError(
            p,
            f"the audio is corrupt: none of its {src.packets} packet(s) could be decoded "
            f"({src.last_error})",
        )
    if src.stopped:
        return DecodeError(p, f"the file is damaged or truncated ({src.stopped})")
    if src.packets == 0:
        return _not_audio(p, src.head, "the audio stream is empty (no audio data)")
    return _not_audio(p, src.head, "no audio could be decoded")


def _no_window_audio(src: _Source, spans: list[tuple[int, int]]) -> DecodeError:
    """The DecodeError for windows that all came back empty (after a pass to the end)."""
    if not src.eof_at:
        return _nothing_decoded(src)
    end = src.eof_at / src.sr
    where = f"the audio ends at {end:.2f} s"
    claimed = _claimed_duration(src.info, src.head)
    if claimed and claimed > end + 0.1:
        where += f" though its header claims {claimed:.2f} s (truncated?)"
    return DecodeError(src.path, f"none of the requested windows holds any audio: {where}")


def _report(src: _Source) -> dict[str, Any]:
    warnings = _warnings(src)
    if not warnings:
        return {}
    if _LOG_DAMAGE.get():
        logger.warning("%s: %s", _show_path(src.path), "; ".join(warnings))
    return {"warnings": warnings}
