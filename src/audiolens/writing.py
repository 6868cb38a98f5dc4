"""Writing a file whole or not at all: the one writer every output goes through.

:func:`check_target` refuses a file name that cannot be written, before any work
(:func:`folder_problem` says why a folder cannot take a new file);
:func:`replace_into` opens a temporary file in the target's folder, created exclusively
(``O_CREAT | O_EXCL | O_NOFOLLOW``) under an unpredictable name, and renames it onto the target
once everything is written and flushed to disk; a failure removes it. A reader never sees half
a file; nothing planted in the folder (a symlink at a name it could guess) can redirect the
write, and a symlink at the target's own name is replaced, never followed.
:func:`write_file` is the common case: a whole text or bytes, its folder made when missing.
JSON, MIDI, SRT/VTT/TXT, RTTM, ``.beats``, WAV/FLAC clicks, PNG pictures, joined model files and
the exports all use them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any, Literal

from .errors import ParameterError, _show_path

__all__ = ["check_target", "folder_problem", "replace_into", "write_file"]

#: the flags of the temporary file: created here and now, never through a link
_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_BINARY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def _create_temporary(folder: str, name: str) -> tuple[int, str]:
    """A new file next to ``name`` in ``folder``, made exclusively under a random name."""
    for _ in range(100):
        tmp = os.path.join(folder, f".{name[:200]}.{secrets.token_hex(8)}.tmp")
        try:
            # 0o666 lets the umask set the permissions, as for any new file
            return os.open(tmp, _FLAGS, 0o666), tmp
        except FileExistsError:  # pragma: no cover - 64 random bits taken: try again
            continue
    raise FileExistsError(f"{folder}: no free temporary name for {name}")  # pragma: no cover


def check_target(path: str, *, what: str, example: str) -> None:
    """Refuse a file name that cannot be written, naming the problem.

    Parameters
    ----------
    path : the file to be written
    what : what it is, for the messages (``"the export"``)
    example : a file name to suggest when ``path`` is empty

    Raises
    ------
    ParameterError
        for an empty name, a folder, or a file in a folder that does not exist or is not
        writable.
    """
    if not path:
        raise ParameterError(f"out='' is not a file name; give one, e.g. {example}")
    if os.path.isdir(path):
        raise ParameterError(f"{_show_path(path)}: is a folder; give {what} a file name")
    problem = folder_problem(os.path.dirname(path) or ".")
    if problem is not None:
        raise ParameterError(f"{_show_path(path)}: cannot write {what}, {problem}")


def folder_problem(folder: str) -> str | None:
    """Why no new file can be made in ``folder`` (``"there is no folder F"``, ``"folder F is
    not writable"``), for a message; None when one can."""
    if not os.path.isdir(folder):
        return f"there is no folder {_show_path(folder)}"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"folder {_show_path(folder)} is not writable"
    return None


@contextmanager
def replace_into(path: str | os.PathLike, mode: Literal["w", "wb"] = "w") -> Iterator[IO[Any]]:
    """A file to write ``path``'s new content into; ``path`` gets it when the block ends.

    Parameters
    ----------
    path : the file to write (its folder must exist)
    mode : ``"w"`` for text (UTF-8, undecodable file-name bytes kept, newlines as written) or
        ``"wb"`` for bytes

    Notes
    -----
    An exception in the block removes the temporary file and leaves ``path`` as it was.
    """
    target = os.fspath(path)
    folder, name = os.path.split(target)
    fd, tmp = _create_temporary(folder or ".", name)
    try:
        if mode == "wb":
            fh: IO[Any] = os.fdopen(fd, "wb")
        else:
            fh = os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="")
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


def write_file(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8, or bytes) to ``path`` whole or not at all (see
    :func:`replace_into`), making its folder when missing.

    Returns
    -------
    path : the file written
    """
    target = Path(os.fspath(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    with replace_into(target, "wb" if isinstance(data, bytes) else "w") as fh:
        fh.write(data)
    return target
