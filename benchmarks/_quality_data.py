"""Shared helpers of the quality benchmarks: reading the corpus manifest and caching features.

The corpus is made by ``quality_corpus.py``; its manifest has one row per file with at least
``path``, ``source_id``, ``split``, ``verdict``, ``bitrate_class``, ``origin_codec`` and
``origin_kbps``.
"""

from __future__ import annotations

import csv
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

CORPUS = Path(__file__).resolve().parent / "_corpus"
#: bumped when ``upscale_edge`` or the audio read for the features changes: the cache holds
#: its answer beside the features (12: lossless files read with every channel, as the task does)
RULE_VERSION = 15
#: what ``features_for(meta=True)`` adds after the features
META_NAMES = ("edge_hz", "frames", "flicker", "lattice")


def read_manifest(path: Path) -> list[dict[str, str]]:
    """Rows of a corpus manifest CSV, with ``path`` made absolute."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        p = Path(r["path"])
        r["path"] = str(p if p.is_absolute() else (path.parent / p).resolve())
    return rows


def content_label(row: dict[str, str]) -> str:
    """What the content of a file really came from: lossless, an MP3 class, or a codec."""
    codec = row.get("origin_codec", "") or ""
    if not codec:
        return "lossless"
    if codec == "mp3":
        return row["bitrate_class"]
    return codec


def _features(path: str) -> tuple[str, np.ndarray | None, str]:
    """Features of one file, with ``META_NAMES`` at the end: the upscale edge (Hz, NaN when
    the content reaches the container's low-pass), the number of frames used, the flicker
    share and the AAC lattice share (lossless containers only, else 0)."""
    from audiolens.devices import resolve_device
    from audiolens.tasks.quality import QualityTask, read_input, upscale_edge

    task = QualityTask()
    try:
        item = read_input(path, task)  # the audio the task itself asks for
        info = item.info
        s = task.features(item, resolve_device("cpu"))
        edge = upscale_edge(info, s)
        meta = [np.nan if edge is None else edge, float(s.frames), s.flicker, s.lattice]
        return path, np.concatenate([s.features, meta]), ""
    except Exception as exc:
        return path, None, f"{type(exc).__name__}: {exc}"


def features_for(
    paths: list[str], cache: Path, workers: int = 2, *, meta: bool = False
) -> dict[str, np.ndarray]:
    """Quality features of every path, computed once and cached in ``cache`` (.npz).

    With ``meta``, each row ends with ``META_NAMES``: the upscale edge in Hz (NaN when none,
    see ``audiolens.tasks.quality.upscale_edge``), the number of frames analysed and the
    flicker share (``audiolens.tasks.quality.features.flicker``) and the AAC lattice share
    (``audiolens.tasks.quality.lattice.lattice_share``).
    """
    from audiolens.tasks.quality.features import FEATURE_NAMES, FEATURE_VERSION

    have: dict[str, np.ndarray] = {}
    if cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            same = tuple(str(n) for n in z["names"]) == (*FEATURE_NAMES, *META_NAMES)
            version = f"{FEATURE_VERSION}/{RULE_VERSION}"
            if same and "version" in z.files and str(z["version"]) == version:
                have = dict(zip((str(p) for p in z["paths"]), z["x"]))
    todo = [p for p in paths if p not in have]
    if todo:
        with ProcessPoolExecutor(max_workers=workers) as ex:
            for i, (p, x, err) in enumerate(ex.map(_features, todo, chunksize=4)):
                if x is None:
                    print(f"  skipped {p}: {err}")
                    continue
                have[p] = x
                if i % 100 == 0:
                    print(f"  features {i + 1}/{len(todo)}", flush=True)
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(
            tmp,
            paths=np.array(list(have)),
            x=np.stack(list(have.values())),
            names=np.array((*FEATURE_NAMES, *META_NAMES)),
            version=np.array(f"{FEATURE_VERSION}/{RULE_VERSION}"),
        )
        os.replace(tmp, cache)
    n = len(FEATURE_NAMES)
    return {p: have[p] if meta else have[p][:n] for p in paths if p in have}
