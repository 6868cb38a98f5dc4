"""What the subcommands share: exit codes, logging, common options."""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "Terminated",
    "add_device_argument",
    "add_files_command",
    "add_print_format",
    "add_report_arguments",
    "add_store_command",
    "add_verbosity_arguments",
    "configure_logging",
    "error",
    "file_problem",
    "folder",
    "number",
    "run_files",
    "sigterm_interrupts",
]

EXIT_OK = 0  #: everything worked
EXIT_FAILED = 1  #: some files failed (each has a stored row with its message)
EXIT_USAGE = 2  #: bad command line or configuration (argparse's own code)
EXIT_INTERRUPTED = 130  #: Ctrl-C
EXIT_TERMINATED = 143  #: SIGTERM (128 + 15), handled like Ctrl-C


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM while a command runs (:func:`sigterm_interrupts`):
    a KeyboardInterrupt, so a run stops as on Ctrl-C (busy workers stopped, the run marked
    ``interrupted`` in the store, finished files kept)."""


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Inside the block, SIGTERM raises :class:`Terminated` in the main thread (once; a second
    SIGTERM while the run stops is ignored); the previous handler is restored after. Outside
    the main thread (where Python cannot set handlers) the block runs unchanged."""
    import signal

    def terminated(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated

    try:
        previous = signal.signal(signal.SIGTERM, terminated)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


logger = logging.getLogger("audiolens")


def number(
    kind: type = float, *, low: float | None = None, high: float | None = None, above: bool = False
) -> Callable[[str], Any]:
    """An argparse ``type`` for a number of ``kind`` from ``low`` (exclusive when ``above``)
    to ``high``, with a message that says what is allowed."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if low is not None and (value <= low if above else value < low):
            bound = f"above {low:g}" if above else f"at least {low:g}"
            raise argparse.ArgumentTypeError(f"{value} must be {bound}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"{value} must be at most {high:g}")
        return value

    return parse


def folder(text: str) -> Path:
    """An argparse ``type`` for a folder that a command writes into (``-o``, ``--plot``, ...).

    The folder is not created here (only when something is written), but the command line is
    refused before any work when it cannot be: the path is an existing file, or its nearest
    existing parent is not a writable folder.
    """
    if not text:
        raise argparse.ArgumentTypeError("the folder name is empty")
    path = Path(text)
    if path.exists():
        if not path.is_dir():
            raise argparse.ArgumentTypeError(f"{show_path(text)}: is a file, not a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise argparse.ArgumentTypeError(f"{show_path(text)}: folder is not writable")
        return path
    parent = path.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise argparse.ArgumentTypeError(
            f"{show_path(text)}: cannot be created, {show_path(str(parent))} is a file"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(
            f"{show_path(text)}: cannot be created, {show_path(str(parent))} is not writable"
        )
    return path


def _command(
    subparsers: Any, name: str, *, help: str, description: str, epilog: str
) -> argparse.ArgumentParser:
    """A subcommand's parser, its help texts laid out as written."""
    return subparsers.add_parser(
        name,
        help=help,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_files_command(
    subparsers: Any, name: str, *, help: str, description: str, epilog: str
) -> argparse.ArgumentParser:
    """A subcommand that takes audio FILEs, with its help texts laid out as written."""
    p = _command(subparsers, name, help=help, description=description, epilog=epilog)
    p.add_argument("files", nargs="+", metavar="FILE", help="audio files (any format)")
    return p


def add_store_command(
    subparsers: Any, name: str, *, help: str, description: str, epilog: str
) -> argparse.ArgumentParser:
    """A subcommand that reads an existing results store (``--db FILE``), with its help texts
    laid out as written."""
    from ..store import DEFAULT_DB

    p = _command(subparsers, name, help=help, description=description, epilog=epilog)
    where = f"the results store (default: ./{DEFAULT_DB})"
    p.add_argument("--db", default=DEFAULT_DB, metavar="FILE", help=where)
    return p


def add_out_argument(parser: argparse.ArgumentParser, *, default: Any, help: str) -> None:
    """``-o/--out DIR``: the folder for the files a command writes (see :func:`folder`)."""
    parser.add_argument("-o", "--out", type=folder, default=default, metavar="DIR", help=help)


def add_report_arguments(parser: argparse.ArgumentParser, *, plot: str) -> None:
    """``--device``, ``--plot DIR`` (``plot`` says what picture) and ``--format``."""
    add_device_argument(parser)
    parser.add_argument("--plot", metavar="DIR", type=folder, help=plot)
    add_print_format(parser)


def add_print_format(parser: argparse.ArgumentParser) -> None:
    """``--format text|json|jsonl``: what a per-file command prints on stdout."""
    parser.add_argument(
        "--format",
        choices=("text", "json", "jsonl"),
        default="text",
        help="what to print on stdout (default: text)",
    )


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """``--device D`` (default ``auto``: $AUDIOLENS_DEVICE, else CUDA, MPS, CPU)."""
    parser.add_argument(
        "--device",
        default="auto",
        metavar="D",
        help="where to compute: auto, cpu, torch, cuda, cuda:N or mps "
        "(default: auto = $AUDIOLENS_DEVICE if set, else cuda > mps > cpu)",
    )


def add_verbosity_arguments(
    parser: argparse.ArgumentParser, *, default: object = argparse.SUPPRESS
) -> None:
    """``-v/--verbose`` (repeatable) and ``-q/--quiet``."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default,
        help="say more (-v: progress notes, -vv: debugging details and tracebacks)",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default,
        help="print only errors (no warnings per failed file, no summary)",
    )


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        if record.levelno >= logging.WARNING:
            return f"audiolens: {record.levelname.lower()}: {message}"
        return message


def configure_logging(verbose: int, quiet: bool) -> tuple[logging.Handler, int]:
    """Show the "audiolens" logger on stderr at the level the flags ask for.

    Returns the handler and the logger's previous level, for :func:`restore_logging`.
    """
    level = (
        logging.ERROR
        if quiet
        else (logging.DEBUG if verbose >= 2 else logging.INFO if verbose == 1 else logging.WARNING)
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter("%(message)s"))
    handler.setLevel(level)
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    return handler, previous


def restore_logging(handler: logging.Handler, previous: int) -> None:
    """Undo :func:`configure_logging` (so calling ``main()`` twice does not stack handlers)."""
    logger.removeHandler(handler)
    logger.setLevel(previous)


def error(message: str) -> None:
    """Print ``audiolens: error: message`` on stderr, as one line (its lines joined)."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    print(f"audiolens: error: {' '.join(lines)}", file=sys.stderr)


def file_problem(path: str, exc: BaseException, *, command: str | None = None) -> str:
    """The one-line message for an input ``path`` that could not be analysed.

    A folder given to a per-file command gets a pointer to ``audiolens analyze``, which walks
    folders (``command``, the task's name, goes into its ``--tasks``).
    """
    from ..errors import DecodeError

    message = str(exc) if isinstance(exc, DecodeError) else f"{show_path(path)}: {exc}"
    if os.path.isdir(path):
        tasks = f" --tasks {command}" if command else ""
        message += f"; for folders use 'audiolens analyze {show_path(path)}{tasks}'"
    return message


def show_path(path: str) -> str:
    """A path as printable text: undecodable bytes as escapes, newlines escaped."""
    text = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text.replace("\n", "\\n").replace("\r", "\\r")


def output_names(paths: list[str]) -> Any:
    """The :class:`~audiolens.tasks.names.OutputNames` of a command's inputs: plain stems, with
    a suffix only for inputs that share one."""
    from ..tasks.names import OutputNames

    return OutputNames(paths)


def write_json(path: Any, data: Any) -> None:
    """Write ``data`` as indented JSON, whole or not at all (see :mod:`audiolens.writing`)."""
    import json

    from ..writing import write_file

    write_file(path, json.dumps(data, indent=1) + "\n")


def for_each_file(
    paths: list[str],
    analyse: Callable[[str], Any],
    summary: Callable[[str, Any], str],
    *,
    fmt: str,
    device_label: str,
    command: str | None = None,
    finish: Callable[[list[tuple[str, Any]]], list[tuple[str, dict[str, Any]]]] | None = None,
) -> int:
    """Run ``analyse(path)`` on each file and print what it found; the exit status.

    A file that cannot be read (DecodeError, OSError) is named on stderr with the problem (see
    :func:`file_problem`; ``command`` is the subcommand's name) and the next one is tried.
    Other audiolens errors (no model, a missing package, a bad option) hold for every file:
    they propagate. ``fmt`` is ``text`` (``summary(path, result)`` per line), ``jsonl``
    (one record per line as it goes) or ``json`` (one list at the end); a record is the path,
    the device and the result's ``to_dict()``. ``finish``, when given, gets the ``(path,
    result)`` of every file analysed and returns ``(text line, record)`` pairs printed after
    them the same way (e.g. one per album).

    Returns
    -------
    status : EXIT_OK, or EXIT_FAILED when some file failed
    """
    import json

    from ..errors import AudiolensError, DecodeError

    records, failed, done = [], 0, []
    for path in paths:
        try:
            result = analyse(path)
        except (DecodeError, OSError) as exc:
            if isinstance(exc, AudiolensError) and not isinstance(exc, DecodeError):
                raise  # e.g. ModelNotFound (an OSError too): not this file's problem
            failed += 1
            error(file_problem(path, exc, command=command))
            continue
        done.append((path, result))
        record = {"path": show_path(path), "device": device_label, **result.to_dict()}
        _emit(fmt, summary(path, result) if fmt == "text" else "", record, records)
    for line, record in finish(done) if finish is not None else ():
        _emit(fmt, line, record, records)
    if fmt == "json":
        print(json.dumps(records, indent=2))
    return EXIT_FAILED if failed else EXIT_OK


def _emit(fmt: str, line: str, record: dict[str, Any], records: list[dict[str, Any]]) -> None:
    import json

    if fmt == "text":
        print(line, flush=True)
    elif fmt == "jsonl":
        print(json.dumps(record), flush=True)
    else:
        records.append(record)


def files_epilog(examples: str, task: str) -> str:
    """The end of a per-file command's help: its ``examples`` (lines), where folders go, and
    the exit statuses."""
    return (
        f"examples:\n{examples}\n\n"
        f"For folders and a resumable results store: audiolens analyze DIR --tasks {task}\n"
        "Exit status: 0 when every file was analysed, 1 when some could not be read (each is\n"
        "named on stderr with the problem), 2 for a bad command line.\n"
    )


def add_simple_command(
    subparsers: Any,
    name: str,
    *,
    help: str,
    description: str,
    examples: str,
    options: dict[str, dict[str, Any]] | None = None,
) -> argparse.ArgumentParser:
    """A per-file command that only prints (no files written): FILEs, its ``options`` (flag ->
    ``add_argument`` keywords), ``--device`` and ``--format``, with :func:`files_epilog`'s
    help ending."""
    p = add_files_command(
        subparsers,
        name,
        help=help,
        description=description,
        epilog=files_epilog(examples, name),
    )
    for flag, spec in (options or {}).items():
        p.add_argument(flag, **spec)
    add_device_argument(p)
    add_print_format(p)
    return p


def run_files(
    args: argparse.Namespace,
    make_task: Callable[[Any], Any],
    summary: Callable[[str, Any], str],
    *,
    also: Callable[[str, Any, Any], None] | None = None,
    finish: Callable[[list[tuple[str, Any]]], list[tuple[str, dict[str, Any]]]] | None = None,
) -> int:
    """The usual per-file command: ``make_task(names)`` (``names``: the
    :class:`~audiolens.tasks.names.OutputNames` of ``args.files``), then for each file decode
    it for the task, run it, write ``<stem>.json`` into ``args.out`` when the command has one
    and it is given, call ``also(path, result, names)``, and print as :func:`for_each_file`
    does (``finish`` as there). Returns the exit status."""
    import os

    from ..devices import resolve_device
    from ..tasks.base import output_name, read_input

    paths = [os.fsdecode(raw) for raw in args.files]
    names = output_names(paths)
    task = make_task(names)
    device = resolve_device(args.device)

    def analyse(path: str) -> Any:
        result = task.run([read_input(path, task)], device=device)[0]
        if getattr(args, "out", None) is not None:
            target = args.out / output_name(path, names=names, suffix=".json")
            write_json(target, {"path": show_path(path), **result.to_dict()})
        if also is not None:
            also(path, result, names)
        return result

    return for_each_file(
        paths,
        analyse,
        summary,
        fmt=args.format,
        device_label=device.label,
        command=getattr(args, "command", None),
        finish=finish,
    )
