"""``audiolens report``: the page's data is the store's, the page is self-contained and strict,
and no file name can get out of the data (checked in the HTML; the browser tests run it)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from audiolens.cli import main
from audiolens.report import build_report
from audiolens.report.collect import shown
from audiolens.store import Store


class _Page(HTMLParser):
    """The elements, attributes and script texts of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._in_script: dict[str, str | None] | None = None
        self.style = ""
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = dict(attrs)
            self.scripts.append((self._in_script, ""))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_script = None if tag == "script" else self._in_script
        self._in_style = False if tag == "style" else self._in_style

    def handle_data(self, data):
        if self._in_script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)
        elif self._in_style:
            self.style += data


def _parse(page: Path) -> _Page:
    parser = _Page()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def _json(parser: _Page, ident: str):
    return next(json.loads(t) for a, t in parser.scripts if a.get("id") == ident)


def _details(parser: _Page) -> list:
    """Each file's detail view data (``file-0``, ``file-1``... in the table's order)."""
    blocks = {a["id"]: t for a, t in parser.scripts if a.get("id", "").startswith("file-")}
    return [json.loads(blocks[f"file-{i}"]) for i in range(len(blocks))]


@pytest.fixture(scope="module")
def page(collection, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    build_report(collection.db, out)
    return out


def _store_files(db: Path) -> dict[str, dict[str, object]]:
    """path -> task -> the stored row."""
    files: dict[str, dict[str, object]] = {}
    with Store(db, create=False) as store:
        for row in store.rows():
            files.setdefault(row.path, {})[row.task] = row
    return files


def test_the_table_has_one_row_per_stored_file_with_its_values(collection, page):
    parsed = _parse(page)
    data = _json(parsed, "report-data")
    keys = [c["key"] for c in data["columns"]]
    stored = _store_files(collection.db)
    by_path = {row[0]: dict(zip(keys, row)) for row in data["rows"]}
    assert len(data["rows"]) == len(stored) == len(by_path)
    assert set(by_path) == {shown(p) for p in stored}
    for path, rows in stored.items():
        cells = by_path[shown(path)]
        failed = sum(r.status == "failed" for r in rows.values())
        status = "ok" if not failed else "failed" if failed == len(rows) else "partly failed"
        assert cells["status"] == status
        quality = rows.get("quality")
        if quality is not None and quality.status == "ok":
            assert cells["verdict"] == quality.result["verdict"]
            assert cells["cutoff"] == round(quality.result["cutoff_hz"] / 1000, 2)
        else:
            assert cells["verdict"] is None
        beats = rows.get("beats")
        if beats is not None and beats.status == "ok" and beats.result["tempo"] is not None:
            assert cells["tempo"] == round(beats.result["tempo"], 1)
        key, loudness = rows.get("key"), rows.get("loudness")
        if key is not None and key.status == "ok":
            assert cells["key"] == key.result["key"]
        if loudness is not None and loudness.status == "ok":
            lufs = loudness.result["integrated_lufs"]
            assert cells["lufs"] == (None if lufs is None else round(lufs, 1))
    # the examples are told apart as their names say
    assert by_path[shown(str(collection.music / "song_lossless.flac"))]["verdict"] == "lossless"
    fake = by_path[shown(str(collection.music / "song_fake_lossless_from_mp3_128.flac"))]
    assert fake["verdict"] == "transcode" and fake["origin"] == "mp3 128 kb/s"
    assert by_path[shown(str(collection.music / "empty.wav"))]["status"] == "failed"
    # the key and loudness columns hold the tasks' own fields
    lossless = by_path[shown(str(collection.music / "song_lossless.flac"))]
    assert isinstance(lossless["key"], str) and -40 < lossless["lufs"] < 0


def test_the_summary_counts_what_the_store_holds(collection, page):
    summary = _json(_parse(page), "report-data")["summary"]
    stored = _store_files(collection.db)
    assert summary["files"] == len(stored)
    verdicts = [
        r["quality"].result["verdict"]
        for r in stored.values()
        if "quality" in r and r["quality"].result
    ]
    assert dict(map(tuple, summary["verdicts"])) == {v: verdicts.count(v) for v in set(verdicts)}
    assert summary["verdicts"][0][0] == "transcode"  # the suspected fakes first
    failed = {(t, p) for p, rows in stored.items() for t, r in rows.items() if r.status == "failed"}
    assert sum(g["count"] for g in summary["failures"]) == len(failed)
    empty = next(g for g in summary["failures"] if g["message"] == "file is empty (0 bytes)")
    assert empty["count"] == 1 and "empty.wav" not in empty["message"]  # the name taken out
    warned = {(t, p) for p, rows in stored.items() for t, r in rows.items() for _ in r.warnings}
    assert warned and sum(g["count"] for g in summary["warnings"]) == len(warned)
    truncated = [g for g in summary["warnings"] if "its header claims" in g["message"]]
    assert {g["task"] for g in truncated} == {
        t for p, rows in stored.items() if p.endswith("truncated.flac") for t in rows
    }
    run = summary["runs"][0]
    assert run["workers"] == 1 and run["device"] == "cpu" and run["files_per_s"] > 0
    assert run["tasks"] == collection.tasks


def test_the_page_loads_nothing_and_allows_only_its_own_script_and_style(page):
    parsed = _parse(page)
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"https?:|//[a-z]", text.split("<script>")[0])  # no URL in the markup
    for tag, attrs in parsed.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)  # no handlers
        assert "style" not in attrs, (tag, attrs)
        assert tag not in ("link", "iframe", "object", "embed", "base")
        assert "src" not in attrs and "href" not in attrs  # nothing loaded from anywhere
    code = [t for a, t in parsed.scripts if "type" not in a]
    assert len(code) == 1 and len(parsed.scripts) == 2 + len(_details(parsed))
    assert {a.get("type") for a, _ in parsed.scripts if "type" in a} == {"application/json"}
    csp = next(
        a["content"] for t, a in parsed.tags if a.get("http-equiv") == "Content-Security-Policy"
    )

    def sha(s: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"

    rules = dict(r.strip().split(" ", 1) for r in csp.split(";"))
    assert rules["default-src"] == "'none'" and rules["img-src"] == "'self'"
    assert rules["script-src"] == sha(code[0]) and rules["style-src"] == sha(parsed.style)
    assert rules["base-uri"] == "'none'" and rules["form-action"] == "'none'"


def test_no_file_name_gets_out_of_the_data(collection, page):
    raw = page.read_bytes()
    text = raw.decode("utf-8")  # valid UTF-8, whatever bytes the names had
    # the blocks' own ends (data, script, one per file), nothing from a name
    assert text.count("</script") == 2 + len(_details(_parse(page)))
    assert "<img" not in text and "onerror=alert" in text  # the name is there, as data
    assert "\u2028" not in text and "\u202e" not in text
    parsed = _parse(page)
    rows = _json(parsed, "report-data")["rows"]
    details = _details(parsed)
    paths = [r[0] for r in rows]
    music = shown(str(collection.music))
    assert f"{music}/<img src=x onerror=alert(1)>.flac" in paths
    assert f"{music}/quote\"it's\\nnewline.mp3" in paths  # the newline as an escape
    assert f"{music}/evil\\u202egalf.mp3" in paths  # the right-to-left override shown
    assert f"{music}/caf\\xe9 \\xff.flac" in paths  # the bytes that are not UTF-8
    assert f"{music}/a</script>.flac" in paths
    names = {d["name"] for d in details}
    assert "<img src=x onerror=alert(1)>.flac" in names and "caf\\xe9 \\xff.flac" in names
    bad = details[paths.index(f"{music}/text.flac")]
    assert bad["tasks"][0]["status"] == "failed" and "not an audio file" in bad["tasks"][0]["error"]


def test_the_details_keep_what_the_view_draws_and_drop_long_lists(collection, page):
    parsed = _parse(page)
    paths = [r[0] for r in _json(parsed, "report-data")["rows"]]
    details = _details(parsed)
    song = details[paths.index(shown(str(collection.music / "song_lossless.flac")))]
    by_task = {t["task"]: t for t in song["tasks"]}
    assert [t["task"] for t in song["tasks"]][:3] == ["quality", "beats", "structure"]
    with Store(collection.db, create=False) as store:
        beats = store.get(collection.music / "song_lossless.flac", "beats").result
        notes = store.get(collection.music / "song_lossless.flac", "notes")
    assert by_task["beats"]["result"]["beats"] == beats["beats"]
    assert by_task["beats"]["result"]["downbeats"] == beats["downbeats"]
    assert "positions" not in by_task["beats"]["result"]
    assert by_task["structure"]["result"]["segments"]
    assert all(t["warnings"] == [] for t in song["tasks"])
    cut = details[paths.index(shown(str(collection.music / "truncated.flac")))]
    for t in cut["tasks"]:  # the decode warnings, with each task
        assert any("its header claims" in w for w in t["warnings"]), t["task"]
    if notes is not None:
        got = by_task["notes"]["result"]
        pitches = [n["pitch"] for n in notes.result["notes"]]
        assert "notes" not in got and got["count"] == len(pitches)
        assert got["pitch_range"] == [min(pitches), max(pitches)]
    if collection.speech is not None:
        jfk = details[paths.index(shown(str(collection.speech)))]
        speech = next(t for t in jfk["tasks"] if t["task"] == "speech")["result"]
        assert speech["language"] == "en" and "ask not" in speech["segments"][0]["text"]
        assert "words" not in speech["segments"][0]


def test_the_folder_form_draws_pictures_once_and_says_why_one_is_missing(collection, tmp_path):
    pytest.importorskip("matplotlib")
    db = tmp_path / "copy.sqlite"
    music = tmp_path / "music"
    shutil.copytree(collection.music, music)
    with Store(collection.db, create=False) as store, Store(db) as copy:  # rows of the copies
        for row in store.rows():
            if row.path.startswith(str(collection.music)):
                row.path = row.path.replace(str(collection.music), str(music), 1)
                row.run_id = None
                copy.write_file([row])
    (music / "song_mp3_v0.mp3").unlink()  # gone since the analysis
    (music / "song_mp3_320_from_128.mp3").write_bytes(b"changed since")
    assert main(["report", "--db", str(db), "-o", f"{tmp_path / 'rep'}/"]) == 0
    page = tmp_path / "rep" / "index.html"
    parsed = _parse(page)
    paths = [r[0] for r in _json(parsed, "report-data")["rows"]]
    details = _details(parsed)
    song = details[paths.index(shown(str(music / "song_lossless.flac")))]
    (picture,) = song["pictures"]["quality"]
    png = tmp_path / "rep" / picture["src"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.parent.name == "pictures"
    drawn = sorted(p.name for p in png.parent.iterdir())
    kinds = (".quality.png", ".notes.png", ".waveform.png")
    assert not [n for n in drawn if not n.endswith(kinds)]
    ok = [{t["task"] for t in d["tasks"] if t["status"] == "ok"} for d in details]
    # a picture per ok quality and notes result, and a waveform per file with beats or sections
    per_file = 3 if "notes" in collection.tasks else 2
    wanted = sum(len(t & {"quality", "notes"}) + bool(t & {"beats", "structure"}) for t in ok)
    assert len(drawn) == wanted - 2 * per_file
    gone = details[paths.index(shown(str(music / "song_mp3_v0.mp3")))]
    changed = details[paths.index(shown(str(music / "song_mp3_320_from_128.mp3")))]
    assert "pictures" not in gone and "pictures" not in changed
    assert set(gone["missing"]) == set(changed["missing"]) and len(gone["missing"]) == per_file
    for kind in ("quality", "waveform"):
        assert gone["missing"][kind].startswith("no picture: the file cannot be read now")
        assert changed["missing"][kind] == "no picture: the file changed after it was analyzed"

    # the waveform carries the stored beat grid: one red line per downbeat
    (wave,) = song["pictures"]["waveform"]
    assert wave["src"].endswith(".waveform.png") and (tmp_path / "rep" / wave["src"]).is_file()
    with Store(db, create=False) as store:
        downbeats = store.get(music / "song_lossless.flac", "beats").result["downbeats"]
    assert len(downbeats) >= 4
    assert _red_lines(tmp_path / "rep" / wave["src"]) == len(downbeats)

    info = build_report(db, f"{tmp_path / 'rep'}/")  # again: the pictures come from the cache
    assert (info.pictures_drawn, info.pictures_reused) == (0, len(drawn))
    assert info.pictures_missing == 2 * per_file
    assert sorted(p.name for p in png.parent.iterdir()) == drawn

    # a new structure result for the song: its waveform alone is drawn again, under a new name
    with Store(db) as store:
        row = store.get(music / "song_lossless.flac", "structure")
        row.task_version += 1
        store.write_file([row])
    info = build_report(db, f"{tmp_path / 'rep'}/")
    assert (info.pictures_drawn, info.pictures_reused) == (1, len(drawn) - 1)
    now = _details(_parse(page))[paths.index(shown(str(music / "song_lossless.flac")))]
    assert now["pictures"]["waveform"][0]["src"] != wave["src"]
    assert now["pictures"]["quality"] == song["pictures"]["quality"]


def _red_lines(png: Path) -> int:
    """How many separate vertical red lines (the downbeats) a waveform picture has."""
    from matplotlib.image import imread

    rgb = imread(png)[..., :3]
    red = (rgb[..., 0] > 0.55) & (rgb[..., 1] < 0.35) & (rgb[..., 2] < 0.35)
    columns = red.sum(axis=0) > 0.5 * red.sum(axis=0).max()  # lines cross the whole plot
    return int(columns[0] + (columns[1:] & ~columns[:-1]).sum())


def test_report_names_a_bad_target_and_writes_nothing(collection, tmp_path, capsys):
    folder = tmp_path / "out"
    folder.mkdir()
    assert main(["report", "--db", str(collection.db), "-o", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "is a folder" in err and f"{folder}/" in err and err.count("\n") == 1
    assert main(["report", "--db", str(collection.db), "-o", str(tmp_path / "no" / "r.html")]) == 2
    assert "there is no folder" in capsys.readouterr().err
    assert (
        main(["report", "--db", str(tmp_path / "none.sqlite"), "-o", str(folder / "r.html")]) == 2
    )
    assert "no results store" in capsys.readouterr().err
    assert list(folder.iterdir()) == [] and sorted(os.listdir(tmp_path)) == ["out"]


def test_an_empty_store_makes_a_page_that_says_so(tmp_path):
    Store(tmp_path / "empty.sqlite").close()
    info = build_report(tmp_path / "empty.sqlite", tmp_path / "r.html")
    data = _json(_parse(info.page), "report-data")
    assert info.files == 0 and data["rows"] == [] and data["summary"]["files"] == 0
    assert [c["key"] for c in data["columns"]] == ["file"]


def test_report_never_overwrites_the_store_and_reads_a_read_only_one(
    collection, tmp_path, monkeypatch, capsys
):
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "copy.sqlite"
    shutil.copy(collection.db, db)
    before = db.read_bytes()
    os.symlink(db, tmp_path / "link.html")
    for out in (db, tmp_path / "link.html", folder / "copy.sqlite-wal"):
        assert main(["report", "--db", str(db), "-o", str(out)]) == 2
        err = capsys.readouterr().err
        assert "is the results store" in err and "another name" in err and err.count("\n") == 1
    assert db.read_bytes() == before
    # a store nobody may write (root writes anyway: the store asks os.access, which says no)
    db.chmod(0o444)
    folder.chmod(0o555)
    real = os.access
    denied = {str(db), str(folder)}
    monkeypatch.setattr(
        os, "access", lambda p, m, *a, **k: not (m & os.W_OK and os.path.abspath(p) in denied)
        and real(p, m, *a, **k),
    )  # fmt: skip
    try:
        info = build_report(db, tmp_path / "r.html")
    finally:
        folder.chmod(0o755)
    assert info.files == len(_store_files(collection.db)) and info.page.stat().st_size > 0
    assert db.read_bytes() == before
