"""``audiolens quality FILE...``: one line per file saying whether it is really lossless."""

from __future__ import annotations

import argparse
import json
import logging
import os
from typing import Any

from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    add_files_command,
    add_report_arguments,
    error,
    output_names,
)

__all__ = ["add_parser", "run"]

logger = logging.getLogger("audiolens")

_DESCRIPTION = """\
For each file, print the verdict (lossless, lossy or transcode), bitrater's 7-class answer
(128, V2, 192, V0, 256, 320, lossless), the lossy origin (codec and estimated bitrate), the
spectral cutoff and a confidence in [0, 1].
"""
_EPILOG = """\
examples:
  audiolens quality song.flac                   # one line per file
  audiolens quality *.mp3 --format jsonl        # one JSON record per line
  audiolens quality song.flac --plot plots/     # and a spectrogram with the cutoff marked

Exit status: 0 when every file was analysed, 1 when some could not be read (each is named on
stderr with the problem), 2 for a bad command line. For folders and a resumable results store
use `audiolens analyze`.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``quality`` to the CLI."""
    p = add_files_command(
        subparsers,
        "quality",
        help="tell whether files are really lossless, lossy, or transcodes",
        description=_DESCRIPTION,
        epilog=_EPILOG,
    )
    add_report_arguments(p, plot="write a spectrogram picture per file with the cutoff marked")
    return p


def _show(path: str) -> str:
    text = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text.replace("\n", "\\n").replace("\r", "\\r")


def _line(path: str, r: Any) -> str:
    origin = "-" if r.origin is None else f"{r.origin['codec']}@{r.origin['bitrate_kbps']}k"
    return (
        f"{r.verdict:9s} {r.bitrate_class:8s} origin={origin:12s} "
        f"cutoff={r.cutoff_hz / 1000:5.1f}kHz conf={r.confidence:.2f}  {_show(path)}"
    )


def run(args: argparse.Namespace) -> int:
    """Analyse the files one by one; 0 when all were read, 1 when some were not."""
    from ..devices import resolve_device
    from ..errors import DecodeError
    from ..tasks.quality import QualityTask, read_input

    device = resolve_device(args.device)
    task = QualityTask()
    records = []
    failed = 0
    paths = [os.fsdecode(raw) for raw in args.files]
    names = output_names(paths)
    for path in paths:
        try:
            item = read_input(path, task)
        except DecodeError as exc:
            failed += 1
            error(str(exc))
            continue
        result = task.run([item], device=device)[0]
        record = {"path": _show(path), "device": device.label, **result.to_dict()}
        if args.format == "text":
            print(_line(path, result), flush=True)
        elif args.format == "jsonl":
            print(json.dumps(record), flush=True)
        else:
            records.append(record)
        if args.plot is not None:
            from ..report.plots import plot_quality

            logger.info("wrote %s", plot_quality(item, result, args.plot, names=names))
    if args.format == "json":
        print(json.dumps(records, indent=2))
    return EXIT_FAILED if failed else EXIT_OK
