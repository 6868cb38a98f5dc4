"""Fake tasks and small WAV helpers for the store, runner and CLI tests (no tests here).

The fake tasks live in an importable module so that the runner's worker processes (started
with forkserver/spawn) can import them by ``"module:Class"`` reference.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.io.wavfile

from audiolens.tasks.base import AudioRequest, Result, TaskInput

MODULE = __name__


def write_wav(
    path: str | bytes | os.PathLike,
    *,
    seconds: float = 0.25,
    freq: float = 440.0,
    sr: int = 8000,
    channels: int = 1,
) -> None:
    """A short int16 sine."""
    t = np.arange(int(seconds * sr)) / sr
    x = 0.5 * np.sin(2 * np.pi * freq * t)
    data = np.stack([x] * channels, axis=1) if channels > 1 else x
    scipy.io.wavfile.write(path, sr, (data * 32767).astype(np.int16))


@dataclass
class EchoResult(Result):
    """What :class:`EchoTask` reports: enough to check the right audio arrived."""

    task: ClassVar[str] = "echo"
    sample_rate: int
    samples: int
    peak: float
    pieces: int
    tags: dict
    freqs: list


class EchoTask:
    """Mono, 4 kHz, whole file; fails on files named *boom*; kills its worker on *crash*."""

    name = "echo"
    version = 1

    def request(self, info) -> AudioRequest:
        if "badrequest" in os.path.basename(info.path):
            raise ValueError("cannot plan this file")
        return AudioRequest(sr=4000, mono=True)

    def run(self, batch: Sequence[TaskInput], *, device) -> list[EchoResult]:
        out = []
        for item in batch:
            base = os.path.basename(item.info.path)
            if "boom" in base:
                raise ValueError(f"boom in {base!r}")
            if "crash" in base and multiprocessing.parent_process() is not None:
                os._exit(3)  # a worker dying mid-file, like a segfaulting decoder
            a = item.pieces[0]
            out.append(
                EchoResult(
                    sample_rate=a.sample_rate,
                    samples=int(a.samples.shape[1]),
                    peak=round(float(np.abs(a.samples).max()), 3),
                    pieces=len(item.pieces),
                    tags={"codec": item.info.codec, "nan": float("nan")},
                    freqs=[1, 2.5],
                )
            )
        return out


class TwinTask(EchoTask):
    """Asks for exactly what EchoTask asks for (so the runner decodes once for both)."""

    name = "twin"
    version = 1


@dataclass
class WindowResult(Result):
    task: ClassVar[str] = "win"
    lengths: list


class WindowTask:
    """Two windows at 8 kHz, stereo kept."""

    name = "win"
    version = 2

    def request(self, info) -> AudioRequest:
        return AudioRequest(sr=8000, mono=False, windows=((0.0, 0.05), (0.1, 0.05)))

    def run(self, batch, *, device) -> list[WindowResult]:
        return [WindowResult(lengths=[p.samples.shape[1] for p in i.pieces]) for i in batch]


class SlowTask(EchoTask):
    """EchoTask that takes a while per file (for the kill-and-resume test)."""

    name = "slow"
    version = 1

    def run(self, batch, *, device):
        time.sleep(0.1 * len(batch))
        return super().run(batch, device=device)


class LoggedTask(SlowTask):
    """SlowTask that appends the name of each file it analyses to ``$AUDIOLENS_FAKE_LOG``
    (one line per analysis, from any process: to count how often a file was analysed)."""

    name = "logged"
    version = 1

    def run(self, batch, *, device):
        fd = os.open(os.environ["AUDIOLENS_FAKE_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            for item in batch:
                os.write(fd, os.path.basename(item.info.path).encode() + b"\n")
        finally:
            os.close(fd)
        return super().run(batch, device=device)


class MissingModelTask(EchoTask):
    """A task whose weights are missing: the run must stop, not fail every file."""

    name = "nomodel"
    version = 1

    def run(self, batch, *, device):
        from audiolens.errors import ModelNotFound

        raise ModelNotFound("nomodel weights not found in /nowhere; put them there")


FAKE_TASKS = {
    "echo": f"{MODULE}:EchoTask",
    "twin": f"{MODULE}:TwinTask",
    "win": f"{MODULE}:WindowTask",
    "slow": f"{MODULE}:SlowTask",
    "logged": f"{MODULE}:LoggedTask",
    "nomodel": f"{MODULE}:MissingModelTask",
}


def register(monkeypatch) -> None:
    """Make the fake tasks known to ``audiolens.tasks`` for one test."""
    import audiolens.tasks

    monkeypatch.setattr(audiolens.tasks, "TASKS", {**audiolens.tasks.TASKS, **FAKE_TASKS})
