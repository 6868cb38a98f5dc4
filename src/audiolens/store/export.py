"""Exports of a results store: JSON, JSON Lines, CSV and Parquet.

Every format has one record per (file, task) with the run's columns (:data:`BASE_FIELDS`) and
the task's own result fields at the top level of the record. In CSV, nested values (lists,
dicts) are JSON strings and missing values are empty cells; Parquet has typed columns (see
:mod:`audiolens.store.parquet`).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import IO, Any, Literal

from ..errors import ParameterError, _show_path
from ..writing import check_target, replace_into
from ._json import dumps
from .db import ResultRow, Store
from .identity import encode_path

__all__ = ["BASE_FIELDS", "FORMATS", "check_not_store", "export", "record"]

ExportFormat = Literal["json", "jsonl", "csv", "parquet"]
FORMATS: tuple[str, ...] = ("json", "jsonl", "csv", "parquet")

#: the columns every record starts with, before the task's own fields
BASE_FIELDS: tuple[str, ...] = (
    "path",
    "task",
    "task_version",
    "status",
    "error",
    "warnings",
    "missing",
    "device",
    "elapsed_s",
    "size",
    "mtime_ns",
    "content_hash",
    "created",
)


def record(row: ResultRow) -> dict[str, Any]:
    """The export record of one stored row: base fields, then the task's fields.

    ``missing`` says the file is no longer where it was analysed (``audiolens prune`` drops
    such rows).

    A task field whose name clashes with a base field is written as ``"<task>_<name>"``.
    """
    created = None
    if row.created is not None:
        created = datetime.fromtimestamp(row.created, timezone.utc).isoformat(timespec="seconds")
    out: dict[str, Any] = {
        "path": row.path,
        "task": row.task,
        "task_version": row.task_version,
        "status": row.status,
        "error": row.error,
        "warnings": row.warnings,
        "missing": not os.path.lexists(encode_path(row.path)),
        "device": row.device,
        "elapsed_s": None if row.elapsed_s is None else round(row.elapsed_s, 6),
        "size": row.size,
        "mtime_ns": row.mtime_ns,
        "content_hash": row.content_hash,
        "created": created,
    }
    for key, value in (row.result or {}).items():
        out[f"{row.task}_{key}" if key in out else key] = value
    return out


def export(
    db: str | os.PathLike[str] | Store,
    fmt: ExportFormat = "json",
    out: str | os.PathLike[str] | IO[str] | IO[bytes] | None = None,
    *,
    task: str | None = None,
) -> str | None:
    """Write the records of a results store as JSON, JSON Lines, CSV or Parquet.

    Parameters
    ----------
    db : the store's file, or an open :class:`Store`
    fmt : ``"json"`` (a list of records), ``"jsonl"`` (one record per line), ``"csv"`` or
        ``"parquet"`` (typed columns, needs pyarrow: ``audiolens[parquet]``)
    out : a file name (written to a temporary name in its folder, then renamed into place;
        never the store itself), an open text or binary file (binary for Parquet), or None to
        return the text (not for Parquet)
    task : only the records of this task (a known task, or one with rows in the store)

    Returns
    -------
    text : the exported text when ``out`` is None, else None

    Notes
    -----
    The records are read in one read transaction: a run writing the store meanwhile changes
    nothing in them.

    Paths whose bytes are not UTF-8 come out as ``\\udcXX`` escapes in JSON (``json.loads``
    and ``os.fsencode`` give the exact bytes back) and as the raw bytes in CSV files written by
    name or to a binary file.

    Raises
    ------
    ParameterError
        for an unknown ``fmt`` or ``task``, or an ``out`` file name that cannot be written
        (a folder, in a folder that does not exist or is not writable, or the store itself or
        one of its SQLite companion files), or Parquet asked for as text; checked before
        anything is read.
    MissingDependency
        for Parquet without pyarrow.
    StoreError
        when ``db`` is not a results store.
    """
    if fmt not in FORMATS:
        raise ParameterError(f"fmt={fmt!r} is not an export format; use one of {FORMATS}")
    named = isinstance(out, (str, os.PathLike))
    if fmt == "parquet" and not (named or (out is not None and _is_binary(out))):
        raise ParameterError("Parquet is binary: give the export a file name or a binary file")
    if named:
        check_target(os.fspath(out), what="the export", example="results.csv")
        check_not_store(os.fspath(out), db=db.path if isinstance(db, Store) else os.fspath(db))
    store = db if isinstance(db, Store) else Store(db, create=False, readonly=True)
    try:
        if task is not None:
            _check_task(store, task)
        if fmt == "parquet":
            from .parquet import write_parquet

            with store.snapshot():
                write_parquet(store, out, task=task)  # type: ignore[arg-type]
            return None
        if out is None:
            buf = io.StringIO()
            with store.snapshot():
                _write(store, fmt, buf, task)
            return buf.getvalue()
        with _text_stream(out) as stream, store.snapshot():
            _write(store, fmt, stream, task)
        return None
    finally:
        if store is not db:
            store.close()


def check_not_store(path: str, *, db: str, what: str = "the export") -> None:
    """Refuse an output file name (``what``: an export, a report) that is the store ``db``
    (or its ``-wal``, ``-shm``, ``-journal``): writing it would destroy the results."""
    if db == ":memory:":
        return
    for name in (db, f"{db}-wal", f"{db}-shm", f"{db}-journal"):
        same = os.path.realpath(path) == os.path.realpath(name)
        if not same and os.path.exists(path) and os.path.exists(name):
            same = os.path.samefile(path, name)
        if same:
            it = "the results store" if name == db else f"the results store's {_show_path(name)}"
            raise ParameterError(f"{_show_path(path)}: is {it}; give {what} another name")


def _check_task(store: Store, task: str) -> None:
    """Refuse a task name that no task has and no row of the store uses (a typo)."""
    from ..tasks import TASKS

    known = sorted({*TASKS, *store.tasks()})
    if task not in known:
        raise ParameterError(f"task {task!r} is not known; the tasks are: {', '.join(known)}")


@contextmanager
def _text_stream(out: str | os.PathLike[str] | IO[Any]) -> Iterator[IO[str]]:
    if isinstance(out, (str, os.PathLike)):
        with replace_into(out) as fh:
            yield fh
    elif isinstance(out, io.TextIOBase) or not _is_binary(out):
        yield out  # type: ignore[misc]
    else:
        wrapper = io.TextIOWrapper(out, encoding="utf-8", errors="surrogateescape", newline="")
        try:
            yield wrapper
        finally:
            wrapper.flush()
            wrapper.detach()


def _is_binary(stream: IO[Any]) -> bool:
    if "b" in getattr(stream, "mode", ""):
        return True
    return isinstance(stream, (io.RawIOBase, io.BufferedIOBase))


def _write(store: Store, fmt: str, stream: IO[str], task: str | None) -> None:
    records = (record(row) for row in store.rows(task=task))
    if fmt == "jsonl":
        for rec in records:
            stream.write(dumps(rec) + "\n")
    elif fmt == "json":
        _write_json_list(records, stream)
    else:
        _write_csv(store, task, stream)


def _write_json_list(records: Iterable[dict[str, Any]], stream: IO[str]) -> None:
    first = True
    for rec in records:
        stream.write(("[\n" if first else ",\n") + dumps(rec))
        first = False
    stream.write("[]\n" if first else "\n]\n")


def _write_csv(store: Store, task: str | None, stream: IO[str]) -> None:
    columns: dict[str, None] = dict.fromkeys(BASE_FIELDS)
    for row in store.rows(task=task):  # first pass: the union of the tasks' fields
        for key in record(row):
            columns.setdefault(key, None)
    writer = csv.DictWriter(stream, fieldnames=list(columns))  # \r\n: quotes \r and \n
    writer.writeheader()
    for row in store.rows(task=task):
        writer.writerow({k: _cell(v) for k, v in record(row).items()})


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (dict, list, tuple)):
        return dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value
