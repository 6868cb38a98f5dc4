"""The store against concurrent writers and mistakes (issue 16, points 4, 7 and 8)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import time

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


# -- point 7: stores that cannot be written, other programs' databases, killed runs ----------


def _deny_writes(monkeypatch, *paths) -> None:
    """Make ``paths`` unwritable: by their mode, and for root (who writes anyway) through
    ``os.access``, which the store asks."""
    denied = {os.path.abspath(p) for p in paths}
    for p in paths:
        os.chmod(p, 0o555 if os.path.isdir(p) else 0o444)
    if os.geteuid() == 0:
        real = os.access

        def access(path, mode, *a, **kw):
            if mode & os.W_OK and os.path.abspath(path) in denied:
                return False
            return real(path, mode, *a, **kw)

        monkeypatch.setattr(os, "access", access)


def _song(tmp_path):
    from audiolens_testkit import make_audio

    return make_audio(tmp_path / "in", "wav_s16", seconds=1.0, name="song").path


def test_a_read_only_store_is_a_usage_error_not_a_traceback(tmp_path, monkeypatch, capsys):
    pytest.importorskip("av")
    db = tmp_path / "r.sqlite"
    with Store(db) as store:
        store.write_file([_row("/m/a.wav")])
    _deny_writes(monkeypatch, db)
    assert main(["analyze", str(_song(tmp_path)), "--db", str(db), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "r.sqlite: the results store is read-only" in err and "Traceback" not in err
    assert "a.wav" in export(db, "csv")  # reading it still works
    os.chmod(db, 0o644)


def test_a_store_in_a_read_only_folder_says_so(tmp_path, monkeypatch, capsys):
    pytest.importorskip("av")
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "r.sqlite"
    with Store(db) as store:
        store.write_file([_row("/m/a.wav")])
    _deny_writes(monkeypatch, folder)
    try:
        song = _song(tmp_path)
        assert main(["analyze", str(song), "--db", str(db), "--no-progress"]) == 2
        assert main(["analyze", str(song), "--db", str(folder / "new.sqlite")]) == 2
    finally:
        os.chmod(folder, 0o755)
    err = capsys.readouterr().err
    assert "its folder" in err and "is not writable" in err
    assert "cannot create the results store" in err
    assert "not an audiolens results store" not in err and "Traceback" not in err


def test_another_programs_database_is_refused_unchanged(tmp_path):
    import sqlite3

    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (x TEXT)")
    conn.execute("INSERT INTO notes VALUES ('mine')")
    conn.commit()
    conn.close()
    before = other.read_bytes()
    with pytest.raises(Exception, match="not an audiolens results store"):
        Store(other)
    assert other.read_bytes() == before  # still in its own journal mode, untouched
    assert not os.path.exists(f"{other}-wal")
    conn = sqlite3.connect(other)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()


def _killed_run(db, then: str = "") -> None:
    """A run begun in another process, which then does ``then`` and is killed (exits without
    ending its run)."""
    import subprocess
    import sys

    import audiolens

    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(audiolens.__file__)))
    code = (
        "import os, sys; from audiolens.store import Store\n"
        "s = Store(sys.argv[1]); run = s.begin_run(['quality'], 'cpu')\n"
        f"{then}\n"
        "os._exit(9)  # killed: end_run never runs\n"
    )
    subprocess.run([sys.executable, "-c", code, str(db)], env=env, check=False, timeout=60)


def test_a_killed_run_is_marked_when_a_later_run_opens_the_store(tmp_path):
    db = tmp_path / "r.sqlite"
    _killed_run(db)
    with Store(db) as store:
        assert [r["status"] for r in store.runs()] == ["running"]
        mine = store.begin_run(["quality"], "cpu")  # a later run
        runs = store.runs()
        assert [r["status"] for r in runs] == ["killed", "running"]
        assert runs[-1]["id"] == mine
        assert store.mark_killed_runs() == []  # this process's own run is alive


# -- point 8: stale results ------------------------------------------------------------------


def test_verify_finds_content_changed_with_the_same_size_and_time(tmp_path):
    import numpy as np
    from audiolens_testkit import write_wav

    from audiolens.runner import analyze

    song = write_wav(tmp_path / "song.wav", np.zeros((1, 44100), np.float32), 44100)
    db = tmp_path / "r.sqlite"
    assert analyze([song], db=db, workers=1, progress=False).done == 1
    st = song.stat()
    write_wav(song, np.full((1, 44100), 0.25, np.float32), 44100)  # same size
    os.utime(song, ns=(st.st_atime_ns, st.st_mtime_ns))  # same time
    assert song.stat().st_size == st.st_size
    plain = analyze([song], db=db, workers=1, progress=False)
    assert plain.skipped == 1 and plain.done == 0  # not noticed without --verify
    checked = analyze([song], db=db, workers=1, progress=False, verify=True)
    assert checked.done == 1 and checked.skipped == 0
    assert analyze([song], db=db, workers=1, progress=False, verify=True).skipped == 1
    assert main(["analyze", str(song), "--db", str(db), "--verify", "--no-progress"]) == 0


def test_prune_drops_rows_of_files_that_are_gone_and_exports_mark_them(tmp_path, capsys):
    here = tmp_path / "here.wav"
    here.write_bytes(b"x")
    gone = str(tmp_path / "gone.wav")
    db = tmp_path / "r.sqlite"
    with Store(db) as store:
        store.write_file([_row(str(here)), _row(str(here), task="beats")])
        store.write_file([_row(gone), _row(gone, task="beats")])
    missing = {r["path"]: r["missing"] for r in json.loads(export(db, "json"))}
    assert missing == {str(here): False, gone: True}
    assert main(["prune", "--db", str(db), "--dry-run"]) == 0
    assert capsys.readouterr().out.split() == [gone]
    with Store(db) as store:
        assert store.count() == 4
    assert main(["prune", "--db", str(db)]) == 0
    out = capsys.readouterr()
    assert out.out.split() == [gone] and "1 file(s) no longer exist" in out.err
    with Store(db) as store:
        assert {r.path for r in store.rows()} == {str(here)} and store.count() == 2
    assert main(["prune", "--db", str(tmp_path / "none.sqlite")]) == 2


def test_claims_keep_concurrent_runs_off_each_others_files(tmp_path):
    db = tmp_path / "r.sqlite"
    quality = {"quality": 1}
    with Store(db) as a, Store(db) as b:  # two runs of this (live) process
        run_a = a.begin_run(["quality", "beats"], "cpu")
        run_b = b.begin_run(["quality", "beats"], "cpu")
        since = 0.0

        def claim(store, run, path, tasks=quality, when=since):
            return store.claim(path, size=10, mtime_ns=20, tasks=tasks, run_id=run, since=when)

        assert claim(a, run_a, "/m/x.wav") == ("quality",)
        assert claim(a, run_a, "/m/x.wav") == ("quality",)  # a run's own claim holds for it
        assert claim(b, run_b, "/m/x.wav") == ()  # in flight in run a
        assert claim(b, run_b, "/m/y.wav") == ("quality",)
        # a file's tasks partly held: the others are given
        both = {"quality": 1, "beats": 1}
        assert claim(b, run_b, "/m/x.wav", both) == ("beats",)
        # the rows end the claim; a run that planned before they were stored leaves the file
        a.write_file([dataclasses.replace(_row("/m/x.wav"), run_id=run_a)])
        assert claim(b, run_b, "/m/x.wav") == ()
        planned_later = time.time() + 1
        assert claim(b, run_b, "/m/x.wav", when=planned_later) == ("quality",)
        # what run a stored at another task version is not this run's work
        a.write_file([dataclasses.replace(_row("/m/w.wav"), run_id=run_a)])  # version 1
        assert claim(b, run_b, "/m/w.wav", {"quality": 2}) == ("quality",)
        # the end of a run ends its claims
        assert claim(a, run_a, "/m/z.wav") == ("quality",)
        a.end_run(run_a, status="finished", total=2, done=2, skipped=0, failed=0)
        assert claim(b, run_b, "/m/z.wav") == ("quality",)
        b.end_run(run_b, status="finished", total=2, done=2, skipped=0, failed=0)
        assert a._conn.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0


def test_the_claims_of_a_killed_run_are_released(tmp_path):
    import sqlite3

    db = tmp_path / "r.sqlite"
    # killed while analysing x.wav
    _killed_run(
        db, "s.claim('/m/x.wav', size=10, mtime_ns=20, tasks={'quality': 1}, run_id=run, since=0)"
    )
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 1  # left behind
    conn.close()
    with Store(db) as store:
        mine = store.begin_run(["quality"], "cpu")  # marks the dead run killed
        assert [r["status"] for r in store.runs()] == ["killed", "running"]
        assert store._conn.execute("SELECT run_id FROM claims").fetchall() == []
        got = store.claim(
            "/m/x.wav", size=10, mtime_ns=20, tasks={"quality": 1}, run_id=mine, since=0
        )
        assert got == ("quality",)
