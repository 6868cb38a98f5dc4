"""``audiolens structure FILE...``: the sections of songs and which of them repeat."""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

from ._common import (
    add_files_command,
    add_out_argument,
    add_report_arguments,
    for_each_file,
    output_names,
    show_path,
    write_json,
)

__all__ = ["add_parser", "run"]

logger = logging.getLogger("audiolens")

_DESCRIPTION = """\
Find the sections of songs (verse, chorus, bridge, ... as letters) and which of them repeat:
each section gets a label, the same one when its music comes back (A B A C ...). Sections
start on bar lines found by the beat tracker. Prints one line per file; with -o, writes
FILE's stem + .segments.json there; with --plot, the self-similarity matrix with the
sections drawn.
"""
_EPILOG = """\
examples:
  audiolens structure song.flac                  # song.flac: ABAC (0.0-12.5 A, ...)
  audiolens structure *.mp3 -o sections/ --plot ssm/
  audiolens structure song.flac --format jsonl   # the sections on stdout

For folders and a resumable results store: audiolens analyze DIR --tasks beats,structure
Exit status: 0 when every file was analysed, 1 when some could not be read (each is named on
stderr with the problem), 2 for a bad command line.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``structure`` to the CLI."""
    p = add_files_command(
        subparsers,
        "structure",
        help="sections of songs and which of them repeat",
        description=_DESCRIPTION,
        epilog=_EPILOG,
    )
    add_out_argument(p, default=None, help="write <stem>.segments.json per file there")
    add_report_arguments(p, plot="write the self-similarity matrix with the sections per file")
    return p


def _summary(result: Any) -> str:
    parts = ", ".join(f"{s.start:.1f}-{s.end:.1f} {s.label}" for s in result.segments)
    return f"{result.form} ({parts})"


def run(args: argparse.Namespace) -> int:
    """Segment the files; 0 when all were analysed, 1 when some were not."""
    from ..devices import resolve_device
    from ..tasks.base import output_name, read_input
    from ..tasks.beats import BeatsTask
    from ..tasks.structure import StructureTask

    device = resolve_device(args.device)
    paths = [os.fsdecode(raw) for raw in args.files]
    names = output_names(paths)
    task = StructureTask()

    def analyse(path: str) -> Any:
        result = task.run([read_input(path, BeatsTask())], device=device)[0]
        if args.out is not None:
            target = args.out / output_name(path, names=names, suffix=".segments.json")
            write_json(target, {"path": show_path(path), **result.to_dict()})
        if args.plot is not None:
            from ..report.plots import plot_structure

            target = args.plot / output_name(path, names=names, suffix=".structure.png")
            out = plot_structure(result, target, source=path)
            logger.info("wrote %s", out)
        return result

    return for_each_file(
        paths,
        analyse,
        lambda path, r: f"{show_path(path)}: {_summary(r)}",
        fmt=args.format,
        device_label=device.label,
        command="structure",
    )
