"""The diarization pipeline after the embeddings: speech regions, clusters, turns."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from ...models.vad import VadOptions, regions_from_probabilities
from .cluster import ClusterSettings, centroids, cluster, smooth_neighbours
from .embed import Embedded, EmbedSettings, embed_stream
from .overlap import OverlapSettings, diarize_segmented, segment_stream
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

__all__ = ["Diarization", "PipelineSettings", "diarize", "diarize_embedded"]


@dataclass(frozen=True)
class PipelineSettings:
    """Every setting of the pipeline (the defaults were chosen on mixtures of single-speaker
    recordings, see benchmarks/bench_speakers.py; not on the evaluation conversations)."""

    #: pauses shorter than 0.3 s do not end a turn (the NIST RT convention)
    vad: VadOptions = field(default_factory=lambda: VadOptions(min_silence=0.3))
    embed: EmbedSettings = field(default_factory=EmbedSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    segment: SegmentSettings = field(default_factory=SegmentSettings)
    overlap: OverlapSettings = field(default_factory=OverlapSettings)


@dataclass
class Diarization:
    """Turns, speaker names and the speech regions they came from."""

    turns: list[Turn]
    speakers: list[str]
    regions: list[tuple[float, float]]
    duration: float


def diarize_embedded(
    e: Embedded, options: SpeakersOptions, settings: PipelineSettings
) -> Diarization:
    """Turns from the VAD probabilities and window embeddings of a file."""
    regions = regions_from_probabilities(
        e.probabilities, n_samples=e.n_samples, options=settings.vad
    )
    if not regions:
        return Diarization([], [], [], e.duration)
    if e.embeddings.shape[0] == 0:  # speech too short or too scattered for a window
        raw = [(a, b, 0) for a, b in regions]
        turns, names = name_turns(raw)
        return Diarization(turns, names, regions, e.duration)
    X = e.embeddings.astype(np.float64)
    Xs = smooth_neighbours(X, e.starts, settings.embed.step, settings.cluster.smooth)
    labels = cluster(Xs, bounds=options.bounds, settings=settings.cluster)
    k = int(labels.max()) + 1
    centred = X - X.mean(0) if k > 1 else X
    C = centroids(centred, labels, k)
    cn = centred / np.maximum(np.linalg.norm(centred, axis=1, keepdims=True), 1e-9)
    sims = cn @ C.T
    n_frames = e.probabilities.size
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
    )
    turns, names = name_turns(raw)
    return Diarization(turns, names, regions, e.duration)


def diarize(
    blocks: Iterable[np.ndarray],
    *,
    options: SpeakersOptions | None = None,
    settings: PipelineSettings | None = None,
    segmentation: SegmentationModel | None = None,
) -> Diarization:
    """Who spoke when in a 16 kHz mono signal given block by block.

    Parameters
    ----------
    blocks : iterable of np.ndarray [shape=(n_i,)] float32, 16 kHz mono, in order
    options : the number of speakers (or bounds on it)
    settings : the pipeline's settings (defaults when None)
    segmentation : a speaker segmentation model (see :mod:`audiolens.models.segmentation`):
        speech, speaker changes and overlapping speakers come from it (see :mod:`.overlap`);
        None: from the VAD and the encoder windows, one speaker at a time

    Returns
    -------
    diarization : Diarization
    """
    options = options or SpeakersOptions()
    settings = settings or PipelineSettings()
    if segmentation is None:
        e = embed_stream(blocks, settings=settings.embed, vad_options=settings.vad)
        return diarize_embedded(e, options, settings)
    blocks, chunker = segment_stream(blocks, segmentation, settings.overlap)
    # every window is embedded: the model, not the VAD, says where the speech is
    e = embed_stream(
        blocks, settings=replace(settings.embed, min_speech=0.0), vad_options=settings.vad
    )
    seg = chunker.finish()
    turns, names = diarize_segmented(
        e,
        seg,
        segmentation,
        options=options,
        settings=settings.overlap,
        cluster_settings=settings.cluster,
    )
    regions = _union([(t.start, t.end) for t in turns])
    return Diarization(turns, names, regions, e.duration)


def _union(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out
