"""The SQLite results store.

One row per (file, task). The runner's main process is the only writer; each file's rows go in
one transaction, so a run that is killed loses at most the files it had in flight, and the
database stays consistent (WAL mode; ``synchronous=NORMAL`` is safe against a killed process).

Several runs may use one store at once. Before a run analyses a file it claims it
(:meth:`Store.claim`, one transaction: a row in ``claims`` per task, with the run's id); a
concurrent run skips what another one holds or has just stored. A claim ends with the file's
rows (:meth:`Store.write_file`), with its run (:meth:`Store.end_run`), or, for a run that was
killed, when a later run marks it ``killed``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sqlite3
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import _show_path as _show
from ..writing import folder_problem
from ._json import dumps, safe_text
from .identity import decode_path, encode_path
from .schema import SCHEMA_VERSION, StoreError, migrate, read_version

__all__ = ["CLAIM_TRUST_S", "DEFAULT_DB", "ResultRow", "Store", "remove_store"]

logger = logging.getLogger("audiolens")

#: the store the CLI uses when ``--db`` is not given, in the current directory
DEFAULT_DB = "audiolens.sqlite"

Status = Literal["ok", "failed"]

_COLUMNS = (
    "path, task, task_version, size, mtime_ns, content_hash, status, error, device, "
    "elapsed_s, created, result, run_id, warnings"
)


@dataclass
class ResultRow:
    """One stored result: a file, a task, and what came of it.

    Attributes
    ----------
    path : absolute path (``str``; bytes that are not UTF-8 are lone surrogates, as in ``os``)
    task : task name
    task_version : the task's version when the row was written
    status : ``"ok"`` or ``"failed"``
    error : the failure message (None when ok)
    result : the task's ``Result.to_dict()`` (None when failed)
    size, mtime_ns, content_hash : the file's identity when it was analyzed
    device : the device the task ran on (``"cpu"``, ``"cuda:0"``, ...)
    elapsed_s : seconds spent on this file for this task, decoding included
    created : unix time the row was written
    run_id : the run that wrote it
    warnings : what was wrong with the file although it decoded (truncated, damaged packets,
        NaN samples); empty when nothing was
    """

    path: str
    task: str
    task_version: int
    status: Status
    error: str | None = None
    result: dict[str, Any] | None = None
    size: int | None = None
    mtime_ns: int | None = None
    content_hash: str | None = None
    device: str | None = None
    elapsed_s: float | None = None
    created: float | None = None
    run_id: int | None = None
    warnings: list[str] = field(default_factory=list)

    def _params(self, now: float) -> tuple:
        return (
            encode_path(self.path),
            self.task,
            int(self.task_version),
            self.size,
            self.mtime_ns,
            self.content_hash,
            self.status,
            safe_text(self.error),
            self.device,
            self.elapsed_s,
            self.created if self.created is not None else now,
            None if self.result is None else dumps(self.result),
            self.run_id,
            dumps([safe_text(w) for w in self.warnings]) if self.warnings else None,
        )

    @classmethod
    def _from_sql(cls, row: Sequence[Any]) -> ResultRow:
        (
            path,
            task,
            version,
            size,
            mtime,
            chash,
            status,
            error,
            device,
            elapsed,
            created,
            result,
            run_id,
            warnings,
        ) = row
        return cls(
            path=decode_path(bytes(path)),
            task=task,
            task_version=version,
            status=status,
            error=error,
            result=None if result is None else json.loads(result),
            size=size,
            mtime_ns=mtime,
            content_hash=chash,
            device=device,
            elapsed_s=elapsed,
            created=created,
            run_id=run_id,
            warnings=[] if warnings is None else list(json.loads(warnings)),
        )


class Store:
    """An audiolens results store (an SQLite file in WAL mode).

    Parameters
    ----------
    path : the database file (created when missing, unless ``create=False``), or ``":memory:"``
    create : create the file when it does not exist
    timeout : seconds to wait for another writer's lock
    readonly : only read it (exports): a store that cannot be written is opened read-only;
        its schema must then be current

    Raises
    ------
    StoreError
        when the file is not an audiolens store, is newer than this audiolens, is missing and
        ``create`` is False, or cannot be written (a read-only file, or a folder where SQLite
        cannot make its ``-wal`` and ``-shm`` files) unless ``readonly``; the message says
        which. A file that is not a store is left exactly as it was.

    Examples
    --------
    >>> with Store("audiolens.sqlite") as store:  # doctest: +SKIP
    ...     for row in store.rows(task="quality"):
    ...         print(row.path, row.status, row.result)
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = DEFAULT_DB,
        *,
        create: bool = True,
        timeout: float = 30.0,
        readonly: bool = False,
    ) -> None:
        self.path = os.fspath(path)
        memory = self.path == ":memory:"
        writable = True
        if not memory:
            writable = _check_file(self.path, create=create, readonly=readonly)
        try:
            if writable:
                self._conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
            else:
                uri = "file:" + urllib.parse.quote(os.path.abspath(self.path)) + "?mode=ro"
                self._conn = sqlite3.connect(uri, timeout=timeout, isolation_level=None, uri=True)
        except sqlite3.Error as exc:
            raise StoreError(f"{_show(self.path)}: cannot open the results store ({exc})") from None
        try:
            read_version(self._conn)  # another program's database: refused before any change
            if writable:
                self._setup(memory, timeout)
            elif read_version(self._conn) != SCHEMA_VERSION:
                raise StoreError(
                    f"is read-only and its schema (version {read_version(self._conn)}) is not "
                    f"this audiolens's ({SCHEMA_VERSION}); make it writable to migrate it"
                )
        except sqlite3.OperationalError as exc:  # not about the content: say what failed
            self._conn.close()
            raise StoreError(f"{_show(self.path)}: cannot use the results store ({exc})") from None
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise StoreError(
                f"{_show(self.path)}: not an audiolens results store ({exc})"
            ) from None
        except StoreError as exc:
            self._conn.close()
            raise StoreError(f"{_show(self.path)}: {exc}") from None

    def _setup(self, memory: bool, timeout: float) -> None:
        conn = self._conn
        # Two openers switching a new file to WAL at once can each hold a read lock while
        # waiting for the other's: SQLite then answers one "database is locked" at once
        # instead of waiting (its busy handler would deadlock). Once the other has switched
        # the file, the pragma goes through, so it is tried again until ``timeout``.
        deadline = time.monotonic() + timeout
        while True:
            try:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)
        if not memory and str(mode).lower() != "wal":
            logger.warning("%s: SQLite refused WAL mode (journal_mode=%s)", self.path, mode)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        applied = migrate(conn)
        if applied and applied[0] > 1:
            logger.info("%s: schema migrated to version %d", self.path, applied[-1])

    # -- housekeeping -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None  # type: ignore[assignment]

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.path!r})"

    @property
    def schema_version(self) -> int:
        """The schema version of the open store (== :data:`SCHEMA_VERSION` once opened)."""
        return read_version(self._conn)

    @property
    def journal_mode(self) -> str:
        """SQLite's journal mode: ``"wal"`` for a store on disk."""
        return str(self._conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check``: ``"ok"`` for a sound database."""
        rows = self._conn.execute("PRAGMA integrity_check").fetchall()
        return "\n".join(str(r[0]) for r in rows)

    # -- writing ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``): committed at the end of the block,
        rolled back if it raises."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
            self._conn.execute("COMMIT")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    def write_file(self, rows: Iterable[ResultRow]) -> None:
        """Store the results of one file (one row per task) in ONE transaction.

        A row replaces any earlier row with the same (path, task); the claims of the rows'
        run on the file end with it.
        """
        now = time.time()
        params = [row._params(now) for row in rows]
        if not params:
            return
        with self._writing() as conn:
            conn.executemany(
                f"INSERT OR REPLACE INTO results ({_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                params,
            )
            conn.executemany(
                "DELETE FROM claims WHERE path = ? AND task = ? AND run_id = ?",
                [(p[0], p[1], p[12]) for p in params if p[12] is not None],
            )

    def claim(
        self,
        path: str | bytes | os.PathLike,
        *,
        size: int,
        mtime_ns: int,
        tasks: Mapping[str, int],
        run_id: int,
        since: float,
    ) -> tuple[str, ...]:
        """Claim a file for run ``run_id`` before analysing it (one transaction); the tasks
        it may run on it.

        A task is not given when another run holds a live claim on it (a run still
        ``running``, whose process exists when it is of this machine; one of another machine,
        whose process cannot be asked, for :data:`CLAIM_TRUST_S` seconds), or when another run
        stored its row for this same file (size, mtime, task version) since ``since`` (it did
        the work while this run was planning). A stale claim (of a run that ended or was
        killed) is taken over.

        Parameters
        ----------
        path, size, mtime_ns : the file, as this run found it
        tasks : task name -> version, the tasks this run would run on it
        run_id : the claiming run (:meth:`begin_run`)
        since : unix time this run read which files were done (before its plan)

        Returns
        -------
        tasks : the names claimed, in the order of ``tasks`` (empty: leave the file alone)
        """
        key = encode_path(path)
        with self._writing() as conn:
            held = conn.execute(
                "SELECT c.task, c.run_id, c.claimed, r.status, r.pid, r.host "
                "FROM claims c LEFT JOIN runs r ON r.id = c.run_id WHERE c.path = ?",
                (key,),
            ).fetchall()
            busy = {task for task, rid, *rest in held if rid != run_id and _live(*rest)}
            stored = conn.execute(
                "SELECT task, task_version FROM results WHERE path = ? AND created >= ? "
                "AND run_id IS NOT ? AND size IS ? AND mtime_ns IS ?",
                (key, since, run_id, size, mtime_ns),
            ).fetchall()
            busy.update(task for task, version in stored if tasks.get(task) == version)
            granted = tuple(t for t in tasks if t not in busy)
            now = time.time()
            conn.executemany(
                "INSERT OR REPLACE INTO claims (path, task, run_id, claimed) VALUES (?, ?, ?, ?)",
                [(key, t, run_id, now) for t in granted],
            )
        return granted

    def begin_run(self, tasks: Sequence[str], device: str, *, workers: int | None = None) -> int:
        """Record the start of a run (its tasks, device and worker processes); returns its id
        (stored with every row it writes).

        Runs of this machine still marked ``running`` whose process is gone (killed, the
        machine restarted) are marked ``killed`` first."""
        self.mark_killed_runs()
        cur = self._conn.execute(
            "INSERT INTO runs (started, tasks, device, workers, pid, host) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (time.time(), json.dumps(list(tasks)), device, workers, os.getpid(), _HOST),
        )
        return int(cur.lastrowid)

    def mark_killed_runs(self) -> list[int]:
        """Mark ``killed`` the runs of this machine marked ``running`` whose process no
        longer exists; their ids. Runs of other machines, and of stores written before runs
        kept their process, are left as they are."""
        rows = self._conn.execute(
            "SELECT id, pid FROM runs WHERE status = 'running' AND host = ? AND pid IS NOT NULL",
            (_HOST,),
        ).fetchall()
        dead = [int(i) for i, pid in rows if not _alive(int(pid))]
        if dead:
            with self._writing() as conn:
                for run_id in dead:
                    conn.execute(
                        "UPDATE runs SET status = 'killed' WHERE id = ? AND status = 'running'",
                        (run_id,),
                    )
                    conn.execute("DELETE FROM claims WHERE run_id = ?", (run_id,))
        return dead

    def end_run(
        self, run_id: int, *, status: str, total: int, done: int, skipped: int, failed: int
    ) -> None:
        """Record how a run ended (``status``: ``"finished"``, ``"interrupted"``, ``"failed"``);
        its claims end with it."""
        with self._writing() as conn:
            conn.execute(
                "UPDATE runs SET finished = ?, status = ?, total = ?, done = ?, skipped = ?, "
                "failed = ? WHERE id = ?",
                (time.time(), status, total, done, skipped, failed, run_id),
            )
            conn.execute("DELETE FROM claims WHERE run_id = ?", (run_id,))

    # -- reading ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Store]:
        """Within this block every read sees the store as it was at the first one (one read
        transaction), whatever other processes write meanwhile: for readers that read it more
        than once (a CSV export's two passes). Blocks do not nest."""
        self._conn.execute("BEGIN DEFERRED")
        try:
            yield self
        finally:
            if self._conn is not None and self._conn.in_transaction:
                self._conn.execute("COMMIT")

    def is_done(
        self, path: str | bytes | os.PathLike, size: int, mtime_ns: int, task: str, version: int
    ) -> bool:
        """Whether ``task`` at ``version`` already succeeded on this exact file.

        True only for a stored ``ok`` row with the same path, size, mtime and task version;
        failed rows are never done (they are retried).
        """
        row = self._conn.execute(
            "SELECT 1 FROM results WHERE path = ? AND task = ? AND status = 'ok' "
            "AND size = ? AND mtime_ns = ? AND task_version = ?",
            (encode_path(path), task, size, mtime_ns, version),
        ).fetchone()
        return row is not None

    def done_index(
        self, tasks: Iterable[str]
    ) -> dict[tuple[bytes, str], tuple[int, int, int, str | None]]:
        """All successful rows of ``tasks``: (path bytes, task) -> (size, mtime_ns, version,
        content_hash).

        The runner reads this once per run instead of asking :meth:`is_done` per file.
        """
        out: dict[tuple[bytes, str], tuple[int, int, int, str | None]] = {}
        for task in tasks:
            cur = self._conn.execute(
                "SELECT path, size, mtime_ns, task_version, content_hash FROM results "
                "WHERE task = ? AND status = 'ok'",
                (task,),
            )
            for path, size, mtime, version, chash in cur:
                out[(bytes(path), task)] = (size, mtime, version, chash)
        return out

    def prune(self, *, dry_run: bool = False) -> list[str]:
        """Drop the rows of files that no longer exist (in one transaction).

        Parameters
        ----------
        dry_run : only say which files they are

        Returns
        -------
        paths : the files whose rows were (or would be) dropped, sorted
        """
        gone = [
            bytes(raw)
            for (raw,) in self._conn.execute("SELECT DISTINCT path FROM results ORDER BY path")
            if not os.path.lexists(bytes(raw))
        ]
        if gone and not dry_run:
            with self._writing() as conn:
                conn.executemany("DELETE FROM results WHERE path = ?", [(p,) for p in gone])
        return [decode_path(p) for p in gone]

    def get(self, path: str | bytes | os.PathLike, task: str) -> ResultRow | None:
        """The stored row for (path, task), or None."""
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM results WHERE path = ? AND task = ?",
            (encode_path(path), task),
        ).fetchone()
        return None if row is None else ResultRow._from_sql(row)

    def rows(self, *, task: str | None = None, status: Status | None = None) -> Iterator[ResultRow]:
        """Stored rows, ordered by path then task, optionally of one task and/or status."""
        where, params = _filters(task, status)
        cur = self._conn.execute(
            f"SELECT {_COLUMNS} FROM results{where} ORDER BY path, task", params
        )
        for row in cur:
            yield ResultRow._from_sql(row)

    def scan(self, columns: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        """Every row of the results table as the SQL expressions ``columns``, ordered by path
        then task: for readers that need a few values of many rows fast (SQLite's JSON
        functions, e.g. ``json_extract(result, '$.tempo')``, pick them out without Python
        parsing whole results).

        ``columns`` are SQL over the table's columns (``path`` is bytes: see
        :func:`~audiolens.store.identity.decode_path`); they are the caller's own constants,
        never text from a user or a file.
        """
        yield from self._conn.execute(
            f"SELECT {', '.join(columns)} FROM results ORDER BY path, task"
        )

    def count(self, *, task: str | None = None, status: Status | None = None) -> int:
        """How many rows there are, optionally of one task and/or status."""
        where, params = _filters(task, status)
        return int(self._conn.execute(f"SELECT COUNT(*) FROM results{where}", params).fetchone()[0])

    def runs(self) -> list[dict[str, Any]]:
        """Every run recorded, oldest first: ``id``, ``started`` and ``finished`` (unix time;
        ``finished`` None while running or when killed), ``status`` (``running``,
        ``finished``, ``interrupted``, ``failed``, ``killed``), ``tasks`` (list), ``device``,
        ``workers``, and the file counts ``total``, ``done``, ``skipped``, ``failed``."""
        cur = self._conn.execute(
            "SELECT id, started, finished, status, tasks, device, workers, total, done, "
            "skipped, failed FROM runs ORDER BY id"
        )
        names = [d[0] for d in cur.description]
        out = []
        for values in cur:
            run = dict(zip(names, values))
            run["tasks"] = json.loads(run["tasks"])
            out.append(run)
        return out

    def tasks(self) -> list[str]:
        """The task names that have rows."""
        return [r[0] for r in self._conn.execute("SELECT DISTINCT task FROM results ORDER BY 1")]


#: this machine's name, kept with each run (a process id means something only here)
_HOST = socket.gethostname()

#: seconds a claim of a run of another machine (whose process cannot be asked) is honoured
CLAIM_TRUST_S = 24 * 3600.0


def _live(claimed: float, status: str | None, pid: int | None, host: str | None) -> bool:
    """Whether a claim made at ``claimed`` by a run (its status, process and machine) holds."""
    if status != "running":
        return False
    if host == _HOST and pid is not None:
        return _alive(int(pid))
    return time.time() - claimed < CLAIM_TRUST_S


def _alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process (PermissionError): it exists
        return True
    return True


def remove_store(path: str | os.PathLike[str]) -> None:
    """Delete a closed store's file and SQLite's companions (``-wal``, ``-shm``, ``-journal``),
    e.g. one that a run created and stopped before storing anything."""
    base = os.fspath(path)
    for name in (base, f"{base}-wal", f"{base}-shm", f"{base}-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


def _check_file(path: str, *, create: bool, readonly: bool = False) -> bool:
    """Refuse a store path that SQLite would misread or could not open, naming the problem;
    whether the store can be opened for writing (False only when ``readonly``).

    Raises
    ------
    StoreError
        for an empty path (SQLite would make a temporary database), a folder, a missing
        store when ``create`` is False, a missing parent folder, or (unless ``readonly``) a
        store file or folder that cannot be written.
    """
    if not path:
        raise StoreError("the results store's path is empty; give a file name, e.g. " + DEFAULT_DB)
    if os.path.isdir(path):
        raise StoreError(f"{_show(path)}: is a folder, not a results store file")
    parent = os.path.dirname(path) or "."
    if os.path.isfile(path):
        if not os.access(path, os.R_OK):
            raise StoreError(f"{_show(path)}: the results store is not readable (permission)")
        file_ok = os.access(path, os.W_OK)
        folder_ok = os.access(parent, os.W_OK | os.X_OK)
        if file_ok and folder_ok:
            return True
        if readonly:
            return False
        if not file_ok:
            raise StoreError(
                f"{_show(path)}: the results store is read-only (no write permission); make "
                "it writable or give another store (--db)"
            )
        raise StoreError(
            f"{_show(path)}: cannot write the results store, its folder {_show(parent)} is not "
            "writable (SQLite keeps -wal and -shm files beside it)"
        )
    if not create:
        raise StoreError(f"no results store at {path!r}")
    problem = folder_problem(parent)
    if problem is not None:
        raise StoreError(f"{_show(path)}: cannot create the results store, {problem}")
    return True


def _filters(task: str | None, status: str | None) -> tuple[str, tuple]:
    clauses, params = [], []
    if task is not None:
        clauses.append("task = ?")
        params.append(task)
    if status is not None:
        clauses.append("status = ?")
        params.append(status)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)
