"""``audiolens devices``: the compute devices audiolens can use here."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ._common import EXIT_OK

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``devices`` to the CLI."""
    p = subparsers.add_parser(
        "devices",
        help="list the compute devices available here",
        description="List the devices audiolens can compute on; '*' marks the one "
        "--device auto picks ($AUDIOLENS_DEVICE, else cuda > mps > cpu).",
    )
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``devices``."""
    from ..devices import available_devices, resolve_device
    from ..errors import AudiolensError

    devices = available_devices()
    try:
        auto = resolve_device("auto")
        chosen = auto.name if auto.backend == "torch" and auto.name != "cpu" else "cpu"
        if auto.backend == "torch" and auto.name == "cpu":
            chosen = "torch:cpu"
        problem = None
    except AudiolensError as exc:
        chosen, problem = None, str(exc)
    for d in devices:
        d["auto"] = d["name"] == chosen
    if args.json:
        print(json.dumps(devices, indent=2))
        return EXIT_OK
    widths = [
        max(len(h), *(len(str(d[h])) for d in devices)) for h in ("name", "backend", "precision")
    ]
    header = ("name", "backend", "precision")
    print("  " + "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + "  detail")
    for d in devices:
        mark = "* " if d["auto"] else "  "
        cells = [str(d[h]).ljust(w) for h, w in zip(header, widths, strict=True)]
        print(mark + "  ".join(cells) + "  " + d["detail"])
    if problem:
        print(f"auto: {problem}")
    return EXIT_OK
