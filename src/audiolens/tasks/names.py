"""The names of the files a run writes for its inputs: one place decides them for the whole run.

An output is named after its input's stem: ``jfk.wav`` gives ``jfk.srt``, ``song.flac`` gives
``song.mid`` and ``song.quality.png`` (``<stem><suffix>``, the suffix being ``.<ext>`` or
``.<kind>.<ext>``). Only when two inputs of the same run would write the same name (the same
stem, compared without regard to case, as case-insensitive file systems do) do their outputs get
a suffix, the first of these that tells all of them apart:

1. the input's extension: ``song.flac`` and ``song.mp3`` give ``song.flac.mid`` and
   ``song.mp3.mid``;
2. the name of the input's folder: ``a/take.wav`` and ``b/take.wav`` give ``take.a.mid`` and
   ``take.b.mid``;
3. both: ``a/take.wav``, ``b/take.wav`` and ``b/take.mp3`` give ``take.a.wav.mid``, ...;
4. a short hash of the input's absolute path: ``take.3d3e45aa.mid``.

The choice depends only on the run's list of inputs, so it is made once, up front (never per
worker process), and a rerun over the same inputs writes the same names.
"""

from __future__ import annotations

import copy
import hashlib
import os
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["OutputNames", "output_stem", "with_names"]

PathLike = str | bytes | os.PathLike
T = TypeVar("T")


def _text(value: str) -> str:
    """``value`` as printable text for a file name (undecodable bytes replaced, no separators)."""
    text = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    for sep in {os.sep, os.altsep or os.sep, "\0"}:
        text = text.replace(sep, "_")
    return text


def output_stem(path: PathLike) -> str:
    """The plain base name of ``path``'s outputs: its stem, as safe text (``"audio"`` if empty)."""
    return _text(Path(os.fsdecode(path)).stem) or "audio"


def _key(path: PathLike) -> str:
    return os.path.abspath(os.fsdecode(path))


def _tags(path: str) -> tuple[str, str, str, str]:
    """The disambiguating suffixes of ``path`` (an absolute path), in order of preference."""
    p = Path(path)
    ext = _text(p.suffix.lstrip(".")) or "noext"
    folder = _text(p.parent.name) or "root"
    digest = hashlib.blake2b(os.fsencode(path), digest_size=4).hexdigest()
    return ext, folder, f"{folder}.{ext}", digest


class OutputNames:
    """The base name of each input's outputs in one run (see the module docstring).

    Parameters
    ----------
    paths : every input of the run (files that will be skipped or fail included, so the names
        do not depend on what is left to do); the same path given twice is one input

    Examples
    --------
    >>> names = OutputNames(["a/take.wav", "b/take.wav", "jfk.flac"])
    >>> names.name("jfk.flac", suffix=".srt"), names.name("b/take.wav", suffix=".mid")
    ('jfk.srt', 'take.b.mid')
    """

    def __init__(self, paths: Iterable[PathLike] = ()) -> None:
        groups: dict[str, list[str]] = defaultdict(list)
        for key in dict.fromkeys(_key(p) for p in paths):
            groups[output_stem(key).casefold()].append(key)
        #: only the inputs whose outputs need a suffix (small and cheap to send to workers)
        self.special: dict[str, str] = {}
        taken = {stem for stem, keys in groups.items() if len(keys) == 1}
        for keys in groups.values():
            if len(keys) > 1:
                self.special.update(_disambiguate(keys, taken))

    def base(self, path: PathLike) -> str:
        """The base name (no suffix) of ``path``'s outputs."""
        return self.special.get(_key(path)) or output_stem(path)

    def name(self, path: PathLike, *, suffix: str) -> str:
        """``<base><suffix>``: the name of the output of ``path`` that ends in ``suffix``
        (e.g. ``".srt"``, ``".quality.png"``)."""
        return f"{self.base(path)}{suffix}"

    def __repr__(self) -> str:
        return f"OutputNames({len(self.special)} disambiguated)"


def _disambiguate(keys: list[str], taken: set[str]) -> dict[str, str]:
    """Bases for inputs that share a stem: the first level of tags that tells them all apart
    and clashes with no plain name (``taken``, casefolded); a hash for any still alike."""
    tags = {k: _tags(k) for k in keys}
    for level in range(4):
        bases = {k: f"{output_stem(k)}.{tags[k][level]}" for k in keys}
        folded = [b.casefold() for b in bases.values()]
        if len(set(folded)) == len(folded) and not taken.intersection(folded):
            taken.update(folded)
            return bases
    return bases  # the hashes of distinct paths (a clash here is a 1 in 4 billion chance)


def with_names(task: T, names: OutputNames) -> T:
    """``task`` with its outputs named by ``names``: a copy when the task writes files per input
    (it has a ``names`` attribute), else ``task`` itself; the caller's task is not changed."""
    if not hasattr(task, "names"):
        return task
    twin: Any = copy.copy(task)
    twin.names = names
    return twin
