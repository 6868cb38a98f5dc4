"""``audiolens notes FILE...``: transcribe music to MIDI files and JSON note lists."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

from ._common import (
    add_files_command,
    add_out_argument,
    add_report_arguments,
    for_each_file,
    number,
    output_names,
    show_path,
    write_json,
)

__all__ = ["add_parser", "run"]

logger = logging.getLogger("audiolens")

_DESCRIPTION = """\
Transcribe the notes of music files (polyphonic: piano, guitar, voice, ensembles) with
Spotify's basic-pitch model run by ONNX Runtime, or solo piano with Transkun (--engine
transkun: velocities and sustain/soft pedals too, written as CC64/CC67 in the MIDI file).
For each FILE, write FILE's stem + .mid
(a Standard MIDI File) and + .json (the note list: onset and offset in seconds, MIDI pitch,
velocity) into the output folder, and print one line per file.

Needs: pip install 'audiolens[notes]' && pip install --no-deps basic-pitch==0.4.0
(the second command installs only basic-pitch's model file, without TensorFlow).
"""
_EPILOG = """\
examples:
  audiolens notes song.flac                      # song.mid and song.json here
  audiolens notes *.wav -o midi/ --plot rolls/   # and a piano roll over the spectrogram
  audiolens notes take.m4a --onset-threshold 0.6 --min-note-ms 80 --pitch-bends
  audiolens notes song.flac --format jsonl       # the note lists on stdout
  audiolens notes etude.flac --engine transkun   # solo piano: notes, velocities, pedals

For folders and a resumable results store: audiolens analyze DIR --tasks notes --out midi/
Exit status: 0 when every file was transcribed, 1 when some could not be read (each is named
on stderr with the problem), 2 for a bad command line or a missing model.
"""


_fraction = number(low=0.0, high=1.0)
_positive = number(low=0.0, above=True)


def add_note_options(p: argparse.ArgumentParser) -> None:
    """The note-creation options (shared with ``analyze --tasks notes``)."""
    g = p.add_argument_group("note creation (defaults are basic-pitch's)")
    g.add_argument(
        "--onset-threshold",
        type=_fraction,
        default=0.5,
        metavar="X",
        help="onset activation that starts a note, 0-1 (default: 0.5)",
    )
    g.add_argument(
        "--frame-threshold",
        type=_fraction,
        default=0.3,
        metavar="X",
        help="frame activation that keeps a note on, 0-1 (default: 0.3)",
    )
    g.add_argument(
        "--min-note-ms",
        type=_positive,
        default=127.70,
        metavar="MS",
        help="drop notes this short or shorter (default: 127.7)",
    )
    g.add_argument(
        "--min-hz",
        type=_positive,
        default=None,
        metavar="HZ",
        help="drop notes below this frequency",
    )
    g.add_argument(
        "--max-hz",
        type=_positive,
        default=None,
        metavar="HZ",
        help="drop notes above this frequency",
    )
    g.add_argument(
        "--no-melodia",
        action="store_true",
        help="only notes with a detected onset (no melodia pass)",
    )
    g.add_argument(
        "--pitch-bends",
        action="store_true",
        help="estimate pitch bends and write them in the MIDI file",
    )
    g.add_argument(
        "--multiple-pitch-bends",
        action="store_true",
        help="one MIDI channel per pitch, so overlapping notes keep their bends",
    )
    g.add_argument(
        "--midi-tempo",
        type=_positive,
        default=120.0,
        metavar="BPM",
        help="tempo written in the MIDI file (default: 120)",
    )
    g.add_argument(
        "--engine",
        choices=("basic-pitch", "transkun"),
        default="basic-pitch",
        help="the model: basic-pitch (default; any instrument) or transkun (solo piano, "
        "with velocities and sustain/soft pedals; needs torch and, installed with --no-deps, "
        "transkun==2.0.1; the note-creation thresholds above do not apply to it)",
    )
    g.add_argument(
        "--runtime",
        choices=("auto", "onnxruntime", "torch"),
        default="auto",
        help="what runs the model: onnxruntime, torch (the same weights through PyTorch: "
        "GPUs without onnxruntime-gpu, Apple MPS), or auto (default)",
    )
    g.add_argument(
        "--model",
        type=Path,
        default=None,
        metavar="PATH",
        help="the engine's model: basic-pitch's nmp.onnx, or Transkun's 2.0.pt or a folder "
        "with 2.0.pt and 2.0.conf (default: the installed package's)",
    )


def note_options(args: argparse.Namespace) -> Any:
    """The :class:`NotesOptions` the command line asks for."""
    from ..tasks.notes import NotesOptions

    return NotesOptions(
        onset_threshold=args.onset_threshold,
        frame_threshold=args.frame_threshold,
        min_note_ms=args.min_note_ms,
        min_hz=args.min_hz,
        max_hz=args.max_hz,
        melodia=not args.no_melodia,
        pitch_bends=args.pitch_bends or args.multiple_pitch_bends,
        multiple_pitch_bends=args.multiple_pitch_bends,
        midi_tempo=args.midi_tempo,
        engine=args.engine,
    )


def check_model(args: argparse.Namespace) -> None:
    """Raise ModelNotFound (before any file is read) when the engine's model is missing."""
    if args.engine == "transkun":
        from ..models.transkun import find_model

        find_model(args.model)
        import importlib.util

        if importlib.util.find_spec("torch") is None:
            from ..errors import MissingDependency
            from ..models.transkun import INSTALL_HINT

            raise MissingDependency(f"the transkun engine needs PyTorch; {INSTALL_HINT}")
    else:
        from ..models.basic_pitch import find_model as find_basic_pitch

        find_basic_pitch(args.model)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``notes`` to the CLI."""
    p = add_files_command(
        subparsers,
        "notes",
        help="transcribe music to MIDI (polyphonic notes)",
        description=_DESCRIPTION,
        epilog=_EPILOG,
    )
    add_out_argument(
        p, default=Path("."), help="folder for the .mid and .json files (default: here)"
    )
    add_report_arguments(p, plot="also write a piano-roll picture per file over its spectrogram")
    add_note_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    """Transcribe the files; 0 when all were transcribed, 1 when some were not."""
    from ..devices import resolve_device
    from ..tasks.base import output_name, read_input
    from ..tasks.notes import NotesTask

    options = note_options(args)
    device = resolve_device(args.device)
    check_model(args)  # a missing model is a setup error: say so before any file
    paths = [os.fsdecode(raw) for raw in args.files]
    names = output_names(paths)
    task = NotesTask(
        options=options,
        out_dir=args.out,
        names=names,
        model_path=args.model,
        runtime=args.runtime,
    )

    def analyse(path: str) -> Any:
        item = read_input(path, task)
        result = task.run([item], device=device)[0]
        if result.midi_path:
            note_list = Path(result.midi_path).with_suffix(".json")
            write_json(note_list, [n.to_dict() for n in result.notes])
        if args.plot is not None:
            _plot(
                path, item, result, args.plot / output_name(path, names=names, suffix=".notes.png")
            )
        return result

    def summary(path: str, result: Any) -> str:
        return (
            f"{len(result.notes):5d} notes  {result.duration:7.1f} s  "
            f"-> {show_path(result.midi_path or '-')}  {show_path(path)}"
        )

    return for_each_file(
        paths, analyse, summary, fmt=args.format, device_label=device.label, command="notes"
    )


def _plot(path: str, item: Any, result: Any, target: Path) -> None:
    import numpy as np

    from ..audio import load
    from ..report.plots import plot_notes

    # a streamed (long) file has no audio left in memory: decode it again at a low rate
    a = item.pieces[0] if item.pieces else load(path, sr=11025, mono=True)
    samples = np.asarray(a.samples).reshape(-1)
    out = plot_notes(samples, a.sample_rate, result.notes, target, source=path)
    logger.info("wrote %s", out)
