"""``audiolens prune``: drop the stored results of files that no longer exist."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._common import EXIT_OK, add_store_command, show_path

__all__ = ["add_parser", "run"]

_EPILOG = """\
examples:
  audiolens prune --dry-run          # which files are gone (exports mark them missing)
  audiolens prune --db lib.sqlite    # drop their rows
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``prune`` to the CLI."""
    p = add_store_command(
        subparsers,
        "prune",
        help="drop the stored results of files that no longer exist",
        description="Drop from the results store every row of a file that is no longer where "
        "it was analysed (moved or deleted); the files gone are printed on stdout.",
        epilog=_EPILOG,
    )
    p.add_argument("--dry-run", action="store_true", help="only list the files that are gone")
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``prune``."""
    from ..store import Store

    with Store(args.db, create=False) as store:
        gone = store.prune(dry_run=args.dry_run)
    for path in gone:
        print(show_path(path))
    if not getattr(args, "quiet", False):
        done = "would be dropped" if args.dry_run else "dropped"
        print(f"{len(gone)} file(s) no longer exist; their rows {done}", file=sys.stderr)
    return EXIT_OK
