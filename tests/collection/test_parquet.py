"""``audiolens export --format parquet``: one row per file and task, typed columns, read back
with pyarrow, pandas, polars and DuckDB."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import pytest

from audiolens.cli import main
from audiolens.errors import MissingDependency
from audiolens.store import ResultRow, Store, export

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


@pytest.fixture(scope="module")
def parquet(collection, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("parquet") / "music.parquet"
    assert main(["export", "--db", str(collection.db), "-o", str(out)]) == 0  # by extension
    return out


@pytest.fixture(scope="module")
def stored(collection) -> dict[tuple[bytes, str], ResultRow]:
    with Store(collection.db, create=False) as store:
        return {(os.fsencode(r.path), r.task): r for r in store.rows()}


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-12)
    return a == b


def test_one_row_per_file_and_task_with_typed_columns(collection, parquet, stored):
    table = pq.read_table(parquet)
    assert table.num_rows == len(stored)
    schema = table.schema
    t = pa.types
    assert t.is_binary(schema.field("path_bytes").type) and t.is_string(schema.field("path").type)
    assert t.is_timestamp(schema.field("created").type)
    assert schema.field("tempo").type == pa.float64() and schema.field("meter").type == pa.int32()
    assert schema.field("beats").type == pa.list_(pa.float64())
    assert schema.field("confidence").type == pa.float64()  # quality's and beats', one column
    segments = schema.field("structure_segments").type  # speech has segments of its own kind
    assert segments.value_type.names == ["start", "end", "label"]
    assert schema.field("origin").type.names == ["codec", "bitrate_kbps"]
    assert schema.field("integrated_lufs").type == pa.float64()
    assert schema.field("histogram").type.names == ["start", "step", "counts"]
    assert schema.field("key").type == pa.string()
    assert schema.field("sections").type.value_type.names == ["start", "end", "key"]
    if "notes" in collection.tasks:
        note = schema.field("notes").type.value_type
        assert note.names == ["onset", "offset", "pitch", "velocity", "bends"]
    if collection.speech is not None:
        speech = schema.field("speech_segments").type.value_type
        assert speech.names == ["start", "end", "text", "words", "speaker"]
        assert schema.field("turns").type.value_type.names == ["start", "end", "speaker"]
    rows = table.to_pylist()
    assert [(r["path_bytes"], r["task"]) for r in rows] == sorted(stored)  # path, then task
    truncated = os.fsencode(collection.music / "truncated.flac")
    assert any("its header claims" in w for r in rows if r["path_bytes"] == truncated
               for w in r["warnings"] or [])  # fmt: skip
    assert schema.field("warnings").type == pa.list_(pa.string())
    assert schema.field("missing").type == pa.bool_()
    for r in rows:
        row = stored[(r["path_bytes"], r["task"])]
        assert r["status"] == row.status and r["error"] == row.error
        assert (r["warnings"] or []) == row.warnings and r["missing"] is False
        assert r["created"].timestamp() == pytest.approx(row.created, abs=1e-3)
        for key, value in (row.result or {}).items():
            column = key if key in table.column_names else f"{row.task}_{key}"
            got = r[column]
            if key == "segments":
                got = [{k: v for k, v in s.items() if v is not None} for s in got]
                value = [{k: v for k, v in s.items() if k != "words"} for s in value]
                got = [{k: v for k, v in s.items() if k != "words"} for s in got]
            if key == "notes":
                got = [{k: v for k, v in n.items() if v is not None} for n in got]
            if isinstance(value, dict) and key in ("speaking_time", "paths"):
                got = dict(got)
            if isinstance(value, (list, dict)):
                assert got == value, (r["path"], key)
            else:
                assert _same(got, value) or got == value, (r["path"], key, got, value)


def test_pandas_reads_it(collection, parquet, stored):
    pd = pytest.importorskip("pandas")
    df = pd.read_parquet(parquet)
    assert len(df) == len(stored)
    raw = os.fsencode(collection.raw_name)
    quality = df[(df.path_bytes == raw) & (df.task == "quality")].iloc[0]
    assert quality.verdict == stored[(raw, "quality")].result["verdict"] == "transcode"
    assert quality.path.endswith("caf\\xe9 \\xff.flac")  # text any reader can show
    beats = df[df.task == "beats"].dropna(subset=["tempo"])
    for _, row in beats.iterrows():
        assert list(row.beats) == stored[(row.path_bytes, "beats")].result["beats"]


def test_polars_reads_it(parquet, stored):
    pl = pytest.importorskip("polars")
    df = pl.read_parquet(parquet)
    assert df.height == len(stored)
    assert df.schema["beats"] == pl.List(pl.Float64)
    got = df.filter(pl.col("task") == "beats").select("path_bytes", "tempo", "meter").rows()
    want = [
        (k[0], r.result["tempo"], r.result["meter"])
        for k, r in sorted(stored.items())
        if k[1] == "beats" and r.result is not None
    ]
    assert [g for g in got if g[1] is not None or g[2] is not None] == [
        w for w in want if w[1] is not None or w[2] is not None
    ]


def test_duckdb_queries_it(parquet, stored):
    duckdb = pytest.importorskip("duckdb")
    got = duckdb.sql(
        "SELECT path_bytes, len(beats), len(downbeats), tempo FROM read_parquet(?) "
        "WHERE task = 'beats' AND status = 'ok' ORDER BY path_bytes",
        params=[str(parquet)],
    ).fetchall()
    want = [
        (k[0], len(r.result["beats"]), len(r.result["downbeats"]), r.result["tempo"])
        for k, r in sorted(stored.items())
        if k[1] == "beats" and r.status == "ok"
    ]
    assert got == want and len(got) >= 4
    labels = duckdb.sql(
        "SELECT list_transform(structure_segments, lambda s: s.label) FROM read_parquet(?) "
        "WHERE task = 'structure' AND status = 'ok' ORDER BY path_bytes",
        params=[str(parquet)],
    ).fetchall()
    assert [row[0] for row in labels] == [
        [s["label"] for s in r.result["segments"]]
        for k, r in sorted(stored.items())
        if k[1] == "structure" and r.status == "ok"
    ]


def test_other_tasks_get_inferred_or_text_columns(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        for i, value in enumerate([1, "one", [1, 2]]):
            row = ResultRow(f"/m/{i}.wav", "custom", 1, "ok", result={"value": value, "n": i})
            store.write_file([row])
        store.write_file([ResultRow("/m/3.wav", "quality", 2, "failed", error="broken")])
    export(tmp_path / "s.sqlite", "parquet", tmp_path / "s.parquet")
    table = pq.read_table(tmp_path / "s.parquet")
    assert table.schema.field("n").type == pa.int64()
    assert table.column("value").to_pylist() == ["1", '"one"', "[1, 2]", None]  # JSON text
    assert table.column("verdict").to_pylist() == [None, None, None, None]
    export(tmp_path / "s.sqlite", "parquet", tmp_path / "q.parquet", task="quality")
    assert pq.read_table(tmp_path / "q.parquet").column("error").to_pylist() == ["broken"]


def test_parquet_to_stdout_and_without_pyarrow(collection, tmp_path, capsysbinary, monkeypatch):
    assert main(["export", "--db", str(collection.db), "--format", "parquet"]) == 0
    out = capsysbinary.readouterr().out
    assert out[:4] == b"PAR1" and out[-4:] == b"PAR1"
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if it were not installed
    with pytest.raises(MissingDependency, match=r"audiolens\[parquet\]"):
        export(collection.db, "parquet", tmp_path / "x.parquet")
    assert main(["export", "--db", str(collection.db), "-o", str(tmp_path / "x.parquet")]) == 2
    assert b"pip install 'audiolens[parquet]'" in capsysbinary.readouterr().err
    assert list(tmp_path.iterdir()) == []
