"""``build_report``: a results store as one HTML page, alone or in a folder with pictures."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import ParameterError, _show_path
from ..store import Store, check_not_store
from ..writing import check_target, folder_problem, replace_into
from .collect import collect, detail_meta, shown
from .page import detail_json, render

__all__ = ["PAGE_NAME", "ReportInfo", "build_report", "is_folder_target"]

#: the page's name inside the folder form
PAGE_NAME = "index.html"


@dataclass
class ReportInfo:
    """What :func:`build_report` wrote.

    Attributes
    ----------
    page : the HTML file
    files : how many files the table has
    pictures_drawn, pictures_reused : pictures drawn now and found from an earlier build
        (folder form only)
    pictures_missing : files' pictures that could not be drawn (file gone, changed, undecodable)
    seconds : how long the build took
    """

    page: Path
    files: int
    pictures_drawn: int = 0
    pictures_reused: int = 0
    pictures_missing: int = 0
    seconds: float = 0.0


def is_folder_target(out: str | os.PathLike[str]) -> bool:
    """Whether ``out`` asks for the folder form: it ends with a path separator
    (``report.html/``)."""
    text = os.fspath(out)
    return text.endswith(os.sep) or (os.altsep is not None and text.endswith(os.altsep))


def _check_folder(folder: str) -> None:
    """Refuse a report folder that cannot be made or written, before any work."""
    if os.path.exists(folder):
        if not os.path.isdir(folder):
            raise ParameterError(f"{_show_path(folder)}: is a file, not a folder")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ParameterError(f"{_show_path(folder)}: folder is not writable")
        return
    problem = folder_problem(os.path.dirname(os.path.abspath(folder)))
    if problem is not None:
        raise ParameterError(f"{_show_path(folder)}: cannot make the report folder, {problem}")


def check_report_target(out: str | os.PathLike[str]) -> None:
    """Refuse a report name that cannot be written, naming the problem (before any work).

    Raises
    ------
    ParameterError
        for an empty name, an existing folder named without the trailing separator that asks
        for the folder form, or a place that does not exist or is not writable.
    """
    text = os.fspath(out)
    if is_folder_target(text):
        _check_folder(text.rstrip("/" + os.sep))
        return
    if text and os.path.isdir(text):
        raise ParameterError(
            f"{_show_path(text)}: is a folder; give the report a file name, or "
            f"{_show_path(text + '/')} for the report with pictures in that folder"
        )
    check_target(text, what="the report", example="report.html")


def build_report(
    db: str | os.PathLike[str] | Store,
    out: str | os.PathLike[str],
    *,
    title: str | None = None,
) -> ReportInfo:
    """Write the report of a results store: one self-contained HTML page.

    ``out`` names the page (``report.html``), or, ending with a separator (``report.html/``),
    a folder that gets the page as ``index.html`` and the detail view's pictures (quality
    spectrograms, piano rolls, waveforms with the beats and sections) in ``pictures/``, drawn
    from the files themselves (those that are gone or changed since they were analyzed get
    none) and reused by the next build.

    Parameters
    ----------
    db : the store's file, or an open :class:`~audiolens.store.Store`
    out : the page, or the folder (with a trailing separator)
    title : the page's title (default: "audiolens report: <store file name>")

    Returns
    -------
    info : the page written and what it holds

    Raises
    ------
    ParameterError
        when ``out`` cannot be written, or is the store or one of its SQLite files (checked
        before the store is read).
    StoreError
        when ``db`` is not a results store.
    MissingDependency
        for the folder form without matplotlib.
    """
    t0 = time.perf_counter()
    check_report_target(out)
    page_path = (
        os.path.join(os.fspath(out).rstrip("/" + os.sep), PAGE_NAME)
        if is_folder_target(out)
        else os.fspath(out)
    )
    check_not_store(
        page_path, db=db.path if isinstance(db, Store) else os.fspath(db), what="the report"
    )
    store = db if isinstance(db, Store) else Store(db, create=False, readonly=True)
    try:
        with store.snapshot():
            data = collect(store)
        source = shown(os.path.abspath(store.path)) if store.path != ":memory:" else ":memory:"
        info = ReportInfo(page=Path(out), files=len(data.files))
        extra: list[dict[str, Any]] = [{} for _ in data.files]
        if is_folder_target(out):
            from .pictures import draw_pictures

            folder = Path(os.fspath(out).rstrip("/" + os.sep))
            pictures = draw_pictures(store, data.files, folder / "pictures")
            for i, by_task in pictures.shown.items():
                extra[i]["pictures"] = by_task
            for i, why in pictures.missing.items():
                extra[i]["missing"] = why
            info.page = folder / PAGE_NAME
            info.pictures_drawn, info.pictures_reused = pictures.drawn, pictures.reused
            info.pictures_missing = sum(len(v) for v in pictures.missing.values())
    finally:
        if store is not db:
            store.close()
    details = []
    for f, more in zip(data.files, extra):
        facts, tasks = detail_meta(f)
        details.append(detail_json(facts | more, tasks))
    name = os.path.basename(source)
    when = datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")
    page = render(
        title=title if title is not None else f"audiolens report: {name}",
        source=f"{source} · {len(data.files):,} files · made {when}",
        data={"columns": data.columns, "rows": data.rows, "summary": data.summary},
        details=details,
    )
    with replace_into(info.page) as fh:
        fh.write(page)
    info.seconds = time.perf_counter() - t0
    return info
