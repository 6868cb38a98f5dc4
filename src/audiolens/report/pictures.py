"""The pictures of the report's detail view: the pictures audiolens draws, small, cached.

For the folder form of the report (``report.html/``), each file with a stored ``quality``
result gets its spectrogram with the cutoff marked (the picture of
:func:`~audiolens.report.plots.plot_quality`), and each file with ``notes`` its piano roll (that
of :func:`~audiolens.report.plots.plot_notes`), drawn at a small size into ``pictures/`` beside
the page. A picture is named by a hash of the file's path, its content hash and the task's
version, so a rebuilt report draws only what is new or changed and reuses the rest. Each is
written whole or not at all (:func:`audiolens.writing.replace_into`): an interrupted build
leaves no half picture in the cache.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import AudiolensError
from ..store import ResultRow, Store
from .collect import FileEntry

__all__ = ["PICTURE_TASKS", "Pictures", "draw_pictures"]

logger = logging.getLogger("audiolens")

#: the tasks whose results get a picture
PICTURE_TASKS: tuple[str, ...] = ("quality", "notes")
#: bumped when the pictures change, so cached ones are drawn again
_STYLE = 1
#: the pictures' resolution (dots per inch of matplotlib's figure sizes): small thumbnails
_DPI = 56


@dataclass
class Pictures:
    """What :func:`draw_pictures` made.

    Attributes
    ----------
    shown : file index -> task -> the pictures (``src`` relative to the page, ``alt``)
    missing : file index -> task -> why it has no picture
    drawn, reused : how many pictures were drawn now, and how many came from the cache
    """

    shown: dict[int, dict[str, list[dict[str, str]]]] = field(default_factory=dict)
    missing: dict[int, dict[str, str]] = field(default_factory=dict)
    drawn: int = 0
    reused: int = 0


def _name(row: ResultRow) -> str:
    h = hashlib.blake2b(digest_size=8)
    for part in (os.fsencode(row.path), row.content_hash or "", row.task, row.task_version, _STYLE):
        h.update(repr(part).encode() + b"\0")
    return f"{h.hexdigest()}.{row.task}.png"


def _unchanged(row: ResultRow) -> str | None:
    """Why the file cannot be drawn as it was analyzed (None when it can)."""
    try:
        st = os.stat(row.path)
    except OSError as exc:
        return f"no picture: the file cannot be read now ({exc.strerror or exc})"
    if (row.size, row.mtime_ns) != (st.st_size, st.st_mtime_ns):
        return "no picture: the file changed after it was analyzed"
    return None


def _quality_figure(row: ResultRow) -> Any:
    from ..tasks.quality import QualityResult, QualityTask, read_input
    from .plots import _quality_figure

    known = {f.name for f in fields(QualityResult)}
    result = QualityResult(**{k: v for k, v in (row.result or {}).items() if k in known})
    return _quality_figure(read_input(row.path, QualityTask()), result)


def _notes_figure(row: ResultRow) -> Any:
    import numpy as np

    from ..audio import load
    from ..tasks.notes.types import Note
    from .plots import _file_name, _notes_figure

    notes = [
        Note(
            n["onset"], n["offset"], n["pitch"], n["velocity"], tuple(n.get("bends") or ()) or None
        )
        for n in (row.result or {}).get("notes", [])
    ]
    audio = load(row.path, sr=22050, mono=True)
    x = np.asarray(audio.samples, dtype=np.float32).reshape(-1)
    return _notes_figure(x, 22050, notes, f"{_file_name(row.path)}: {len(notes)} notes")


_FIGURES: dict[str, Callable[[ResultRow], Any]] = {
    "quality": _quality_figure,
    "notes": _notes_figure,
}


def _draw(row: ResultRow, target: Path) -> None:
    """Draw ``row``'s picture into ``target`` (whole or not at all: see
    :func:`audiolens.writing.replace_into`)."""
    from .plots import _save

    _save(_FIGURES[row.task](row), target, dpi=_DPI)


def draw_pictures(store: Store, files: list[FileEntry], folder: Path) -> Pictures:
    """The pictures of ``files``, drawn into ``folder`` (created) or found there.

    Parameters
    ----------
    store : the store the files were read from (a picture's result is read from it)
    files : the report's files, in the table's order
    folder : where the pictures go (``<report>/pictures``)

    Returns
    -------
    pictures : what each file has, and why some have none (file gone or changed, not
        decodable now)

    Raises
    ------
    MissingDependency
        when matplotlib is not installed and there is something to draw.
    """
    from .plots import _pyplot

    out = Pictures()
    wanted = [
        (i, f.rows[task])
        for i, f in enumerate(files)
        for task in PICTURE_TASKS
        if task in f.rows and f.rows[task].status == "ok"
    ]
    if wanted:
        _pyplot()  # a missing matplotlib is one error up front, not one per file
        folder.mkdir(parents=True, exist_ok=True)
    for i, row in wanted:
        name = _name(row)
        target = folder / name
        if not target.is_file():
            why = _unchanged(row)
            if why is None:
                try:
                    _draw(store.get(row.path, row.task) or row, target)
                    out.drawn += 1
                except (AudiolensError, OSError, ValueError, KeyError, TypeError) as exc:
                    why = f"no picture: {exc}"
                    logger.info("%s", why)
            if why is not None:
                out.missing.setdefault(i, {})[row.task] = why
                continue
        else:
            out.reused += 1
        alt = "spectrogram with the cutoff" if row.task == "quality" else "piano roll"
        src = f"{folder.name}/{name}"
        out.shown.setdefault(i, {}).setdefault(row.task, []).append({"src": src, "alt": alt})
    return out
