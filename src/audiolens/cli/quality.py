"""``audiolens quality FILE...``: one line per file saying whether it is really lossless."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

log = logging.getLogger("audiolens")

HELP = "tell whether files are really lossless, lossy, or transcodes"
DESCRIPTION = """\
For each file, print the verdict (lossless, lossy or transcode), bitrater's 7-class answer
(128, V2, 192, V0, 256, 320, lossless), the lossy origin (codec and estimated bitrate), the
spectral cutoff and a confidence. Exit status: 0 when every file was analysed, 1 when some
could not be read. For whole folders and a resumable results store use `audiolens analyze`.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``quality`` subcommand."""
    p = subparsers.add_parser(
        "quality",
        help=HELP,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="audio files (any format)")
    p.add_argument(
        "--device",
        default="auto",
        help="auto (default; $AUDIOLENS_DEVICE overrides), cpu, torch, cuda[:N], mps",
    )
    p.add_argument(
        "--plot",
        metavar="DIR",
        type=Path,
        help="write a spectrogram picture per file with the cutoff marked",
    )
    p.add_argument(
        "--format",
        choices=("text", "json", "jsonl"),
        default="text",
        help="output format on stdout (default: text)",
    )
    p.set_defaults(func=run)
    return p


def _line(path: str, r) -> str:
    origin = "-" if r.origin is None else f"{r.origin['codec']}@{r.origin['bitrate_kbps']}k"
    return (
        f"{r.verdict:9s} {r.bitrate_class:8s} origin={origin:12s} "
        f"cutoff={r.cutoff_hz / 1000:5.1f}kHz conf={r.confidence:.2f}  {_show(path)}"
    )


def _show(path: str) -> str:
    text = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text.replace("\n", "\\n").replace("\r", "\\r")


def run(args: argparse.Namespace) -> int:
    """Analyse the files; return the exit status."""
    from ..devices import resolve_device
    from ..errors import AudiolensError
    from ..tasks.quality import QualityTask, read_input

    device = resolve_device(args.device)
    task = QualityTask()
    failed = 0
    for raw in args.files:
        path = os.fsdecode(raw)
        try:
            item = read_input(path, task)
            result = task.run([item], device=device)[0]
        except AudiolensError as exc:
            failed += 1
            print(f"error: {exc}", file=sys.stderr)
            continue
        if args.format == "text":
            print(_line(path, result))
        else:
            record = {"path": _show(path), "device": device.name, **result.to_dict()}
            print(json.dumps(record, indent=None if args.format == "jsonl" else 2))
        if args.plot is not None:
            from ..report.plots import plot_quality

            out = plot_quality(item, result, args.plot)
            log.info("wrote %s", out)
    return 1 if failed else 0
