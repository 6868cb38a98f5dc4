"""Exceptions raised by audiolens.

Every error audiolens raises on purpose derives from :class:`AudiolensError`, so a caller can
catch one type. Messages say what was wrong, with the value, and what is allowed.
"""

from __future__ import annotations

__all__ = [
    "AudioTooLong",
    "AudiolensError",
    "DecodeError",
    "DeviceError",
    "MissingDependency",
    "ModelNotFound",
    "ParameterError",
]


class AudiolensError(Exception):
    """Base class of every audiolens error."""


class DecodeError(AudiolensError):
    """A file could not be read or decoded as audio.

    The message always names the file and says what went wrong (missing, unreadable,
    empty, truncated, not audio, no audio stream, ...).
    """

    def __init__(self, path: object, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{_show_path(path)}: {problem}")


class AudioTooLong(DecodeError):
    """A file holds more audio than a decode may take (``limit_s`` seconds): more than the
    limit on any file (``$AUDIOLENS_MAX_HOURS``), or more than a bounded decode was given."""

    def __init__(self, path: object, limit_s: float, why: str) -> None:
        self.limit_s = limit_s
        super().__init__(path, f"holds more than {_hours(limit_s)} of audio ({why})")


def _hours(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    return f"{seconds:g} s"


class ParameterError(AudiolensError, ValueError):
    """A function was called with a value it does not accept."""


class DeviceError(AudiolensError, RuntimeError):
    """The requested compute device is not available or a backend cannot start on it."""


class MissingDependency(AudiolensError, ImportError):
    """An optional dependency is not installed; the message says which extra provides it."""


class ModelNotFound(AudiolensError, FileNotFoundError):
    """Model weights were not found; the message says where we looked and how to provide them."""


def _show_path(path: object) -> str:
    """Render a path for a message, escaping control characters and undecodable bytes."""
    import os

    if isinstance(path, bytes):
        text = path.decode("utf-8", "backslashreplace")
    else:
        text = os.fspath(path) if isinstance(path, os.PathLike) else str(path)
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return repr(text) if any(c in text for c in "\n\r\t'\"") else text
