"""``audiolens analyze PATH...``: run tasks over files and folders into a results store."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    add_device_argument,
    error,
    folder,
    number,
    show_path,
)

__all__ = ["add_parser", "run"]

logger = logging.getLogger("audiolens")

_EPILOG = """\
examples:
  audiolens analyze ~/Music                      # every audio file under ~/Music
  audiolens analyze a.flac b.mp3 --db lib.sqlite
  audiolens analyze ~/Music --workers 4 --device cpu
  audiolens analyze ~/Music --tasks notes --out midi/   # and a MIDI file per song
  audiolens analyze ~/Music --tasks beats,structure     # tempo, meter, sections
  audiolens analyze talks/ --tasks speech --out subs/   # transcripts (.srt .vtt .txt .json)
  audiolens analyze ~/Music --tasks loudness,key        # R128 / ReplayGain 2.0, musical key
  audiolens analyze /shared/music --executor ray        # on the Ray cluster this machine is in
  audiolens export --format csv -o results.csv   # then look at the results
  audiolens report -o report.html                # ... or open them in a browser

A rerun skips files already analyzed (same path, size, modification time and task version)
and retries the ones that failed; --force analyzes everything again; --verify also redoes
files whose content changed with the same size and time. 'audiolens prune' drops the rows of
files that no longer exist. Exit status: 0 when every
file was analyzed, 1 when some failed (each failure is stored with its message), 2 for a bad
command line, 130 when interrupted (what was finished is kept).
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``analyze`` to the CLI."""
    from ..store import DEFAULT_DB

    p = subparsers.add_parser(
        "analyze",
        help="analyze files and folders into a results store",
        description="Analyze audio files and folders (recursively) and store one result per\n"
        "file and task in an SQLite results store. Files named explicitly are always\n"
        "attempted; folders are searched for audio and video file extensions.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio files and/or folders")
    p.add_argument(
        "--tasks",
        default="quality",
        metavar="T[,T...]",
        help="comma-separated tasks to run: quality, notes, beats, structure, speech, "
        "speakers, loudness, key (default: quality)",
    )
    p.add_argument(
        "--out",
        type=folder,
        default=None,
        metavar="DIR",
        help="folder for the files tasks write (notes: <stem>.mid per input; beats: "
        "<stem>.beats; speech: <stem>.srt ...; inputs that share a stem get a suffix, e.g. "
        "take.a.mid and take.b.mid for a/take.wav and b/take.wav); the stored result has its path",
    )
    p.add_argument(
        "--db",
        default=DEFAULT_DB,
        metavar="FILE",
        help=f"the results store, created when missing (default: ./{DEFAULT_DB})",
    )
    p.add_argument(
        "--workers",
        type=number(int, low=1),
        default=None,
        metavar="N",
        help="worker processes (default: one per CPU core; 1 = no subprocesses)",
    )
    add_device_argument(p)
    p.add_argument(
        "--force", action="store_true", help="analyze every file again, even if already done"
    )
    p.add_argument(
        "--verify",
        action="store_true",
        help="also compare each done file's content hash (its first and last 64 KiB: 128 KiB "
        "read per file) and analyze again the files whose content changed although their size "
        "and modification time did not",
    )
    p.add_argument("--no-progress", action="store_true", help="do not draw the progress bar")
    c = p.add_argument_group("cluster")
    c.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="local: a process pool on this machine (default); ray: a Ray cluster (needs "
        "audiolens[ray]; files are read by their paths on the nodes, e.g. a shared file system)",
    )
    c.add_argument(
        "--ray-address",
        default=None,
        metavar="auto|HOST:PORT",
        help="the Ray cluster (default: auto = $RAY_ADDRESS or the one `ray start` made here)",
    )
    c.add_argument(
        "--ray-ship-mb",
        type=number(float, low=0),
        default=None,
        metavar="MB",
        help="send files up to MB megabytes from this machine with their task, for nodes that "
        "do not see its files (tasks that batch across files read by path)",
    )
    from .beats import add_beats_options
    from .notes import add_note_options
    from .speakers import add_speakers_options

    add_note_options(p)
    add_beats_options(p)
    add_speakers_options(p)
    g = p.add_argument_group("speech")
    g.add_argument(
        "--speech-model", default="base", metavar="M", help="Whisper model name or folder"
    )
    g.add_argument("--model-dir", metavar="DIR", help="folder of local Whisper models")
    g.add_argument("--language", metavar="CODE", help="spoken language (default: detect per file)")
    g.add_argument("--translate", action="store_true", help="translate speech into English")
    g.add_argument(
        "--pack", action="store_true", help="short files of one language share 30-s windows"
    )
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``analyze``; 0 when every file was analyzed, 1 when some failed.

    A PATH that does not exist is named on stderr and left out; when none is left, nothing
    runs and no results store is created.
    """
    from tqdm.contrib.logging import logging_redirect_tqdm

    from ..runner import analyze

    executor = _executor(args)
    if executor is None:
        return EXIT_USAGE
    paths = [_arg_path(p) for p in args.paths]
    missing = [p for p in paths if not _exists(p)]
    for path in missing:
        error(f"{show_path(path)}: no such file or folder")
    paths = [p for p in paths if p not in missing]
    if not paths:
        return EXIT_FAILED
    with logging_redirect_tqdm(loggers=[logger]):
        summary = analyze(
            paths,
            tasks=_tasks(args),
            db=args.db,
            workers=args.workers,
            device=args.device,
            force=args.force,
            verify=args.verify,
            progress=not args.no_progress,
            executor=executor,
        )
    if not getattr(args, "quiet", False):
        where = f"results in {summary.db}" if summary.total else "nothing to store"
        print(f"{'+'.join(summary.tasks)}: {summary}; {where}", file=sys.stderr)
    return EXIT_OK if summary.ok and not missing else EXIT_FAILED


