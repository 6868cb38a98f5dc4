"""Fake tasks for the Ray executor's tests (no tests here).

They live in an importable module (the test cluster's nodes have ``tests/`` on their
``PYTHONPATH``) so that Ray's worker processes can load them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from audiolens.tasks.base import AudioRequest, Result, TaskInput


def _node() -> str:
    """The id of the Ray node this runs on ("-" outside Ray)."""
    try:
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else "-"
    except ImportError:
        return "-"


@dataclass
class SeenResult(Result):
    """Where the task read the file, and how long it was."""

    task: ClassVar[str] = "seen"
    name: str
    samples: int
    read_from_copy: bool


class SeenTask:
    """Reports the file's name and length; sleeps ``delay`` seconds per file; kills its worker
    process on files named *die* (every time) and *dieonce* (the first time: a marker file next
    to it remembers). With ``origin``, each start is logged in ``origin/started.log`` (the
    file's name, the Ray node's id, the time)."""

    name = "seen"
    version = 1

    def __init__(self, delay: float = 0.0, origin: str | None = None) -> None:
        self.delay = delay
        self.origin = origin  # the folder the driver found the files in

    def request(self, info) -> AudioRequest:
        return AudioRequest(sr=4000, mono=True)

    def run(self, batch: Sequence[TaskInput], *, device) -> list[SeenResult]:
        out = []
        for item in batch:
            path = item.info.path
            base = os.path.basename(path)
            if self.origin is not None:  # one line per start: a retried file has two
                with open(os.path.join(self.origin, "started.log"), "a") as log:
                    log.write(f"{base} {_node()} {time.time()}\n")
            if base.startswith("dieonce"):
                marker = os.path.join(self.origin or os.path.dirname(path), base + ".died")
                if not os.path.exists(marker):
                    open(marker, "w").close()
                    os._exit(3)
            elif base.startswith("die"):
                os._exit(3)
            time.sleep(self.delay)
            copy = self.origin is not None and os.path.dirname(path) != self.origin
            samples = int(item.pieces[0].samples.shape[1])
            out.append(SeenResult(name=base, samples=samples, read_from_copy=copy))
        return out
