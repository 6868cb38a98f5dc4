"""The audiolens plugin for beets: transcodes, ReplayGain 2.0 / R128, key and tempo in one pass.

Enable it with ``plugins: audiolens`` in beets' config (``pip install 'audiolens[beets]'``).
``beet audiolens [QUERY]`` analyses the matched items with the audiolens engine (one decode per
file for all tasks, a process pool, a results store so that a rerun redoes nothing) and stores
in beets:

- ``quality``: bitrater's fields with the same names and types (``original_bitrate``,
  ``original_format``, ``bitrate_confidence``, ``is_transcoded``, ``transcoded_from``,
  ``analysis_version``, ``analysis_date``, ``format_warnings``), and ``audiolens_verdict``
  (lossless, lossy, transcode, or unknown: a lossless file whose content shows nothing either
  way, stored as ``original_format`` LOSSLESS with confidence 0) and ``audiolens_cutoff`` (Hz);
- ``loudness``: ``rg_track_gain``/``rg_track_peak`` and, per beets album,
  ``rg_album_gain``/``rg_album_peak`` (ReplayGain 2.0, -18 LUFS); for the formats listed in
  ``r128`` (Opus), ``r128_track_gain``/``r128_album_gain`` (to -23 LUFS) instead, as beets'
  replaygain plugin does;
- ``key``: ``initial_key`` (``C``, ``Am``, ``F#m``);
- ``beats``: ``bpm`` (an integer, as autobpm writes it).

Configuration (``audiolens:`` in beets' config)::

    auto: no              # analyse on import (after the files are in place)
    tasks: [quality, loudness, key, beats]
    workers: 0            # processes; 0: one per CPU core
    min_confidence: 0.0   # key and quality answers under this are not stored
    overwrite: no         # replace values other plugins (or tags) put there
    r128: [Opus]          # formats that get R128 gains instead of ReplayGain
    db: ''                # the results store; '': audiolens.sqlite beside the library
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from beets import ui
from beets.dbcore import types
from beets.plugins import BeetsPlugin
from beets.util import displayable_path

__all__ = ["AudiolensPlugin"]

TASKS = ("quality", "loudness", "key", "beats")
#: kbps of each of bitrater's classes (LOSSLESS as CD audio), for ``original_bitrate``
CLASS_KBPS = {"128": 128, "V2": 190, "192": 192, "V0": 245, "256": 256, "320": 320}
LOSSLESS_KBPS = 1411
R128_REFERENCE = -23.0
#: the flexible attribute that lists the fields audiolens wrote (it may replace those)
MINE = "audiolens_fields"


def _path(item: Any) -> str:
    return os.path.abspath(os.fsdecode(item.path))


def quality_fields(record: dict[str, Any], *, created: float | None) -> dict[str, Any]:
    """bitrater's fields (and audiolens's own) from a ``quality`` result record."""
    from audiolens import __version__

    cls = str(record.get("bitrate_class") or "")
    lossless = cls == "lossless"
    transcode = record.get("verdict") == "transcode"
    origin = record.get("origin") or {}
    kbps = LOSSLESS_KBPS if lossless else CLASS_KBPS.get(cls, origin.get("bitrate_kbps") or 0)
    when = datetime.fromtimestamp(created or 0, timezone.utc).isoformat(timespec="seconds")
    return {
        "original_bitrate": int(kbps),
        "original_format": "LOSSLESS" if lossless else cls,
        "bitrate_confidence": float(record.get("confidence") or 0.0),
        "is_transcoded": bool(transcode),
        "transcoded_from": cls if transcode else "",
        "analysis_version": f"audiolens {__version__}",
        "analysis_date": when,
        "format_warnings": "; ".join(record.get("warnings") or []),
        "audiolens_verdict": str(record.get("verdict") or ""),
        "audiolens_cutoff": float(record.get("cutoff_hz") or 0.0),
    }


def loudness_fields(record: dict[str, Any], *, r128: bool) -> dict[str, Any]:
    """The track gain fields (ReplayGain 2.0, or R128 for the ``r128`` formats)."""
    lufs = record.get("integrated_lufs")
    if lufs is None:
        return {}
    if r128:
        return {"r128_track_gain": round(R128_REFERENCE - lufs, 2)}
    return {"rg_track_gain": record["track_gain_db"], "rg_track_peak": record["track_peak"]}


def album_fields(records: Sequence[dict[str, Any]], *, r128: bool) -> dict[str, Any]:
    """The album gain fields of an album's ``loudness`` records."""
    from audiolens.tasks.loudness import album_loudness

    album = album_loudness(records)
    if album.integrated_lufs is None:
        return {}
    if r128:
        return {"r128_album_gain": round(R128_REFERENCE - album.integrated_lufs, 2)}
    return {"rg_album_gain": album.gain_db, "rg_album_peak": album.peak}


