"""``audiolens report``: a results store as one HTML page that opens offline in any browser."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._common import EXIT_OK, add_store_command, show_path

__all__ = ["add_parser", "run"]

_HELP = "write a results store as one HTML page (offline, any browser)"
_ABOUT = "Write the results store as one self-contained HTML page."
_EPILOG = """\
examples:
  audiolens report                                # ./audiolens.sqlite -> ./report.html
  audiolens report --db music.sqlite -o music.html
  audiolens report --db music.sqlite -o music/    # music/index.html + music/pictures/*.png

The page has a summary (verdicts with the suspected fakes first, tempo, keys, loudness,
languages, failures, the runs), a table of every file that sorts and filters by any column,
and a detail view per file (click a row). It needs no server and loads nothing from the
network. With a folder (a name ending in /), the detail view also shows each file's quality
spectrogram and piano roll, drawn from the files (they must still be where they were
analyzed); a later build into the same folder draws only what is new.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``report`` to the CLI."""
    p = add_store_command(subparsers, "report", help=_HELP, description=_ABOUT, epilog=_EPILOG)
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        default="report.html",
        help="the page to write (default: report.html); a name ending in / is a folder that "
        "gets index.html and the pictures",
    )
    p.add_argument("--title", default=None, metavar="TEXT", help="the page's title")
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``report``."""
    from ..report import build_report

    info = build_report(args.db, args.output, title=args.title)
    pictures = ""
    if info.pictures_drawn or info.pictures_reused or info.pictures_missing:
        pictures = (
            f", pictures: {info.pictures_drawn} drawn, {info.pictures_reused} reused, "
            f"{info.pictures_missing} not possible"
        )
    print(
        f"{show_path(str(info.page))}: {info.files} files{pictures} in {info.seconds:.1f} s",
        file=sys.stderr,
    )
    return EXIT_OK
