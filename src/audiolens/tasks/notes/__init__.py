"""``notes``: polyphonic music transcription to MIDI.

A frame engine (by default Spotify's basic-pitch, run with ONNX Runtime; see
:mod:`audiolens.models.basic_pitch`) turns windows of mono 22050 Hz audio into note, onset and
pitch-contour activations; :mod:`.creation` turns those into notes; :mod:`.midi` writes them
as a Standard MIDI File. The model contract, which also admits MT3-style engines that write
notes themselves, is in :mod:`.engine`.

Windows from every file of a batch go through the model together (``window_batch`` at a
time; on CUDA as many as half the free device memory holds, and half as many again after an
out-of-memory error), and long files are streamed: they are decoded, windowed and run block by
block, so the audio held at once stays small whatever the file's length.

Use :func:`transcribe` for one file, or ``audiolens.analyze(paths, tasks=[NotesTask(...)])``
(or ``tasks=["notes"]``) for a collection.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ...errors import ParameterError
from ..base import AudioRequest, TaskInput, mono_blocks, output_name, read_input
from ..names import OutputNames
from .creation import activations_to_notes
from .engine import (
    Activations,
    EventEngine,
    FrameEngine,
    SegmentEngine,
    frame_times,
    merge_event_windows,
    overlapping_windows,
    window_stream,
)
from .types import Note, NotesOptions, NotesResult, Pedal

if TYPE_CHECKING:  # pragma: no cover
    from ...audio import AudioInfo
    from ...devices import Device

__all__ = [
    "Note",
    "NotesOptions",
    "NotesResult",
    "NotesTask",
    "Pedal",
    "file_activations",
    "midi_name",
    "transcribe",
]

logger = logging.getLogger("audiolens")

#: files longer than this (seconds) are streamed rather than decoded whole
STREAM_ABOVE_S = 600.0
#: seconds of audio per decoded block when streaming
BLOCK_S = 60.0
#: device memory one basic-pitch window takes in a model call: the peak RSS of the torch graph
#: on the CPU (float32) grew by 24.6 MiB per window from 1 to 16 and to 48 windows
WINDOW_BYTES = 25 * 2**20
#: the most windows per model call that free device memory can ask for (17 minutes of audio)
MAX_WINDOW_BATCH = 512
#: how far apart the task versions of different engines are (see ``NotesTask.version``)
ENGINE_VERSION_STEP = 1000
PathLike = str | bytes | os.PathLike


def midi_name(path: PathLike, *, names: OutputNames | None = None) -> str:
    """The MIDI file name for an input: ``<stem>.mid``, with a suffix when ``names`` (the run's
    output names) says two inputs share the stem."""
    return output_name(path, names=names, suffix=".mid")


class _Rows:
    """A growing (frames, bins) float32 array, filled window by window at known rows."""

    def __init__(self, rows: int, bins: int) -> None:
        self.data = np.zeros((max(rows, 1), bins), dtype=np.float32)

    def put(self, row: int, block: np.ndarray) -> None:
        end = row + block.shape[0]
        if end > self.data.shape[0]:  # the container said less than there is: grow by half
            grown = np.zeros(
                (max(end, self.data.shape[0] * 3 // 2), self.data.shape[1]), np.float32
            )
            grown[: self.data.shape[0]] = self.data
            self.data = grown
        self.data[row:end] = block


@dataclass
class _Pending:
    """One file's activations as its windows come back from the model."""

    item: TaskInput
    note: _Rows | None = None
    onset: _Rows | None = None
    contour: _Rows | None = None
    windows: int = 0
    n_samples: int | None = None


