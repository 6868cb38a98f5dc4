"""No traceback, no litter: broken command lines get one line naming the problem.

Every subcommand the parser has (so a new one is covered as soon as it is added) is run as a
real process with broken arguments: missing files, folders instead of files, text files as
audio or models, bad numbers, unknown choices and task names, output folders that are files,
export files in folders that do not exist, unusable store paths. Each run must exit non-zero
with no traceback, say what is wrong in one line that names the path or value, and leave the
working folder as it was.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from audiolens_testkit import run_module

import test_runner_fakes as fakes
from audiolens.cli import _common, build_parser, main
from audiolens.errors import ModelNotFound
from audiolens.store import DEFAULT_DB, Store

#: broken values for options whose type cannot say what is broken (plain strings), each with
#: what the message must say besides the value
NAMED: dict[str, tuple[tuple[str, str], ...]] = {
    "--device": (("bogus", "is not a device; use auto, cpu"),),
    "--db": (
        ("", "empty"),
        ("afolder", "is a folder"),
        ("nodir/r.sqlite", ""),  # analyze: "no folder nodir"; export: "no results store"
        ("notes.txt", "not an audiolens results store"),
    ),
    "--output": (("nodir/x.csv", "there is no folder nodir"), ("afolder", "is a folder")),
    "--task": (("qualty", "the tasks are: beats"),),
    "--tasks": (("qualty", "the tasks are: beats"),),
    "--model": (("notes.txt", "not a"),),
    "--speech-model": (("notes.txt", "not a Whisper model folder"),),
    "--language": (("xx", "not a language Whisper knows"),),
    "--compute-type": (("int3", "is not known"),),
    "--segmentation-model": (("notes.txt", "not an ONNX model"),),
    "--ray-address": (("nowhere", "needs --executor ray"),),
}
#: (subcommand, option) whose broken value another setup error may be found before: the run
#: must still fail in one line, which need not name the value
NOT_FIRST: set[tuple[str, str]] = set()
#: analyze's option groups -> the task that reads them
GROUP_TASK = {"note creation": "notes", "beat tracking": "beats", "speakers": "speakers"}
GROUP_TASK["speech"] = "speech"
INPUTS = ("FILE", "PATH")


@dataclass(frozen=True)
class Case:
    """A broken command line and what its one line of error must name."""

    argv: tuple[str, ...]
    names: tuple[str, ...]

    def __str__(self) -> str:
        return " ".join(repr(a) if not a or " " in a else a for a in self.argv)


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _takes_value(action: argparse.Action) -> bool:
    return bool(action.option_strings) and action.nargs is None and action.const is None


def _group(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    return next((g.title or "" for g in parser._action_groups if action in g._group_actions), "")


def _broken_values(action: argparse.Action) -> list[tuple[str, tuple[str, ...]]]:
    """(value, what the message must name) for one option."""
    kind = action.type
    if kind is _common.folder:
        return [
            ("notes.txt", ("notes.txt", "is a file, not a folder")),
            ("notes.txt/sub", ("notes.txt/sub", "cannot be created")),
        ]
    if action.choices is not None:
        return [("bogus", ("bogus", "invalid choice"))]
    if callable(kind) and kind not in (str, Path):
        numeric = getattr(kind, "__qualname__", "").startswith("number.")
        return [("bogus", ("bogus",)), *([("nan", ("nan",))] if numeric else [])]
    values = NAMED.get(max(action.option_strings, key=len), ())
    return [(v, (v, what) if v else (what,)) for v, what in values]


def cases(name: str, parser: argparse.ArgumentParser) -> list[Case]:
    """The broken command lines for subcommand ``name``."""
    inputs = [a for a in parser._actions if not a.option_strings and a.metavar in INPUTS]
    base = ("song.wav",) if inputs else ()
    out = [Case((name, *base, "--no-such-option"), ("--no-such-option",))]
    if inputs and inputs[0].metavar == "FILE":
        out += [
            Case((name, "missing.wav"), ("missing.wav", "not found")),
            Case((name, "notes.txt"), ("notes.txt", "not an audio file")),
            Case((name, "afolder"), ("afolder", f"audiolens analyze afolder --tasks {name}")),
        ]
    elif inputs:
        out.append(Case((name, "missing_dir"), ("missing_dir", "no such file or folder")))
    for action in parser._actions:
        if not _takes_value(action) or action.dest in ("help",):
            continue
        opt = max(action.option_strings, key=len)
        task = GROUP_TASK.get(_group(parser, action).split(" (")[0]) if name == "analyze" else None
        extra = ("--tasks", task) if task else ()
        for value, named in _broken_values(action):
            names = () if (name, opt) in NOT_FIRST else named
            out.append(Case((name, *base, *extra, opt, value), names))
    return out


def _message(stderr: str) -> list[str]:
    """stderr without argparse's usage lines (``usage: ...`` and its indented rest)."""
    lines, in_usage = [], False
    for line in stderr.splitlines():
        in_usage = line.startswith("usage:") or (in_usage and line.startswith(" "))
        if not in_usage and line.strip():
            lines.append(line)
    return lines


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A folder with a short audio file, a text file and an empty folder."""
    sr = 22050
    t = np.arange(sr) / sr
    pcm = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    with wave.open(str(tmp_path / "song.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())
    (tmp_path / "notes.txt").write_text("not audio, not a model\n")
    (tmp_path / "afolder").mkdir()
    return tmp_path


def _run(argv: tuple[str, ...], cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_module("audiolens", *argv, cwd=cwd, PYTHONWARNINGS="ignore")


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_every_subcommand_with_broken_arguments(name, workdir):
    if name == "export":  # so that --task and --output are what is wrong, not a missing store
        Store(workdir / DEFAULT_DB).close()
    before = _listing(workdir)
    problems = []
    for case in cases(name, _subcommands()[name]):
        run = _run(case.argv, workdir)
        lines = _message(run.stderr)
        if run.returncode == 0:
            problems.append(f"{case}: exit status 0")
        if "Traceback" in run.stderr:
            problems.append(f"{case}: traceback:\n{run.stderr}")
        elif len(lines) != 1 or "error" not in lines[0]:
            problems.append(f"{case}: not one line of error: {lines}")
        elif not all(n in lines[0] for n in case.names):
            problems.append(f"{case}: {lines[0]!r} does not name {case.names}")
        if _listing(workdir) != before:
            problems.append(f"{case}: left {sorted(set(_listing(workdir)) - set(before))}")
            for p in sorted(set(_listing(workdir)) - set(before), reverse=True):
                path = workdir / p
                path.rmdir() if path.is_dir() else path.unlink()
    assert not problems, "\n".join(problems)


def test_the_cases_cover_what_the_issue_names():
    every = {str(c) for name, p in _subcommands().items() for c in cases(name, p)}
    assert "export --output nodir/x.csv" in every
    assert "quality song.wav --plot notes.txt" in every
    assert "notes song.wav --model notes.txt" in every
    assert "export --task qualty" in every and "analyze song.wav --tasks qualty" in every
    assert "analyze song.wav --db ''" in every and "speech song.wav --beam-size nan" in every
    assert "analyze song.wav --tasks notes --model notes.txt" in every


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["export", "-o", "nodir/x.csv"], "nodir/x.csv: cannot write the export, there is no "),
        (["quality", "song.wav", "--plot", "notes.txt"], "notes.txt: is a file, not a folder"),
        (["notes", "song.wav", "--model", "notes.txt"], "notes.txt: is not an ONNX model ("),
    ],
)
def test_the_three_tracebacks_of_the_issue(argv, message, workdir):
    run = _run(tuple(argv), workdir)
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert message in _message(run.stderr)[0] and len(_message(run.stderr)) == 1
    assert run.stdout == ""  # refused before any work: no result printed first


def test_a_model_file_onnxruntime_cannot_read_is_named(tmp_path):
    pytest.importorskip("onnxruntime")
    from audiolens.devices import resolve_device
    from audiolens.models.onnx import make_session

    fake = tmp_path / "fake.onnx"
    fake.write_bytes(b"\x00\x01 not a protobuf \xff" * 10)
    with pytest.raises(ModelNotFound, match=r"fake\.onnx: is not an ONNX model \(") as info:
        make_session(fake, resolve_device("cpu"))
    assert "\n" not in str(info.value) and "[ONNXRuntimeError]" not in str(info.value)


def test_the_torch_runtime_names_a_file_that_is_not_onnx(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from audiolens.models.onnx_torch import TorchGraph

    fake = tmp_path / "fake.onnx"
    fake.write_text("hello")
    with pytest.raises(ModelNotFound, match=r"fake\.onnx: is not an ONNX model"):
        TorchGraph(fake)


# -- analyze: a store only when there is something to store --------------------------------


@pytest.fixture
def _fake_tasks(monkeypatch):
    fakes.register(monkeypatch)
    monkeypatch.delenv("AUDIOLENS_DEVICE", raising=False)


def _analyze(*argv: str) -> int:
    return main(["analyze", *argv, "--tasks", "echo", "--workers", "1", "--no-progress"])


@pytest.mark.usefixtures("_fake_tasks")
def test_analyze_a_missing_path_is_named_and_creates_no_store(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert _analyze("nosuch_dir") == 1
    assert capsys.readouterr().err == "audiolens: error: nosuch_dir: no such file or folder\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.usefixtures("_fake_tasks")
def test_analyze_an_empty_folder_creates_no_store(tmp_path, monkeypatch, capsys):
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path)
    assert _analyze("empty") == 1
    err = capsys.readouterr().err
    assert "no audio files found in folder" in err and "empty" in err
    assert "nothing to store" in err and "results in" not in err
    assert [p.name for p in tmp_path.iterdir()] == ["empty"]


@pytest.mark.usefixtures("_fake_tasks")
def test_analyze_real_files_beside_missing_ones_still_run(tmp_path, monkeypatch, capsys):
    fakes.write_wav(tmp_path / "a.wav")
    monkeypatch.chdir(tmp_path)
    assert _analyze("a.wav", "nosuch.wav") == 1  # something was missing
    err = capsys.readouterr().err
    assert "audiolens: error: nosuch.wav: no such file or folder" in err
    assert "1 files: 1 analyzed" in err
    assert main(["export"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [(Path(r["path"]).name, r["status"]) for r in records] == [("a.wav", "ok")]


@pytest.mark.usefixtures("_fake_tasks")
def test_analyze_stopped_by_a_setup_error_leaves_no_new_store(tmp_path, monkeypatch, capsys):
    fakes.write_wav(tmp_path / "a.wav")
    monkeypatch.chdir(tmp_path)
    args = ["analyze", "a.wav", "--tasks", "nomodel", "--workers", "1", "--no-progress"]
    assert main(args) == 2
    assert "audiolens: error:" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["a.wav"]
    assert _analyze("a.wav") == 0  # a store that existed before is kept
    assert main(args) == 2
    assert (tmp_path / "audiolens.sqlite").is_file()


@pytest.mark.usefixtures("_fake_tasks")
def test_export_an_unknown_task_lists_the_known_ones(tmp_path, monkeypatch, capsys):
    fakes.write_wav(tmp_path / "a.wav")
    monkeypatch.chdir(tmp_path)
    assert _analyze("a.wav") == 0
    capsys.readouterr()
    assert main(["export", "--task", "qualty"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("audiolens: error: task 'qualty' is not known; the tasks")
    assert "quality" in err and "echo" in err and "speech" in err
    assert main(["export", "--task", "quality"]) == 0  # known, none stored yet: no records
    assert json.loads(capsys.readouterr().out) == []


# -- the safety net in main() ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "line"),
    [
        (RuntimeError("the flux capacitor"), "RuntimeError: the flux capacitor (unexpected; "),
        (PermissionError(13, "Permission denied", "/x/y.json"), "/x/y.json: Permission denied"),
    ],
)
def test_an_unexpected_error_is_one_line(exc, line, monkeypatch, capsys):
    from audiolens.cli import devices

    def boom(args):
        raise exc

    monkeypatch.setattr(devices, "run", boom)
    assert main(["devices"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"audiolens: error: {line}")
    assert main(["devices", "-vv"]) == 1
    assert "Traceback" in capsys.readouterr().err  # asked for: -vv shows where


def test_error_joins_a_message_of_several_lines_into_one(capsys):
    _common.error("first line\n  second line\n")
    assert capsys.readouterr().err == "audiolens: error: first line second line\n"
