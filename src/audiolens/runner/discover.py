"""Finding the files to analyze.

Folders are walked recursively (following symlinked folders, each visited once) for files
with an audio or video extension. Files named explicitly are always attempted, whatever their
extension, so a text file named ``x.mp3`` gets a stored failure instead of being ignored.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ..errors import _show_path

__all__ = ["AUDIO_EXTENSIONS", "Candidate", "Discovery", "discover"]

logger = logging.getLogger("audiolens")

#: extensions (lower case, no dot) picked up when walking folders
AUDIO_EXTENSIONS: frozenset[str] = frozenset(
    {
        *("mp3", "flac", "wav", "aiff", "aif", "m4a", "mp4", "aac", "alac", "ogg"),
        *("oga", "opus", "wma", "wv", "ape", "mka", "mkv", "webm", "mov", "avi"),
    }
)


@dataclass(frozen=True)
class Candidate:
    """A file found for analysis.

    Attributes
    ----------
    path : absolute path (``str``, undecodable bytes as lone surrogates)
    size, mtime_ns : from the stat at discovery (None when it failed)
    error : why the file cannot be analyzed at all (it becomes a failed row), or None
    """

    path: str
    size: int | None
    mtime_ns: int | None
    error: str | None = None


@dataclass
class Discovery:
    """What :func:`discover` found: the files, and warnings about what it could not look at."""

    files: list[Candidate] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _ext(name: str) -> str:
    return os.path.splitext(name)[1][1:].lower()


def _candidate(path: str, st: os.stat_result) -> Candidate:
    if not stat.S_ISREG(st.st_mode):
        return Candidate(path, None, None, f"{_show_path(path)}: is not a regular file")
    return Candidate(path, st.st_size, st.st_mtime_ns)


def _stat_error(path: str, exc: OSError) -> Candidate:
    if isinstance(exc, FileNotFoundError):
        problem = "broken symbolic link" if os.path.islink(path) else "file not found"
    elif isinstance(exc, PermissionError):
        problem = "permission denied (cannot stat the file)"
    else:
        problem = f"cannot stat the file ({exc.strerror or exc})"
    return Candidate(path, None, None, f"{_show_path(path)}: {problem}")


def _walk(top: str, extensions: frozenset[str], warnings: list[str]) -> Iterator[Candidate]:
    seen: set[tuple[int, int]] = set()
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder)
            key = (st.st_dev, st.st_ino)
            if key in seen:
                continue
            seen.add(key)
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            warnings.append(f"cannot read folder {_show_path(folder)}: {exc.strerror or exc}")
            continue
        subdirs = []
        for entry in entries:
            try:
                is_dir = entry.is_dir()  # follows symlinks; loops are cut by `seen`
            except OSError:
                is_dir = False
            if is_dir:
                subdirs.append(entry.path)
                continue
            if entry.name.startswith("._") or _ext(entry.name) not in extensions:
                continue  # not audio, or a macOS resource fork
            try:
                yield _candidate(entry.path, entry.stat())
            except OSError as exc:
                yield _stat_error(entry.path, exc)
        stack.extend(reversed(subdirs))  # depth-first, in name order


def discover(
    paths: Iterable[str | bytes | os.PathLike], *, extensions: Iterable[str] = AUDIO_EXTENSIONS
) -> Discovery:
    """Expand files and folders into the list of files to analyze.

    Parameters
    ----------
    paths : files and folders; bytes paths and any characters are fine
    extensions : what counts as audio when walking folders (lower case, no dot)

    Returns
    -------
    discovery : :class:`Discovery`: the files in order, each once (absolute paths), and
        warnings for folders that could not be read or held no audio files
    """
    exts = frozenset(e.lower().lstrip(".") for e in extensions)
    out = Discovery()
    seen: set[str] = set()

    def add(c: Candidate) -> None:
        if c.path not in seen:
            seen.add(c.path)
            out.files.append(c)

    for given in paths:
        path = os.path.abspath(os.fsdecode(given))
        try:
            st = os.stat(path)
        except OSError as exc:
            add(_stat_error(path, exc))
            continue
        if not stat.S_ISDIR(st.st_mode):
            add(_candidate(path, st))
            continue
        found = 0
        for c in _walk(path, exts, out.warnings):
            found += 1
            add(c)
        if not found:
            out.warnings.append(f"no audio files found in folder {_show_path(path)}")
    return out
