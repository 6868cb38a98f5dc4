"""``audiolens quality``: output formats, pictures, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audiolens.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_text_lines_and_exit_status(capsys):
    files = [str(EXAMPLES / "song_lossless.flac"), str(EXAMPLES / "song_mp3_320_from_128.mp3")]
    assert main(["quality", *files, "--device", "cpu"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].split()[:2] == ["lossless", "lossless"]
    assert lines[1].split()[:2] == ["transcode", "128"] and "mp3@128k" in lines[1]


def test_jsonl_records_have_the_export_fields(capsys):
    assert main(["quality", str(EXAMPLES / "song_mp3_v0.mp3"), "--format", "jsonl"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert {
        "path",
        "device",
        "verdict",
        "bitrate_class",
        "origin",
        "cutoff_hz",
        "confidence",
    } <= set(rec)
    assert rec["verdict"] == "lossy" and rec["bitrate_class"] == "V0"
    assert rec["claimed"]["encoder"].startswith("LAME")


def test_unreadable_file_is_named_and_the_rest_still_run(tmp_path, capsys):
    bad = tmp_path / "not audio.mp3"
    bad.write_text("hello, I am text")
    code = main(["quality", str(bad), str(EXAMPLES / "song_lossless.flac"), "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "not audio.mp3" in err
    assert [r["verdict"] for r in json.loads(out)] == ["lossless"]


def test_plot_writes_one_png_per_file(tmp_path):
    pytest.importorskip("matplotlib")
    files = [
        str(EXAMPLES / "song_lossless.flac"),
        str(EXAMPLES / "song_fake_lossless_from_mp3_128.flac"),
    ]
    assert main(["quality", *files, "--plot", str(tmp_path / "plots")]) == 0
    pngs = sorted((tmp_path / "plots").glob("*.png"))
    assert len(pngs) == 2
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_help_exits_zero(capsys):
    assert main(["quality", "--help"]) == 0
    assert "--plot" in capsys.readouterr().out
