"""``audiolens export``: write a results store as JSON, JSON Lines, CSV or Parquet."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ._common import EXIT_OK, EXIT_USAGE, add_store_command, error

__all__ = ["add_parser", "run"]

_HELP = "write stored results as JSON, JSON Lines, CSV or Parquet"
_ABOUT = "Write the results store as one record per file and task."
_EPILOG = """\
examples:
  audiolens export                                  # JSON list on stdout
  audiolens export --format csv -o results.csv
  audiolens export --db lib.sqlite --format jsonl --task quality | jq .verdict
  audiolens export --db lib.sqlite -o lib.parquet   # typed columns (audiolens[parquet])

Each record has path, task, task_version, status, error, warnings (what was wrong with a
file that still decoded: truncated, damaged, NaN samples), missing (the file is no longer
there; 'audiolens prune' drops its rows), device, elapsed_s, size, mtime_ns,
content_hash and created, then the task's own fields at the top level (in CSV, nested values
are JSON strings; in Parquet they are lists and structs, and path_bytes has the path's exact
bytes).
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``export`` to the CLI."""
    from ..store import FORMATS

    p = add_store_command(subparsers, "export", help=_HELP, description=_ABOUT, epilog=_EPILOG)
    p.add_argument(
        "-f",
        "--format",
        choices=FORMATS,
        default=None,
        help="output format (default: from the -o extension, else json)",
    )
    p.add_argument(
        "-o", "--output", metavar="FILE", default="-", help="output file (default: stdout)"
    )
    p.add_argument("--task", default=None, metavar="T", help="only the results of this task")
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``export``."""
    from ..store import FORMATS, export

    fmt = args.format
    if fmt is None:
        ext = os.path.splitext(args.output)[1].lstrip(".").lower()
        fmt = ext if ext in FORMATS else "json"
    if args.output == "-":
        if fmt == "parquet" and sys.stdout.isatty():
            error("Parquet is binary: give it a file with -o FILE.parquet, or redirect stdout")
            return EXIT_USAGE
        export(args.db, fmt, getattr(sys.stdout, "buffer", sys.stdout), task=args.task)
        sys.stdout.flush()
    else:
        export(args.db, fmt, args.output, task=args.task)
    return EXIT_OK
