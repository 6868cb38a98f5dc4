"""``audiolens loudness FILE... [--album]``: EBU R128 loudness and ReplayGain 2.0 gains."""

from __future__ import annotations

import argparse
import os
from collections import defaultdict
from typing import Any

from ._common import add_device_argument, add_files_command, add_print_format, show_path

__all__ = ["add_parser", "run"]

_DESCRIPTION = """\
Measure each file's loudness as EBU R128 / ITU-R BS.1770-4 define it: integrated loudness
(LUFS), loudness range (LRA, LU), true peak (dBTP, 4x oversampled) and sample peak, and the
ReplayGain 2.0 track gain (to -18 LUFS). With --album, the files of each folder are also
measured together as one album: album loudness (all their blocks gated together), album gain
and album peak.
"""
_EPILOG = """\
examples:
  audiolens loudness song.flac                     # -9.84 LUFS LRA 5.2 LU, -0.3 dBTP, ...
  audiolens loudness album/*.flac --album          # and one album line per folder
  audiolens loudness *.mp3 --format jsonl          # one JSON record per line

For folders and a resumable results store: audiolens analyze DIR --tasks loudness
Exit status: 0 when every file was measured, 1 when some could not be read (each is named on
stderr with the problem), 2 for a bad command line.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``loudness`` to the CLI."""
    p = add_files_command(
        subparsers,
        "loudness",
        help="EBU R128 loudness, true peak and ReplayGain 2.0 gains",
        description=_DESCRIPTION,
        epilog=_EPILOG,
    )
    p.add_argument(
        "--album",
        action="store_true",
        help="also measure the files of each folder together as one album",
    )
    add_device_argument(p)
    add_print_format(p)
    return p


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
    from ..devices import resolve_device
    from ..tasks.base import read_input
    from ..tasks.loudness import LoudnessTask
    from ._common import for_each_file

    device = resolve_device(args.device)
    task = LoudnessTask()
    paths = [os.fsdecode(raw) for raw in args.files]
    return for_each_file(
        paths,
        lambda path: task.run([read_input(path, task)], device=device)[0],
        _line,
        fmt=args.format,
        device_label=device.label,
        command="loudness",
        finish=_albums if args.album else None,
    )
