"""``audiolens beats FILE...``: beats, downbeats, tempo and meter, as .beats and JSON files."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

from ._common import (
    add_device_argument,
    add_files_command,
    add_out_argument,
    add_print_format,
    folder,
    number,
    run_files,
    show_path,
)

__all__ = ["add_beats_options", "add_parser", "beats_options", "run", "write_click_file"]

logger = logging.getLogger("audiolens")

_DESCRIPTION = """\
Track the beats of music files: beat times, downbeats (the bar position of every beat), the
tempo in BPM with a tempo curve, and the meter (beats per bar: 2, 3 or 4; 6/8 counts two
dotted-quarter beats). Prints one line per file; with -o, writes FILE's stem + .beats (time
and bar position per line, like the Ballroom and madmom annotations) and + .json there;
with --click, FILE's stem + .click.wav there: the audio at its own rate and channels with a
click on every beat (downbeats higher and louder), to check the beats by ear.

Audio without a steady beat (speech, free rubato, noise, silence) gets no beats and a low
confidence rather than invented ones. The confidence is the pulse clarity (0-1): beats are
reported from 0.31, or from 0.25 when the beats found also fit the onsets well.
"""
_EPILOG = """\
examples:
  audiolens beats song.flac                      # song.flac: 128.0 BPM, meter 4, ...
  audiolens beats *.mp3 -o beats/                # song.beats + song.json per file
  audiolens beats take.wav --click clicks/       # clicks/take.click.wav, to check by ear
  audiolens beats waltz.flac --meters 3          # only 3 beats per bar
  audiolens beats song.flac --format jsonl       # the results on stdout

For folders and a resumable results store: audiolens analyze DIR --tasks beats
Exit status: 0 when every file was analysed, 1 when some could not be read or written (each
is named on stderr with the problem), 2 for a bad command line.
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
        type=folder,
        default=None,
        metavar="DIR",
        help="write <stem>.click.wav there: the audio with a click on every beat",
    )
    add_device_argument(p)
    add_print_format(p)
    add_beats_options(p)
    return p


def _summary(path: str, result: Any) -> str:
    """``song.flac: 128.0 BPM, meter 4, 312 beats, 78 downbeats, confidence 0.83``."""
    if not result.beats:
        what = f"no steady beat (confidence {result.confidence:.2f}), {result.duration:.1f} s"
        return f"{show_path(path)}: {what}"
    curve = [b for _, b in result.tempo_curve]
    change = ""
    if curve and max(curve) > 1.08 * min(curve):
        change = f" (from {curve[0]:.0f} to {curve[-1]:.0f})"
    return (
        f"{show_path(path)}: {result.tempo:.1f} BPM{change}, meter {result.meter}, "
        f"{len(result.beats)} beats, {len(result.downbeats)} downbeats, "
        f"confidence {result.confidence:.2f}"
    )


def run(args: argparse.Namespace) -> int:
    """Track the files; 0 when all were analysed, 1 when some were not."""
    from ..tasks.beats import BeatsTask, beats_name

    options = beats_options(args)  # a ParameterError here is a usage error: exit status 2

    def click(path: str, result: Any, names: Any) -> None:
        if args.click is not None:
            target = args.click / beats_name(path, names=names, suffix=".click.wav")
            logger.info("wrote %s", write_click_file(path, target, result))

    def task(names: Any) -> BeatsTask:
        return BeatsTask(options=options, out_dir=args.out, names=names)

    return run_files(args, task, _summary, also=click)


def write_click_file(
    path: str | os.PathLike, target: str | os.PathLike, result: Any, *, block: float = 60.0
) -> Path:
    """Write ``path``'s audio (its own rate and channels) with a click on every beat of
    ``result`` (a BeatsResult; downbeats accented) as the WAV ``target``.

    The file is decoded twice, ``block`` seconds at a time: once for the peak of the mix, then
    to write it scaled so that it does not clip; memory stays bounded on long files.

    Raises
    ------
    DecodeError
        when the file cannot be decoded (any more)
    OSError
        when the click track cannot be written (also for audio WAV cannot hold)
    """
    from ..audio import stream
    from ..errors import ParameterError
    from ..tasks.beats.click import click_track, write_audio

    def mixed() -> Any:
        for a in stream(path, block=block):
            yield (
                click_track(
                    a.samples,
                    sr=a.sample_rate,
                    beats=result.beats,
                    downbeats=result.downbeats,
                    offset=a.offset,
                    normalize=False,
                ),
                a.sample_rate,
            )

    peak, rate = 1.0, 0
    for y, sr in mixed():
        peak, rate = max(peak, float(abs(y).max())) if y.size else peak, sr
    if not rate:  # nothing decoded: no click track to write
        raise OSError("no audio to write a click track from")
    blocks = (y / peak if peak > 1.0 else y for y, _ in mixed())
    try:
        return write_audio(target, blocks, sr=rate)
    except ParameterError as exc:  # a file's own problem, not the command line's
        raise OSError(f"cannot write its click track: {exc}") from None
