"""Running tasks over collections: discovery, scheduling, progress.

- :func:`analyze` -- files and folders in, one stored row per file and task out
- :class:`RunSummary` -- what a run did
- :func:`discover` -- the files a run would look at
- :class:`TqdmHook`, :class:`ProgressHook` -- progress reporting (``hook(event, **info)``)

Importing this package is cheap (no numpy): worker processes import it before they set their
thread limits.
"""

from __future__ import annotations

from .api import RunSummary, analyze
from .discover import AUDIO_EXTENSIONS, Candidate, Discovery, discover
from .progress import ProgressHook, TqdmHook

__all__ = [
    "AUDIO_EXTENSIONS",
    "Candidate",
    "Discovery",
    "ProgressHook",
    "RunSummary",
    "TqdmHook",
    "analyze",
    "discover",
]
