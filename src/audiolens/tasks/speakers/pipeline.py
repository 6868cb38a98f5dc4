"""The diarization pipeline after the embeddings: speech regions, clusters, turns."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...models.vad import SileroVAD, VadOptions, regions_from_probabilities
from .cluster import ClusterSettings, centroids, cluster, smooth_neighbours
from .embed import Embedded, EmbedSettings, EmbedSink, EmbedStream
from .overlap import Chunker, Detected, OverlapSettings, detect, diarize_segmented
from .segment import (
    SegmentSettings,
    frame_scores,
    name_turns,
    overlap_turns,
    turns_from_frames,
    viterbi,
)
from .types import SpeakersOptions, Turn

if TYPE_CHECKING:  # pragma: no cover
    from ...models.segmentation import SegmentationModel

__all__ = [
    "Diarization",
    "DiarizationStream",
    "PipelineSettings",
    "diarize",
    "diarize_embedded",
]


_PIECE = 160000  #: samples (10 s) fed to the segmentation model and the encoder in turn


@dataclass(frozen=True)
class PipelineSettings:
    """Every setting of the pipeline (the defaults were chosen on monologues and conversations
    built from packages' speech, see benchmarks/bench_speakers.py; not on the evaluation
    clips)."""

    #: pauses shorter than 0.3 s do not end a turn (the NIST RT convention)
    vad: VadOptions = field(default_factory=lambda: VadOptions(min_silence=0.3))
    embed: EmbedSettings = field(default_factory=EmbedSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    segment: SegmentSettings = field(default_factory=SegmentSettings)
    overlap: OverlapSettings = field(default_factory=OverlapSettings)


@dataclass
class Diarization:
    """Turns, speaker names and the speech regions they came from.

    ``method``: ``"vad+encoder"``, or ``"segmentation:<model file>"`` (see
    :attr:`SpeakersResult.method <audiolens.tasks.speakers.SpeakersResult>`).
    """

    turns: list[Turn]
    speakers: list[str]
    regions: list[tuple[float, float]]
    duration: float
    method: str = "vad+encoder"


def diarize_embedded(
    e: Embedded,
    options: SpeakersOptions,
    settings: PipelineSettings,
    *,
    detected: Detected | None = None,
) -> Diarization:
    """Turns from the VAD probabilities and window embeddings of a file.

    Parameters
    ----------
    e : the VAD probabilities and the encoder's windows
    options : the number of speakers (or bounds on it)
    settings : the pipeline's settings
    detected : what a segmentation model says (:func:`~.overlap.detect`): its speech replaces
        the VAD's, its overlaps give second speakers, there are at least ``least``
        speakers, and its ``pure`` windows (one voice alone) take part in the one-voice test
        (:func:`~.cluster.cluster`); None: the VAD's speech, one speaker at a time
    """
    probs = e.probabilities if detected is None else detected.speech
    regions = regions_from_probabilities(probs, n_samples=e.n_samples, options=settings.vad)
    if not regions:
        return Diarization([], [], [], e.duration)
    if e.embeddings.shape[0] == 0:  # speech too short or too scattered for a window
        raw = [(a, b, 0) for a, b in regions]
        turns, names = name_turns(raw)
        return Diarization(turns, names, regions, e.duration)
    X = e.embeddings.astype(np.float64)
    Xs = smooth_neighbours(X, e.starts, settings.embed.step, settings.cluster.smooth)
    low, high = options.bounds
    if detected is not None:  # never more than there are windows
        low = max(low, min(detected.least, high, X.shape[0]))
    pure = None if detected is None else detected.pure
    labels = cluster(Xs, bounds=(low, high), settings=settings.cluster, starts=e.starts, pure=pure)
    k = int(labels.max()) + 1
    centred = X - X.mean(0) if k > 1 else X
    C = centroids(centred, labels, k)
    cn = centred / np.maximum(np.linalg.norm(centred, axis=1, keepdims=True), 1e-9)
    sims = cn @ C.T
    n_frames = probs.size
    scores = frame_scores(sims, e.starts, e.ends, n_frames)
    labels_f = np.zeros(n_frames, dtype=int)
    if k > 1:
        from ...models.vad import FRAME, SAMPLE_RATE

        step = FRAME / SAMPLE_RATE
        for a, b in regions:
            f0, f1 = int(a / step), min(n_frames, int(np.ceil(b / step)))
            labels_f[f0:f1] = viterbi(scores[f0:f1], settings.segment.switch)
    raw = turns_from_frames(labels_f, regions, min_turn=settings.segment.min_turn)
    raw += overlap_turns(
        scores,
        labels_f,
        regions,
        margin=settings.segment.overlap_margin,
        min_length=settings.segment.min_overlap,
        where=None if detected is None else detected.two,
    )
    turns, names = name_turns(raw)
    return Diarization(turns, names, regions, e.duration)


class DiarizationStream:
    """Who spoke when in a 16 kHz mono signal fed block by block: :meth:`feed` each block in
    order, then :meth:`finish` once. Memory stays bounded however long the signal (VAD
    probabilities, window embeddings and the segmentation's frames are kept, not the audio).

    Parameters
    ----------
    options : the number of speakers (or bounds on it)
    settings : the pipeline's settings (defaults when None)
    segmentation : a speaker segmentation model (see :mod:`audiolens.models.segmentation`):
        speech, speaker changes and overlapping speakers come from it (see :mod:`.overlap`);
        None: from the VAD and the encoder windows, one speaker at a time
    vad, sink, trunk : the VAD and where windows are embedded (see
        :class:`~audiolens.tasks.speakers.embed.EmbedStream`); None: ONNX Runtime and numpy
        on the CPU
    """

    def __init__(
        self,
        *,
        options: SpeakersOptions | None = None,
        settings: PipelineSettings | None = None,
        segmentation: SegmentationModel | None = None,
        vad: SileroVAD | None = None,
        sink: EmbedSink | None = None,
        trunk: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        self.options = options or SpeakersOptions()
        self.settings = settings or PipelineSettings()
        self.segmentation = segmentation
        embed = self.settings.embed
        self.chunker: Chunker | None = None
        if segmentation is not None:
            self.chunker = Chunker(segmentation, self.settings.overlap)
            if trunk is None and embed.encoder == "campplus":
                # the model runs in a thread beside the encoder: half the CPUs each
                from ...models.campplus_onnx import load_ort_campplus
                from ...models.onnx import onnx_threads

                fast = load_ort_campplus(max(1, onnx_threads() // 2))
                trunk = fast.trunk if fast is not None else None
            if self.settings.overlap.who == "model":
                # every window is embedded: the model, not the VAD, says where the speech is
                embed = replace(embed, min_speech=0.0)
        self.embed = EmbedStream(
            settings=embed, vad_options=self.settings.vad, vad=vad, sink=sink, trunk=trunk
        )

    def feed(self, block: np.ndarray) -> None:
        """Take the next block [shape=(n,)] float32, 16 kHz mono."""
        y = np.asarray(block, dtype=np.float32).reshape(-1)
        if not y.size:
            return
        if self.chunker is None:
            self.embed.feed(y)
            return
        # a long block goes to both in pieces, so that the model's thread has windows to run
        # while the encoder runs (the model's backlog is bounded)
        for a in range(0, y.size, _PIECE):
            self.chunker.add(y[a : a + _PIECE])
            self.embed.feed(y[a : a + _PIECE])

    def close(self) -> None:
        """The signal has ended: its last windows go to the sink (see
        :meth:`EmbedStream.close <audiolens.tasks.speakers.embed.EmbedStream.close>`)."""
        self.embed.close()

    def finish(self) -> Diarization:
        """The turns of the whole signal."""
        e = self.embed.finish()
        if self.chunker is None or self.segmentation is None:
            return diarize_embedded(e, self.options, self.settings)
        method = f"segmentation:{Path(self.segmentation.name).name}"
        if self.settings.overlap.who == "encoder":
            found = detect(
                e,
                self.chunker.finish(),
                self.segmentation,
                settings=self.settings.overlap,
                cluster_settings=self.settings.cluster,
            )
            out = diarize_embedded(e, self.options, self.settings, detected=found)
            out.method = method
            return out
        turns, names = diarize_segmented(
            e,
            self.chunker.finish(),
            self.segmentation,
            options=self.options,
            settings=self.settings.overlap,
            cluster_settings=self.settings.cluster,
        )
        regions = _union([(t.start, t.end) for t in turns])
        return Diarization(turns, names, regions, e.duration, method=method)


def diarize(
    blocks: Iterable[np.ndarray],
    *,
    options: SpeakersOptions | None = None,
    settings: PipelineSettings | None = None,
    segmentation: SegmentationModel | None = None,
    vad: SileroVAD | None = None,
    sink: EmbedSink | None = None,
) -> Diarization:
    """Who spoke when in a 16 kHz mono signal given block by block.

    Parameters
    ----------
    blocks : iterable of np.ndarray [shape=(n_i,)] float32, 16 kHz mono, in order
    options, settings, segmentation, vad, sink : as :class:`DiarizationStream`

    Returns
    -------
    diarization : Diarization
    """
    stream = DiarizationStream(
        options=options, settings=settings, segmentation=segmentation, vad=vad, sink=sink
    )
    for block in blocks:
        stream.feed(block)
    return stream.finish()


def _union(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out
