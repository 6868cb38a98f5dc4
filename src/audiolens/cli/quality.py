"""``audiolens quality FILE...``: one line per file saying whether it is really lossless."""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

from ._common import (
    add_files_command,
    add_report_arguments,
    for_each_file,
    output_names,
    show_path,
)

__all__ = ["add_parser", "run"]

logger = logging.getLogger("audiolens")

_DESCRIPTION = """\
For each file, print the verdict (lossless, lossy, transcode or unknown), bitrater's 7-class
answer (128, V2, 192, V0, 256, 320, lossless), the lossy origin (codec and estimated bitrate),
the spectral cutoff and a confidence in [0, 1].

The confidence is calibrated: of the verdicts given with confidence c on held-out material,
about c were right. Verdicts under 0.7 are printed with "(unsure)": act on them only after a
look at the spectrogram (--plot). A lossless file whose content has nothing where codecs leave
their marks (silence, or nothing above 12 kHz) is "unknown": the audio cannot tell.
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


#: verdicts less sure than this are printed as unsure
UNSURE_BELOW = 0.7


def _line(path: str, r: Any) -> str:
    origin = "-" if r.origin is None else f"{r.origin['codec']}@{r.origin['bitrate_kbps']}k"
    unsure = " (unsure)" if r.verdict != "unknown" and r.confidence < UNSURE_BELOW else ""
    return (
        f"{r.verdict:9s} {r.bitrate_class:8s} origin={origin:12s} "
        f"cutoff={r.cutoff_hz / 1000:5.1f}kHz conf={r.confidence:.2f}{unsure}  {show_path(path)}"
    )


def run(args: argparse.Namespace) -> int:
    """Analyse the files one by one; 0 when all were read, 1 when some were not."""
    from ..devices import resolve_device
    from ..tasks.quality import QualityTask, read_input

    device = resolve_device(args.device)
    task = QualityTask()

    def analyse(path: str) -> Any:
        item = read_input(path, task)
        result = task.run([item], device=device)[0]
        if args.plot is not None:
            from ..report.plots import plot_quality

            logger.info("wrote %s", plot_quality(item, result, args.plot, names=names))
        return result

    paths = [os.fsdecode(raw) for raw in args.files]
    names = output_names(paths)
    return for_each_file(
        paths, analyse, _line, fmt=args.format, device_label=device.label, command="quality"
    )
