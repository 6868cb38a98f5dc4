"""Writing a file whole or not at all.

:func:`check_target` refuses a file name that cannot be written, before any work;
:func:`replace_into` opens a temporary file, created exclusively under an unpredictable name in
the target's folder, and renames it onto the target once everything is written and flushed to
disk; a failure removes it. A reader never sees half a file, and a symlink at the target's name
is replaced, never followed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import IO, Any, Literal

from .errors import ParameterError, _show_path

__all__ = ["check_target", "replace_into"]


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
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise ParameterError(
            f"{_show_path(path)}: cannot write {what}, there is no folder {_show_path(folder)}"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ParameterError(
            f"{_show_path(path)}: cannot write {what}, folder {_show_path(folder)} is not writable"
        )


@contextmanager
def replace_into(path: str | os.PathLike, mode: Literal["w", "wb"] = "w") -> Iterator[IO[Any]]:
    """A file to write ``path``'s new content into; ``path`` gets it when the block ends.

    Parameters
    ----------
    path : the file to write (its folder must exist)
    mode : ``"w"`` for text (UTF-8, undecodable file-name bytes kept, newlines as written) or
        ``"wb"`` for bytes
    """
    target = os.fspath(path)
    folder, name = os.path.split(target)
    tmp = os.path.join(folder, f".{name}.{uuid.uuid4().hex[:12]}.tmp")
    # 0o666 lets the umask set the permissions, as for any new file
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
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
