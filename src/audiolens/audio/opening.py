"""Opening a file: the checks before decoding, and the container PyAV opens."""

from __future__ import annotations

import os
import stat

from ..errors import DecodeError, MissingDependency
from .types import PathLike


def _av():
    try:
        import av
    except ImportError as exc:  # pragma: no cover - av is a hard dependency
        raise MissingDependency("decoding needs PyAV: pip install av") from exc
    return av


def _fs_path(path: PathLike) -> str:
    if isinstance(path, bytes):
        return os.fsdecode(path)
    return os.fspath(path)


def _reason(exc: BaseException) -> str:
    """The plain words of an exception, without errno numbers or file names."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).strip().rstrip(".")


def _check_file(path: str) -> tuple[os.stat_result, bytes]:
    """Stat and open the file; return its stat and its first bytes. Raise DecodeError."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise DecodeError(
                path, "is a broken symbolic link (its target does not exist)"
            ) from None
        raise DecodeError(path, "file not found") from None
    except PermissionError:
        raise DecodeError(path, "permission denied (cannot look up the file)") from None
    except (OSError, ValueError) as exc:
        raise DecodeError(path, f"cannot access the file ({_reason(exc)})") from None
    if stat.S_ISDIR(st.st_mode):
        raise DecodeError(path, "is a directory, not an audio file")
    if not stat.S_ISREG(st.st_mode):
        raise DecodeError(path, "is not a regular file (a device, pipe or socket)")
    if st.st_size == 0:
        raise DecodeError(path, "file is empty (0 bytes)")
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except FileNotFoundError:
        raise DecodeError(path, "file not found (it vanished while being opened)") from None
    except PermissionError:
        raise DecodeError(path, "permission denied (the file is not readable)") from None
    except OSError as exc:
        raise DecodeError(path, f"cannot read the file ({_reason(exc)})") from None
    return st, head


def _looks_like_text(head: bytes) -> bool:
    """Whether the first bytes of a file are text (UTF-8, no control characters)."""
    if not head or b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not merely a character cut at the end
            return False
        text = head[: exc.start].decode("utf-8")
    return not any(ord(c) < 32 and c not in "\t\n\r\f" for c in text)


def _not_audio(path: str, head: bytes, problem: str) -> DecodeError:
    if _looks_like_text(head):
        return DecodeError(path, "not an audio file (it contains text)")
    return DecodeError(path, problem)


#: bytes FFmpeg reads to find the streams before the first try falls back to its default
#: (5 MB); a small first read saves ~15 ms per open on plain audio files
_QUICK_PROBE = "65536"


def _open(path: str, head: bytes = b""):
    av = _av()
    try:
        container = av.open(path, metadata_errors="ignore", options={"probesize": _QUICK_PROBE})
        audio = container.streams.audio
        if not audio or not (audio[0].sample_rate and audio[0].channels):
            container.close()  # not found in the first bytes: look as far as FFmpeg would
            container = av.open(path, metadata_errors="ignore")
    except FileNotFoundError:
        raise DecodeError(path, "file not found (it vanished before decoding)") from None
    except PermissionError:
        raise DecodeError(path, "permission denied (the file is not readable)") from None
    except IsADirectoryError:
        raise DecodeError(path, "is a directory, not an audio file") from None
    except av.error.EOFError:
        raise DecodeError(path, "the file ends inside its header (truncated)") from None
    except av.error.InvalidDataError:
        raise _not_audio(
            path, head, "not a recognised audio or video format, or its header is damaged"
        ) from None
    except (av.FFmpegError, OSError, UnicodeError, ValueError) as exc:
        raise _not_audio(path, head, f"cannot be opened as audio ({_reason(exc)})") from None
    if not container.streams.audio:
        kinds = sorted({s.type for s in container.streams})
        container.close()
        if kinds:
            raise DecodeError(path, f"has no audio stream (only {', '.join(kinds)})")
        raise _not_audio(path, head, "has no audio stream")
    return container