class AudiolensPlugin(BeetsPlugin):
    """``beet audiolens``: see the module docstring."""

    item_types = {  # noqa: RUF012 (beets reads it from the class)
        "original_bitrate": types.INTEGER,
        "original_format": types.STRING,
        "bitrate_confidence": types.FLOAT,
        "is_transcoded": types.BOOLEAN,
        "transcoded_from": types.STRING,
        "analysis_version": types.STRING,
        "analysis_date": types.STRING,
        "format_warnings": types.STRING,
        "audiolens_verdict": types.STRING,
        "audiolens_cutoff": types.FLOAT,
    }

    def __init__(self) -> None:
        super().__init__()
        self.config.add(
            {
                "auto": False,
                "tasks": list(TASKS),
                "workers": 0,
                "min_confidence": 0.0,
                "overwrite": False,
                "r128": ["Opus"],
                "db": "",
            }
        )
        if self.config["auto"].get(bool):
            self.register_listener("import_task_files", self.imported)

    # -- the command --------------------------------------------------------------------------

    def commands(self) -> list[ui.Subcommand]:
        cmd = ui.Subcommand("audiolens", help="analyse items: transcodes, loudness, key, tempo")
        cmd.parser.add_option(
            "-t",
            "--tasks",
            default=None,
            help="comma-separated tasks (default from the config: quality,loudness,key,beats)",
        )
        cmd.parser.add_option("--workers", type="int", default=None, help="processes to use")
        cmd.parser.add_option(
            "-f", "--force", action="store_true", default=False, help="analyse everything again"
        )
        cmd.parser.add_option(
            "-w", "--write", action="store_true", default=False, help="write tags into the files"
        )
        cmd.parser.add_option(
            "-v",
            "--verbose",
            dest="audiolens_verbose",
            action="store_true",
            default=False,
            help="print what was found for each item",
        )
        cmd.func = self.command
        return [cmd]

    def command(self, lib: Any, opts: Any, args: list[str]) -> None:
        tasks = self._tasks(opts.tasks)
        workers = opts.workers if opts.workers is not None else self.config["workers"].get(int)
        if workers is not None and workers < 0:
            raise ui.UserError(f"audiolens: --workers {workers} must be a positive integer")
        items = list(lib.items(args))
        failed = self.analyse(
            lib,
            items,
            tasks=tasks,
            workers=workers or None,
            force=opts.force,
            verbose=opts.audiolens_verbose,
            write=opts.write,
            progress=True,
        )
        if failed:
            raise ui.UserError(f"audiolens: {failed} of {len(items)} items could not be analysed")

    def imported(self, session: Any, task: Any) -> None:
        """``import_task_files``: analyse the items just imported, with their files in place."""
        items = list(task.imported_items())
        if not items:
            return
        from beets import config

        workers = self.config["workers"].get(int) or None
        write = config["import"]["write"].get(bool)
        self.analyse(
            session.lib,
            items,
            tasks=self._tasks(None),
            workers=workers,
            force=False,
            verbose=False,
            write=write,
            progress=False,
        )

    # -- the work -----------------------------------------------------------------------------

    def _tasks(self, text: str | None) -> list[str]:
        names = (
            [t.strip() for t in text.split(",") if t.strip()]
            if text is not None
            else [str(t) for t in self.config["tasks"].as_str_seq()]
        )
        unknown = [t for t in names if t not in TASKS]
        if unknown or not names:
            raise ui.UserError(
                f"audiolens: unknown task {', '.join(unknown) or '(none)'}; "
                f"the tasks are: {', '.join(TASKS)}"
            )
        return names

    def _db(self, lib: Any) -> str:
        configured = self.config["db"].as_str()
        if configured:
            return os.path.expanduser(configured)
        return os.path.join(os.path.dirname(os.fsdecode(lib.path)) or ".", "audiolens.sqlite")

    def analyse(
        self,
        lib: Any,
        items: Sequence[Any],
        *,
        tasks: Sequence[str],
        workers: int | None,
        force: bool,
        verbose: bool,
        write: bool,
        progress: bool,
    ) -> int:
        """Analyse ``items`` and store the fields; returns how many items failed."""
        import audiolens
        from audiolens.store import Store

        present, failed = [], 0
        for item in items:
            if os.path.isfile(_path(item)):
                present.append(item)
            else:
                failed += 1
                self._log.error("audiolens: {}: the file is missing", displayable_path(item.path))
        if not present:
            return failed
        with Store(self._db(lib)) as store:
            summary = audiolens.analyze(
                [_path(i) for i in present],
                tasks=list(tasks),
                db=store,
                workers=workers,
                force=force,
                progress=progress,
            )
            if progress:
                ui.print_(f"audiolens: {summary}")
            rows = {
                (_path(i), t): store.get(_path(i), t) for i in present for t in tasks
            }  # the stored rows (this run's and earlier ones)
        bad = set()
        for (path, task), row in rows.items():
            if row is None or row.status != "ok":
                bad.add(path)
                message = row.error if row is not None else "no result"
                self._log.error("audiolens: {} failed: {}", task, message)
        for item in present:
            fields = self._fields(item, tasks, rows)
            self._store(item, fields, write=write, verbose=verbose)
        if "loudness" in tasks:
            self._albums(lib, present, rows, write=write, verbose=verbose)
        return failed + len(bad)

    def _fields(self, item: Any, tasks: Sequence[str], rows: dict) -> dict[str, Any]:
        path = _path(item)
        threshold = self.config["min_confidence"].get(float)
        out: dict[str, Any] = {}

        def ok(task: str) -> dict[str, Any] | None:
            row = rows.get((path, task))
            return row.result if row is not None and row.status == "ok" else None

        def sure(record: dict[str, Any]) -> bool:
            return float(record.get("confidence") or 0.0) >= threshold

        if "quality" in tasks and (q := ok("quality")) is not None and sure(q):
            out.update(quality_fields(q, created=rows[(path, "quality")].created))
        if "loudness" in tasks and (lo := ok("loudness")) is not None:
            out.update(loudness_fields(lo, r128=self._r128(item)))
        if "key" in tasks and (k := ok("key")) is not None and k.get("key") and sure(k):
            out["initial_key"] = k["key"]
        if "beats" in tasks and (b := ok("beats")) is not None and b.get("tempo"):
            out["bpm"] = round(float(b["tempo"]))
        return out

    def _r128(self, item: Any) -> bool:
        return item.format in self.config["r128"].as_str_seq()

    def _albums(
        self, lib: Any, items: Iterable[Any], rows: dict, *, write: bool, verbose: bool
    ) -> None:
        """Album gain and peak for every beets album among ``items`` (over all its items)."""
        from audiolens.store import Store

        albums = {i.album_id for i in items if i.album_id is not None}
        with Store(self._db(lib)) as store:
            for album_id in sorted(albums):
                self._album(lib.get_album(album_id), rows, store, write=write, verbose=verbose)

    def _album(self, album: Any, rows: dict, store: Any, *, write: bool, verbose: bool) -> None:
        """Album gain and peak over all of one album's items (their stored loudness)."""
        if album is None:
            return
        members = list(album.items())
        records = []
        for member in members:
            row = rows.get((_path(member), "loudness")) or store.get(_path(member), "loudness")
            if row is None or row.status != "ok":
                self._log.warning("album {}: not every track has its loudness", album)
                return
            records.append(row.result)
        for member in members:
            fields = album_fields(records, r128=self._r128(member))
            self._store(member, fields, write=write, verbose=verbose)

    def _store(self, item: Any, fields: dict[str, Any], *, write: bool, verbose: bool) -> None:
        overwrite = self.config["overwrite"].get(bool)
        mine = set(filter(None, str(item.get(MINE, "")).split(",")))
        changed = {}
        for key, value in fields.items():
            current = item.get(key)
            empty = current in (None, "", 0, 0.0)
            if overwrite or empty or key in mine or key in self.item_types:
                if current != value:
                    changed[key] = value
                mine.add(key)
        if verbose:
            shown = ", ".join(f"{k}={v}" for k, v in sorted(fields.items()))
            ui.print_(f"{displayable_path(item.path)}: {shown or 'nothing'}")
        if changed or item.get(MINE, "") != ",".join(sorted(mine)):
            item.update(changed)
            item[MINE] = ",".join(sorted(mine))
            item.store()
        if write and fields:  # also when the values were already in the library
            item.try_write()
