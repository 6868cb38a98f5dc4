"""The store's schema and its migrations.

The schema is versioned: ``schema_version`` holds one row, the number of the last migration
applied. :data:`MIGRATIONS` lists every change ever made to the schema, in order; opening a store
applies the ones it has not seen yet, each in its own transaction (SQLite's DDL is
transactional, so a migration is applied completely or not at all). A store written by a newer
audiolens than this one is refused rather than guessed at.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from ..errors import AudiolensError

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Migration", "StoreError", "migrate", "read_version"]


class StoreError(AudiolensError):
    """The results store cannot be opened or used (not a store, too new, corrupt)."""


@dataclass(frozen=True)
class Migration:
    """One step of the schema's history.

    Attributes
    ----------
    version : the schema version this step produces (1, 2, ...)
    description : what it changes, for the log
    statements : the SQL it runs, in order, inside one transaction
    """

    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "results keyed by (path, task), with file identity, status and result JSON",
        (
            """
            CREATE TABLE results (
                path         BLOB    NOT NULL,  -- os.fsencode(absolute path): any bytes
                task         TEXT    NOT NULL,
                task_version INTEGER NOT NULL,
                size         INTEGER,           -- bytes; NULL when the file could not be stat'ed
                mtime_ns     INTEGER,
                content_hash TEXT,              -- blake2b(size, first and last 64 KiB)
                status       TEXT    NOT NULL CHECK (status IN ('ok', 'failed')),
                error        TEXT,              -- the message, for failed rows
                device       TEXT,              -- the device the task ran on, e.g. 'cpu', 'cuda:0'
                elapsed_s    REAL,
                created      REAL    NOT NULL,  -- unix time the row was written
                result       TEXT,              -- the task's Result.to_dict() as JSON
                PRIMARY KEY (path, task)
            )
            """,
        ),
    ),
    Migration(
        2,
        "runs table; results remember the run that wrote them; index on status",
        (
            """
            CREATE TABLE runs (
                id       INTEGER PRIMARY KEY AUTOINCREMENT,
                started  REAL NOT NULL,
                finished REAL,                  -- NULL while running, or when the run was killed
                status   TEXT NOT NULL DEFAULT 'running',  -- finished, interrupted, failed
                tasks    TEXT NOT NULL,         -- JSON list of task names
                device   TEXT,
                total    INTEGER,
                done     INTEGER,
                skipped  INTEGER,
                failed   INTEGER
            )
            """,
            "ALTER TABLE results ADD COLUMN run_id INTEGER REFERENCES runs(id)",
            "CREATE INDEX results_status ON results (task, status)",
        ),
    ),
    Migration(
        3,
        "results keep the decode warnings of the file (truncated, damaged, NaN samples)",
        ("ALTER TABLE results ADD COLUMN warnings TEXT",),  # JSON list of str; NULL: none
    ),
    Migration(
        4,
        "runs remember the process that made them, so a later run marks a killed one 'killed'",
        (
            "ALTER TABLE runs ADD COLUMN pid INTEGER",
            "ALTER TABLE runs ADD COLUMN host TEXT",
        ),
    ),
    Migration(
        5,
        "claims: the files (and tasks) a run is analysing now, so a concurrent run skips them",
        (
            """
            CREATE TABLE claims (
                path    BLOB    NOT NULL,
                task    TEXT    NOT NULL,
                run_id  INTEGER NOT NULL REFERENCES runs(id),
                claimed REAL    NOT NULL,       -- unix time the claim was made
                PRIMARY KEY (path, task)
            )
            """,
        ),
    ),
    Migration(
        6,
        "runs remember how many worker processes they had",
        ("ALTER TABLE runs ADD COLUMN workers INTEGER",),
    ),
)

#: the schema version this audiolens writes
SCHEMA_VERSION: int = MIGRATIONS[-1].version


def read_version(conn: sqlite3.Connection) -> int:
    """The schema version of an open store: 0 for an empty database.

    Raises
    ------
    StoreError
        when the database has tables but is not an audiolens store.
    """
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "schema_version" not in names:
        if names - {"sqlite_sequence"}:
            raise StoreError("not an audiolens results store (it has tables but no schema_version)")
        return 0
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: sqlite3.Connection, *, target: int = SCHEMA_VERSION) -> list[int]:
    """Bring a store's schema up to ``target``, one transaction per migration.

    Parameters
    ----------
    conn : a connection in autocommit mode (``isolation_level=None``)
    target : the version to stop at (tests use it to build old stores)

    Returns
    -------
    applied : the versions applied, in order (empty when the store was current)

    Raises
    ------
    StoreError
        when the store is newer than this audiolens, or is not an audiolens store.
    """
    applied: list[int] = []
    for migration in MIGRATIONS:
        if migration.version > target:
            break
        conn.execute("BEGIN IMMEDIATE")  # re-check under the write lock: another opener may race
        try:
            current = read_version(conn)
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"schema version {current} is newer than this audiolens supports "
                    f"({SCHEMA_VERSION}); upgrade audiolens to read it"
                )
            if current >= migration.version:
                conn.execute("ROLLBACK")
                continue
            if current == 0:
                conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
                conn.execute("INSERT INTO schema_version (version) VALUES (0)")
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute("UPDATE schema_version SET version = ?", (migration.version,))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        applied.append(migration.version)
    return applied