def _executor(args: argparse.Namespace) -> Any:
    """``"local"``, or the Ray options the command line asks for; None (after saying why) for
    Ray options without ``--executor ray``."""
    if args.executor != "ray":
        for opt, value in (
            ("--ray-address", args.ray_address),
            ("--ray-ship-mb", args.ray_ship_mb),
        ):
            if value is not None:
                error(f"{opt} {value!r} needs --executor ray")
                return None
        return "local"
    from ..runner.ray_executor import RayOptions

    ship = 0 if args.ray_ship_mb is None else int(args.ray_ship_mb * 1_000_000)
    return RayOptions(address=args.ray_address or "auto", ship_bytes=ship)


def _tasks(args: argparse.Namespace) -> list[Any]:
    """Task names, with the tasks that take options made as objects."""
    out: list[Any] = []
    for name in (t.strip() for t in args.tasks.split(",")):
        if name == "notes":
            from ..tasks.notes import NotesTask
            from .notes import note_options

            out.append(
                NotesTask(
                    options=note_options(args),
                    out_dir=args.out,
                    model_path=args.model,
                    runtime=args.runtime,
                )
            )
        elif name == "beats":
            from ..tasks.beats import BeatsTask
            from .beats import beats_options

            out.append(BeatsTask(options=beats_options(args), out_dir=args.out))
        elif name == "structure":
            from ..tasks.structure import StructureTask

            out.append(StructureTask())
        elif name == "speakers":
            from ..tasks.speakers import SpeakersTask
            from .speakers import speakers_options

            out.append(SpeakersTask(options=speakers_options(args), out_dir=args.out))
        elif name == "speech":
            from ..tasks.speech import SpeechOptions, SpeechTask

            opts = SpeechOptions(
                model=args.speech_model,
                model_dir=args.model_dir,
                language=args.language,
                translate=args.translate,
                pack=args.pack,
            )
            out.append(SpeechTask(options=opts, out_dir=args.out))
        elif name:
            out.append(name)
    return out


def _exists(path: str) -> bool:
    """False only when ``path`` surely does not exist (other stat errors are the runner's to
    store as failures, e.g. permission denied)."""
    import os

    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        pass
    return True


def _arg_path(text: str) -> str:
    return text  # argv is already str with undecodable bytes as surrogates (os.fsdecode)
