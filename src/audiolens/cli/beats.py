"""``audiolens beats FILE...``: beats, downbeats, tempo and meter, as .beats and JSON files."""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    add_device_argument,
    add_files_command,
    add_out_argument,
    error,
    number,
)

__all__ = ["add_beats_options", "add_parser", "beats_options", "run"]

logger = logging.getLogger("audiolens")

_DESCRIPTION = """\
Track the beats of music files: beat times, downbeats (the bar position of every beat), the
tempo in BPM with a tempo curve, and the meter (beats per bar: 2, 3 or 4; 6/8 counts two
dotted-quarter beats). Prints one line per file; with -o, writes FILE's stem + .beats (time
and bar position per line, like the Ballroom and madmom annotations) and + .json there;
with --click, the audio with a click on every beat (downbeats higher and louder).

Audio without a steady beat (speech, free rubato, noise, silence) gets no beats and a low
confidence rather than invented ones.
"""
_EPILOG = """\
examples:
  audiolens beats song.flac                      # song.flac: 128.0 BPM, meter 4, ...
  audiolens beats *.mp3 -o beats/                # song.beats + song.json per file
  audiolens beats take.wav --click clicks/       # clicks/take.click.wav, to check by ear
  audiolens beats waltz.flac --meters 3          # only 3 beats per bar
  audiolens beats song.flac --format jsonl       # the results on stdout

For folders and a resumable results store: audiolens analyze DIR --tasks beats
Exit status: 0 when every file was analysed, 1 when some could not be read (each is named on
stderr with the problem), 2 for a bad command line.
"""


def _meters(text: str) -> tuple[int, ...]:
    try:
        values = tuple(sorted({int(v) for v in text.split(",") if v.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of whole numbers") from None
    if not values or any(not 2 <= v <= 12 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: meters are beats per bar, 2 to 12")
    return values


def add_beats_options(p: argparse.ArgumentParser) -> None:
    """The tracker's options (shared with ``analyze --tasks beats``)."""
    g = p.add_argument_group("beat tracking")
    g.add_argument(
        "--min-bpm",
        type=number(low=0.0, above=True, high=400.0),
        default=55.0,
        metavar="BPM",
        help="slowest tempo to consider (default: 55)",
    )
    g.add_argument(
        "--max-bpm",
        type=number(low=0.0, above=True, high=400.0),
        default=215.0,
        metavar="BPM",
        help="fastest tempo to consider (default: 215)",
    )
    g.add_argument(
        "--meters",
        type=_meters,
        default=(2, 3, 4),
        metavar="M[,M...]",
        help="beats per bar to choose from (default: 2,3,4)",
    )


def beats_options(args: argparse.Namespace) -> Any:
    """The :class:`BeatsOptions` the command line asks for (ParameterError when invalid)."""
    from ..tasks.beats import BeatsOptions

    return BeatsOptions(min_bpm=args.min_bpm, max_bpm=args.max_bpm, meters=args.meters)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``beats`` to the CLI."""
    p = add_files_command(
        subparsers,
        "beats",
        help="beats, downbeats, tempo and meter of music",
        description=_DESCRIPTION,
        epilog=_EPILOG,
    )
    add_out_argument(p, default=None, help="write <stem>.beats and <stem>.json per file there")
    p.add_argument(
        "--click",
        type=Path,
        default=None,
        metavar="DIR",
        help="write <stem>.click.wav there: the audio with a click on every beat",
    )
    add_device_argument(p)
    p.add_argument(
        "--format",
        choices=("text", "json", "jsonl"),
        default="text",
        help="what to print on stdout (default: text)",
    )
    add_beats_options(p)
    return p


def _show(path: str) -> str:
    text = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text.replace("\n", "\\n").replace("\r", "\\r")


def _summary(result: Any) -> str:
    if not result.beats:
        return f"no steady beat (confidence {result.confidence:.2f}), {result.duration:.1f} s"
    curve = [b for _, b in result.tempo_curve]
    change = ""
    if curve and max(curve) > 1.08 * min(curve):
        change = f" (from {curve[0]:.0f} to {curve[-1]:.0f})"
    return (
        f"{result.tempo:.1f} BPM{change}, meter {result.meter}, {len(result.beats)} beats, "
        f"{len(result.downbeats)} downbeats, confidence {result.confidence:.2f}"
    )


def _stems_clash(paths: list[str]) -> bool:
    stems = [Path(p).stem for p in paths]
    return len(set(stems)) != len(stems)


def run(args: argparse.Namespace) -> int:
    """Track the files; 0 when all were analysed, 1 when some were not."""
    from ..devices import resolve_device
    from ..errors import DecodeError
    from ..tasks.base import read_input
    from ..tasks.beats import BeatsTask, beats_name

    options = beats_options(args)  # a ParameterError here is a usage error: exit status 2
    device = resolve_device(args.device)
    paths = [os.fsdecode(raw) for raw in args.files]
    unique = _stems_clash(paths)
    task = BeatsTask(options=options, out_dir=args.out, unique_names=unique)
    records, failed = [], 0
    for path in paths:
        try:
            item = read_input(path, task)
            result = task.run([item], device=device)[0]
            if args.out is not None:
                target = args.out / beats_name(path, unique=unique, suffix=".json")
                _write_json(target, {"path": _show(path), **result.to_dict()})
            if args.click is not None:
                _click(path, result, args.click, unique)
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


def _click(path: str, result: Any, folder: Path, unique: bool) -> None:
    from ..audio import load
    from ..tasks.beats import beats_name
    from ..tasks.beats.click import click_track, write_audio

    audio = load(path)
    mixed = click_track(
        audio.samples, sr=audio.sample_rate, beats=result.beats, downbeats=result.downbeats
    )
    out = write_audio(
        folder / beats_name(path, unique=unique, suffix=".click.wav"), mixed, sr=audio.sample_rate
    )
    logger.info("wrote %s", out)
