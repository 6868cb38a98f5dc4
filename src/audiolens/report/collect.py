"""What the report shows, read from a results store: one row per file, its details, a summary.

The store is read in one pass in which SQLite picks out what the table needs (``verdict``,
``tempo``, ...) and trims what the detail view does not draw (beat positions, tempo curves,
note lists, word timings, loudness histograms) with its JSON functions, so the results' long
lists are never parsed in Python: a store of 20,000 songs with their beat grids reads in
seconds. The detail view's data stays JSON text (see :class:`ReportData`).

File names and messages are made printable here (:func:`shown`): bytes that are not UTF-8
become ``\\xNN``, control and invisible formatting characters become escapes, so a name shows
as what it is and cannot disguise itself. Nothing here is HTML.
"""

from __future__ import annotations

import json
import math
import os
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..store import BASE_FIELDS, ResultRow, Store, decode_path

__all__ = ["COLUMNS", "Column", "FileEntry", "ReportData", "collect", "shown"]

#: characters a name could hide behind: C0/C1 controls, zero-width and bidirectional marks,
#: line and paragraph separators, the byte-order mark
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def shown(text: str) -> str:
    """``text`` (a path, a message) as printable text: undecodable bytes (lone surrogates)
    as ``\\xNN``, controls and invisible characters as ``\\n``, ``\\x1b``, ``\\u202e``."""
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return _INVISIBLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


# -- what is read of each result --------------------------------------------------------------

#: per task, the fields the table reads (besides ``duration``, which every task may give)
_PICK: dict[str, tuple[str, ...]] = {
    "quality": ("verdict", "bitrate_class", "confidence", "origin", "cutoff_hz"),
    "beats": ("tempo", "meter"),
    "structure": ("form",),
    "key": ("key",),
    "loudness": ("integrated_lufs",),
    "speech": ("language",),
    "speakers": ("num_speakers",),
}
#: the SQL that picks them out of ``result`` as one JSON array (JSON parsed once per row)
_PICK_SQL: dict[str, str] = {
    task: "json_extract(result, " + ", ".join(f"'$.{k}'" for k in ("duration", *names)) + ")"
    for task, names in _PICK.items()
}
_PICK_SQL["notes"] = (
    "json_array(json_extract(result, '$.duration'), json_array_length(result, '$.notes'))"
)
_PICK["notes"] = ("count",)

_SEGMENT = ", ".join(
    f"'{k}', json_extract(value, '$.{k}')" for k in ("start", "end", "speaker", "text")
)

#: per task, the detail view's JSON (SQL over ``result``): long lists it does not draw go
_DETAIL: dict[str, str] = {
    "beats": "json_remove(result, '$.positions', '$.tempo_curve')",
    "loudness": "json_remove(result, '$.histogram')",
    "notes": (
        "json_set(json_remove(result, '$.notes'), '$.count', json_array_length(result, '$.notes'),"
        " '$.pitch_range', json_array("
        "(SELECT min(json_extract(value, '$.pitch')) FROM json_each(result, '$.notes')),"
        " (SELECT max(json_extract(value, '$.pitch')) FROM json_each(result, '$.notes'))))"
    ),
    "speech": (
        "json_set(json_remove(result, '$.text', '$.segments'), '$.segments', "
        f"(SELECT json_group_array(json_object({_SEGMENT})) FROM json_each(result, '$.segments')))"
    ),
}


def _case(by_task: dict[str, str], default: str) -> str:
    """SQL choosing by the row's task; NULL for a row without a result (or a broken one)."""
    whens = " ".join(f"WHEN '{task}' THEN {sql}" for task, sql in by_task.items())
    return f"CASE WHEN json_valid(result) THEN CASE task {whens} ELSE {default} END END"


#: the run's columns of a row (all but ``created``, and ``missing``, which is no column), what
#: the table reads, the detail's JSON
_SCAN = (
    *(name for name in BASE_FIELDS if name not in ("created", "missing")),
    _case(_PICK_SQL, "json_array(json_extract(result, '$.duration'))"),
    _case(_DETAIL, "result"),
)


# -- the table --------------------------------------------------------------------------------


