"""The ``audiolens`` command line: one module per subcommand, each a thin wrapper.

Each subcommand module has ``add_parser(subparsers)`` (adds its parser) and
``run(args) -> int`` (its exit status). :func:`main` wires them together, sets up logging of
the "audiolens" logger from ``-v``/``-q`` (the library itself never configures logging), and
turns errors into exit statuses: 0 all ok, 1 some files failed, 2 usage error, 130 Ctrl-C,
143 SIGTERM (handled like Ctrl-C: the run is marked interrupted, finished files are kept).
No traceback reaches the user: every error is one line on stderr (``-vv`` adds the traceback
of an unexpected one).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from importlib import import_module
from types import ModuleType

from ._common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    EXIT_USAGE,
    Terminated,
    add_verbosity_arguments,
    configure_logging,
    error,
    logger,
    restore_logging,
    show_path,
    sigterm_interrupts,
)

__all__ = ["build_parser", "main"]

#: subcommand modules, in the order ``--help`` lists them; optional ones may be absent
SUBCOMMANDS: tuple[str, ...] = (
    "analyze",
    "quality",
    "notes",
    "beats",
    "structure",
    "speech",
    "speakers",
    "loudness",
    "key",
    "export",
    "report",
    "prune",
    "devices",
    "models",
)
_OPTIONAL = frozenset(
    {"quality", "notes", "beats", "structure", "speech", "speakers", "loudness", "key"}
)


def _load(name: str) -> ModuleType | None:
    try:
        return import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if name in _OPTIONAL and exc.name == f"{__name__}.{name}":
            return None
        raise


def build_parser() -> argparse.ArgumentParser:
    """The full ``audiolens`` argument parser."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="audiolens",
        description="Fast audio analysis on whatever hardware is there.",
        epilog="Run 'audiolens COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"audiolens {__version__}")
    add_verbosity_arguments(parser, default=None)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in SUBCOMMANDS:
        module = _load(name)
        if module is None:
            continue
        before = set(subparsers.choices)
        module.add_parser(subparsers)
        added = {id(p): p for k, p in subparsers.choices.items() if k not in before}
        for sub in added.values():
            sub.set_defaults(_run=module.run)
            with contextlib.suppress(argparse.ArgumentError):  # it defines -v/-q itself
                add_verbosity_arguments(sub)
    return parser


def _unexpected(exc: Exception) -> str:
    """One line for an error no subcommand expected: the file and the problem for an OSError,
    else the exception and where to see more."""
    if isinstance(exc, OSError) and isinstance(exc.filename, (str, bytes)):
        return f"{show_path(os.fsdecode(exc.filename))}: {exc.strerror or exc}"
    what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return f"{what} (unexpected; run with -vv to see where it happened)"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``audiolens`` command line; returns the exit status.

    Parameters
    ----------
    argv : the arguments (without the program name); None reads ``sys.argv``
    """
    from ..errors import AudiolensError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler, previous = configure_logging(args.verbose or 0, bool(args.quiet))
    try:
        with sigterm_interrupts():
            return int(args._run(args))
    except Terminated:
        print("\naudiolens: terminated; finished files are kept", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("\naudiolens: interrupted; finished files are kept", file=sys.stderr)
        return EXIT_INTERRUPTED
    except AudiolensError as exc:
        error(str(exc))
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. `audiolens export | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED
    except Exception as exc:  # a safety net: each known case is handled where it happens
        logger.debug("%s", "the traceback:", exc_info=True)
        error(_unexpected(exc))
        return EXIT_FAILED
    finally:
        restore_logging(handler, previous)
