"""The bounded queue between the decoders and the device (issue 20): on an accelerator the
workers decode, the device runs batches on a thread of its own, and the decoded audio held at
once stays under ``$AUDIOLENS_QUEUE_MB`` whatever the batch size; failures stay per file."""

from __future__ import annotations

import os
import threading
import time
import weakref

import pytest

import test_runner_fakes as fakes
from audiolens.devices import Device
from audiolens.errors import ParameterError
from audiolens.runner import analyze
from audiolens.runner.work import Worker
from audiolens.store import Store

FAKE_GPU = Device("cuda:0", "torch", "float32")  # the fake tasks never touch torch
SECONDS = 2.0
ONE = int(SECONDS * 4000) * 4  # one file decoded for the fake tasks: 4 kHz mono float32


@pytest.fixture(autouse=True)
def _fake_tasks(monkeypatch):
    fakes.register(monkeypatch)


class Witness:
    """Counts the decoded sample arrays alive in this process (freed when the runner lets go
    of them), and when the device was busy."""

    def __init__(self, monkeypatch) -> None:
        self.alive = 0
        self.most = 0
        self.decoded_at: list[float] = []
        self.busy: list[tuple[float, float]] = []
        self.batches: list[int] = []
        self.lock = threading.Lock()
        decode, run = Worker.decode, fakes.SlowTask.run

        def counted_decode(worker, job):
            out = decode(worker, job)
            arrays = {id(a.samples): a.samples for i in out.inputs.values() for a in i.pieces}
            for samples in arrays.values():
                with self.lock:
                    self.alive += samples.nbytes
                    self.most = max(self.most, self.alive)
                weakref.finalize(samples, self._freed, samples.nbytes)
            self.decoded_at.append(time.monotonic())
            return out

        def timed_run(task, batch, *, device):
            t0 = time.monotonic()
            try:
                return run(task, batch, device=device)
            finally:
                self.busy.append((t0, time.monotonic()))
                self.batches.append(len(batch))

        monkeypatch.setattr(Worker, "decode", counted_decode)
        monkeypatch.setattr(fakes.SlowTask, "run", timed_run)

    def _freed(self, nbytes: int) -> None:
        with self.lock:
            self.alive -= nbytes


def _library(folder, n: int):
    folder.mkdir()
    for i in range(n):
        fakes.write_wav(folder / f"f{i:02d}.wav", seconds=SECONDS, freq=300 + 10 * i)
    fakes.write_wav(folder / "boom1.wav", seconds=SECONDS)  # the task fails on it
    (folder / "broken.wav").write_bytes(b"RIFF\x10\0\0\0WAVEjunk" * 50)  # not decodable
    return folder


@pytest.mark.parametrize("room,most", [(3.5, 4), (0.5, 1)])
def test_decoded_audio_held_stays_under_the_bound(tmp_path, monkeypatch, room, most):
    """A slow device, 24 files, batches of 8: with room for 3.5 files no more than 4 are ever
    decoded at once (the bound, plus the file whose decode started under it), and with room
    for half a file, one at a time; without the bound a batch of 8 would be held. The files
    that fail are rows, and the run goes on."""
    lib = _library(tmp_path / "lib", 24)
    monkeypatch.setenv("AUDIOLENS_QUEUE_MB", repr(room * ONE / 2**20))
    witness = Witness(monkeypatch)
    db = tmp_path / "r.sqlite"
    summary = analyze(
        [lib], tasks=("slow",), db=db, device=FAKE_GPU, workers=1, batch_size=8, progress=False
    )
    assert (summary.done, summary.failed) == (24, 2)
    assert witness.most <= most * ONE, witness.most / ONE
    assert witness.alive == 0  # all let go at the end
    assert max(witness.batches) <= most  # batches went as the room filled, not at 8 files
    with Store(db) as store:
        rows = {os.path.basename(r.path): r for r in store.rows()}
    assert rows["boom1.wav"].status == "failed" and "boom" in rows["boom1.wav"].error
    assert rows["broken.wav"].status == "failed" and "broken.wav" in rows["broken.wav"].error
    assert all(r.status == "ok" for name, r in rows.items() if name.startswith("f"))


def test_decoding_goes_on_while_the_device_runs_a_batch(tmp_path, monkeypatch):
    lib = _library(tmp_path / "lib", 12)
    witness = Witness(monkeypatch)
    summary = analyze(
        [lib],
        tasks=("slow",),
        db=tmp_path / "r.sqlite",
        device=FAKE_GPU,
        workers=1,
        batch_size=3,
        progress=False,
    )
    assert (summary.done, summary.failed) == (12, 2)
    during = [t for t in witness.decoded_at if any(a < t < b for a, b in witness.busy)]
    assert during, "no file was decoded while a batch ran"
    assert witness.batches.count(3) >= 4  # full batches while there is room (1024 MiB)


def test_a_bad_queue_size_stops_the_run_before_it_starts(tmp_path, monkeypatch):
    lib = _library(tmp_path / "lib", 1)
    for bad in ("0", "-1", "lots", "nan"):
        monkeypatch.setenv("AUDIOLENS_QUEUE_MB", bad)
        with pytest.raises(ParameterError, match="AUDIOLENS_QUEUE_MB"):
            analyze([lib], tasks=("slow",), db=tmp_path / "r.sqlite", progress=False)
    assert not (tmp_path / "r.sqlite").exists()


def test_ctrl_c_leaves_no_device_thread_and_keeps_the_finished_files(tmp_path, monkeypatch):
    """Ctrl-C while batches are queued: the run stops, the batches not started are dropped,
    the one running ends by itself, and what was finished is stored."""
    lib = _library(tmp_path / "lib", 12)
    Witness(monkeypatch)

    def stop_after_two(event, **info):
        if event == "file" and info["completed"] == 2:
            raise KeyboardInterrupt

    db = tmp_path / "r.sqlite"
    with pytest.raises(KeyboardInterrupt):
        analyze(
            [lib],
            tasks=("slow",),
            db=db,
            device=FAKE_GPU,
            workers=1,
            batch_size=2,
            hook=stop_after_two,
            progress=False,
        )
    deadline = time.monotonic() + 10
    while any(t.name.startswith("audiolens-device") for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the device thread still runs"
        time.sleep(0.05)
    with Store(db) as store:
        rows = list(store.rows())
        (run,) = store.runs()
    assert 2 <= len(rows) < 14 and run["status"] == "interrupted"
