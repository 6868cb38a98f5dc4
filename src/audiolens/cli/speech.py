"""``audiolens speech FILE...``: transcripts with word times (SRT, VTT, TXT, JSON)."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    add_device_argument,
    add_files_command,
    add_out_argument,
    add_print_format,
    error,
    file_problem,
    number,
    output_names,
    show_path,
)
from .speakers import add_speakers_options, speakers_options

__all__ = ["add_parser", "add_speech_options", "run", "speech_options"]

_DESCRIPTION = """\
Transcribe speech with Whisper (faster-whisper / CTranslate2): the text, its language, and
segments with word times and probabilities. Prints one line per file; with -o, writes FILE's
stem + .srt, .vtt, .txt and .json there (--formats picks). Files are voice-detected and
decoded together in batches by one loaded model, so a folder of short clips goes much faster
than file after file.

Models by name (tiny, base, small, medium, large-v3, turbo, the .en and distil- variants) come
from --model-dir, $AUDIOLENS_WHISPER_DIR, the Hugging Face cache, or the hub when online; or
give a model folder in CTranslate2 form. Music and silence give an empty transcript.
"""
_EPILOG = """\
examples:
  audiolens speech talk.mp3                          # talk.mp3: en, 12 segments, 1532 words
  audiolens speech *.wav -o subs/ --formats srt,vtt  # subtitles per file
  audiolens speech interview.m4a --language de --translate -o out/
  audiolens speech meeting.wav --speakers -o out/    # [SPEAKER_1] ... subtitle lines
  audiolens speech call.wav --model small --model-dir ~/models   # offline
  audiolens speech clip.flac --format json           # the results on stdout

For folders and a resumable results store: audiolens analyze DIR --tasks speech
Exit status: 0 when every file was transcribed, 1 when some could not be read or written (each
is named on stderr with the problem), 2 for a bad command line, model or language.
"""
#: files decoded and transcribed together from the command line
GROUP = 16


def _formats(text: str) -> tuple[str, ...]:
    from ..tasks.speech.writers import FORMATS

    values = tuple(dict.fromkeys(v.strip().lower() for v in text.split(",") if v.strip()))
    bad = [v for v in values if v not in FORMATS]
    if not values or bad:
        raise argparse.ArgumentTypeError(
            f"{text!r}: formats are a comma-separated list of {', '.join(FORMATS)}"
        )
    return values


def add_speech_options(p: argparse.ArgumentParser) -> None:
    """The transcription options (shared with ``analyze --tasks speech``)."""
    g = p.add_argument_group("speech")
    g.add_argument("--model", default="base", help="model name or folder (default: base)")
    g.add_argument("--model-dir", metavar="DIR", help="folder of local models")
    g.add_argument("--language", metavar="CODE", help="language code (default: detect per file)")
    g.add_argument("--translate", action="store_true", help="translate into English")
    g.add_argument(
        "--no-word-timestamps", action="store_true", help="do not time each word (faster)"
    )
    g.add_argument(
        "--beam-size", type=number(int, low=1), default=5, metavar="N", help="(default: 5)"
    )
    g.add_argument(
        "--compute-type",
        metavar="T",
        help="CTranslate2 precision (default: int8 CPU, float16 CUDA)",
    )
    g.add_argument(
        "--batch-size", type=number(int, low=1), metavar="N", help="30-s windows per model call"
    )
    g.add_argument(
        "--threads",
        type=number(int, low=0),
        default=0,
        metavar="N",
        help="CPU threads (default: 0 = auto)",
    )
    g.add_argument(
        "--pack",
        action="store_true",
        help="let short files of one language share 30-s windows (faster, above all with "
        "--language; a file's words may then depend on the other files of its batch)",
    )


def speech_options(args: argparse.Namespace) -> Any:
    """The :class:`SpeechOptions` the command line asks for (ParameterError when invalid)."""
    from ..tasks.speech import SpeechOptions

    return SpeechOptions(
        model=args.model,
        model_dir=args.model_dir,
        language=args.language,
        translate=args.translate,
        word_timestamps=not args.no_word_timestamps,
        beam_size=args.beam_size,
        compute_type=args.compute_type,
        batch_size=args.batch_size,
        cpu_threads=args.threads,
        pack=args.pack,
    )


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``speech`` to the CLI."""
    p = add_files_command(
        subparsers,
        "speech",
        help="speech transcription with word times (SRT, VTT, TXT, JSON)",
        description=_DESCRIPTION,
        epilog=_EPILOG,
    )
    add_out_argument(p, default=None, help="write the transcript files there")
    p.add_argument(
        "--formats",
        type=_formats,
        default=("srt", "vtt", "txt", "json"),
        metavar="F[,F...]",
        help="files to write with -o: srt, vtt, txt, json (default: all)",
    )
    p.add_argument(
        "--speakers",
        action="store_true",
        help="also find who spoke when: words, segments and subtitle lines get [SPEAKER_N]",
    )
    add_device_argument(p)
    add_print_format(p)
    add_speech_options(p)
    add_speakers_options(p)  # used with --speakers (any of them turns it on)
    return p


