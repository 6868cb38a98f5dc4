"""The contract between the ``notes`` task and its models, and the windowing of frame engines.

Two kinds of engine fit the task:

**Frame engines** (basic-pitch and other frame-wise transcribers) take fixed-length windows of
mono audio and give per-frame activations, which :mod:`.creation` turns into notes. They have
``name``, ``sample_rate``, ``window`` (samples per window), ``frame_hop`` (samples per output
frame), ``frames_per_window``, ``edge_frames`` (frames at each window edge that see too little
context and are dropped), ``pitch_bins``, ``lowest_pitch`` (MIDI number of bin 0),
``contour_bins_per_semitone`` and ``run(windows, device=...)`` returning ``{"note", "onset",
"contour"}`` arrays of shape (n, frames_per_window, bins).

Windows overlap by ``2 * edge_frames`` frames: window ``w`` starts ``edge_frames`` frames before
sample ``w * step`` (``step = window - 2 * edge_frames * frame_hop`` samples, 36164 for
basic-pitch), and only its frames ``edge_frames .. frames_per_window - edge_frames`` are kept.
These are the places basic-pitch's own ``predict`` puts its windows, so the activations (and
the notes) are the ones it gets. As ``step`` is not a multiple of ``frame_hop``, the kept
frames are not evenly spaced across window joins; :class:`Activations` carries each frame's
exact time (``(w * step + j * frame_hop) / sample_rate``) rather than basic-pitch's
approximate drift correction.

**Event engines** (MT3 and its successors, MR-MT3, YourMT3: sequence-to-sequence models that
write note events) take windows of audio and give notes directly. They have ``name``,
``sample_rate``, ``window`` and ``run_events(windows, device=...)`` returning, per window, a
list of ``(onset_s, offset_s, pitch, velocity)`` relative to the window's start; windows do
not overlap and :func:`merge_event_windows` joins notes cut at window boundaries. An event
engine is added by writing such a class (for example over an ONNX or torch export of an MT3
checkpoint) and passing it as ``engine=`` to :class:`~audiolens.tasks.notes.NotesTask`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from ...devices import Device

__all__ = [
    "Activations",
    "EventEngine",
    "FrameEngine",
    "SegmentEngine",
    "WindowDecoder",
    "frame_times",
    "merge_event_windows",
    "overlapping_windows",
    "window_step",
    "window_stream",
]


@runtime_checkable
class FrameEngine(Protocol):
    """A model that gives frame-wise note, onset and contour activations (see module doc)."""

    name: str
    sample_rate: int
    window: int
    frame_hop: int
    frames_per_window: int
    edge_frames: int
    pitch_bins: int
    lowest_pitch: int
    contour_bins_per_semitone: int

    def run(self, windows: np.ndarray, *, device: Device) -> dict[str, np.ndarray]:
        """Activations for windows [shape=(n, window)]: note, onset, contour."""
        ...


@runtime_checkable
class EventEngine(Protocol):
    """A model that writes notes for each window of audio (see module doc)."""

    name: str
    sample_rate: int
    window: int

    def run_events(
        self, windows: np.ndarray, *, device: Device
    ) -> list[list[tuple[float, float, int, int]]]:
        """Notes per window [shape=(n, window)] as (onset_s, offset_s, pitch, velocity)."""
        ...


@runtime_checkable
class WindowDecoder(Protocol):
    """One file's decoding state in a segment engine (see module doc)."""

    def feed(self, encoded: Any) -> None:
        """Decode the file's next window from the engine's output for it."""
        ...

    def finish(self) -> list[tuple[float, float, int, int]]:
        """The file's events as (onset_s, offset_s, pitch, velocity), pedals with pitch < 0."""
        ...


@runtime_checkable
class SegmentEngine(Protocol):
    """A model over overlapping windows whose decoding carries state (see module doc)."""

    name: str
    sample_rate: int
    window: int
    hop: int
    lead: int
    keeps_channels: bool

    def batch_size(self, device: Device) -> int:
        """Windows per call of ``encode`` on ``device``."""
        ...

    def encode(self, windows: Sequence[np.ndarray], *, device: Device) -> list[Any]:
        """The network's output for each window [shape=(channels, window)]."""
        ...

    def decoder(self) -> WindowDecoder:
        """A fresh decoder for one file."""
        ...


@dataclass
class Activations:
    """A whole file's activations on the engine's frame grid.

    Attributes
    ----------
    note, onset : np.ndarray [shape=(frames, pitch_bins)], float32 in 0-1
    times : np.ndarray [shape=(frames,)], each frame's time in seconds (increasing)
    contour : np.ndarray [shape=(frames, pitch_bins * contour_bins_per_semitone)] or None
        (kept only when pitch bends are wanted)
    frame_rate : the nominal frames per second (``sample_rate / frame_hop``)
    lowest_pitch : MIDI number of pitch bin 0
    contour_bins_per_semitone : resolution of ``contour``
    duration : seconds of audio they cover
    """

    note: np.ndarray
    onset: np.ndarray
    contour: np.ndarray | None
    times: np.ndarray
    frame_rate: float
    lowest_pitch: int = 21
    contour_bins_per_semitone: int = 3
    duration: float = 0.0

    @property
    def frames(self) -> int:
        """Number of frames."""
        return int(self.note.shape[0])


