"""The results store: SQLite in WAL mode, versioned schema, exports.

- :class:`Store` -- open a store; write one file's results in one transaction; ask what is done
- :class:`ResultRow` -- one stored (file, task) result
- :func:`export` -- JSON, JSON Lines, CSV or Parquet, one record per file and task
- :data:`SCHEMA_VERSION`, :data:`MIGRATIONS` -- the schema's history
"""

from __future__ import annotations

from .db import DEFAULT_DB, ResultRow, Store
from .export import BASE_FIELDS, FORMATS, check_not_store, export, record
from .identity import content_hash, decode_path, encode_path
from .schema import MIGRATIONS, SCHEMA_VERSION, Migration, StoreError, migrate

__all__ = [
    "BASE_FIELDS",
    "DEFAULT_DB",
    "FORMATS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Migration",
    "ResultRow",
    "Store",
    "StoreError",
    "check_not_store",
    "content_hash",
    "decode_path",
    "encode_path",
    "export",
    "migrate",
    "record",
]