def _summary(path: str, result: Any) -> str:
    words = sum(len(s.words) for s in result.segments)
    if not result.segments:
        return f"{show_path(path)}: no speech ({result.duration:.1f} s)"
    head = result.text if len(result.text) <= 60 else result.text[:57] + "..."
    who = {s.speaker for s in result.segments if s.speaker}
    speakers = f", {len(who)} speakers" if who else ""
    return (
        f"{show_path(path)}: {result.language}, {len(result.segments)} segments, "
        f"{words} words{speakers}: {head}"
    )


def run(args: argparse.Namespace) -> int:
    """Transcribe the files; 0 when all were, 1 when some were not."""
    from ..devices import resolve_device
    from ..tasks.speech import SpeechTask

    options = speech_options(args)  # a ParameterError here is a usage error: exit status 2
    who = None
    if (
        args.speakers
        or args.num_speakers
        or args.min_speakers
        or args.max_speakers
        or args.segmentation_model
    ):
        who = speakers_options(args)
    device = resolve_device(args.device)
    paths = [os.fsdecode(raw) for raw in args.files]
    bar = _speech_bar(device.label, quiet=bool(getattr(args, "quiet", False)))
    task = SpeechTask(
        options=options,
        out_dir=args.out,
        formats=args.formats,
        names=output_names(paths),
        speakers=who,
        on_progress=None if bar is None else lambda speech, _: bar.update(round(speech, 1)),
    )
    try:
        return _transcribe_all(args, task, paths, device)
    finally:
        if bar is not None:
            bar.close()


def _speech_bar(label: str, *, quiet: bool) -> Any:
    """A tqdm bar of the seconds of speech decoded (stderr is a terminal only)."""
    import sys

    if quiet or not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()):
        return None
    from tqdm import tqdm

    return tqdm(desc=f"speech [{label}]", unit="s", unit_scale=False, file=sys.stderr, leave=False)


def _transcribe_all(args: argparse.Namespace, task: Any, paths: list[str], device: Any) -> int:
    from ..errors import AudiolensError, DecodeError
    from ..tasks.base import read_input

    failed, records = 0, []
    for i in range(0, len(paths), GROUP):
        group, inputs = [], []
        for path in paths[i : i + GROUP]:
            try:
                inputs.append(read_input(path, task))
                group.append(path)
            except (DecodeError, OSError) as exc:
                failed += 1
                error(file_problem(path, exc, command="speech"))
        if not inputs:
            continue
        try:
            results = task.run(inputs, device=device)
        except AudiolensError:  # no model, bad language, missing package: for every file
            raise
        except OSError as exc:  # a transcript could not be written
            failed += len(inputs)
            error(f"{show_path(str(args.out))}: {exc}")
            continue
        for path, result in zip(group, results, strict=True):
            record = {"path": show_path(path), "device": device.label, **result.to_dict()}
            if args.format == "text":
                print(_summary(path, result), flush=True)
            elif args.format == "jsonl":
                print(json.dumps(record, ensure_ascii=False), flush=True)
            else:
                records.append(record)
    if args.format == "json":
        print(json.dumps(records, indent=2, ensure_ascii=False))
    return EXIT_FAILED if failed else EXIT_OK
