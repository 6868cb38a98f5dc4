"""Parquet export of a results store: one row per (file, task), typed columns.

The columns are the export record's (:func:`audiolens.store.export.record`): the run's columns,
then every task's own fields, each with an Arrow type: numbers as numbers, lists as lists
(``beats``, ``notes``, ``segments``, ``turns``), records as structs, ``created`` as a UTC
timestamp. A row has values in its own task's columns and nulls in the others'. The fields of
the tasks audiolens ships have fixed types (so a column's type does not depend on what one
store happens to hold); fields of other tasks get the type Arrow infers from their values, or
JSON text when their values have no one type. When two tasks have a field of one name but
different types (``segments`` of ``structure`` and of ``speech``), each gets its own column,
``<task>_<name>``.

``path`` is text (bytes that are not UTF-8 as ``\\xNN`` escapes, so every reader can show it);
``path_bytes`` holds the path's exact bytes.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from datetime import datetime, timezone
from typing import IO, Any

from ..errors import MissingDependency
from ..writing import replace_into
from .db import Store
from .export import record

__all__ = ["parquet_table", "write_parquet"]


def _arrow() -> Any:
    try:
        import pyarrow
    except ImportError as exc:
        raise MissingDependency(
            "the Parquet export needs pyarrow: pip install 'audiolens[parquet]'"
        ) from exc
    return pyarrow


def _base_types(pa: Any) -> dict[str, Any]:
    """The run's columns (the first columns of every row)."""
    return {
        "path": pa.string(),
        "path_bytes": pa.binary(),
        "task": pa.string(),
        "task_version": pa.int32(),
        "status": pa.string(),
        "error": pa.string(),
        "warnings": pa.list_(pa.string()),
        "missing": pa.bool_(),
        "device": pa.string(),
        "elapsed_s": pa.float64(),
        "size": pa.int64(),
        "mtime_ns": pa.int64(),
        "content_hash": pa.string(),
        "created": pa.timestamp("us", tz="UTC"),
    }


def _task_types(pa: Any) -> dict[str, dict[str, Any]]:
    """The fields of the tasks audiolens ships, with their types."""
    f64, i64, text, flag = pa.float64(), pa.int64(), pa.string(), pa.bool_()

    def struct(**fields: Any) -> Any:
        return pa.struct(list(fields.items()))

    word = struct(start=f64, end=f64, word=text, probability=f64, speaker=text)
    return {
        "quality": {
            "verdict": text,
            "bitrate_class": text,
            "origin": struct(codec=text, bitrate_kbps=i64),
            "cutoff_hz": f64,
            "confidence": f64,
            "claimed": struct(
                codec=text,
                bitrate_kbps=i64,
                vbr=flag,
                lossless=flag,
                encoder=text,
                **{"class": text},
            ),
            "content": struct(p=f64, evidence=flag, **{"class": text}),
        },
        "beats": {
            "beats": pa.list_(f64),
            "positions": pa.list_(pa.int32()),
            "downbeats": pa.list_(f64),
            "tempo": f64,
            "meter": pa.int32(),
            "tempo_curve": pa.list_(pa.list_(f64)),
            "confidence": f64,
            "duration": f64,
            "beats_path": text,
        },
        "structure": {
            "segments": pa.list_(struct(start=f64, end=f64, label=text)),
            "duration": f64,
            "form": text,
        },
        "notes": {
            "notes": pa.list_(
                struct(
                    onset=f64,
                    offset=f64,
                    pitch=pa.int32(),
                    velocity=pa.int32(),
                    bends=pa.list_(pa.int32()),
                )
            ),
            "midi_path": text,
            "duration": f64,
            "engine": text,
        },
        "speech": {
            "text": text,
            "language": text,
            "language_probability": f64,
            "segments": pa.list_(
                struct(start=f64, end=f64, text=text, words=pa.list_(word), speaker=text)
            ),
            "duration": f64,
            "speech_duration": f64,
            "model": text,
            "paths": pa.map_(text, text),
        },
        "speakers": {
            "speakers": pa.list_(text),
            "num_speakers": pa.int32(),
            "turns": pa.list_(struct(start=f64, end=f64, speaker=text)),
            "speaking_time": pa.map_(text, f64),
            "duration": f64,
            "speech": f64,
            "method": text,
            "rttm_path": text,
        },
        "loudness": {
            "integrated_lufs": f64,
            "lra_lu": f64,
            "true_peak_dbtp": f64,
            "sample_peak_dbfs": f64,
            "track_gain_db": f64,
            "track_peak": f64,
            "duration": f64,
            "histogram": struct(start=f64, step=f64, counts=pa.list_(i64)),
        },
        "key": {
            "key": text,
            "tonic": text,
            "mode": text,
            "camelot": text,
            "open_key": text,
            "confidence": f64,
            "strength": f64,
            "sections": pa.list_(struct(start=f64, end=f64, key=text)),
        },
    }


