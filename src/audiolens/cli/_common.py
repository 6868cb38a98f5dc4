"""What the subcommands share: exit codes, logging, common options."""

from __future__ import annotations

import argparse
import logging
import sys

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "add_device_argument",
    "add_verbosity_arguments",
    "configure_logging",
    "error",
]

EXIT_OK = 0  #: everything worked
EXIT_FAILED = 1  #: some files failed (each has a stored row with its message)
EXIT_USAGE = 2  #: bad command line or configuration (argparse's own code)
EXIT_INTERRUPTED = 130  #: Ctrl-C

logger = logging.getLogger("audiolens")


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
    """Print ``audiolens: error: message`` on stderr."""
    print(f"audiolens: error: {message}", file=sys.stderr)