@dataclass
class FileEntry:
    """One file of the store.

    Attributes
    ----------
    path : its path (``str``, undecodable bytes as lone surrogates)
    rows : its rows by task, without their results (``result`` is None; read one with
        :meth:`Store.get <audiolens.store.Store.get>` when needed)
    picked : per task (ok rows only), the fields the table reads, and ``duration``
    details : per task, the detail view's JSON text of the result (None for failed rows)
    """

    path: str
    rows: dict[str, ResultRow] = field(default_factory=dict)
    picked: dict[str, dict[str, Any]] = field(default_factory=dict)
    details: dict[str, str | None] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(r.status == "ok" for r in self.rows.values())

    def get(self, task: str, name: str) -> Any:
        return self.picked.get(task, {}).get(name)


@dataclass(frozen=True)
class Column:
    """One column of the report's table.

    Attributes
    ----------
    key : its name in the page's data
    label : its header
    kind : ``"text"`` (filtered by substring), ``"enum"`` (filtered by choosing a value) or
        ``"num"`` (filtered by ``>x``, ``<x``, ``a..b`` or a value)
    title : what it is, shown when the pointer rests on the header
    value : the cell of one file (None when it has none)
    """

    key: str
    label: str
    kind: str
    title: str
    value: Callable[[FileEntry], Any]


def _field(task: str, *names: str, scale: float = 1.0, digits: int | None = None) -> Callable:
    """A cell: the first of ``names`` that ``task``'s result has (numbers scaled and rounded,
    text made printable)."""

    def value(f: FileEntry) -> Any:
        for name in names:
            v = f.get(task, name)
            if isinstance(v, bool):
                return str(v).lower()
            if isinstance(v, (int, float)):
                if not math.isfinite(v):
                    return None
                v = v * scale
                return round(v, digits) if digits is not None else v
            if isinstance(v, str):
                return shown(v)
        return None

    return value


def _status(f: FileEntry) -> str:
    failed = sum(r.status == "failed" for r in f.rows.values())
    return "ok" if not failed else "failed" if failed == len(f.rows) else "partly failed"


def _origin(f: FileEntry) -> str | None:
    origin = f.get("quality", "origin")
    if not isinstance(origin, dict):
        return None
    codec, kbps = origin.get("codec"), origin.get("bitrate_kbps")
    return shown(f"{codec} {kbps} kb/s" if kbps else f"{codec}")


def _duration(f: FileEntry) -> float | None:
    found = [
        float(p["duration"])
        for p in f.picked.values()
        if isinstance(p.get("duration"), (int, float)) and math.isfinite(p["duration"])
    ]
    return round(max(found), 2) if found else None


#: the table's columns; one a store has no value for is left out of its page
COLUMNS: tuple[Column, ...] = (
    Column("file", "File", "text", "the file's path", lambda f: shown(f.path)),
    Column("status", "Status", "enum", "ok, failed, or partly failed (some tasks)", _status),
    Column("verdict", "Verdict", "enum", "quality: lossless, lossy or transcode",
           _field("quality", "verdict")),
    Column("class", "Class", "enum", "quality: bitrater's class (128, V2, 192, V0, 256, 320, "
           "lossless)", _field("quality", "bitrate_class")),
    Column("confidence", "Confidence", "num", "quality: how sure the verdict is (0-1)",
           _field("quality", "confidence", digits=3)),
    Column("origin", "Origin", "text", "quality: the lossy encoding the content came from",
           _origin),
    Column("cutoff", "Cutoff kHz", "num", "quality: the spectral low-pass",
           _field("quality", "cutoff_hz", scale=0.001, digits=2)),
    Column("tempo", "Tempo", "num", "beats: BPM", _field("beats", "tempo", digits=1)),
    Column("meter", "Meter", "enum", "beats: beats per bar", _field("beats", "meter")),
    Column("form", "Form", "text", "structure: the sections, e.g. ABAB",
           _field("structure", "form")),
    Column("notes", "Notes", "num", "notes: how many notes", _field("notes", "count")),
    Column("key", "Key", "enum", "key: the musical key", _field("key", "key")),
    Column("lufs", "LUFS", "num", "loudness: integrated loudness",
           _field("loudness", "integrated_lufs", digits=1)),
    Column("language", "Language", "enum", "speech: the spoken language",
           _field("speech", "language")),
    Column("speakers", "Speakers", "num", "speakers: how many voices",
           _field("speakers", "num_speakers")),
    Column("duration", "Duration s", "num", "seconds of audio", _duration),
)  # fmt: skip