class NotesTask:
    """The ``notes`` task for the runner (see :mod:`audiolens.tasks.base`).

    Parameters
    ----------
    options : how activations become notes (basic-pitch's defaults when None)
    out_dir : write a MIDI file per input there (None: no files; ``midi_path`` is None)
    names : the run's output names (:class:`~audiolens.tasks.names.OutputNames`), which add a
        suffix to ``<stem>.mid`` when two inputs share a stem; None: always ``<stem>.mid``
    engine : the model (a frame, event or segment engine, see :mod:`.engine`); None: the one
        ``options.engine`` names (basic-pitch by default, or Transkun)
    model_path : the model file to use instead of the installed package's (basic-pitch's
        ``nmp.onnx``, or Transkun's ``2.0.pt`` or a folder holding it with ``2.0.conf``)
    runtime : what runs basic-pitch: ``"onnxruntime"``, ``"torch"`` (the same weights through
        PyTorch, for GPUs without onnxruntime-gpu and Apple MPS), or ``"auto"`` (ONNX Runtime,
        or PyTorch on a GPU that onnxruntime cannot use here)
    window_batch : windows per model call; None picks 8 on the CPU, 64 on MPS, and on CUDA as
        many as half the free device memory holds (:data:`WINDOW_BYTES` each, 8 to
        :data:`MAX_WINDOW_BATCH`). A call that runs out of memory is halved and retried, and
        later calls of the task on that device keep the smaller size

    Windows of digital silence are not sent to the model: its answer to an all-zero window is
    computed once and reused (it is always the same), which saves most of the work on stems.
    """

    name = "notes"
    #: 2: pitch bends from the note's own pitch centre (steady notes unbent); an engine other
    #: than basic-pitch adds ``ENGINE_VERSION_STEP`` times its place in ``ENGINES``, so the
    #: results of one engine never stand for another's in a results store
    base_version = 2
    #: send windows of digital silence to the model too (False: reuse its answer for zeros)
    skip_silence = True

    def __init__(
        self,
        *,
        options: NotesOptions | None = None,
        out_dir: str | os.PathLike | None = None,
        names: OutputNames | None = None,
        engine: FrameEngine | EventEngine | None = None,
        model_path: str | os.PathLike | None = None,
        runtime: Literal["auto", "onnxruntime", "torch"] = "auto",
        window_batch: int | None = None,
    ) -> None:
        if window_batch is not None and (
            isinstance(window_batch, bool) or not isinstance(window_batch, int) or window_batch < 1
        ):
            raise ParameterError(f"window_batch={window_batch!r} must be a positive integer")
        if options is not None and not isinstance(options, NotesOptions):
            raise ParameterError(f"options must be a NotesOptions, not {type(options).__name__}")
        self.options = options or NotesOptions()
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.names = names
        self.runtime = runtime
        self.model_path = model_path
        self.engine: FrameEngine | EventEngine | SegmentEngine
        if engine is None and self.options.engine == "transkun":
            from ...models.transkun import Transkun

            engine = Transkun(model_path=model_path)
        # choose basic-pitch's runtime once the device is known
        self._pick = engine is None
        if engine is None:
            from ...models.basic_pitch import make_engine

            engine = make_engine(runtime, None, model_path)
        self.engine = engine
        self.window_batch = window_batch
        self._silent_out: dict[str, Any] = {}
        self._fits: dict[str, int] = {}  # windows per call after an out-of-memory, by device

    @property
    def version(self) -> int:
        """The task's version for the results store (see ``base_version``)."""
        from .types import ENGINES

        name = str(getattr(self.engine, "name", ""))
        place = next((k for k, e in enumerate(ENGINES) if name.startswith(e)), 0)
        return self.base_version + ENGINE_VERSION_STEP * place

    # -- the runner's contract ----------------------------------------------------------------

    def request(self, info: AudioInfo) -> AudioRequest:
        """The engine's rate, mono unless the engine keeps channels; streamed in blocks when
        the file is long."""
        long = info.duration is None or not info.duration <= STREAM_ABOVE_S
        mono = not getattr(self.engine, "keeps_channels", False)
        return AudioRequest(sr=self.engine.sample_rate, mono=mono, block=BLOCK_S if long else None)

    def run(self, batch: Sequence[TaskInput], *, device: Device) -> list[NotesResult]:
        """Transcribe a batch of files; one NotesResult per input, in order."""
        if self._pick:
            from ...models.basic_pitch import make_engine

            engine = make_engine(self.runtime, device, self.model_path)
            if type(engine) is not type(self.engine):
                self.engine = engine
            self._pick = False
        if isinstance(self.engine, SegmentEngine):
            found, durations = self._segments(batch, device)
        elif isinstance(self.engine, FrameEngine):
            acts = self.activations(batch, device=device)
            found = [activations_to_notes(a, self.options) for a in acts]
            durations = [a.duration for a in acts]
        elif isinstance(self.engine, EventEngine):
            found, durations = [], []
            for item in batch:
                notes, seconds = self._events(item, device)
                found.append(notes)
                durations.append(seconds)
        else:
            raise ParameterError(f"{self.engine!r} is neither a frame nor an event engine")
        return [
            self._result(item, notes, seconds)
            for item, notes, seconds in zip(batch, found, durations)
        ]

    # -- frame engines ------------------------------------------------------------------------

    def _batch_size(self, device: Device) -> int:
        from ...devices import free_memory

        if device.name in self._fits:
            return self._fits[device.name]
        if self.window_batch is not None:
            return self.window_batch
        if device.backend != "torch" or device.name == "cpu":
            return 8
        free = free_memory(device)
        if free is None:
            return 64
        return int(np.clip(free // 2 // WINDOW_BYTES, 8, MAX_WINDOW_BATCH))

    def _fit(self, device: Device, size: int) -> None:
        """Remember that ``size`` windows per call is what fits on ``device``."""
        self._fits[device.name] = max(1, size)

    def activations(self, batch: Sequence[TaskInput], *, device: Device) -> list[Activations]:
        """Each file's activations, running windows of all files through the model together.

        Windows are taken file after file and sent ``window_batch`` at a time, so one model
        call may hold the end of one file and the start of the next.
        """
        from ...devices import halve_on_oom

        engine = self.engine
        assert isinstance(engine, FrameEngine)
        size = self._batch_size(device)
        pending = [_Pending(item) for item in batch]
        want_contour = self.options.pitch_bends
        lo, hi = engine.edge_frames, engine.frames_per_window - engine.edge_frames
        buf: list[np.ndarray] = []
        owners: list[tuple[int, int]] = []  # (file, window index) of each window in buf

        def keep(k: int, w: int, out: dict[str, np.ndarray], j: int) -> None:
            p = pending[k]
            if p.note is None:  # sized from the container's duration; grown if it is short
                est = int((p.item.info.duration or 0) * engine.sample_rate) + engine.window
                rows = frame_times(est, engine).size
                p.note = _Rows(rows, out["note"].shape[2])
                p.onset = _Rows(rows, out["onset"].shape[2])
                if want_contour:
                    p.contour = _Rows(rows, out["contour"].shape[2])
            row = w * (hi - lo)
            p.note.put(row, out["note"][j, lo:hi])
            p.onset.put(row, out["onset"][j, lo:hi])
            if p.contour is not None:
                p.contour.put(row, out["contour"][j, lo:hi])

        def run(part: Sequence[tuple[np.ndarray, tuple[int, int]]]) -> None:
            out = engine.run(np.stack([window for window, _ in part]), device=device)
            for j, (_, (k, w)) in enumerate(part):
                keep(k, w, out, j)

        def fit(n: int) -> None:
            nonlocal size
            size = n
            self._fit(device, n)

        def flush() -> None:
            halve_on_oom(list(zip(buf, owners)), run, on_halve=fit)
            buf.clear()
            owners.clear()

        for k, p in enumerate(pending):
            for window, total in window_stream(mono_blocks(p.item), engine):
                if total:
                    p.n_samples = total
                w, p.windows = p.windows, p.windows + 1
                # digital silence: the model's answer to it is always the same
                if self.skip_silence and not window.any():
                    keep(k, w, self._silence(device), 0)
                    continue
                buf.append(window)
                owners.append((k, w))
                if len(buf) >= size:
                    flush()
            if p.n_samples is None:
                p.n_samples = 0
        if buf:
            flush()
        return [self._assemble(p) for p in pending]

    def _assemble(self, p: _Pending) -> Activations:
        engine = self.engine
        times = frame_times(int(p.n_samples or 0), engine)
        n = times.size
        assert p.note is not None and p.onset is not None  # every file has a window
        return Activations(
            note=p.note.data[:n],
            onset=p.onset.data[:n],
            contour=None if p.contour is None else p.contour.data[:n],
            times=times,
            frame_rate=engine.sample_rate / engine.frame_hop,
            lowest_pitch=engine.lowest_pitch,
            contour_bins_per_semitone=engine.contour_bins_per_semitone,
            duration=int(p.n_samples or 0) / engine.sample_rate,
        )

    def _silence(self, device: Device) -> dict[str, np.ndarray]:
        """The engine's output for a window of zeros (computed once per device)."""
        cached = self._silent_out.get(device.name)
        if cached is None:
            engine = self.engine
            assert isinstance(engine, FrameEngine)
            cached = engine.run(np.zeros((1, engine.window), np.float32), device=device)
            self._silent_out[device.name] = cached
        return cached

    # -- event engines ------------------------------------------------------------------------

    def _events(self, item: TaskInput, device: Device) -> tuple[list[Note], float]:
        engine = self.engine
        assert isinstance(engine, EventEngine)
        chunks, total = [], 0
        buf = np.zeros(0, dtype=np.float32)
        for x in mono_blocks(item):
            total += x.size
            buf = np.concatenate([buf, x])
            while buf.size >= engine.window:
                chunks.append(buf[: engine.window])
                buf = buf[engine.window :]
        if buf.size or not chunks:
            chunks.append(np.pad(buf, (0, engine.window - buf.size)))
        per_window = engine.run_events(np.stack(chunks), device=device)
        merged = merge_event_windows(per_window, window_seconds=engine.window / engine.sample_rate)
        notes = [Note(a, b, p, int(min(127, max(1, v)))) for a, b, p, v in merged]
        return notes, total / engine.sample_rate

    # -- segment engines ----------------------------------------------------------------------

    def _segments(
        self, batch: Sequence[TaskInput], device: Device
    ) -> tuple[list[list[Note | Pedal]], list[float]]:
        """Notes of each file, running windows of all files through the network together.

        Windows are taken file after file and sent ``engine.batch_size(device)`` at a time;
        each file's decoder gets its windows' outputs in order. A window of digital silence
        is not sent: the network's output for it is computed once and reused.
        """
        engine = self.engine
        assert isinstance(engine, SegmentEngine)
        size = engine.batch_size(device)
        decoders = [engine.decoder() for _ in batch]
        samples = [0] * len(batch)
        pending: list[tuple[int, np.ndarray | None]] = []  # (file, window or None: silence)

        def flush() -> None:
            real = [w for _, w in pending if w is not None]
            outs = iter(engine.encode(real, device=device) if real else [])
            for k, w in pending:
                decoders[k].feed(next(outs) if w is not None else self._silent_window(device))
            pending.clear()

        def blocks(k: int) -> Iterator[np.ndarray]:
            for a in batch[k].blocks():
                x = np.asarray(a.samples, dtype=np.float32)
                samples[k] += x.shape[-1]
                yield x

        for k in range(len(batch)):
            windows = overlapping_windows(
                blocks(k), window=engine.window, hop=engine.hop, lead=engine.lead
            )
            for window in windows:
                silent = self.skip_silence and not window.any()
                pending.append((k, None if silent else window))
                if sum(w is not None for _, w in pending) >= size:
                    flush()
        if pending:
            flush()
        found: list[list[Note | Pedal]] = []
        for dec in decoders:
            out: list[Note | Pedal] = []
            for onset, offset, pitch, velocity in dec.finish():
                value = int(min(127, max(1, velocity)))
                if pitch < 0:
                    out.append(Pedal(onset, offset, -int(pitch), value))
                else:
                    out.append(Note(onset, offset, int(pitch), value))
            found.append(out)
        return found, [n / engine.sample_rate for n in samples]

    def _silent_window(self, device: Device) -> Any:
        """The segment engine's output for a window of zeros (computed once per device)."""
        cached = self._silent_out.get(device.name)
        if cached is None:
            engine = self.engine
            assert isinstance(engine, SegmentEngine)
            zeros = np.zeros((1, engine.window), np.float32)
            cached = engine.encode([zeros], device=device)[0]
            self._silent_out[device.name] = cached
        return cached

    # -- results ------------------------------------------------------------------------------

    def _result(
        self, item: TaskInput, found: Sequence[Note | Pedal], seconds: float
    ) -> NotesResult:
        notes = [n for n in found if isinstance(n, Note)]
        pedals = [p for p in found if isinstance(p, Pedal)]
        midi_path = None
        if self.out_dir is not None:
            from .midi import write_midi

            target = self.out_dir / midi_name(item.info.path, names=self.names)
            midi_path = str(
                write_midi(
                    notes,
                    target,
                    tempo=self.options.midi_tempo,
                    multiple_pitch_bends=self.options.multiple_pitch_bends,
                    pedals=pedals,
                )
            )
        return NotesResult(
            notes=notes,
            midi_path=midi_path,
            duration=float(seconds),
            engine=_engine_label(self.engine),
            pedals=pedals,
        )


def _engine_label(engine: Any) -> str:
    provider = getattr(engine, "provider", "")
    return f"{engine.name} ({provider})" if provider else str(engine.name)


def file_activations(
    path: PathLike, *, device: str | Device = "auto", engine: FrameEngine | None = None
) -> Activations:
    """The model's activations for one file (what note creation starts from).

    Returns
    -------
    activations : Activations with ``note`` and ``onset`` [shape=(frames, 88)] and
        ``contour`` [shape=(frames, 264)], frame ``i`` at ``i / frame_rate`` seconds
    """
    from ...devices import resolve_device

    task = NotesTask(engine=engine, options=NotesOptions(pitch_bends=True))
    item = read_input(path, task)
    return task.activations([item], device=resolve_device(device))[0]


def transcribe(
    path: PathLike,
    *,
    options: NotesOptions | None = None,
    device: str | Device = "auto",
    out_dir: str | os.PathLike | None = None,
    model_path: str | os.PathLike | None = None,
    runtime: Literal["auto", "onnxruntime", "torch"] = "auto",
    engine: FrameEngine | EventEngine | None = None,
) -> NotesResult:
    """Transcribe the notes of one music file.

    Parameters
    ----------
    path : an audio file in any format FFmpeg reads (any rate, any number of channels)
    options : thresholds and switches of note creation (basic-pitch's defaults when None)
    device : "auto", "cpu", "cuda", ... (CUDA needs onnxruntime-gpu; else the CPU runs it)
    out_dir : also write ``<stem>.mid`` there
    model_path : basic-pitch's ``nmp.onnx`` instead of the installed package's
    runtime : ``"auto"``, ``"onnxruntime"`` or ``"torch"`` (see :class:`NotesTask`)
    engine : another model (see :mod:`audiolens.tasks.notes.engine`)

    Returns
    -------
    result : NotesResult
        ``notes`` (onset and offset in seconds, MIDI pitch, velocity), ``midi_path``,
        ``duration``, ``engine``. Silence gives no notes.

    Raises
    ------
    DecodeError
        when the file cannot be read as audio (the message names the file and the problem)
    ModelNotFound
        when basic-pitch's model is not installed (the message says how to install it)
    MissingDependency
        when onnxruntime is not installed
    """
    from ...devices import resolve_device

    task = NotesTask(
        options=options,
        out_dir=out_dir,
        model_path=model_path,
        runtime=runtime,
        engine=engine,
    )
    dev = resolve_device(device)
    return task.run([read_input(path, task)], device=dev)[0]