def _column(pa: Any, values: list[Any], kind: Any | None) -> Any:
    """An Arrow array of ``values``: of type ``kind`` when given and the values fit it, else
    of the type Arrow infers, else JSON text."""
    if kind is not None:
        try:
            return pa.array(values, type=kind)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
            pass
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        return pa.array(
            [None if v is None else json.dumps(v, ensure_ascii=False) for v in values],
            type=pa.string(),
        )


def _task_table(pa: Any, store: Store, task: str) -> Any:
    """The rows of one task as an Arrow table: the run's columns, then the task's fields."""
    base = _base_types(pa)
    known = _task_types(pa).get(task, {})
    columns: dict[str, list[Any]] = defaultdict(list)
    n = 0
    for row in store.rows(task=task):
        rec = record(row)
        rec["path"] = row.path.encode("utf-8", "surrogateescape").decode(
            "utf-8", "backslashreplace"
        )
        rec["path_bytes"] = os.fsencode(row.path)
        rec["created"] = (
            None if row.created is None else datetime.fromtimestamp(row.created, timezone.utc)
        )
        for key in columns.keys() - rec.keys():
            columns[key].append(None)
        for key, value in rec.items():
            if key not in columns:
                columns[key] = [None] * n
            columns[key].append(value)
        n += 1
    names = list(base) + list(known) + [k for k in columns if k not in base and k not in known]
    arrays = [_column(pa, columns.get(k, [None] * n), base.get(k, known.get(k))) for k in names]
    return pa.table(arrays, names=names)


def parquet_table(store: Store, *, task: str | None = None) -> Any:
    """The store's rows as one ``pyarrow.Table`` (the table :func:`write_parquet` writes).

    Parameters
    ----------
    store : an open store
    task : only this task's rows (None: every task's)

    Returns
    -------
    table : one row per (file, task), ordered by path then task
    """
    from ..tasks import TASKS

    pa = _arrow()
    shipped = list(TASKS)  # their columns come in this order, then other tasks' by name
    tasks = [task] if task is not None else store.tasks()
    tasks.sort(key=lambda t: (shipped.index(t) if t in shipped else len(shipped), t))
    tables = {t: _task_table(pa, store, t) for t in tasks}
    kinds: dict[str, set[Any]] = defaultdict(set)
    for table in tables.values():
        for field in table.schema:
            if not pa.types.is_null(field.type):
                kinds[field.name].add(field.type)
    base = _base_types(pa)
    parts = []
    for t, table in tables.items():
        names = [
            name if name in base or len(kinds[name]) <= 1 else f"{t}_{name}"
            for name in table.column_names
        ]
        parts.append(table.rename_columns(names))
    if not parts:
        return pa.schema(list(base.items())).empty_table()
    merged = pa.concat_tables(parts, promote_options="default")
    return merged.sort_by([("path_bytes", "ascending"), ("task", "ascending")])


def write_parquet(
    store: Store, out: str | os.PathLike[str] | IO[bytes], *, task: str | None = None
) -> None:
    """Write the store's rows as one Parquet file.

    Parameters
    ----------
    store : an open store
    out : a file name (written to a temporary name in its folder, then renamed into place), or
        an open binary file
    task : only this task's rows

    Raises
    ------
    MissingDependency
        when pyarrow is not installed.
    """
    _arrow()
    import pyarrow.parquet as pq

    table = parquet_table(store, task=task)
    if isinstance(out, (str, os.PathLike)):
        with replace_into(out, "wb") as fh:
            pq.write_table(table, fh)
    else:
        pq.write_table(table, out)
