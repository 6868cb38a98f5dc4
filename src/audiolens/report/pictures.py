"""The pictures of the report's detail view: the pictures audiolens draws, small, cached.

For the folder form of the report (``report.html/``), each file with a stored ``quality``
result gets its spectrogram with the cutoff marked (the picture of
:func:`~audiolens.report.plots.plot_quality`), each file with ``notes`` its piano roll (that
of :func:`~audiolens.report.plots.plot_notes`), and each file with ``beats`` or ``structure``
its waveform with the beat grid and the sections over it, drawn at a small size into
``pictures/`` beside the page. A picture is named by a hash of the file's path, its content
hash and the versions of the tasks it draws, so a rebuilt report draws only what is new or
changed and reuses the rest. Each is written whole or not at all
(:func:`audiolens.writing.replace_into`): an interrupted build leaves no half picture in the
cache.
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

__all__ = ["PICTURES", "PICTURE_TASKS", "Pictures", "draw_pictures"]

logger = logging.getLogger("audiolens")

#: the pictures: name -> the tasks whose stored results it draws (it is drawn when one of
#: them is ok, from those that are)
PICTURES: dict[str, tuple[str, ...]] = {
    "quality": ("quality",),
    "notes": ("notes",),
    "waveform": ("beats", "structure"),
}
#: the tasks whose results get a picture
PICTURE_TASKS: tuple[str, ...] = tuple(dict.fromkeys(t for ts in PICTURES.values() for t in ts))
#: each picture's alt text
_ALT = {
    "quality": "spectrogram with the cutoff",
    "notes": "piano roll",
    "waveform": "waveform with the beats and sections",
}
#: the waveform's decoding rate (Hz): enough for its envelope
_WAVE_RATE = 4000
#: bumped when the pictures change, so cached ones are drawn again
_STYLE = 1
#: the pictures' resolution (dots per inch of matplotlib's figure sizes): small thumbnails
_DPI = 56


@dataclass
class Pictures:
    """What :func:`draw_pictures` made.

    Attributes
    ----------
    shown : file index -> picture (a key of :data:`PICTURES`) -> the pictures (``src``
        relative to the page, ``alt``)
    missing : file index -> picture -> why it has none
    drawn, reused : how many pictures were drawn now, and how many came from the cache
    """

    shown: dict[int, dict[str, list[dict[str, str]]]] = field(default_factory=dict)
    missing: dict[int, dict[str, str]] = field(default_factory=dict)
    drawn: int = 0
    reused: int = 0


def _name(kind: str, rows: list[ResultRow]) -> str:
    """The picture's file name: a hash of what it draws (each row's file, content and task
    version, and the pictures' style) and its kind."""
    h = hashlib.blake2b(digest_size=8)
    for row in rows:
        for part in (os.fsencode(row.path), row.content_hash or "", row.task, row.task_version):
            h.update(repr(part).encode() + b"\0")
    h.update(repr(_STYLE).encode() + b"\0")
    return f"{h.hexdigest()}.{kind}.png"


def _unchanged(rows: list[ResultRow]) -> str | None:
    """Why the file cannot be drawn as it was analyzed (None when it can)."""
    for row in rows:
        try:
            st = os.stat(row.path)
        except OSError as exc:
            return f"no picture: the file cannot be read now ({exc.strerror or exc})"
        if (row.size, row.mtime_ns) != (st.st_size, st.st_mtime_ns):
            return "no picture: the file changed after it was analyzed"
    return None


def _mono(path: str, rate: int) -> Any:
    """The file decoded to mono float32 at ``rate`` Hz, shape ``(n,)``."""
    import numpy as np

    from ..audio import load

    return np.asarray(load(path, sr=rate, mono=True).samples, dtype=np.float32).reshape(-1)


def _quality_figure(rows: list[ResultRow]) -> Any:
    from ..tasks.quality import QualityResult, QualityTask, read_input
    from .plots import _quality_figure

    (row,) = rows
    known = {f.name for f in fields(QualityResult)}
    result = QualityResult(**{k: v for k, v in (row.result or {}).items() if k in known})
    return _quality_figure(read_input(row.path, QualityTask()), result)


def _notes_figure(rows: list[ResultRow]) -> Any:
    from ..tasks.notes.types import Note
    from .plots import _file_name, _notes_figure

    (row,) = rows
    notes = [
        Note(
            n["onset"], n["offset"], n["pitch"], n["velocity"], tuple(n.get("bends") or ()) or None
        )
        for n in (row.result or {}).get("notes", [])
    ]
    x = _mono(row.path, 22050)
    return _notes_figure(x, 22050, notes, f"{_file_name(row.path)}: {len(notes)} notes")


def _waveform_figure(rows: list[ResultRow]) -> Any:
    from .plots import _file_name, _waveform_figure

    by = {row.task: row.result or {} for row in rows}
    beats, structure = by.get("beats", {}), by.get("structure", {})
    said = []
    if beats.get("tempo") is not None:
        said.append(f"{beats['tempo']:g} BPM, {beats.get('meter')} beats per bar")
    elif "beats" in by:
        said.append("no steady beat")
    if structure.get("form"):
        said.append(f"sections {structure['form']}")
    return _waveform_figure(
        _mono(rows[0].path, _WAVE_RATE),
        _WAVE_RATE,
        beats=beats.get("beats") or [],
        downbeats=beats.get("downbeats") or [],
        sections=[(s["start"], s["end"], str(s["label"])) for s in structure.get("segments") or []],
        title=f"{_file_name(rows[0].path)}: {', '.join(said) or 'waveform'}",
    )


_FIGURES: dict[str, Callable[[list[ResultRow]], Any]] = {
    "quality": _quality_figure,
    "notes": _notes_figure,
    "waveform": _waveform_figure,
}


def _draw(store: Store, kind: str, rows: list[ResultRow], target: Path) -> None:
    """Draw the picture of ``rows`` (their full results read again from ``store``) into
    ``target`` (whole or not at all: see :func:`audiolens.writing.replace_into`)."""
    from .plots import _save

    full = [store.get(row.path, row.task) or row for row in rows]
    _save(_FIGURES[kind](full), target, dpi=_DPI)


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
    wanted = []
    for i, f in enumerate(files):
        for kind, tasks in PICTURES.items():
            rows = [f.rows[t] for t in tasks if t in f.rows and f.rows[t].status == "ok"]
            if rows:
                wanted.append((i, kind, rows))
    if wanted:
        _pyplot()  # a missing matplotlib is one error up front, not one per file
        folder.mkdir(parents=True, exist_ok=True)
    for i, kind, rows in wanted:
        name = _name(kind, rows)
        target = folder / name
        if not target.is_file():
            why = _unchanged(rows)
            if why is None:
                try:
                    _draw(store, kind, rows, target)
                    out.drawn += 1
                except (AudiolensError, OSError, ValueError, KeyError, TypeError) as exc:
                    why = f"no picture: {exc}"
                    logger.info("%s", why)
            if why is not None:
                out.missing.setdefault(i, {})[kind] = why
                continue
        else:
            out.reused += 1
        src = f"{folder.name}/{name}"
        out.shown.setdefault(i, {}).setdefault(kind, []).append({"src": src, "alt": _ALT[kind]})
    return out
