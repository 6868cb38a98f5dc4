"""The ``beats`` task: beats, downbeats, tempo, tempo curve and meter of music.

How: madmom's log-filtered spectrogram (:mod:`.features`, streamed for long files) gives a
beat activation and a downbeat activation (:mod:`.activation`); a dynamic Bayesian network
over beat periods decodes the beats (:mod:`.dbn`); the metrical level listeners tap is chosen
(a slow beat with strong half beats doubled, a fast beat whose every other beat is weak
halved, bars of six fast beats read as three or two counted beats, weighed by a tempo prior:
:func:`.track.doubled`, :func:`.track.halved`, :func:`.bars.metrical_reading`, with the
change of harmony at each beat), beats that lie on the off-beats are moved on to the beat
(:func:`.track.on_the_beat`), and a bar model over the beats chooses the meter and the bar
position of every beat from the downbeat activation and beat-synchronous cues (the change of
harmony and bass, onsets and loudness per band, read by a small learnt model: :mod:`.cues`,
:mod:`.bars`, :mod:`.track`). Tempo is the median beat period; the tempo curve, the periods
smoothed over a few beats.

On a torch device (CUDA, MPS, the CPU) a batch of files goes through the spectrogram and the
network in batched device calls (:mod:`.batched`, :func:`tracked_batch`), each file's result
equal to the one it gets alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from ...audio import AudioInfo
from ...devices import Device
from ...errors import ParameterError
from ...writing import write_file
from ..base import AudioRequest, TaskInput, mono_blocks, output_name, read_input
from ..names import OutputNames
from .activation import load_net
from .batched import DeviceBatches
from .cues import frame_cues
from .features import FPS, SAMPLE_RATE, iter_logspec, logspec, stream_logspec
from .track import BeatTrack, track, track_activations
from .types import BeatsOptions, BeatsResult

__all__ = [
    "BeatTrack",
    "BeatsOptions",
    "BeatsResult",
    "BeatsTask",
    "beats",
    "beats_name",
    "read_beats_file",
    "spectrogram",
    "track",
    "tracked",
    "tracked_batch",
    "write_beats_file",
]

PathLike = str | bytes | os.PathLike

#: files longer than this (seconds) are streamed rather than decoded whole
STREAM_ABOVE_S = 600.0
#: seconds of audio per decoded block when streaming
BLOCK_S = 60.0


def beats_name(path: PathLike, *, names: OutputNames | None = None, suffix: str = ".beats") -> str:
    """The output file name for an input: ``<stem>.beats`` (or another ``suffix``), with a
    suffix when ``names`` (the run's output names) says two inputs share the stem."""
    return output_name(path, names=names, suffix=suffix)


def write_beats_file(result: BeatsResult, path: str | os.PathLike) -> Path:
    """Write ``time<TAB>bar position`` per beat (the Ballroom / madmom ``.beats`` format).

    Written whole or not at all (:func:`audiolens.writing.write_file`).

    Returns
    -------
    path : the file written
    """
    lines = "".join(f"{t:.3f}\t{p}\n" for t, p in zip(result.beats, result.positions))
    return write_file(path, lines)


def read_beats_file(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a ``.beats`` file: beat times and bar positions (0 where a line has none).

    Returns
    -------
    times : np.ndarray [shape=(n,)] seconds
    positions : np.ndarray [shape=(n,)] int
    """
    times, positions = [], []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            try:
                times.append(float(parts[0]))
                positions.append(int(float(parts[1])) if len(parts) > 1 else 0)
            except ValueError:
                raise ParameterError(
                    f"{os.fsdecode(path)}: line {number} is not 'time [position]': {line!r}"
                ) from None
    return np.asarray(times, dtype=float), np.asarray(positions, dtype=int)


class BeatsTask:
    """The ``beats`` task for the runner (see :mod:`audiolens.tasks.base`).

    Parameters
    ----------
    options : tempo range and meters (defaults when None)
    out_dir : write a ``.beats`` file per input there (None: no files)
    names : the run's output names (:class:`~audiolens.tasks.names.OutputNames`), which add a
        suffix to ``<stem>.beats`` when two inputs share a stem; None: always ``<stem>.beats``
    """

    name = "beats"
    # 2: times to the millisecond, tempi to 0.01 BPM; 3: metrical level, threshold; 4: the
    # fine-tuned network and the harmonic-change cue, the confidence the pulse clarity; 5: the
    # network fine-tuned on tracker modules too, bars of 2 costlier; 6: a fast beat with weak
    # alternate beats halved; 7: the network fine-tuned on band recordings and slow grooves
    # too, a slow groove's weak eighths halved whatever the tempo prior; 8: beat-synchronous
    # cues place the bar, beats tracked on the off-beats moved on to the beat; 9: bars of 2
    # costlier again (bars.TWO_BEAT_COST 0.6)
    version = 9

    def __init__(
        self,
        *,
        options: BeatsOptions | None = None,
        out_dir: str | os.PathLike | None = None,
        names: OutputNames | None = None,
    ) -> None:
        if options is not None and not isinstance(options, BeatsOptions):
            raise ParameterError(f"options must be a BeatsOptions, not {type(options).__name__}")
        self.options = options or BeatsOptions()
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.names = names
        self.batches = DeviceBatches()

    def request(self, info: AudioInfo) -> AudioRequest:
        """Mono 44.1 kHz; streamed in blocks when the file is long."""
        long = info.duration is None or not info.duration <= STREAM_ABOVE_S
        return AudioRequest(sr=SAMPLE_RATE, mono=True, block=BLOCK_S if long else None)

    def run(self, batch: Sequence[TaskInput], *, device: Device) -> list[BeatsResult]:
        """Track the beats of a batch of files; one BeatsResult per input, in order.

        On a torch device the spectrograms and the network's activations of the whole batch
        are computed in batched device calls (:func:`tracked_batch`)."""
        tracked_batch(batch, self.options, device=device, batches=self.batches)
        return [self.analyze(item, device=device) for item in batch]

    def analyze(self, item: TaskInput, *, device: Device | None = None) -> BeatsResult:
        """The result for one decoded input (the spectrogram computed on ``device``)."""
        found, seconds = tracked(item, self.options, device=device)
        result = found.result(duration=seconds)
        if self.out_dir is not None:
            target = self.out_dir / beats_name(item.info.path, names=self.names)
            result.beats_path = str(write_beats_file(result, target))
        return result


def spectrogram(item: TaskInput, *, device: Device | None = None) -> tuple[np.ndarray, float]:
    """The log-filtered spectrogram of a decoded (or streamed) input and its duration [s].

    Computed once per input and shared with the other tasks that read it (``structure``), on
    ``device`` (numpy when None or a numpy device; PyTorch on a torch device).

    Returns
    -------
    S : np.ndarray [shape=(81, n_frames)] float32, 100 frames per second
    seconds : float
    """
    return item.feature(_SPECTROGRAM, lambda it: _spectrogram(it, device))


def tracked(
    item: TaskInput, options: BeatsOptions | None = None, *, device: Device | None = None
) -> tuple[BeatTrack, float]:
    """The beats of an input (computed once per input and options) and its duration [s].

    The spectrogram is computed on ``device`` (see :func:`spectrogram`); the network and the
    decoders run on numpy (a few tens of milliseconds per song), unless :func:`tracked_batch`
    already ran the network on the device for this input.
    """
    options = options or BeatsOptions()

    def compute(it: TaskInput) -> tuple[BeatTrack, float]:
        if it.stream is not None and _SPECTROGRAM not in it.features:
            return _streamed(it, options, device)
        S, seconds = spectrogram(it, device=device)
        return track(S, fps=FPS, options=options), seconds

    return item.feature(f"beats/{options!r}", compute)


def tracked_batch(
    items: Sequence[TaskInput],
    options: BeatsOptions | None = None,
    *,
    device: Device | None,
    batches: DeviceBatches | None = None,
) -> None:
    """:func:`tracked` of many inputs at once: on a torch device, their spectrograms and the
    network's activations are computed in batched calls (:class:`.batched.DeviceBatches`),
    and each input keeps its spectrogram and beats (as :func:`spectrogram` and
    :func:`tracked` would), so that the later per-input calls find them. Streamed inputs, and
    every input on a numpy device, are left to the per-input path.

    Parameters
    ----------
    items : decoded inputs (as the runner gives them)
    options : tempo range and meters (defaults when None)
    device : where to compute; nothing is done here unless it is a torch device
    batches : the batch sizes learnt so far on the device (a new one when None)
    """
    if device is None or device.backend != "torch":
        return
    options = options or BeatsOptions()
    key = f"beats/{options!r}"
    todo = [
        it for it in items if key not in it.features and it.stream is None and len(it.pieces) == 1
    ]
    if not todo:
        return
    batches = batches or DeviceBatches()
    bare = [it for it in todo if _SPECTROGRAM not in it.features]
    signals = [next(mono_blocks(it)) for it in bare]
    specs = batches.spectrograms(signals, device=device)
    for it, y, S in zip(bare, signals, specs):
        it.features[_SPECTROGRAM] = (S, y.size / SAMPLE_RATE)
    specs = [it.features[_SPECTROGRAM][0] for it in todo]
    acts = batches.activations(specs, net=load_net(), device=device)
    for it, act, S in zip(todo, acts, specs):
        seconds = it.features[_SPECTROGRAM][1]
        found = track_activations(act, fps=FPS, options=options, cues=frame_cues(S))
        it.features[key] = (found, seconds)


_SPECTROGRAM = "logspec/44100/2048/100"


def _spectrogram(item: TaskInput, device: Device | None = None) -> tuple[np.ndarray, float]:
    if item.stream is None and len(item.pieces) == 1:
        y = next(mono_blocks(item))
        return logspec(y, device=device), y.size / SAMPLE_RATE
    counted = _Counted(item)
    return stream_logspec(counted, device=device), counted.n / SAMPLE_RATE


def _streamed(
    item: TaskInput, options: BeatsOptions, device: Device | None
) -> tuple[BeatTrack, float]:
    """The beats of a streamed input, holding only the activations and the frame summary of
    the beat cues (32 numbers per frame, not the 81 of the spectrogram: ~46 MB per hour of
    audio): the spectrogram's frames go through the network as they come
    (:meth:`BeatNet.stream`)."""
    counted = _Counted(item)
    summaries: list[np.ndarray] = []

    def frames() -> Iterator[np.ndarray]:
        previous = None  # the last frame of the block before: the onsets run on across blocks
        for S in iter_logspec(counted, device=device):
            if S.shape[1]:
                summaries.append(frame_cues(S, previous=previous))
                previous = S[:, -1].copy()
            yield S

    act = load_net().stream(frames())
    cues = np.concatenate(summaries, axis=1) if summaries else np.zeros((30, 0), np.float32)
    found = track_activations(act, fps=FPS, options=options, cues=cues)
    return found, counted.n / SAMPLE_RATE


class _Counted:
    """The input's mono blocks, counting the samples given."""

    def __init__(self, item: TaskInput) -> None:
        self.item = item
        self.n = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        for b in mono_blocks(self.item):
            self.n += b.size
            yield b


def beats(
    path: PathLike,
    *,
    options: BeatsOptions | None = None,
    device: str | Device = "auto",
    out_dir: str | os.PathLike | None = None,
) -> BeatsResult:
    """The beats, downbeats, tempo and meter of one music file.

    Parameters
    ----------
    path : an audio file in any format FFmpeg reads (any rate, any number of channels)
    options : tempo range and meters to choose from (defaults when None)
    device : "auto", "cpu", "cuda", ...: where the spectrogram and the network run (the
        decoders run on numpy, a few tens of milliseconds per song)
    out_dir : also write ``<stem>.beats`` there (time and bar position per line)

    Returns
    -------
    result : BeatsResult
        ``beats``, ``positions``, ``downbeats`` (seconds), ``tempo`` (BPM), ``meter`` (beats
        per bar), ``tempo_curve``, ``confidence``. Audio without a beat (silence, noise,
        speech) gives no beats, tempo None and a low confidence (the pulse clarity, under
        :data:`.track.MIN_CONFIDENCE`).

    Raises
    ------
    DecodeError
        when the file cannot be read as audio (the message names the file and the problem)
    """
    from ...devices import resolve_device

    task = BeatsTask(options=options, out_dir=out_dir)
    return task.run([read_input(path, task)], device=resolve_device(device))[0]
