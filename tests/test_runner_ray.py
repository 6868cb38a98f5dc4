"""The Ray executor on a real two-node Ray cluster on this machine (bound to 127.0.0.1, no
dashboard, no usage statistics), started and stopped by this module: the same stored results
as the local pool, model tasks in actors on the node with the GPU, a node and a worker process
killed mid-run, a killed driver resumed, bytes shipped from the driver, the CLI, Ctrl-C."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import ray_fakes
import test_runner_fakes as fakes
from audiolens.devices import Device
from audiolens.errors import ParameterError
from audiolens.runner import analyze
from audiolens.store import Store, export

if importlib.util.find_spec("ray") is None:
    pytest.skip("needs Ray: pip install 'audiolens[ray]'", allow_module_level=True)

TESTS = Path(__file__).resolve().parent
SRC = TESTS.parent / "src"
EXAMPLES = TESTS.parent / "examples"

pytestmark = pytest.mark.slow

#: the environment of this process and of the cluster's nodes: Ray stays on the loopback
#: (without the last one it looks up this machine's outward address, and the driver connects
#: to the head there); the nodes import audiolens and the fake tasks from this checkout
RAY_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "PYTHONPATH": os.pathsep.join([str(SRC), str(TESTS)]),
}


@pytest.fixture(scope="module")
def cluster():
    """A head node (1 CPU) and a second node (1 CPU, 1 GPU as Ray sees it: the fake GPU tasks
    never touch it), on 127.0.0.1."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in RAY_ENV.items():
            mp.setenv(key, value)
        from ray._private import ray_constants
        from ray.cluster_utils import Cluster

        mp.setattr(ray_constants, "ENABLE_RAY_CLUSTER", False)  # if Ray was imported before

        local = {"node_ip_address": "127.0.0.1", "num_cpus": 1}
        c = Cluster(initialize_head=True, head_node_args={**local, "include_dashboard": False})
        c.add_node(**local, num_gpus=1)
        c.wait_for_nodes()
        try:
            yield c
        finally:
            c.shutdown()


@pytest.fixture(autouse=True)
def _fake_tasks(monkeypatch):
    fakes.register(monkeypatch)


def _ray(cluster, **kw):
    from audiolens.runner.ray_executor import RayOptions

    return RayOptions(address=cluster.address, **kw)


def _run(paths, db, **kw):
    kw.setdefault("progress", False)
    return analyze(paths, db=db, **kw)


def _record_list(db) -> list[dict]:
    """The JSON export, parsed, without the fields that differ by run: timing and device."""
    records = json.loads(export(db, "json"))
    for r in records:
        for key in ("elapsed_s", "device", "created"):
            r.pop(key)
    return sorted(records, key=lambda r: (r["path"], r["task"]))


def _records(db) -> str:
    """:func:`_record_list` as indented JSON (a readable diff when two runs differ)."""
    return json.dumps(_record_list(db), indent=1)


