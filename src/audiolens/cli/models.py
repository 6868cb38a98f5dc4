"""``audiolens models``: every model audiolens uses, found where, or how to get it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._common import EXIT_OK

if TYPE_CHECKING:  # pragma: no cover
    from ..inventory import ModelEntry, Runtime

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``models`` to the CLI."""
    p = subparsers.add_parser(
        "models",
        help="list the models audiolens finds here, and how to get the missing ones",
        description="List every model audiolens uses (Whisper, basic-pitch, silero VAD, "
        "CAM++, resemblyzer, the speaker segmentation model, the beats and quality models it "
        "ships): "
        "the path it is found at, or where it was looked for and how to bring it onto this "
        "machine; and whether the runtime it needs is installed. Nothing is loaded or "
        "downloaded, and the network is never used. The exit status is 0.",
    )
    p.add_argument(
        "--model-dir",
        metavar="DIR",
        type=Path,
        help="a folder of Whisper models, as 'speech --model-dir' gets it "
        "(default: $AUDIOLENS_WHISPER_DIR, then the Hugging Face cache)",
    )
    p.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="what to print on stdout (default: text)",
    )
    return p


def run(args: argparse.Namespace) -> int:
    """Run ``models``."""
    from ..inventory import hub_settings, list_models

    entries = list_models(model_dir=args.model_dir)
    hub = hub_settings()
    if args.format == "json":
        print(json.dumps({"models": [e.to_dict() for e in entries], "hub": hub}, indent=2))
        return EXIT_OK
    for entry in entries:
        print(_describe(entry))
    print(_describe_hub(hub))
    return EXIT_OK


def _describe(entry: ModelEntry) -> str:
    head = f"{entry.model} [{entry.task}]: "
    lines = [head + (f"found {entry.path}" if entry.found else "MISSING")]
    if not entry.found:
        lines.append(f"  {entry.detail}")
    if entry.runtimes:
        lines.append("  runtime: " + "; ".join(_describe_runtime(r) for r in entry.runtimes))
    return "\n".join(lines)


def _describe_runtime(r: Runtime) -> str:
    name = f"{r.name} {r.version}" if r.version else r.name
    text = f"{name} installed" if r.installed else f"{r.name} MISSING ({r.install})"
    return f"optional {text}, {r.note}" if r.optional else text


def _describe_hub(hub: dict[str, Any]) -> str:
    where = hub["cache"] or "none (huggingface_hub is not installed)"
    if hub["downloads"]:
        how = f"tried from {hub['endpoint']} when it answers (HF_HUB_OFFLINE=1 turns them off)"
    else:
        how = "off (HF_HUB_OFFLINE is set)"
    return f"Hugging Face cache: {where}; downloads: {how}"
