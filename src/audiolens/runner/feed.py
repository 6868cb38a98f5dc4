"""The bounded queue that feeds decoded files to the device (the runner's batched path).

On an accelerator (and for tasks that batch across files, like speech) the pool's workers
only decode; the files they decode wait here for their tasks' batches. A :class:`DeviceFeed`
gathers each task's batch (``batch_size`` files), sends it to the device, and gives back each
file's outcome once all its tasks are done.

- **The device never waits on the decoding, nor the decoding on the device.** Batches run on
  a thread of their own (the local pool; Ray sends them to its model actors), so the workers
  go on decoding while a batch runs, and the next batches are ready when it ends.
- **Memory stays bounded** by bytes of decoded audio, not by a count of files: a new file's
  decode starts only while the audio held here (files waiting for a batch, queued, or on the
  device) is under :func:`queue_bytes` (``$AUDIOLENS_QUEUE_MB``, 1024 MiB unless set). When it
  is full, the batches being gathered go to the device as they are, and the next decode waits
  until a batch is done. So what is held stays under the bound plus the files that were being
  decoded when it filled (at most two per worker; a single file larger than the bound is
  taken alone). Long files add little: the tasks that read them whole stream them in blocks.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..audio.limits import env_positive
from .jobs import DecodedFile, FileJob, FileOutcome, TaskOutcome
from .work import finish

__all__ = ["DEFAULT_QUEUE_MB", "ENV_QUEUE_MB", "DeviceFeed", "queue_bytes"]

#: MiB of decoded audio the feed holds unless ``$AUDIOLENS_QUEUE_MB`` says otherwise (101
#: minutes of mono 44.1 kHz float32)
DEFAULT_QUEUE_MB = 1024.0
ENV_QUEUE_MB = "AUDIOLENS_QUEUE_MB"

_Sent = tuple[str, list[DecodedFile], Callable[[], list[TaskOutcome]], Callable[[], bool]]


def queue_bytes() -> int:
    """Bytes of decoded audio the feed may hold (``$AUDIOLENS_QUEUE_MB`` MiB, 1024 if unset).

    Raises
    ------
    ParameterError
        when ``$AUDIOLENS_QUEUE_MB`` is not a positive number
    """
    return max(1, int(env_positive(ENV_QUEUE_MB, DEFAULT_QUEUE_MB, unit="MiB") * 2**20))


class DeviceFeed:
    """Decoded files on their way to the device, in batches, within a bound in bytes.

    Parameters
    ----------
    main : what runs the batches: a :class:`~audiolens.runner.work.Worker` (run on a thread
        of this process) or Ray's model actors (``submit_batch``, ``batches_in_flight``)
    batch_size : files per batch of a task
    max_bytes : decoded audio held at most (see the module docstring)

    Attributes
    ----------
    held : bytes of decoded audio held now
    peak : the most bytes held at once so far
    """

    def __init__(self, main: Any, *, batch_size: int, max_bytes: int) -> None:
        self.batch_size = batch_size
        self.max_bytes = max_bytes
        self.held = 0
        self.peak = 0
        self._gathering: dict[str, list[DecodedFile]] = {}
        self._waiting: dict[str, tuple[DecodedFile, dict[str, TaskOutcome], int]] = {}
        self._sent: deque[_Sent] = deque()
        self._ready: deque[FileOutcome] = deque()
        submit = getattr(main, "submit_batch", None)
        self._thread: ThreadPoolExecutor | None = None
        if submit is None:
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="audiolens-device")
            self._submit = self._on_thread(main.run_batch)
            self._depth = sys.maxsize  # a finished batch is settled when seen, none waited on
        else:
            self._submit = lambda name, files: (submit(name, files), lambda: False)
            self._depth = int(getattr(main, "batches_in_flight", 0))

    def _on_thread(self, run: Callable[[str, list[DecodedFile]], list[TaskOutcome]]):
        def submit(name: str, files: list[DecodedFile]):
            assert self._thread is not None
            future = self._thread.submit(run, name, files)
            return future.result, future.done

        return submit

    # -- the decoders' side --------------------------------------------------------------------

    def gate(self, jobs: Iterable[FileJob]) -> Iterator[FileJob]:
        """``jobs``, each taken from ``jobs`` (and so claimed in the store) only when there is
        room for its decoded audio: a new decode starts only while the feed holds less than
        ``max_bytes``."""
        pending = iter(jobs)
        while True:
            self._make_room()
            job = next(pending, None)
            if job is None:
                return
            yield job

    def add(self, decoded: DecodedFile, failed: dict[str, TaskOutcome]) -> Iterator[FileOutcome]:
        """Take a decoded file (``failed``: its tasks that failed already); yields the outcomes
        of the files finished meanwhile (this one's at once when no task is left to run)."""
        yield from self._drain()
        outcomes = dict(failed)
        if len(outcomes) == len(decoded.job.tasks):
            yield finish(decoded, outcomes)
            return
        size = decoded.audio_bytes
        self._waiting[decoded.job.path] = (decoded, outcomes, size)
        self.held += size
        self.peak = max(self.peak, self.held)
        for name in decoded.inputs:
            batch = self._gathering.setdefault(name, [])
            batch.append(decoded)
            if len(batch) >= self.batch_size:
                self._send(name)
        yield from self._harvest()

    def outcomes(self) -> Iterator[FileOutcome]:
        """The outcomes finished so far, not yet given."""
        return self._drain()

    def finish(self) -> Iterator[FileOutcome]:
        """Send what is gathered and yield every outcome still to come (the end of a run)."""
        for name in list(self._gathering):
            self._send(name)
        while self._sent:
            yield from self._harvest(block=True)
        yield from self._drain()

    def close(self) -> None:
        """Stop: batches not started are dropped; the one running ends by itself."""
        if self._thread is not None:
            self._thread.shutdown(wait=False, cancel_futures=True)
            self._thread = None

    # -- inside --------------------------------------------------------------------------------

    def _drain(self) -> Iterator[FileOutcome]:
        while self._ready:
            yield self._ready.popleft()

    def _make_room(self) -> None:
        while self.held >= self.max_bytes and self._waiting:
            for name in list(self._gathering):
                self._send(name)  # partial batches go now: the device frees the room
            if not self._sent:  # pragma: no cover - every file waiting is in a batch sent
                return
            self._ready.extend(self._harvest(block=True))

    def _send(self, name: str) -> None:
        batch = self._gathering.pop(name, [])
        if batch:
            self._sent.append((name, batch, *self._submit(name, batch)))

    def _harvest(self, *, block: bool = False) -> Iterator[FileOutcome]:
        """Settle the batches that are done, in order; with ``block`` (or more batches out
        than may be) wait for the oldest."""
        while self._sent:
            name, files, result, done = self._sent[0]
            if not (block or len(self._sent) > self._depth or done()):
                return
            self._sent.popleft()
            block = False
            yield from self._settle(name, files, result())

    def _settle(
        self, name: str, files: list[DecodedFile], done: list[TaskOutcome]
    ) -> Iterator[FileOutcome]:
        for decoded, outcome in zip(files, done, strict=True):
            decoded_, outcomes, size = self._waiting[decoded.job.path]
            outcomes[name] = outcome
            if len(outcomes) == len(decoded.job.tasks):
                del self._waiting[decoded.job.path]
                self.held -= size
                yield finish(decoded_, outcomes)
