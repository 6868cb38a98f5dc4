"""``audiolens key FILE...``: the musical key of songs."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import add_simple_command, run_files, show_path

__all__ = ["add_parser", "run"]

_DESCRIPTION = """\
Find the musical key of songs (24 keys: 12 tonics, major or minor) with a confidence in
[0, 1]. Prints the key as beets spells it (C, Am, F#m, A#), the Camelot and Open Key codes
DJs use (8A, 1m), and stretches in another key when the song modulates.
"""
_EXAMPLES = (
    "  audiolens key song.flac                        # song.flac: Am (8A, 1m), confidence 0.93\n"
    "  audiolens key *.mp3 --format jsonl             # one JSON record per line\n"
    "  audiolens key song.flac --profile krumhansl    # a classic key profile instead"
)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``key`` to the CLI."""
    from ..tasks.key.profiles import PROFILES

    profile = {
        "choices": sorted(PROFILES),
        "default": "audiolens",
        "help": "key profile (default: audiolens, learnt on rendered songs)",
    }
    return add_simple_command(
        subparsers,
        "key",
        help="musical key of songs (beets, Camelot and Open Key notation)",
        description=_DESCRIPTION,
        examples=_EXAMPLES,
        options={"--profile": profile},
    )


def _line(path: str, r: Any) -> str:
    if r.key is None:
        return f"{show_path(path)}: no key (no tonal content)"
    text = f"{show_path(path)}: {r.key} ({r.camelot}, {r.open_key}), confidence {r.confidence:.2f}"
    for s in r.sections:
        text += f"; {s['start']:.0f}-{s['end']:.0f} s in {s['key']}"
    return text


def run(args: argparse.Namespace) -> int:
    """Find the keys; 0 when all files were analysed, 1 when some were not."""
    from ..tasks.key import KeyTask

    return run_files(args, lambda names: KeyTask(profile=args.profile), _line)
