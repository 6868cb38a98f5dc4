"""``audiolens loudness FILE... [--album]``: EBU R128 loudness and ReplayGain 2.0 gains."""

from __future__ import annotations

import argparse
import os
from collections import defaultdict
from typing import Any

from ._common import add_simple_command, run_files, show_path

__all__ = ["add_parser", "run"]

_DESCRIPTION = """\
Measure each file's loudness as EBU R128 / ITU-R BS.1770-4 define it: integrated loudness
(LUFS), loudness range (LRA, LU), true peak (dBTP, 4x oversampled) and sample peak, and the
ReplayGain 2.0 track gain (to -18 LUFS). With --album, the files of each folder are also
measured together as one album: album loudness (all their blocks gated together), album gain
and album peak.
"""
_EXAMPLES = (
    "  audiolens loudness song.flac                     # -9.84 LUFS, LRA 5.20 LU, ...\n"
    "  audiolens loudness album/*.flac --album          # and one album line per folder\n"
    "  audiolens loudness *.mp3 --format jsonl          # one JSON record per line"
)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``loudness`` to the CLI."""
    album = "also measure the files of each folder together as one album"
    return add_simple_command(
        subparsers,
        "loudness",
        help="EBU R128 loudness, true peak and ReplayGain 2.0 gains",
        description=_DESCRIPTION,
        examples=_EXAMPLES,
        options={"--album": {"action": "store_true", "help": album}},
    )


def _db(value: float | None, unit: str) -> str:
    return "-inf" if value is None else f"{value:.2f} {unit}"


def _line(path: str, r: Any) -> str:
    gain = "-" if r.track_gain_db is None else f"{r.track_gain_db:+.2f} dB"
    return (
        f"{show_path(path)}: {_db(r.integrated_lufs, 'LUFS')}, LRA {r.lra_lu:.2f} LU, "
        f"true peak {_db(r.true_peak_dbtp, 'dBTP')}, gain {gain}"
    )


def _albums(done: list[tuple[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    from ..tasks.loudness import album_loudness

    groups: dict[str, list[Any]] = defaultdict(list)
    for path, result in done:
        groups[os.path.dirname(os.path.abspath(path))].append(result)
    out = []
    for folder, results in groups.items():
        album = album_loudness(results)
        gain = "-" if album.gain_db is None else f"{album.gain_db:+.2f} dB"
        line = (
            f"album {show_path(folder)} ({album.tracks} files): "
            f"{_db(album.integrated_lufs, 'LUFS')}, gain {gain}, peak {album.peak:.6f}"
        )
        out.append((line, {"album": show_path(folder), **album.to_dict()}))
    return out


def run(args: argparse.Namespace) -> int:
    """Measure the files; 0 when all were measured, 1 when some were not."""
    from ..tasks.loudness import LoudnessTask

    return run_files(
        args, lambda names: LoudnessTask(), _line, finish=_albums if args.album else None
    )
