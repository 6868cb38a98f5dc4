"""A run killed with SIGKILL mid-way, started again, stores every file exactly once."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

import test_runner_fakes as fakes

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals and process groups")

N_FILES = 30

CLI_SCRIPT = textwrap.dedent(
    """
    import audiolens.tasks
    import {module} as fakes

    audiolens.tasks.TASKS.update(fakes.FAKE_TASKS)

    if __name__ == "__main__":
        from audiolens.cli import main

        raise SystemExit(main())
    """
)

SCRIPT = textwrap.dedent(
    """
    import sys

    import audiolens.tasks
    import {module} as fakes

    audiolens.tasks.TASKS.update(fakes.FAKE_TASKS)

    if __name__ == "__main__":
        from audiolens.runner import analyze

        s = analyze(
            [sys.argv[1]], tasks=["slow"], db=sys.argv[2], workers=2, device="cpu", progress=False
        )
        print("DONE", s.done, s.skipped, s.failed)
    """
)


def _count(db) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:  # not created yet
        return 0


def _start(script, lib, db, argv=None):
    env = dict(os.environ)
    here = os.path.dirname(os.path.abspath(fakes.__file__))
    src = os.path.dirname(os.path.dirname(os.path.abspath(__import__("audiolens").__file__)))
    env["PYTHONPATH"] = os.pathsep.join([src, here, env.get("PYTHONPATH", "")])
    return subprocess.Popen(
        [sys.executable, str(script), *(argv or [str(lib), str(db)])],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, so its workers can be cleaned up
    )


def _wait_for_rows(proc, db, at_least: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while _count(db) < at_least:
        if proc.poll() is not None:
            pytest.fail(f"run ended too early: {proc.communicate()}")
        if time.monotonic() > deadline:
            pytest.fail("run made no progress")
        time.sleep(0.02)


def _kill_when(proc, db, at_least: int) -> int:
    try:
        _wait_for_rows(proc, db, at_least)
        os.kill(proc.pid, signal.SIGKILL)  # the main process: the only writer
        proc.wait(timeout=10)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # orphaned workers and the forkserver
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    return _count(db)


def test_sigkill_and_resume(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    for i in range(N_FILES):
        fakes.write_wav(lib / f"f{i:02d}.wav", seconds=0.1, freq=200 + 10 * i)
    script = tmp_path / "run.py"
    script.write_text(SCRIPT.format(module=fakes.MODULE))
    db = tmp_path / "r.sqlite"

    first = _kill_when(_start(script, lib, db), db, at_least=4)
    assert 4 <= first < N_FILES
    second = _kill_when(_start(script, lib, db), db, at_least=first + 4)
    assert first + 4 <= second < N_FILES

    proc = _start(script, lib, db)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    done, skipped, failed = map(int, out.decode().split()[1:])
    assert skipped >= second and done + skipped == N_FILES and failed == 0

    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    n, distinct, ok = conn.execute(
        "SELECT COUNT(*), COUNT(DISTINCT path), SUM(status = 'ok') FROM results"
    ).fetchone()
    assert n == distinct == ok == N_FILES
    stored = {os.path.basename(os.fsdecode(p)) for (p,) in conn.execute("SELECT path FROM results")}
    assert stored == {f"f{i:02d}.wav" for i in range(N_FILES)}
    runs = conn.execute("SELECT status FROM runs ORDER BY id").fetchall()
    assert runs == [("killed",), ("killed",), ("finished",)]  # marked by the next run
    conn.close()


def test_ctrl_c_exits_130_promptly_and_keeps_finished_files(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    for i in range(N_FILES):
        fakes.write_wav(lib / f"f{i:02d}.wav", seconds=0.1)
    script = tmp_path / "cli.py"
    script.write_text(CLI_SCRIPT.format(module=fakes.MODULE))
    db = tmp_path / "r.sqlite"
    argv = [
        "analyze",
        str(lib),
        "--tasks",
        "slow",
        "--db",
        str(db),
        "--workers",
        "2",
        "--device",
        "cpu",
    ]
    proc = _start(script, lib, db, argv)
    try:
        _wait_for_rows(proc, db, at_least=2)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        _, err = proc.communicate(timeout=15)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err.decode()
    assert "interrupted" in err.decode() and "Traceback" not in err.decode()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert 2 <= conn.execute("SELECT COUNT(*) FROM results").fetchone()[0] < N_FILES
    assert conn.execute("SELECT status FROM runs").fetchall() == [("interrupted",)]
    conn.close()
