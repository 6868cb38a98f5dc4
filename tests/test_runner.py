"""The runner: discovery, skipping, retrying, failures, workers, grouping, progress."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3

import pytest

import audiolens
import test_runner_fakes as fakes
from audiolens.devices import Device
from audiolens.errors import ModelNotFound, ParameterError
from audiolens.runner import AUDIO_EXTENSIONS, analyze, discover
from audiolens.runner.jobs import FileJob, resolve_tasks
from audiolens.runner.work import Worker
from audiolens.store import Store


@pytest.fixture(autouse=True)
def _fake_tasks(monkeypatch):
    fakes.register(monkeypatch)


@pytest.fixture
def lib(tmp_path):
    """A small library: 3 WAVs in two folders, plus things that are not audio."""
    root = tmp_path / "lib"
    (root / "sub").mkdir(parents=True)
    fakes.write_wav(root / "a.wav", freq=300)
    fakes.write_wav(root / "sub" / "b.WAV", freq=500, channels=2)
    fakes.write_wav(root / "sub" / "c.wav", freq=700, seconds=0.5)
    (root / "notes.txt").write_text("not audio, not picked up")
    (root / "._a.wav").write_bytes(b"\0" * 10)  # macOS resource fork: skipped
    return root


def _run(paths, db, **kw):
    kw.setdefault("workers", 1)
    kw.setdefault("tasks", ("echo",))
    kw.setdefault("progress", False)
    return analyze(paths, db=db, **kw)


def _rows(db, **kw):
    with Store(db) as s:
        return {(os.path.basename(r.path), r.task): r for r in s.rows(**kw)}


def test_analyze_a_folder(lib, tmp_path):
    db = tmp_path / "r.sqlite"
    summary = _run([lib], db)
    assert (summary.total, summary.done, summary.skipped, summary.failed) == (3, 3, 0, 0)
    assert summary.ok and summary.device == "cpu" and summary.tasks == ("echo",)
    assert summary.files_per_s > 0 and summary.elapsed_s > 0
    rows = _rows(db)
    assert set(rows) == {("a.wav", "echo"), ("b.WAV", "echo"), ("c.wav", "echo")}
    c = rows[("c.wav", "echo")]
    assert c.status == "ok" and c.device == "cpu" and c.task_version == 1
    assert c.result["sample_rate"] == 4000 and c.result["samples"] == 2000  # resampled
    assert c.result["tags"] == {"codec": "pcm_s16le", "nan": None}
    assert c.size == os.path.getsize(lib / "sub" / "c.wav") and len(c.content_hash) == 32
    assert c.mtime_ns == os.stat(lib / "sub" / "c.wav").st_mtime_ns and c.elapsed_s > 0
    assert c.path == os.fspath(lib / "sub" / "c.wav")


def test_analyze_is_importable_from_the_package(tmp_path, lib):
    assert audiolens.analyze is analyze


def test_rerun_skips_retries_failed_and_force_redoes(lib, tmp_path):
    db = tmp_path / "r.sqlite"
    fakes.write_wav(lib / "boom.wav")
    first = _run([lib], db)
    assert (first.done, first.failed) == (3, 1)
    again = _run([lib], db)
    assert (again.total, again.done, again.skipped, again.failed) == (4, 0, 3, 1)  # retried
    (lib / "boom.wav").rename(lib / "fine.wav")
    third = _run([lib], db)
    assert (third.done, third.skipped, third.failed) == (1, 3, 0)
    forced = _run([lib], db, force=True)
    assert (forced.done, forced.skipped) == (4, 0)


def test_changed_file_and_new_task_version_are_reanalyzed(lib, tmp_path, monkeypatch):
    db = tmp_path / "r.sqlite"
    _run([lib], db)
    before = _rows(db)[("a.wav", "echo")]
    fakes.write_wav(lib / "a.wav", seconds=1.0)  # new content, size and mtime
    summary = _run([lib], db)
    assert (summary.done, summary.skipped) == (1, 2)
    after = _rows(db)[("a.wav", "echo")]
    assert after.result["samples"] == 4000 and after.content_hash != before.content_hash
    st = os.stat(lib / "sub" / "b.WAV")
    os.utime(lib / "sub" / "b.WAV", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched
    assert _run([lib], db).done == 1
    monkeypatch.setattr(fakes.EchoTask, "version", 2)
    summary = _run([lib], db)
    assert (summary.done, summary.skipped) == (3, 0)
    assert {r.task_version for r in _rows(db).values()} == {2}


def test_bad_files_fail_with_messages_and_never_stop_the_run(lib, tmp_path):
    db = tmp_path / "r.sqlite"
    (lib / "text.mp3").write_text("I am a text file called text.mp3")
    (lib / "empty.flac").write_bytes(b"")
    fakes.write_wav(lib / "boom.wav")
    fakes.write_wav(lib / "badrequest.wav")
    (lib / "dir.flac").mkdir()
    fakes.write_wav(lib / "dir.flac" / "inside.wav")
    explicit_txt = tmp_path / "notes.mp3"
    explicit_txt.write_text("explicitly named: always attempted")
    missing = tmp_path / "missing.wav"
    (tmp_path / "folder.flac").mkdir()
    summary = _run([lib, explicit_txt, missing, tmp_path / "folder.flac"], db)
    rows = _rows(db)
    failed = {name for (name, _), r in rows.items() if r.status == "failed"}
    assert failed == {
        "text.mp3",
        "empty.flac",
        "boom.wav",
        "badrequest.wav",
        "notes.mp3",
        "missing.wav",
    }
    assert rows[("inside.wav", "echo")].status == "ok"  # a folder named x.flac is walked
    assert summary.failed == 6 and summary.done == 4 and not summary.ok
    for (name, _), r in rows.items():
        if r.status == "failed":
            assert name in r.error and r.result is None, r.error  # the message names the file
    assert re.search(r"not (a readable |an )audio file", rows[("text.mp3", "echo")].error)
    assert "empty" in rows[("empty.flac", "echo")].error
    assert "file not found" in rows[("missing.wav", "echo")].error
    assert "ValueError: boom" in rows[("boom.wav", "echo")].error
    assert "cannot plan this file" in rows[("badrequest.wav", "echo")].error
    assert {p for p, _, _ in summary.failures} >= {os.fspath(missing), os.fspath(explicit_txt)}
    assert any("folder.flac" in w for w in summary.warnings)  # explicit folder, no audio


def test_nasty_file_names(tmp_path):
    root = tmp_path / "nasty"
    root.mkdir()
    names = [b"new\nline.wav", b"\xff\xfe-latin.wav", "ünï 🎵 'q\".wav".encode(), b" sp .wav"]
    for name in names:
        fakes.write_wav(os.path.join(os.fsencode(root), name))
    db = tmp_path / "r.sqlite"
    summary = _run([os.fsencode(root)], db)
    assert summary.done == 4
    with Store(db) as s:
        stored = {os.path.basename(os.fsencode(r.path)) for r in s.rows()}
    assert stored == set(names)
    assert _run([root], db).skipped == 4


def test_a_task_that_cannot_start_stops_the_run(lib, tmp_path):
    with pytest.raises(ModelNotFound, match="nomodel weights"):
        _run([lib], tmp_path / "r.sqlite", tasks=["nomodel"])
    assert _rows(tmp_path / "r.sqlite") == {}  # no failed row per file for a setup problem


def test_unknown_task_and_bad_options(lib, tmp_path):
    with pytest.raises(ParameterError, match="nope"):
        _run([lib], tmp_path / "r.sqlite", tasks=["nope"])
    with pytest.raises(ParameterError, match="workers"):
        _run([lib], tmp_path / "r.sqlite", workers=0)
    with pytest.raises(ParameterError, match="device"):
        _run([lib], tmp_path / "r.sqlite", device="tpu")


def test_identical_requests_decode_once(lib, tmp_path, monkeypatch):
    from audiolens.audio import request  # where the runner's decode looks the decoders up

    calls = {"load": 0, "load_windows": 0}
    for name in calls:
        original = getattr(request, name)

        def counted(*a, _orig=original, _name=name, **k):
            calls[_name] += 1
            return _orig(*a, **k)

        monkeypatch.setattr(request, name, counted)
    db = tmp_path / "r.sqlite"
    summary = _run([lib], db, tasks="echo,twin,win")
    assert summary.done == 3
    assert calls == {"load": 3, "load_windows": 3}  # echo+twin share one decode per file
    rows = _rows(db)
    assert rows[("a.wav", "echo")].result == rows[("a.wav", "twin")].result
    assert rows[("a.wav", "win")].result == {"lengths": [400, 400]}
    assert rows[("a.wav", "win")].task_version == 2


def test_partly_done_files_run_only_missing_tasks(lib, tmp_path):
    db = tmp_path / "r.sqlite"
    _run([lib], db, tasks=["echo"])
    summary = _run([lib], db, tasks=["echo", "win"])
    assert (summary.done, summary.skipped) == (3, 0)
    with Store(db) as s:
        runs = {r.task: r.run_id for r in s.rows() if r.path.endswith("a.wav")}
    assert runs["echo"] < runs["win"]  # echo was not redone


def test_process_pool_gives_the_same_results(lib, tmp_path):
    fakes.write_wav(lib / "boom.wav")
    one, two = tmp_path / "one.sqlite", tmp_path / "two.sqlite"
    _run([lib], one, workers=1)
    summary = _run([lib], two, workers=2)
    assert (summary.done, summary.failed) == (3, 1)

    def strip(rows):
        return {k: (r.status, r.error, r.result) for k, r in rows.items()}

    assert strip(_rows(one)) == strip(_rows(two))


def test_a_worker_that_dies_fails_only_its_file(lib, tmp_path):
    fakes.write_wav(lib / "crash.wav")
    db = tmp_path / "r.sqlite"
    summary = _run([lib], db, workers=2)
    assert (summary.done, summary.failed) == (3, 1)
    error = _rows(db)[("crash.wav", "echo")].error
    assert "crash.wav" in error and "worker process died" in error


def test_accelerator_path_batches_in_main_and_isolates_failures(lib, tmp_path):
    """With a GPU device, workers decode and the main process runs batches; a failing file
    is isolated by halving, and results equal the per-file path."""
    for i in range(4):
        fakes.write_wav(lib / f"more{i}.wav", freq=200 + 50 * i)
    fakes.write_wav(lib / "boom.wav")
    fake_gpu = Device("cuda:0", "torch", "float32")  # the fake tasks never touch torch
    gpu_db, cpu_db = tmp_path / "gpu.sqlite", tmp_path / "cpu.sqlite"
    summary = _run([lib], gpu_db, device=fake_gpu, batch_size=3, tasks="echo,win")
    assert (summary.done, summary.failed, summary.device) == (7, 1, "cuda:0")
    _run([lib], cpu_db, tasks="echo,win")
    gpu, cpu = _rows(gpu_db), _rows(cpu_db)
    assert {k: (r.status, r.result) for k, r in gpu.items()} == {
        k: (r.status, r.result) for k, r in cpu.items()
    }
    assert {r.device for r in gpu.values()} == {"cuda:0"}
    assert gpu[("boom.wav", "win")].status == "ok"  # only the failing task of that file failed
    summary = _run([lib], tmp_path / "gpu2.sqlite", device=fake_gpu, batch_size=2, workers=2)
    assert (summary.done, summary.failed) == (7, 1)


def test_file_vanished_or_changed_after_discovery(tmp_path):
    path = tmp_path / "x.wav"
    fakes.write_wav(path)
    st = os.stat(path)
    specs, instances = resolve_tasks(["echo"])
    worker = Worker(specs, Device("cpu", "numpy", "float64"), instances)
    job = FileJob(os.fspath(path), st.st_size, st.st_mtime_ns, ("echo",))
    assert worker.analyze(job).ok
    changed = worker.analyze(FileJob(job.path, job.size, job.mtime_ns - 1, ("echo",)))
    assert not changed.ok and "changed after it was found" in changed.outcomes[0].error
    path.unlink()
    gone = worker.analyze(job).outcomes[0]
    assert gone.status == "failed" and "vanished" in gone.error and "x.wav" in gone.error


def test_file_changed_while_analyzed(tmp_path, monkeypatch):
    path = tmp_path / "x.wav"
    fakes.write_wav(path)

    def rewrite(self, batch, *, device, _orig=fakes.EchoTask.run):
        fakes.write_wav(path, seconds=1.0)
        return _orig(self, batch, device=device)

    monkeypatch.setattr(fakes.EchoTask, "run", rewrite)
    db = tmp_path / "r.sqlite"
    assert _run([path], db).failed == 1
    assert "changed while it was being analyzed" in _rows(db)[("x.wav", "echo")].error


def test_hook_events(lib, tmp_path):
    events = []
    _run([lib], tmp_path / "r.sqlite", hook=lambda event, **info: events.append((event, info)))
    names = [e for e, _ in events]
    assert names == ["start", "file", "file", "file", "end"]
    start = events[0][1]
    assert start["todo"] == 3 and start["device"] == "cpu" and start["tasks"] == ["echo"]
    assert [i["completed"] for e, i in events if e == "file"] == [1, 2, 3]
    assert events[-1][1]["summary"].done == 3


def test_a_broken_hook_does_not_stop_the_run(lib, tmp_path):
    def hook(event, **info):
        raise RuntimeError("hook bug")

    assert _run([lib], tmp_path / "r.sqlite", hook=hook).done == 3


def test_progress_bar_names_tasks_and_device(lib, tmp_path):
    import io

    from audiolens.runner import TqdmHook

    buf = io.StringIO()
    bar = TqdmHook(file=buf)
    summary = _run([lib], tmp_path / "r.sqlite", hook=bar)
    text = buf.getvalue()
    assert "echo [cpu]" in text and "3/3" in text and "file/s" in text
    assert bar.bar is None and summary.done == 3


def test_progress_bar_shows_audio_hours_and_real_time_factor(lib, tmp_path):
    """Files report their duration: the bar adds the audio done and the real-time factor."""
    import io

    from audiolens.runner import TqdmHook
    from audiolens.runner.progress import audio_hours

    seen = []
    buf = io.StringIO()
    bar = TqdmHook(file=buf)

    def hook(event, **info):
        bar(event, **info)
        if event == "file":
            seen.append(info["seconds"])

    _run([lib], tmp_path / "r.sqlite", hook=hook)
    assert len(seen) == 3 and all(s is not None and s > 0 for s in seen)
    text = buf.getvalue()
    assert "min audio" in text and "x real time" in text
    assert audio_hours(90.0) == "1.5 min" and audio_hours(5400.0) == "1.50 h"


def test_no_bar_when_stderr_is_not_a_terminal(lib, tmp_path, capfd):
    analyze([lib], db=tmp_path / "r.sqlite", tasks=["echo"], workers=1)  # progress=True
    assert "echo [cpu]" not in capfd.readouterr().err


def test_store_can_be_passed_open_and_in_memory(lib):
    with Store(":memory:") as store:
        assert _run([lib], store).done == 3
        assert store.count(status="ok") == 3
        runs = store._conn.execute("SELECT status, total, done FROM runs").fetchall()
        assert runs == [("finished", 3, 3)]


def test_discover(tmp_path, lib):
    (lib / "sub" / "loop").symlink_to(lib)  # a folder symlink loop is walked once
    os.symlink(tmp_path / "nowhere.wav", lib / "dangling.wav")
    found = discover([lib, lib / "a.wav", os.fsencode(lib / "notes.txt")])
    names = [os.path.relpath(c.path, lib) for c in found.files]
    assert names == ["a.wav", "dangling.wav", "sub/b.WAV", "sub/c.wav", "notes.txt"]
    dangling = found.files[1]
    assert dangling.error and "broken symbolic link" in dangling.error
    assert {"wav", "flac", "mp3", "m4a", "opus", "mkv"} <= AUDIO_EXTENSIONS


def test_unreadable_folder_is_a_warning(tmp_path, lib, monkeypatch):
    locked = lib / "locked"
    locked.mkdir()
    fakes.write_wav(locked / "x.wav")
    real = os.scandir

    def scandir(path):
        if os.fspath(path) == os.fspath(locked):
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    summary = _run([lib], tmp_path / "r.sqlite")
    assert summary.done == 3 and not summary.ok
    assert any("cannot read folder" in w and "locked" in w for w in summary.warnings)


def test_db_integrity_after_runs(lib, tmp_path):
    db = tmp_path / "r.sqlite"
    _run([lib], db)
    shutil.copy(lib / "a.wav", lib / "copy.wav")
    _run([lib], db, workers=2)
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT path) FROM results").fetchone() == (4, 4)
    hashes = dict(conn.execute("SELECT path, content_hash FROM results"))
    assert hashes[os.fsencode(lib / "a.wav")] == hashes[os.fsencode(lib / "copy.wav")]


_THREADS_PROBE = """
import json, os, sys
import numpy as np  # BLAS starts here, with a thread per core, as in a forkserver child
from threadpoolctl import threadpool_info
from audiolens.runner.work import limit_threads
limit_threads(1)
print(json.dumps({"blas": [i["num_threads"] for i in threadpool_info()],
                  "env": os.environ.get("OPENBLAS_NUM_THREADS")}))
"""


@pytest.mark.parametrize("user_set", [False, True])
def test_workers_limit_math_threads_already_running_unless_the_user_chose(user_set):
    import json
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    env.pop("VECLIB_MAXIMUM_THREADS", None)
    if user_set:
        env["OMP_NUM_THREADS"] = "2"
    out = subprocess.run(
        [sys.executable, "-c", _THREADS_PROBE], env=env, capture_output=True, text=True, check=True
    )
    got = json.loads(out.stdout)
    if user_set:
        assert got["env"] is None  # the user's choice is left alone
    else:
        assert got["env"] == "1" and got["blas"] and all(n == 1 for n in got["blas"])
