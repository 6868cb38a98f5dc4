"""A run killed with SIGKILL mid-way, started again, stores every file exactly once; a killed or
terminated run leaves no process behind; SIGTERM is handled like Ctrl-C; two runs at once on one
store share the files, none analysed twice."""

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

        task = sys.argv[3] if len(sys.argv) > 3 else "slow"
        s = analyze(
            [sys.argv[1]], tasks=[task], db=sys.argv[2], workers=2, device="cpu", progress=False
        )
        print("DONE", s.done, s.skipped, s.failed, s.elsewhere)
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
    done, skipped, failed, _ = map(int, out.decode().split()[1:])
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


def _library(tmp_path, n_files: int):
    """A folder ``lib`` of ``n_files`` short WAV files ``f00.wav``, ``f01.wav``..."""
    lib = tmp_path / "lib"
    lib.mkdir()
    for i in range(n_files):
        fakes.write_wav(lib / f"f{i:02d}.wav", seconds=0.1)
    return lib


def _cli_run(tmp_path, n_files: int = 60):
    """``analyze`` with 2 workers on ``n_files`` files, started; once 2 files are stored."""
    lib = _library(tmp_path, n_files)
    script = tmp_path / "cli.py"
    script.write_text(CLI_SCRIPT.format(module=fakes.MODULE))
    db = tmp_path / "r.sqlite"
    argv = ["analyze", str(lib), "--tasks", "slow", "--db", str(db), "--workers", "2"]
    proc = _start(script, lib, db, [*argv, "--device", "cpu"])
    _wait_for_rows(proc, db, at_least=2)
    return proc, db


def _assert_interrupted(db, n_files: int) -> None:
    """The store is sound, holds some files but not all, and the run is marked interrupted."""
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert 2 <= conn.execute("SELECT COUNT(*) FROM results").fetchone()[0] < n_files
    assert conn.execute("SELECT status FROM runs").fetchall() == [("interrupted",)]
    conn.close()


def test_ctrl_c_exits_130_promptly_and_keeps_finished_files(tmp_path):
    proc, db = _cli_run(tmp_path, N_FILES)
    try:
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        _, err = proc.communicate(timeout=15)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err.decode()
    assert "interrupted" in err.decode() and "Traceback" not in err.decode()
    _assert_interrupted(db, N_FILES)


def _stat(pid: int) -> tuple[str, int, str] | None:
    """(state, parent, start time) of a process, from /proc; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return fields[0].decode(), int(fields[1]), fields[19].decode()


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _descendants(root: int) -> dict[int, tuple[str, str]]:
    """Every process below ``root``: pid -> (start time, command line)."""
    parent_of = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None:
            parent_of[int(entry)] = st
    found: dict[int, tuple[str, str]] = {}
    frontier = [root]
    while frontier:
        pid = frontier.pop()
        for child, (_, ppid, start) in parent_of.items():
            if ppid == pid and child not in found:
                found[child] = (start, _cmdline(child))
                frontier.append(child)
    return found


def _still_running(procs: dict[int, tuple[str, str]]) -> dict[int, str]:
    """Those of ``procs`` that still run (the same start time, not a zombie)."""
    alive = {}
    for pid, (start, cmd) in procs.items():
        st = _stat(pid)
        if st is not None and st[2] == start and st[0] != "Z":
            alive[pid] = cmd
    return alive


def _gone_within(procs: dict[int, tuple[str, str]], seconds: float) -> dict[int, str]:
    """Wait up to ``seconds`` for ``procs`` to end; those still running then."""
    deadline = time.monotonic() + seconds
    while (alive := _still_running(procs)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def _pool_processes(proc) -> dict[int, tuple[str, str]]:
    below = _descendants(proc.pid)
    commands = " ".join(cmd for _, cmd in below.values())
    # the pool as it runs: the forkserver, its 2 workers, the resource tracker
    assert len(below) >= 4 and "forkserver" in commands and "resource_tracker" in commands, below
    return below


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc")
def test_sigkill_of_the_main_process_leaves_no_process(tmp_path):
    proc, db = _cli_run(tmp_path)
    try:
        below = _pool_processes(proc)
        os.kill(proc.pid, signal.SIGKILL)  # the main process only, as the OOM killer does
        proc.wait(timeout=10)
        left = _gone_within(below, 20)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    assert left == {}, f"still running after the main process was killed: {left}"
    assert 2 <= _count(db) < 60


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc")
def test_sigterm_is_handled_like_ctrl_c_and_leaves_no_process(tmp_path):
    proc, db = _cli_run(tmp_path)
    try:
        below = _pool_processes(proc)
        os.kill(proc.pid, signal.SIGTERM)  # the main process only, as `kill PID` does
        _, err = proc.communicate(timeout=30)
        left = _gone_within(below, 20)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 143, err.decode()
    assert "terminated" in err.decode() and "Traceback" not in err.decode()
    assert left == {}, f"still running after SIGTERM: {left}"
    _assert_interrupted(db, 60)


def test_two_runs_at_once_share_the_files_and_analyse_none_twice(tmp_path, monkeypatch):
    n = 40
    lib = _library(tmp_path, n)
    script = tmp_path / "run.py"
    script.write_text(SCRIPT.format(module=fakes.MODULE))
    db = tmp_path / "r.sqlite"
    log = tmp_path / "analysed.log"
    monkeypatch.setenv("AUDIOLENS_FAKE_LOG", str(log))
    procs = [_start(script, lib, db, [str(lib), str(db), "logged"]) for _ in range(2)]
    outs = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=180)
            assert proc.returncode == 0, err.decode()
            outs.append([int(v) for v in out.decode().split()[1:]])
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
    analysed = log.read_text().split()
    assert sorted(analysed) == sorted(f"f{i:02d}.wav" for i in range(n))  # each exactly once
    (done_a, skipped_a, failed_a, left_a), (done_b, skipped_b, failed_b, left_b) = outs
    assert done_a + done_b == n and failed_a == failed_b == 0
    assert done_a + skipped_a == done_b + skipped_b == n
    assert (left_a, left_b) == (skipped_a, skipped_b)  # skipped: left to the other run
    assert done_a > 0 and done_b > 0  # the runs did overlap: each left files to the other
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT COUNT(DISTINCT path), COUNT(*) FROM results").fetchone() == (n, n)
    assert conn.execute("SELECT status FROM runs").fetchall() == [("finished",)] * 2
    assert conn.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0  # all released
    conn.close()