@dataclass
class ReportData:
    """Everything the page shows.

    Attributes
    ----------
    columns : the table's columns present in this store (``key``, ``label``, ``kind``, ``title``)
    rows : per file, its cells in ``columns`` order (the first is the shown path)
    summary : counts, histograms, failures, decode warnings and runs
    files : the files, in the order of ``rows`` (sorted by path)
    """

    columns: list[dict[str, str]]
    rows: list[list[Any]]
    summary: dict[str, Any]
    files: list[FileEntry]


def _files(store: Store) -> list[FileEntry]:
    files: list[FileEntry] = []
    for (
        raw,
        task,
        version,
        status,
        error,
        warnings,
        device,
        elapsed,
        size,
        mtime,
        chash,
        pick,
        detail,
    ) in store.scan(_SCAN):
        path = decode_path(bytes(raw))
        if not files or files[-1].path != path:
            files.append(FileEntry(path))
        f = files[-1]
        f.rows[task] = ResultRow(
            path, task, version, status, error=error, size=size, mtime_ns=mtime,
            content_hash=chash, device=device, elapsed_s=elapsed,
            warnings=json.loads(warnings) if warnings else [],
        )  # fmt: skip
        if status == "ok":
            names = ["duration", *_PICK.get(task, ())]
            f.picked[task] = dict(zip(names, json.loads(pick)))
        f.details[task] = detail if status == "ok" else None
    return files


def collect(store: Store) -> ReportData:
    """Read a store into what its report shows.

    Parameters
    ----------
    store : an open results store

    Returns
    -------
    data : the table, the summary, and the files (with their details' JSON)
    """
    files = _files(store)
    cells = [[c.value(f) for c in COLUMNS] for f in files]
    keep = [i for i, c in enumerate(COLUMNS) if i == 0 or any(row[i] is not None for row in cells)]
    columns = [
        {"key": c.key, "label": c.label, "kind": c.kind, "title": c.title}
        for c in (COLUMNS[i] for i in keep)
    ]
    rows = [[row[i] for i in keep] for row in cells]
    return ReportData(columns, rows, _summary(store, files, cells), files)


# -- the detail view --------------------------------------------------------------------------

_TASK_ORDER = ("quality", "beats", "structure", "notes", "key", "loudness", "speech", "speakers")


def detail_meta(f: FileEntry) -> tuple[dict[str, Any], list[tuple[dict[str, Any], str | None]]]:
    """The detail view of one file: its own facts, and per task (in the order the view
    shows them) the row's facts with the result's JSON text (None for a failed row)."""
    folder, name = os.path.split(f.path)
    size = next((r.size for r in f.rows.values() if r.size is not None), None)
    order = sorted(f.rows, key=lambda t: (_TASK_ORDER.index(t) if t in _TASK_ORDER else 99, t))
    tasks = []
    for task in order:
        row = f.rows[task]
        meta = {
            "task": shown(task),
            "status": row.status,
            "error": None if row.error is None else shown(row.error),
            "warnings": [shown(w) for w in row.warnings],
            "device": row.device,
            "elapsed_s": _finite(row.elapsed_s, 3),
            "version": row.task_version,
        }
        tasks.append((meta, f.details.get(task)))
    return {"name": shown(name), "folder": shown(folder), "size": size}, tasks


def _finite(value: float | None, digits: int) -> float | None:
    return round(value, digits) if value is not None and math.isfinite(value) else None


# -- the summary ------------------------------------------------------------------------------

#: verdicts in the order the summary lists them: the suspected fakes first
_VERDICTS = ("transcode", "lossy", "lossless")


def _tally(values: Iterable[Any], order: Iterable[Any] = ()) -> list[list[Any]]:
    """``[value, count]`` pairs: the values of ``order`` first (when present), then the rest
    by count."""
    counts = Counter(v for v in values if v is not None)
    first = [[v, counts.pop(v)] for v in order if v in counts]
    return first + [[v, n] for v, n in counts.most_common()]


