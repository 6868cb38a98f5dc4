"""The results store: schema, migrations, transactions, nasty paths, exports."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3

import pytest

from audiolens.errors import ParameterError
from audiolens.store import (
    BASE_FIELDS,
    MIGRATIONS,
    SCHEMA_VERSION,
    ResultRow,
    Store,
    StoreError,
    content_hash,
    export,
    migrate,
)

NASTY = [
    "plain.wav",
    "spaces and 'quotes\" .flac",
    "new\nline.mp3",
    "tab\tand\rcr.ogg",
    "ünïcödé — 音楽 🎵.m4a",
    os.fsdecode(b"latin1-\xe9t\xe9-\xff.wav"),  # not UTF-8: lone surrogates
    " leading and trailing .wav ",
    "back\\slash.wav",
]


def _row(path: str, task: str = "quality", **kw) -> ResultRow:
    base = dict(
        task_version=1,
        status="ok",
        result={
            "verdict": "lossless",
            "origin": None,
            "cutoff_hz": 22050.0,
            "content": {"probs": [0.1, 0.9]},
        },
        size=1234,
        mtime_ns=1_700_000_000_000_000_000,
        content_hash="ab" * 16,
        device="cpu",
        elapsed_s=0.5,
    )
    base.update(kw)
    return ResultRow(path=path, task=task, **base)


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "r.sqlite") as s:
        yield s


def test_new_store_is_wal_and_current(tmp_path):
    path = tmp_path / "r.sqlite"
    with Store(path) as s:
        assert s.journal_mode == "wal"
        assert s.schema_version == SCHEMA_VERSION == MIGRATIONS[-1].version
        assert s.integrity_check() == "ok"
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent
    assert conn.execute("SELECT version FROM schema_version").fetchone()[0] == SCHEMA_VERSION


def test_nasty_paths_round_trip_exactly(store, tmp_path):
    paths = [os.path.join(os.fsdecode(tmp_path), name) for name in NASTY]
    for p in paths:
        store.write_file([_row(p)])
    got = [r.path for r in store.rows()]
    assert sorted(os.fsencode(p) for p in got) == sorted(os.fsencode(p) for p in paths)
    for p in paths:
        row = store.get(p, "quality")
        assert row is not None and os.fsencode(row.path) == os.fsencode(p)
        assert store.get(os.fsencode(p), "quality") is not None  # bytes paths too
        assert row.result["content"] == {"probs": [0.1, 0.9]}


def test_relative_paths_are_stored_absolute(store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store.write_file([_row("song.wav")])
    assert store.get(tmp_path / "song.wav", "quality") is not None
    assert next(store.rows()).path == os.path.join(os.fsdecode(tmp_path), "song.wav")


def test_is_done_only_for_same_identity_version_and_ok(store):
    store.write_file(
        [_row("/m/a.wav"), _row("/m/b.wav", status="failed", result=None, error="/m/b.wav: broken")]
    )
    ok = dict(size=1234, mtime_ns=1_700_000_000_000_000_000, task="quality", version=1)
    assert store.is_done("/m/a.wav", **ok)
    assert not store.is_done("/m/b.wav", **ok)  # failed rows are retried
    assert not store.is_done("/m/a.wav", **{**ok, "size": 1235})
    assert not store.is_done("/m/a.wav", **{**ok, "mtime_ns": 1})
    assert not store.is_done("/m/a.wav", **{**ok, "version": 2})
    assert not store.is_done("/m/a.wav", **{**ok, "task": "beats"})
    assert not store.is_done("/m/c.wav", **ok)


def test_rewrite_replaces_and_one_file_is_one_transaction(store):
    store.write_file([_row("/m/a.wav"), _row("/m/a.wav", task="beats")])
    store.write_file([_row("/m/a.wav", status="failed", result=None, error="gone")])
    assert store.count() == 2
    assert store.get("/m/a.wav", "quality").status == "failed"
    # a file whose second row is invalid leaves nothing of that file behind
    with pytest.raises(sqlite3.IntegrityError):
        store.write_file([_row("/m/new.wav"), _row("/m/new.wav", task="beats", status="weird")])
    assert store.get("/m/new.wav", "quality") is None
    assert store.count() == 2
    store.write_file([_row("/m/next.wav")])  # the store is still usable
    assert store.count(status="ok") == 2


def test_messages_and_results_with_surrogates_are_storable(store):
    bad = os.fsdecode(b"/m/\xff.wav")
    store.write_file([_row(bad, status="failed", result={"path": bad}, error=f"{bad}: nope")])
    row = store.get(bad, "quality")
    assert "\\udcff" in row.error or "\\xff" in row.error
    assert os.fsencode(row.result["path"]) == b"/m/\xff.wav"


def test_nan_in_results_becomes_null(store):
    store.write_file([_row("/m/a.wav", result={"x": float("nan"), "y": [float("inf"), 1.0]})])
    assert store.get("/m/a.wav", "quality").result == {"x": None, "y": [None, 1.0]}


def test_migration_from_version_1_keeps_rows(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, target=1) == [1]
    conn.execute(
        "INSERT INTO results (path, task, task_version, size, mtime_ns, content_hash, status, "
        "error, device, elapsed_s, created, result) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (b"/m/a.wav", "quality", 1, 10, 20, "h", "ok", None, "cpu", 0.1, 1.0, '{"v": 1}'),
    )
    conn.close()
    with Store(path) as s:
        assert s.schema_version == SCHEMA_VERSION
        row = s.get("/m/a.wav", "quality")
        assert row.result == {"v": 1} and row.run_id is None and row.size == 10
        run = s.begin_run(["quality"], "cpu")
        s.write_file([_row("/m/b.wav", run_id=run)])
        assert s.get("/m/b.wav", "quality").run_id == run
    with Store(path) as s:  # opening again applies nothing
        assert s.count() == 2


@pytest.mark.parametrize("start", [2, 5])  # before runs kept their process, and after
def test_runs_remember_their_workers_and_an_older_store_learns_to(tmp_path, start):
    path = tmp_path / f"v{start}.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, target=start) == list(range(1, start + 1))
    conn.execute("INSERT INTO runs (started, tasks, device) VALUES (1.0, '[\"quality\"]', 'cpu')")
    conn.close()
    with Store(path) as s:
        run = s.begin_run(["quality", "beats"], "cuda:0", workers=3)
        s.end_run(run, status="finished", total=4, done=3, skipped=0, failed=1)
        old, new = s.runs()
    assert (old["id"], old["workers"], old["tasks"], old["finished"]) == (
        1,
        None,
        ["quality"],
        None,
    )
    assert (new["workers"], new["device"], new["tasks"]) == (3, "cuda:0", ["quality", "beats"])
    assert (new["status"], new["total"], new["done"], new["failed"]) == ("finished", 4, 3, 1)
    assert new["finished"] >= new["started"]


def test_migrate_is_idempotent_and_reports_what_it_applied(tmp_path):
    conn = sqlite3.connect(tmp_path / "x.sqlite", isolation_level=None)
    assert migrate(conn) == [m.version for m in MIGRATIONS]
    assert migrate(conn) == []


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "new.sqlite"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer than this audiolens"):
        Store(path)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "path is empty"),  # SQLite would quietly make a temporary database
        ("folder", "folder: is a folder, not a results store file"),
        ("nodir/r.sqlite", "nodir/r.sqlite: cannot create the results store, there is no folder"),
    ],
)
def test_store_paths_that_cannot_be_a_store_are_named(tmp_path, monkeypatch, name, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder").mkdir()
    with pytest.raises(StoreError, match=message):
        Store(name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]  # nothing created


def test_foreign_files_are_refused(tmp_path):
    text = tmp_path / "notes.sqlite"
    text.write_text("hello, I am not a database" * 100)
    with pytest.raises(StoreError, match="not an audiolens results store"):
        Store(text)
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE songs (x)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not an audiolens results store"):
        Store(other)
    with pytest.raises(StoreError, match="no results store"):
        Store(tmp_path / "missing.sqlite", create=False)
    assert not (tmp_path / "missing.sqlite").exists()


def test_content_hash_reads_both_ends(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    data = bytearray(os.urandom(300_000))
    a.write_bytes(bytes(data))
    b.write_bytes(bytes(data))
    assert content_hash(a) == content_hash(b) == content_hash(a, size=300_000)
    data[-1] ^= 1
    b.write_bytes(bytes(data))
    assert content_hash(a) != content_hash(b)
    data[-1] ^= 1
    data[150_000] ^= 1  # the middle is not read: cheap by design
    b.write_bytes(bytes(data))
    assert content_hash(a) == content_hash(b)
    (tmp_path / "small").write_bytes(b"xyz")
    assert len(content_hash(tmp_path / "small")) == 32


# -- exports ----------------------------------------------------------------------------------


@pytest.fixture
def filled(tmp_path):
    path = tmp_path / "r.sqlite"
    with Store(path) as s:
        for name in NASTY:
            s.write_file([_row(os.path.join("/music", name))])
        s.write_file(
            [
                _row(
                    "/music/zz-broken.mp3",
                    status="failed",
                    result=None,
                    error="/music/zz-broken.mp3: not audio",
                )
            ]
        )
        s.write_file(
            [
                _row(
                    "/music/plain.wav",
                    task="beats",
                    result={"bpm": 120.0, "beats": [0.5, 1.0], "status": "odd"},
                )
            ]
        )
    return path


def test_export_json_list_with_fields_at_top_level(filled):
    records = json.loads(export(filled, "json"))
    assert isinstance(records, list) and len(records) == len(NASTY) + 2
    first = records[0]
    assert list(first)[: len(BASE_FIELDS)] == list(BASE_FIELDS)
    q = next(r for r in records if r["task"] == "quality" and r["status"] == "ok")
    assert q["verdict"] == "lossless" and q["cutoff_hz"] == 22050.0 and q["origin"] is None
    assert q["device"] == "cpu" and q["task_version"] == 1 and q["elapsed_s"] == 0.5
    failed = next(r for r in records if r["status"] == "failed")
    assert failed["error"] == "/music/zz-broken.mp3: not audio" and "verdict" not in failed
    beats = next(r for r in records if r["task"] == "beats")
    assert beats["beats"] == [0.5, 1.0] and beats["beats_status"] == "odd"  # clash renamed
    got = {os.fsencode(r["path"]) for r in records}
    assert {os.fsencode(os.path.join("/music", n)) for n in NASTY} <= got


def test_export_jsonl_is_one_record_per_line(filled, tmp_path):
    out = tmp_path / "r.jsonl"
    assert export(filled, "jsonl", out) is None
    lines = out.read_bytes().decode("utf-8").splitlines()  # valid UTF-8 even for \xff names
    assert len(lines) == len(NASTY) + 2
    assert all(isinstance(json.loads(line), dict) for line in lines)


def test_export_csv_shapes(filled, tmp_path):
    out = tmp_path / "r.csv"
    export(filled, "csv", out)
    with open(out, newline="", encoding="utf-8", errors="surrogateescape") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(NASTY) + 2
    header = list(rows[0])
    assert header[: len(BASE_FIELDS)] == list(BASE_FIELDS)
    assert {"verdict", "content", "bpm", "beats"} <= set(header)
    q = next(r for r in rows if r["path"] == "/music/plain.wav" and r["task"] == "quality")
    assert json.loads(q["content"]) == {"probs": [0.1, 0.9]}  # nested values as JSON
    assert q["origin"] == "" and q["bpm"] == ""  # missing values are empty cells
    assert {os.fsencode(r["path"]) for r in rows} >= {
        os.fsencode(os.path.join("/music", n)) for n in NASTY
    }


def test_export_to_streams_and_filters(filled):
    buf = io.BytesIO()
    export(filled, "csv", buf, task="beats")
    assert buf.getvalue().decode().count("\r\n") == 2
    text = io.StringIO()
    export(filled, "jsonl", text, task="beats")
    assert json.loads(text.getvalue())["bpm"] == 120.0
    with Store(filled) as s:
        assert json.loads(export(s, "json", task="speech")) == []  # known, no rows
        with pytest.raises(ParameterError, match=r"task 'nothing' is not known.*quality"):
            export(s, "json", task="nothing")


def test_export_to_a_file_checks_the_name_first_and_replaces_atomically(filled, tmp_path):
    with pytest.raises(ParameterError, match=r"nodir.*there is no folder"):
        export(filled, "csv", tmp_path / "nodir" / "x.csv")
    with pytest.raises(ParameterError, match="is a folder"):
        export(filled, "csv", tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    target, elsewhere = out / "x.json", out / "elsewhere.txt"
    elsewhere.write_text("keep me")
    target.symlink_to(elsewhere)
    export(filled, "json", target)
    assert not target.is_symlink() and json.loads(target.read_text())
    assert elsewhere.read_text() == "keep me"  # the link was replaced, not followed
    assert sorted(p.name for p in out.iterdir()) == ["elsewhere.txt", "x.json"]  # no temp left


def test_export_rejects_unknown_format_and_missing_store(filled, tmp_path):
    with pytest.raises(ParameterError, match="xlsx"):
        export(filled, "xlsx")
    with pytest.raises(ParameterError, match="Parquet is binary"):
        export(filled, "parquet")  # as text
    with pytest.raises(StoreError):
        export(tmp_path / "nope.sqlite")


def test_openers_at_once_all_get_the_new_store(tmp_path):
    """Several programs opening one new store at the same moment: SQLite answers one of two
    that switch the file to WAL together "database is locked" without waiting; every opener
    must still get the store (the pragma is tried again until the timeout)."""
    import threading

    failures: list[str] = []
    for round_ in range(200):
        path = tmp_path / f"r{round_}.sqlite"
        start = threading.Barrier(8)

        def opener(path=path, start=start) -> None:
            start.wait()
            try:
                Store(path).close()
            except StoreError as exc:
                failures.append(str(exc))

        threads = [threading.Thread(target=opener) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert failures == []
    with Store(tmp_path / "r0.sqlite") as store:
        assert store.journal_mode == "wal" and store.integrity_check() == "ok"
