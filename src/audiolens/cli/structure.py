"""``audiolens structure FILE...``: the sections of songs and which of them repeat."""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

from ._common import EXIT_FAILED, EXIT_OK, add_files_command, add_report_arguments, error

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
    p.add_argument(
        "-o",
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="write <stem>.segments.json per file there",
    )
    add_report_arguments(p, plot="write the self-similarity matrix with the sections per file")
    return p


def _show(path: str) -> str:
    text = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text.replace("\n", "\\n").replace("\r", "\\r")


def _summary(result: Any) -> str:
    parts = ", ".join(f"{s.start:.1f}-{s.end:.1f} {s.label}" for s in result.segments)
    return f"{result.form} ({parts})"


def run(args: argparse.Namespace) -> int:
    """Segment the files; 0 when all were analysed, 1 when some were not."""
    from ..devices import resolve_device
    from ..errors import DecodeError
    from ..tasks.beats import BeatsTask, _read, beats_name
    from ..tasks.structure import StructureTask

    device = resolve_device(args.device)
    paths = [os.fsdecode(raw) for raw in args.files]
    unique = len({Path(p).stem for p in paths}) != len(paths)
    task = StructureTask()
    records, failed = [], 0
    for path in paths:
        try:
            item = _read(path, BeatsTask())
            result = task.run([item], device=device)[0]
            if args.out is not None:
                target = args.out / beats_name(path, unique=unique, suffix=".segments.json")
                _write_json(target, {"path": _show(path), **result.to_dict()})
            if args.plot is not None:
                from ..report.plots import _picture_name, plot_structure

                out = plot_structure(result, args.plot / _picture_name(path, "structure"))
                logger.info("wrote %s", out)
        except (DecodeError, OSError) as exc:
            failed += 1
            error(str(exc) if isinstance(exc, DecodeError) else f"{_show(path)}: {exc}")
            continue
        record = {"path": _show(path), "device": device.label, **result.to_dict()}
        if args.format == "text":
            print(f"{_show(path)}: {_summary(result)}", flush=True)
        elif args.format == "jsonl":
            print(json.dumps(record), flush=True)
        else:
            records.append(record)
    if args.format == "json":
        print(json.dumps(records, indent=2))
    return EXIT_FAILED if failed else EXIT_OK


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
