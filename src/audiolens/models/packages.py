"""Where an installed package keeps its files: model weights that ship inside a package.

``importlib.util.find_spec`` searches ``sys.path`` in order, and ``python -m audiolens`` (like
``python -c`` and the REPL) puts the current folder first: a folder ``./resemblyzer`` there
would be taken for the installed package and its ``pretrained.pt`` loaded. Weights are looked
up only among the installed packages: :func:`package_folders` searches ``sys.path`` without
the current folder (and without ``''``, which stands for it).
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
from pathlib import Path

__all__ = ["package_folders"]


def package_folders(name: str) -> list[Path]:
    """The folders of the installed top-level package ``name`` (none when not installed).

    Parameters
    ----------
    name : a top-level package (``resemblyzer``, ``silero_vad``)

    Returns
    -------
    folders : the package's folders, found on ``sys.path`` less the current folder (a
        namespace package may have several)
    """
    try:
        here = os.path.realpath(os.getcwd())
    except OSError:  # the current folder was removed: nothing on sys.path can be it
        here = None
    entries = [
        entry
        for entry in sys.path
        if isinstance(entry, str) and entry and os.path.realpath(entry) != here
    ]
    try:
        spec = importlib.machinery.PathFinder.find_spec(name, entries)
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    return [Path(folder) for folder in spec.submodule_search_locations]