def window_step(engine: FrameEngine) -> int:
    """Samples between the starts of consecutive windows."""
    return engine.window - 2 * engine.edge_frames * engine.frame_hop


def frame_times(n_samples: int, engine: FrameEngine) -> np.ndarray:
    """Times (s) of the frames kept for a signal of ``n_samples``: those of each window that
    fall inside the signal (at least one frame, for an empty signal)."""
    step = window_step(engine)
    kept = engine.frames_per_window - 2 * engine.edge_frames
    starts = np.arange(0, max(int(n_samples), 1), step, dtype=np.int64)
    pos = (starts[:, None] + engine.frame_hop * np.arange(kept)[None, :]).reshape(-1)
    pos = pos[pos < max(int(n_samples), 1)]
    return pos / float(engine.sample_rate)


def window_stream(
    blocks: Iterable[np.ndarray], engine: FrameEngine
) -> Iterator[tuple[np.ndarray, int]]:
    """Cut consecutive mono blocks into the engine's windows, holding little audio at a time.

    Parameters
    ----------
    blocks : consecutive pieces of one mono signal at ``engine.sample_rate`` (1-D float arrays)
    engine : the frame engine

    Yields
    ------
    window : np.ndarray [shape=(engine.window,)], float32; zeros before the signal's start
        and after its end
    n_samples : 0 while the signal goes on; with the LAST window, the signal's total length
        (so the caller knows how many frames are real)

    A signal of no samples still gives one window (all zeros), so silence and empty input run
    through the same path.
    """
    step = window_step(engine)
    size = engine.window
    buf = np.zeros(engine.edge_frames * engine.frame_hop, dtype=np.float32)
    start = 0  # audio sample where the window now at buf[0] keeps its first frame
    total = 0
    pending: np.ndarray | None = None  # held back one window, to flag the last one
    for block in blocks:
        x = np.asarray(block, dtype=np.float32).reshape(-1)
        if x.size == 0:
            continue
        total += x.size
        buf = np.concatenate([buf, x])
        while buf.size >= size:
            if pending is not None:
                yield pending, 0
            pending = buf[:size].copy()
            buf = buf[step:]
            start += step
    # window w is needed while its first kept frame (sample w * step) lies in the signal
    while start < total or (pending is None and start == 0):
        if pending is not None:
            yield pending, 0
        pending = np.zeros(size, dtype=np.float32)
        take = min(size, buf.size)
        pending[:take] = buf[:take]
        buf = buf[step:]
        start += step
    assert pending is not None
    yield pending, total


def merge_event_windows(
    per_window: Sequence[Sequence[tuple[float, float, int, int]]],
    *,
    window_seconds: float,
    gap: float = 0.02,
) -> list[tuple[float, float, int, int]]:
    """Join the notes an event engine wrote for consecutive non-overlapping windows.

    Notes are shifted by their window's start; a note that ends within ``gap`` seconds of a
    window boundary and a note of the same pitch that starts within ``gap`` of it in the next
    window are one note cut by the boundary, and are joined.
    """
    out: list[list[float]] = []
    open_at_edge: dict[int, int] = {}  # pitch -> index in out of a note that reached the edge
    for w, notes in enumerate(per_window):
        t0 = w * window_seconds
        edge = t0 + window_seconds
        reached: dict[int, int] = {}
        for onset, offset, pitch, velocity in sorted(notes):
            start, end = t0 + float(onset), t0 + float(offset)
            j = open_at_edge.get(int(pitch))
            if j is not None and start - t0 <= gap:
                out[j][1] = max(out[j][1], end)
                del open_at_edge[int(pitch)]
                k = j
            else:
                out.append([start, end, int(pitch), int(velocity)])
                k = len(out) - 1
            if edge - out[k][1] <= gap:
                reached[int(pitch)] = k
        open_at_edge = reached
    return sorted((a, b, int(p), int(v)) for a, b, p, v in out)


def overlapping_windows(
    blocks: Iterable[np.ndarray], *, window: int, hop: int, lead: int
) -> Iterator[np.ndarray]:
    """Cut a signal, given block by block, into the overlapping windows of a segment engine.

    The signal gets ``lead`` zeros before it and after it; window ``w`` holds samples
    ``w * hop .. w * hop + window`` of that padded signal (zeros past its end), for every
    ``w * hop`` before the padded signal's end.

    Parameters
    ----------
    blocks : consecutive pieces of one signal [shape=(channels, n) or (n,)]
    window, hop, lead : samples

    Yields
    ------
    window : np.ndarray [shape=(channels, window)], float32
    """
    buf: np.ndarray | None = None
    total = start = 0
    for block in blocks:
        x = np.atleast_2d(np.asarray(block, dtype=np.float32))
        if x.shape[-1] == 0:
            continue
        if buf is None:
            buf = np.zeros((x.shape[0], lead), dtype=np.float32)
        total += x.shape[-1]
        buf = np.concatenate([buf, x], axis=-1)
        while buf.shape[-1] >= window:
            yield buf[:, :window].copy()
            buf = buf[:, hop:]
            start += hop
    if buf is None:
        buf = np.zeros((1, lead), dtype=np.float32)
    while start < total + 2 * lead:
        out = np.zeros((buf.shape[0], window), dtype=np.float32)
        take = min(window, buf.shape[-1])
        out[:, :take] = buf[:, :take]
        yield out
        buf = buf[:, hop:]
        start += hop