def _histogram(values: list[float], width: float) -> list[list[Any]]:
    """``[low, high, count]`` bins of ``width``, from the lowest to the highest value."""
    if not values:
        return []
    low = math.floor(min(values) / width) * width
    bins = Counter(int((v - low) // width) for v in values)
    return [[low + i * width, low + (i + 1) * width, bins.get(i, 0)] for i in range(max(bins) + 1)]


def _spread(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    q = statistics.quantiles(values, n=10) if len(values) > 1 else [values[0]] * 9
    return {
        "min": min(values),
        "p10": round(q[0], 2),
        "median": round(statistics.median(values), 2),
        "p90": round(q[8], 2),
        "max": max(values),
    }


def _failures(files: list[FileEntry]) -> list[dict[str, Any]]:
    """Failed rows grouped by task and message (the file's own name taken out of it)."""
    return _grouped(
        files, lambda row: [row.error or "no message"] if row.status == "failed" else []
    )


def _warnings(files: list[FileEntry]) -> list[dict[str, Any]]:
    """The decode warnings of rows (truncated, damaged, NaN samples) grouped like failures."""
    return _grouped(files, lambda row: row.warnings)


def _grouped(
    files: list[FileEntry], messages: Callable[[ResultRow], list[str]]
) -> list[dict[str, Any]]:
    """The ``messages`` of the rows grouped by task and message (the file's own name taken out
    of it): ``task``, ``message``, ``count`` and the first 50 ``files``, most frequent first."""
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, f in enumerate(files):
        prefix = shown(f.path) + ": "
        for task, row in f.rows.items():
            for text in messages(row):
                message = shown(text)
                message = message[len(prefix) :] if message.startswith(prefix) else message
                groups[(shown(task), message)].append(i)
    out = [
        {"task": task, "message": message, "count": len(ids), "files": ids[:50]}
        for (task, message), ids in groups.items()
    ]
    return sorted(out, key=lambda g: (-g["count"], g["task"], g["message"]))


def _runs(store: Store) -> list[dict[str, Any]]:
    out = []
    for run in store.runs():
        took = None if run["finished"] is None else run["finished"] - run["started"]
        rate = run["done"] / took if took and run["done"] else None
        out.append(
            {
                "id": run["id"],
                "started": run["started"],
                "seconds": None if took is None else round(took, 1),
                "status": run["status"],
                "tasks": [shown(str(t)) for t in run["tasks"]],
                "device": run["device"],
                "workers": run["workers"],
                "total": run["total"],
                "done": run["done"],
                "skipped": run["skipped"],
                "failed": run["failed"],
                "files_per_s": None if rate is None else round(rate, 2),
            }
        )
    return out


def _summary(store: Store, files: list[FileEntry], cells: list[list[Any]]) -> dict[str, Any]:
    at = {c.key: i for i, c in enumerate(COLUMNS)}

    def column(key: str) -> list[Any]:
        return [row[at[key]] for row in cells if row[at[key]] is not None]

    tasks: dict[str, dict[str, int]] = defaultdict(lambda: {"ok": 0, "failed": 0})
    for f in files:
        for task, row in f.rows.items():
            tasks[shown(task)][row.status] += 1
    durations, lufs = column("duration"), column("lufs")
    transcodes = (row[at["origin"]] for row in cells if row[at["verdict"]] == "transcode")
    return {
        "files": len(files),
        "files_ok": sum(f.ok for f in files),
        "hours": round(sum(durations) / 3600.0, 3),
        "with_duration": len(durations),
        "tasks": dict(sorted(tasks.items())),
        "verdicts": _tally(column("verdict"), _VERDICTS),
        "origins": _tally(transcodes),
        "tempo": _histogram(column("tempo"), 10.0),
        "meters": _tally(column("meter")),
        "keys": _tally(column("key")),
        "lufs": _spread(lufs),
        "lufs_histogram": _histogram(lufs, 2.0),
        "languages": _tally(column("language")),
        "speakers": _tally(column("speakers")),
        "failures": _failures(files),
        "warnings": _warnings(files),
        "runs": _runs(store),
    }