def _assert_close(a, b, *, tol: float, where: str = "") -> None:
    """``a`` equals ``b`` (parsed JSON), floats within ``tol`` (probabilities within twice
    that); ``where`` names the field."""
    if isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, int | float) and isinstance(b, int | float), where
        assert abs(a - b) <= (2 * tol if where.endswith("probability") else tol), (where, a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            _assert_close(a[k], b[k], tol=tol, where=f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_close(x, y, tol=tol, where=f"{where}[{i}]")
    else:
        assert a == b, (where, a, b)


def _rows(db):
    with Store(db) as s:
        return {(os.path.basename(r.path), r.task): r for r in s.rows()}


def _wavs(folder: Path, n: int, prefix: str = "f") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        fakes.write_wav(folder / f"{prefix}{i:03d}.wav", freq=200 + 37 * i)
    return folder


def test_same_stored_results_as_the_local_pool(cluster, tmp_path, eval_dir):
    """The bundled examples and eval clips: the same export apart from timing and device;
    each row names the node that computed it."""
    paths = [EXAMPLES, *(eval_dir / d for d in ("transcode", "speech", "music_transcription"))]
    tasks = "quality,loudness,key"
    local, on_ray = tmp_path / "local.sqlite", tmp_path / "ray.sqlite"
    a = _run(paths, local, tasks=tasks, workers=2)
    b = _run(paths, on_ray, tasks=tasks, executor=_ray(cluster))
    assert (b.total, b.done, b.failed) == (a.total, a.done, 0) and a.total >= 20
    assert b.device == "ray:cpu (2 nodes, 2 CPUs)"
    assert _records(local) == _records(on_ray)
    devices = {r.device for r in _rows(on_ray).values()}
    assert devices and all(d.startswith("ray:cpu@") for d in devices), devices
    assert len(devices) == 2, devices  # both nodes worked
    again = _run(paths, on_ray, tasks=tasks, executor=_ray(cluster))  # resume: all skipped
    assert (again.skipped, again.done) == (a.total, 0)


def test_model_tasks_run_in_actors_on_the_gpu_node(cluster, tmp_path):
    """On CUDA the tasks run in an actor that asks for the GPU (only the second node has one);
    failures are isolated within a batch as with the local pool."""
    lib = _wavs(tmp_path / "lib", 5)
    fakes.write_wav(lib / "boom.wav")
    fake_gpu = Device("cuda:0", "torch", "float32")  # the fake tasks never touch torch
    db, ref = tmp_path / "gpu.sqlite", tmp_path / "local.sqlite"
    opts = _ray(cluster, gpus_per_actor=0.5)
    s = _run([lib], db, tasks="echo,win", device=fake_gpu, batch_size=3, executor=opts)
    assert (s.done, s.failed) == (5, 1)
    _run([lib], ref, tasks="echo,win", workers=1)
    assert _records(db) == _records(ref)
    rows = _rows(db)
    gpu_node = next(n for n in _nodes(cluster) if n["Resources"].get("GPU"))
    label = f"ray:cuda:0@{_host(gpu_node)}"
    assert {r.device for r in rows.values() if r.status == "ok"} == {label}


def _nodes(cluster):
    import ray

    ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
    try:
        return [n for n in ray.nodes() if n["Alive"]]
    finally:
        ray.shutdown()


def _host(node) -> str:
    return f"{node['NodeManagerHostname']}-{node['NodeID'][:6]}"  # both nodes share a host


def test_speech_in_an_actor_equals_the_local_run(cluster, tmp_path, eval_dir):
    """A real model task (Whisper base, batched across files) in a Ray actor."""
    pytest.importorskip("faster_whisper")
    from audiolens.errors import ModelNotFound
    from audiolens.models.whisper import offline_base_model
    from audiolens.tasks.speech import SpeechOptions, SpeechTask

    try:
        model = offline_base_model(tmp_path / "whisper")
    except ModelNotFound as exc:
        pytest.skip(str(exc))
    speech = eval_dir / "speech"
    files = [speech / "LDC93S1.wav", speech / "speechbrain_harvard" / "spk1_snt1.wav"]
    task = SpeechTask(options=SpeechOptions(model=str(model), cpu_threads=1))
    db, ref = tmp_path / "ray.sqlite", tmp_path / "local.sqlite"
    s = _run(files, db, tasks=[task], device="cpu", executor=_ray(cluster))
    assert (s.done, s.failed) == (2, 0)
    _run(files, ref, tasks=[task], device="cpu", workers=1)
    # the same words and fields; CTranslate2's int8 kernels give numbers that depend on how
    # files were batched on some CPUs (an AMD EPYC: word probabilities up to 0.051 apart, a
    # word boundary 20 ms), so times are compared within 0.05 s, probabilities within 0.1
    _assert_close(_record_list(db), _record_list(ref), tol=0.05)
    text = _rows(db)[("LDC93S1.wav", "speech")].result["text"].lower()
    assert "dark suit" in text


def test_a_killed_worker_process_is_retried_or_fails_with_the_reason(cluster, tmp_path):
    lib = _wavs(tmp_path / "lib", 4)
    fakes.write_wav(lib / "die.wav")
    fakes.write_wav(lib / "dieonce.wav")
    task = ray_fakes.SeenTask(origin=str(lib))
    db = tmp_path / "r.sqlite"
    s = _run([lib], db, tasks=[task], executor=_ray(cluster, max_retries=1))
    assert (s.total, s.done, s.failed) == (6, 5, 1)
    rows = _rows(db)
    assert rows[("dieonce.wav", "seen")].status == "ok"  # its retry worked
    error = rows[("die.wav", "seen")].error
    assert "die.wav" in error and "Ray worker" in error and "1 retries" in error


def test_a_node_killed_mid_run_loses_nothing(cluster, tmp_path):
    """A third node joins, takes work, and is killed without warning while its tasks run:
    Ray runs them again elsewhere; every file is stored once, nothing stored is lost."""
    node = cluster.add_node(node_ip_address="127.0.0.1", num_cpus=1)
    cluster.wait_for_nodes()
    lib = _wavs(tmp_path / "lib", 36)
    # 1.2 s a file; the node is killed within 0.7 s of a start. A thread watches the starts,
    # because on a loaded machine the driver hears of stored files (the hook) too late
    task = ray_fakes.SeenTask(delay=1.2, origin=str(lib))
    db = tmp_path / "r.sqlite"
    seen: list[str] = []
    killed_at: list[int] = []
    running = threading.Event()
    running.set()

    def watch() -> None:
        while running.is_set() and not killed_at:
            if _busy_on(lib, node.node_id, list(seen), within_s=0.7):
                killed_at.append(len(seen))
                cluster.remove_node(node, allow_graceful=False)
                return
            time.sleep(0.02)

    def hook(event, **info):
        if event == "file":
            seen.append(info["path"])

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        s = _run([lib], db, tasks=[task], hook=hook, executor=_ray(cluster, in_flight=6))
    finally:
        running.clear()
        watcher.join()
        if not killed_at:  # the next tests need the cluster as it was
            cluster.remove_node(node)
    assert killed_at, "the third node was never seen at work"
    assert (s.total, s.done, s.failed) == (36, 36, 0)
    rows = _rows(db)
    assert len(rows) == 36 and len(seen) == 36 and len(set(seen)) == 36
    assert all(r.status == "ok" for r in rows.values())
    starts = [line.split()[0] for line in (lib / "started.log").read_text().splitlines()]
    assert sorted(set(starts)) == sorted(name for name, _ in rows)
    assert len(starts) > 36  # what the killed node was running was run again elsewhere
    deadline = time.monotonic() + 60  # the cluster sees the node gone (the next tests need it)
    while len(_nodes(cluster)) > 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert len(_nodes(cluster)) == 2


def _busy_on(lib: Path, node_id: str, stored: list[str], *, within_s: float) -> bool:
    """Whether that node started a file (``SeenTask``'s log) less than ``within_s`` ago that
    is not stored yet: it is still at work on it."""
    log = lib / "started.log"
    lines = log.read_text().splitlines() if log.exists() else []
    done = {os.path.basename(p) for p in stored}
    now = time.time()
    for parts in (line.split() for line in lines):
        if len(parts) != 3:  # a line still being written
            continue
        name, node, when = parts
        if node == node_id and name not in done and now - float(when) < within_s:
            return True
    return False


def test_resume_after_a_killed_driver(cluster, tmp_path):
    """The driver is killed (SIGKILL) mid-run; a rerun analyzes only what was not stored."""
    lib = _wavs(tmp_path / "lib", 16)
    db = tmp_path / "r.sqlite"
    script = (
        "import sys, ray_fakes\n"
        "from audiolens.runner import analyze\n"
        "from audiolens.runner.ray_executor import RayOptions\n"
        "analyze([sys.argv[1]], db=sys.argv[2], progress=False, executor=RayOptions("
        "address=sys.argv[3], in_flight=2), tasks=[ray_fakes.SeenTask(delay=0.5)])\n"
    )
    env = {**os.environ, **RAY_ENV}
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(lib), str(db), cluster.address], env=env
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _stored(db) < 3:
            time.sleep(0.1)
        before = _stored(db)
        assert 3 <= before < 16, before
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    kept = _rows(db)
    s = _run([lib], db, tasks=[ray_fakes.SeenTask()], executor=_ray(cluster))
    assert s.skipped == len(kept) >= 3 and s.done == 16 - len(kept) and s.failed == 0
    assert len(_rows(db)) == 16
    assert all(_rows(db)[k].created == r.created for k, r in kept.items())  # kept as stored


def _stored(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with Store(db, create=False, readonly=True) as s:
            return sum(1 for r in s.rows() if r.status == "ok")
    except Exception:  # made just now, schema not yet written
        return 0


def test_small_files_shipped_from_the_driver(cluster, tmp_path):
    """With ship_bytes the tasks read copies sent by the driver, results and messages name
    the driver's path; bigger files are read by path."""
    lib = _wavs(tmp_path / "lib", 3)
    (lib / "broken.wav").write_bytes(b"RIFF\0\0\0\0WAVEjunk")
    fakes.write_wav(lib / "big.wav", seconds=3.0)
    task = ray_fakes.SeenTask(origin=str(lib))
    db = tmp_path / "r.sqlite"
    limit = (lib / "f000.wav").stat().st_size
    s = _run([lib], db, tasks=[task], executor=_ray(cluster, ship_bytes=limit))
    assert (s.done, s.failed) == (4, 1)
    rows = _rows(db)
    copies = {name: r.result["read_from_copy"] for (name, _), r in rows.items() if r.result}
    assert copies == {"f000.wav": True, "f001.wav": True, "f002.wav": True, "big.wav": False}
    assert all(r.path == str(lib / name) for (name, _), r in rows.items())
    error = rows[("broken.wav", "seen")].error
    assert str(lib / "broken.wav") in error and "audiolens-ray-" not in error


def test_cli_executor_ray(cluster, tmp_path, capsys, monkeypatch):
    from audiolens.cli import main

    lib = _wavs(tmp_path / "lib", 3)
    db = str(tmp_path / "r.sqlite")
    argv = ["analyze", str(lib), "--tasks", "echo", "--db", db, "--no-progress"]
    assert main([*argv, "--executor", "ray", "--ray-address", cluster.address]) == 0
    assert " on ray:cpu (2 nodes, 2 CPUs); results in " in capsys.readouterr().err
    assert len(_rows(db)) == 3
    assert main([*argv, "--ray-address", cluster.address]) == 2  # needs --executor ray
    assert f"--ray-address {cluster.address!r} needs --executor ray" in capsys.readouterr().err
    monkeypatch.setenv("RAY_ADDRESS", "")
    assert main([*argv, "--executor", "ray", "--ray-address", "127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert "cannot join a Ray cluster at '127.0.0.1:1'" in err and "Traceback" not in err


def test_ctrl_c_stops_the_cluster_work(cluster, tmp_path):
    """Ctrl-C (a KeyboardInterrupt from the hook): the run is marked interrupted, what was
    stored is kept, the cluster's CPUs are free again, and a rerun finishes the rest."""
    import ray

    lib = _wavs(tmp_path / "lib", 12)
    task = ray_fakes.SeenTask(delay=2.0)
    db = tmp_path / "r.sqlite"

    def hook(event, **info):
        if event == "file":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run([lib], db, tasks=[task], hook=hook, executor=_ray(cluster))
    with Store(db) as s:
        assert [r["status"] for r in s.runs()][-1:] == ["interrupted"]
    ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
    try:
        deadline = time.monotonic() + 20
        while ray.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ray.available_resources().get("CPU", 0) == 2  # nothing of the run left running
    finally:
        ray.shutdown()
    s = _run([lib], db, tasks=[ray_fakes.SeenTask()], executor=_ray(cluster))
    assert s.done + s.skipped == 12 and s.failed == 0


def test_options_are_checked():
    from audiolens.runner.ray_executor import RayOptions

    with pytest.raises(ParameterError, match="ship_bytes=-1"):
        RayOptions(ship_bytes=-1)
    with pytest.raises(ParameterError, match="in_flight=0"):
        RayOptions(in_flight=0)
    with pytest.raises(ParameterError, match="gpus_per_actor=0"):
        RayOptions(gpus_per_actor=0)
    with pytest.raises(ParameterError, match="executor='dask'"):
        analyze([str(EXAMPLES)], db=":memory:", executor="dask")
