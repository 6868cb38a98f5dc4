"""The store against concurrent writers and mistakes (issue 16, points 4, 7 and 8)."""

from __future__ import annotations

import csv
import io
import os

import pytest

from audiolens.cli import main
from audiolens.errors import ParameterError
from audiolens.store import ResultRow, Store, export


def _row(path: str, task: str = "quality", **result) -> ResultRow:
    return ResultRow(
        path=path,
        task=task,
        task_version=1,
        status="ok",
        result=result or {"verdict": "lossless"},
        size=10,
        mtime_ns=20,
        content_hash="ab" * 16,
    )


class _Meddler(io.StringIO):
    """An output whose first write lets another process add a new task's first row (as a run
    does while an export is read): the export must not see it halfway."""

    def __init__(self, db) -> None:
        super().__init__()
        self.db = db
        self.done = False

    def write(self, text: str) -> int:
        if not self.done:
            self.done = True
            with Store(self.db) as other:
                other.write_file([_row("/m/new.wav", task="beats", tempo=120.0, meter=4)])
        return super().write(text)


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
def test_an_export_reads_one_snapshot(tmp_path, fmt):
    db = tmp_path / "r.sqlite"
    with Store(db) as store:
        store.write_file([_row(f"/m/{i}.wav") for i in range(50)])
    out = _Meddler(db)
    export(db, fmt, out)  # raised ValueError (a field not in the header) on CSV
    text = out.getvalue()
    assert "new.wav" not in text
    if fmt == "csv":
        assert len(list(csv.DictReader(io.StringIO(text)))) == 50
    with Store(db) as store:  # the other writer's row is there for the next export
        assert store.count() == 51
    assert "new.wav" in export(db, fmt)


def test_an_export_never_overwrites_the_store(tmp_path, capsys):
    db = tmp_path / "r.sqlite"
    with Store(db) as store:
        store.write_file([_row("/m/a.wav")])
    size = db.stat().st_size
    for out in (db, tmp_path / "." / "r.sqlite", tmp_path / "r.sqlite-wal"):
        with pytest.raises(ParameterError, match="is the results store"):
            export(db, "csv", out)
    os.symlink(db, tmp_path / "link.csv")
    with pytest.raises(ParameterError, match="is the results store"):
        export(db, "csv", tmp_path / "link.csv")
    assert main(["export", "--db", str(db), "-o", str(db)]) == 2
    err = capsys.readouterr().err
    assert "is the results store" in err and "Traceback" not in err
    assert db.stat().st_size == size
    with Store(db) as store:
        assert store.count() == 1 and store.integrity_check() == "ok"
