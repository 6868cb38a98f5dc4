"""The command line: help, version, exit statuses, logging, analyze/export/devices."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import subprocess
import sys

import pytest

import audiolens
import test_runner_fakes as fakes
from audiolens.cli import SUBCOMMANDS, build_parser, main
from audiolens.store import Store


@pytest.fixture(autouse=True)
def _fake_tasks(monkeypatch):
    fakes.register(monkeypatch)
    monkeypatch.delenv("AUDIOLENS_DEVICE", raising=False)


@pytest.fixture
def lib(tmp_path):
    root = tmp_path / "lib"
    root.mkdir()
    fakes.write_wav(root / "a.wav")
    fakes.write_wav(root / "b.flac.wav", freq=880)
    return root


def _analyze(lib, db, *extra):
    return main(
        [
            "analyze",
            str(lib),
            "--tasks",
            "echo",
            "--db",
            str(db),
            "--workers",
            "1",
            "--device",
            "cpu",
            *extra,
        ]
    )


@pytest.mark.parametrize("command", [[], *([c] for c in ("analyze", "export", "devices"))])
def test_help_everywhere(command, capsys):
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: audiolens {' '.join(command)}".rstrip())
    assert "--verbose" in out and "--quiet" in out


def test_help_lists_every_available_subcommand(capsys):
    main(["--help"])
    out = capsys.readouterr().out
    for name in ("analyze", "export", "devices"):
        assert name in out
    assert set(build_parser()._subparsers._group_actions[0].choices) <= set(SUBCOMMANDS)


def test_quality_subcommand_is_optional(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "audiolens.cli.quality", None)  # as if not written yet
    parser = build_parser()
    assert "quality" not in parser._subparsers._group_actions[0].choices
    assert main(["devices"]) == 0


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"audiolens {audiolens.__version__}"


def test_python_dash_m(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(audiolens.__file__)))
    run = subprocess.run(
        [sys.executable, "-m", "audiolens", "--help"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert run.returncode == 0 and "usage: audiolens" in run.stdout


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["analyze"],
        ["analyze", "x", "--workers", "0"],
        ["nope"],
        ["export", "--format", "xml"],
        ["analyze", "x", "--bogus"],
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    assert main(argv) == 2
    assert "usage: audiolens" in capsys.readouterr().err


def test_analyze_ok_then_skip(lib, tmp_path, capsys):
    db = tmp_path / "r.sqlite"
    assert _analyze(lib, db) == 0
    err = capsys.readouterr().err
    assert "2 analyzed" in err and "on cpu" in err and str(db) in err
    assert _analyze(lib, db) == 0
    assert "2 skipped" in capsys.readouterr().err
    with Store(db) as s:
        assert s.count(status="ok") == 2


def test_some_files_failed_exit_1(lib, tmp_path, capsys):
    (lib / "broken.mp3").write_text("not audio")
    db = tmp_path / "r.sqlite"
    assert _analyze(lib, db) == 1
    err = capsys.readouterr().err
    assert "audiolens: warning: echo failed:" in err and "broken.mp3" in err
    assert "1 failed" in err
    assert _analyze(lib, db, "-q") == 1  # retried, still broken; quiet prints nothing
    assert capsys.readouterr().err == ""


def test_default_db_in_current_folder(lib, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["analyze", str(lib), "--tasks", "echo", "--workers", "1"]) == 0
    assert (tmp_path / "audiolens.sqlite").is_file()
    assert main(["export", "-o", "out.json"]) == 0
    assert len(json.loads((tmp_path / "out.json").read_text())) == 2


def test_device_from_environment(lib, tmp_path, monkeypatch, capsys):
    db = tmp_path / "r.sqlite"
    monkeypatch.setenv("AUDIOLENS_DEVICE", "cpu")
    assert main(["analyze", str(lib), "--tasks", "echo", "--db", str(db), "--workers", "1"]) == 0
    with Store(db) as s:
        assert {r.device for r in s.rows()} == {"cpu"}
    monkeypatch.setenv("AUDIOLENS_DEVICE", "abacus")
    assert main(["analyze", str(lib), "--tasks", "echo", "--db", str(db)]) == 2
    assert "audiolens: error: device='auto'" in capsys.readouterr().err


def test_unknown_task_is_a_usage_error(lib, tmp_path, capsys):
    assert main(["analyze", str(lib), "--tasks", "nope", "--db", str(tmp_path / "r.sqlite")]) == 2
    err = capsys.readouterr().err
    assert "audiolens: error: task 'nope' is not known" in err and "echo" in err


def test_ctrl_c_exits_130(lib, tmp_path, monkeypatch, capsys):
    import audiolens.runner

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(audiolens.runner, "analyze", interrupted)
    assert _analyze(lib, tmp_path / "r.sqlite") == 130
    assert "interrupted" in capsys.readouterr().err


def test_verbose_and_logging_is_restored(lib, tmp_path, capsys):
    logger = logging.getLogger("audiolens")
    level, handlers = logger.level, list(logger.handlers)
    assert _analyze(lib, tmp_path / "r.sqlite", "-v") == 0
    assert "to analyze" in capsys.readouterr().err  # the info line
    assert logger.level == level and logger.handlers == handlers


def test_export_formats(lib, tmp_path, capsysbinary):
    db = tmp_path / "r.sqlite"
    (lib / "broken.mp3").write_text("not audio")
    _analyze(lib, db, "-q")
    capsysbinary.readouterr()
    assert main(["export", "--db", str(db)]) == 0
    records = json.loads(capsysbinary.readouterr().out)
    assert len(records) == 3
    ok = next(r for r in records if r["status"] == "ok")
    assert {"path", "task", "task_version", "status", "error", "device", "elapsed_s"} <= set(ok)
    assert ok["sample_rate"] == 4000 and ok["tags"]["codec"] == "pcm_s16le"  # top level
    assert main(["export", "--db", str(db), "-f", "jsonl"]) == 0
    assert len(capsysbinary.readouterr().out.splitlines()) == 3
    out = tmp_path / "r.csv"
    assert main(["export", "--db", str(db), "-o", str(out)]) == 0  # format from the extension
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 3 and json.loads(rows[0]["tags"])["codec"] == "pcm_s16le"
    assert main(["export", "--db", str(db), "--task", "twin"]) == 0  # known, no rows
    assert json.loads(capsysbinary.readouterr().out) == []


def test_export_missing_store_is_an_error(tmp_path, capsys):
    assert main(["export", "--db", str(tmp_path / "none.sqlite")]) == 2
    assert "no results store" in capsys.readouterr().err
    assert not (tmp_path / "none.sqlite").exists()


def test_devices(capsys):
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "cpu" in out and "numpy" in out and "* " in out
    assert main(["devices", "--json"]) == 0
    devices = json.loads(capsys.readouterr().out)
    assert devices[0]["name"] == "cpu" and sum(d["auto"] for d in devices) == 1
    assert {"name", "backend", "precision", "detail", "auto"} <= set(devices[0])
