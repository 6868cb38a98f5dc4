"""``audiolens key FILE...``: the musical key of songs."""

from __future__ import annotations

import argparse
import os
from typing import Any

from ._common import add_device_argument, add_files_command, add_print_format, show_path

__all__ = ["add_parser", "run"]

_DESCRIPTION = """\
Find the musical key of songs (24 keys: 12 tonics, major or minor) with a confidence in
[0, 1]. Prints the key as beets spells it (C, Am, F#m, A#), the Camelot and Open Key codes
DJs use (8A, 1m), and stretches in another key when the song modulates.
"""
_EPILOG = """\
examples:
  audiolens key song.flac                        # song.flac: Am (8A, 1m), confidence 0.93
  audiolens key *.mp3 --format jsonl             # one JSON record per line
  audiolens key song.flac --profile krumhansl    # a classic key profile instead

For folders and a resumable results store: audiolens analyze DIR --tasks key
Exit status: 0 when every file was analysed, 1 when some could not be read (each is named on
stderr with the problem), 2 for a bad command line.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``key`` to the CLI."""
    from ..tasks.key.profiles import PROFILES

    p = add_files_command(
        subparsers,
        "key",
        help="musical key of songs (beets, Camelot and Open Key notation)",
        description=_DESCRIPTION,
        epilog=_EPILOG,
    )
    p.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="audiolens",
        help="key profile (default: audiolens, learnt on rendered songs)",
    )
    add_device_argument(p)
    add_print_format(p)
    return p


def _line(path: str, r: Any) -> str:
    if r.key is None:
        return f"{show_path(path)}: no key (no tonal content)"
    text = f"{show_path(path)}: {r.key} ({r.camelot}, {r.open_key}), confidence {r.confidence:.2f}"
    for s in r.sections:
        text += f"; {s['start']:.0f}-{s['end']:.0f} s in {s['key']}"
    return text


def run(args: argparse.Namespace) -> int:
    """Find the keys; 0 when all files were analysed, 1 when some were not."""
    from ..devices import resolve_device
    from ..tasks.base import read_input
    from ..tasks.key import KeyTask
    from ._common import for_each_file

    device = resolve_device(args.device)
    task = KeyTask(profile=args.profile)
    paths = [os.fsdecode(raw) for raw in args.files]
    return for_each_file(
        paths,
        lambda path: task.run([read_input(path, task)], device=device)[0],
        _line,
        fmt=args.format,
        device_label=device.label,
        command="key",
    )
