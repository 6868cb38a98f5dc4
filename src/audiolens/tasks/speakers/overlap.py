"""Diarization with a speaker segmentation model (by default segmentation-3.0).

The model reads windows of the file (10 s every ``step`` seconds, in a thread beside the
encoder: :class:`Chunker`) and says, per 17 ms frame, which of up to three *local* speakers
talk, two at once included. Two ways use it:

- ``who="encoder"`` (the default, :func:`detect`): the model's frames are averaged onto the
  VAD's 32 ms frames and give where the speech is, where two talk at once, and a least number
  of speakers (two local speakers of one window who each talk alone there for ``min_alone``
  seconds and whom the encoder hears as two voices); the encoder windows are clustered and
  the Viterbi pass gives each frame its speaker as without a model
  (:func:`~audiolens.tasks.speakers.pipeline.diarize_embedded`).
- ``who="model"`` (pyannote's recipe, :func:`diarize_segmented`): the voice encoder's windows
  that hold one speaker only are clustered, which gives the file's speakers and their
  centroids; each local speaker of each window gets the mean embedding of the encoder windows
  where it talks alone, and the local speakers of a window are matched to the file's speakers
  one to one (the Hungarian algorithm) by cosine similarity. The windows' activities are then
  averaged frame by frame onto one time line, as is the number of speakers talking; each frame
  keeps that many of the best-scoring speakers.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ...errors import ParameterError
from ...models.segmentation import SAMPLE_RATE, SegmentationModel
from .cluster import ClusterSettings, centroids, cluster
from .embed import Embedded
from .segment import name_turns
from .types import SpeakersOptions, Turn

__all__ = ["Chunker", "Detected", "OverlapSettings", "Segmented", "detect", "diarize_segmented"]

_BACKLOG = 4  #: batches of windows that may wait for the model's thread


@dataclass(frozen=True)
class OverlapSettings:
    """Settings of the overlap-aware path.

    Attributes
    ----------
    step : seconds between the starts of the model's windows (pyannote: a tenth of the
        window; here a quarter: on the tune half of the built sets 1, 2.5 and 5 s gave the
        same counts and DER, and the model's time, which grows as 1 / step, stays under the
        encoder's, beside which it runs)
    batch : windows per model call
    clean : an encoder window speaks for a speaker when that speaker talks alone in at least
        this share of its frames
    loose : ... or, when no window is that clean, talks (alone or not) in this share
    min_turn : turns shorter than this (seconds) are dropped
    min_gap : pauses shorter than this (seconds) within one speaker's talk are filled
    cluster_on : "local": cluster the local speakers' mean embeddings (pyannote's way);
        "windows": cluster the encoder windows where one speaker talks
    cannot_link : count at least as many speakers as talk alone in any one model window
        (those whose mean embeddings are less than ``distinct`` cosine-similar, each talking
        alone for at least ``min_alone`` seconds in that window)
    distinct, min_alone : see ``cannot_link`` (an embedding of less speech is not reliable
        enough: on the tune half's 10-minute monologues, local speakers of 1.2-3.3 s alone
        made false pairs)
    who : "encoder": the model says where speech is, where two talk at once and (by
        ``cannot_link``) how many speakers there are at least; the encoder windows are
        clustered and a Viterbi pass gives each frame its speaker, as without a model
        (:func:`detect`); "model": each window's local speakers are matched to the clusters
        and give the frames (pyannote's way, :func:`diarize_segmented`)
    """

    step: float = 2.5
    batch: int = 4
    clean: float = 0.8
    loose: float = 0.5
    min_turn: float = 0.1
    min_gap: float = 0.0
    cluster_on: str = "windows"
    cannot_link: bool = True
    distinct: float = 0.5
    min_alone: float = 4.0
    who: str = "encoder"

    def __post_init__(self) -> None:
        if self.cluster_on not in ("local", "windows"):
            raise ParameterError(f"cluster_on={self.cluster_on!r}: it is 'local' or 'windows'")
        if self.who not in ("encoder", "model"):
            raise ParameterError(f"who={self.who!r}: it is 'encoder' or 'model'")
        if not self.step > 0 or self.batch < 1:
            raise ParameterError(f"step={self.step} and batch={self.batch} must be positive")


@dataclass
class Segmented:
    """The segmentation model's output over a whole file.

    Attributes
    ----------
    starts : np.ndarray [shape=(n_windows,)] int, each window's first sample
    active : np.ndarray [shape=(n_windows, frames, local_speakers)] bool
    n_samples : the signal's length
    """

    starts: np.ndarray
    active: np.ndarray
    n_samples: int


class Chunker:
    """Cuts the model's windows from a growing signal (:meth:`add` each block in order) and runs
    the model on them in batches; :meth:`finish` gives the model's output for the whole signal.

    The model runs in a thread of its own (ONNX Runtime and numpy let go of the GIL), beside
    the encoder in the caller's thread: on two cores the two networks run at once rather than
    each on two threads, which divide their small products less well (``background=False``:
    in the caller's thread). At most ``_BACKLOG`` batches wait for the thread, so memory stays
    bounded."""

    def __init__(
        self, model: SegmentationModel, settings: OverlapSettings, *, background: bool = True
    ) -> None:
        self.model = model
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="segmentation") if background else None
        self.futures: list[Future] = []
        self.win = model.geometry.window
        self.hop = max(1, int(round(settings.step * SAMPLE_RATE)))
        self.batch = max(1, settings.batch)
        self.buf = np.zeros(0, dtype=np.float32)
        self.buf_start = 0
        self.next_start = 0
        self.total = 0
        self.starts: list[int] = []
        self.active: list[np.ndarray] = []
        self.pending: list[tuple[int, np.ndarray]] = []

    def add(self, y: np.ndarray) -> None:
        self.buf = np.concatenate([self.buf, y]) if self.buf.size else y.copy()
        self.total += y.size
        while self.next_start + self.win <= self.total:
            self._take(self.next_start)
        self._trim()

    def finish(self) -> Segmented:
        # the tail: one more window, zero-padded, when the last full one stopped short of the
        # end (or the file is shorter than a window)
        if self.total and self._covered() < self.total:
            self._take(self.next_start)
        self._flush()
        self._wait()
        frames, speakers = self.model.geometry.frames, self.model.num_speakers
        active = (
            np.concatenate(self.active)
            if self.active
            else np.zeros((0, frames, speakers), dtype=bool)
        )
        return Segmented(np.asarray(self.starts, dtype=np.int64), active, self.total)

    def _covered(self) -> int:
        last = max([*self.starts, *(s for s, _ in self.pending)], default=-self.win)
        return last + self.win

    def _take(self, start: int) -> None:
        a = start - self.buf_start
        x = self.buf[a : a + self.win]
        if x.size < self.win:
            x = np.pad(x, (0, self.win - x.size))
        self.pending.append((start, x))
        self.next_start = start + self.hop
        if len(self.pending) >= self.batch:
            self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        chunk = np.stack([x for _, x in self.pending])
        self.starts.extend(s for s, _ in self.pending)
        self.pending = []
        if self.pool is None:
            self.active.append(self.model.activity(chunk))
            return
        self.futures.append(self.pool.submit(self.model.activity, chunk))
        while len(self.futures) > _BACKLOG:
            self.active.append(self.futures.pop(0).result())

    def _wait(self) -> None:
        """Collect what the thread has still to give (its errors are raised here)."""
        while self.futures:
            self.active.append(self.futures.pop(0).result())
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            self.pool = None

    def _trim(self) -> None:
        cut = min(self.next_start, self.buf_start + self.buf.size) - self.buf_start
        if cut > 0:
            self.buf = self.buf[cut:]
            self.buf_start += cut


class _Timeline:
    """The windows' frames on one time line of frames ``shift`` samples apart."""

    def __init__(self, seg: Segmented, model: SegmentationModel) -> None:
        g = model.geometry
        self.shift, self.rf = g.shift, g.receptive_field
        j = np.arange(g.frames)
        # global frame of every (window, frame); frames past the end of the signal are dropped
        self.index = np.rint((seg.starts[:, None] + j[None, :] * g.shift) / g.shift).astype(int)
        centre = seg.starts[:, None] + g.centre(j)[None, :]
        self.valid = centre < max(seg.n_samples, 1)
        self.n = int(self.index[self.valid].max()) + 1 if self.valid.any() else 0

    def average(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per global frame, the mean over windows of ``values`` [shape=(windows, frames, ...)];
        and how many windows cover each frame."""
        tail = values.shape[2:]
        total = np.zeros((self.n, *tail))
        cover = np.zeros(self.n)
        idx, v = self.index[self.valid], values[self.valid]
        np.add.at(total, idx, v)
        np.add.at(cover, idx, 1.0)
        shape = (-1,) + (1,) * len(tail)
        return total / np.maximum(cover, 1.0).reshape(shape), cover

    def seconds(self, g: np.ndarray | int) -> np.ndarray:
        """The centre (seconds) of global frames ``g``."""
        return (np.asarray(g, dtype=np.float64) * self.shift + self.rf / 2) / SAMPLE_RATE


def _window_frames(
    starts_s: np.ndarray, ends_s: np.ndarray, chunk_start: int, model: SegmentationModel
) -> tuple[np.ndarray, np.ndarray]:
    """The first and one-past-last frame of a model window that fall inside each encoder
    window (by their centres)."""
    g = model.geometry
    a = (starts_s * SAMPLE_RATE - chunk_start - g.receptive_field / 2) / g.shift
    b = (ends_s * SAMPLE_RATE - chunk_start - g.receptive_field / 2) / g.shift
    lo = np.clip(np.ceil(a), 0, g.frames).astype(int)
    hi = np.clip(np.floor(b) + 1, 0, g.frames).astype(int)
    return lo, np.maximum(hi, lo)


def _share(mask: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The share of frames lo..hi-1 set in ``mask`` [shape=(frames, speakers)], per window and
    speaker [shape=(windows, speakers)]."""
    cum = np.concatenate([np.zeros((1, mask.shape[1])), np.cumsum(mask, axis=0)])
    n = np.maximum(hi - lo, 1)[:, None]
    return (cum[hi] - cum[lo]) / n


def diarize_segmented(
    e: Embedded,
    seg: Segmented,
    model: SegmentationModel,
    *,
    options: SpeakersOptions,
    settings: OverlapSettings,
    cluster_settings: ClusterSettings,
) -> tuple[list[Turn], list[str]]:
    """Turns (overlaps included) from the model's windows and the encoder's windows.

    Returns
    -------
    turns, speakers : as :func:`~audiolens.tasks.speakers.segment.name_turns`
    """
    if seg.active.shape[0] == 0 or not seg.active.any():
        return [], []
    line = _Timeline(seg, model)
    count_local = seg.active.sum(-1).astype(np.float64)
    count, cover = line.average(count_local)
    n_speakers = np.rint(count).astype(int)

    local = _local_embeddings(e, seg, model, settings)
    seconds = _alone_seconds(seg, line, model, cover)
    if settings.cluster_on == "local":
        C, mean = _speakers_local(
            local, options, settings, cluster_settings, dim=e.embeddings.shape[1], seconds=seconds
        )
    else:
        low = options.bounds[0]
        if settings.cannot_link:
            low = max(low, _together(local, seconds, settings, cluster_settings))
        C, mean = _speakers(e, line, n_speakers, options, settings, cluster_settings, low=low)
    k = C.shape[0]

    # each window's local speakers -> the file's speakers, one to one where possible
    # (accumulated window by window: one window's frames are distinct global frames)
    score = np.zeros((line.n, k), dtype=np.float32)
    for c, rows in local.items():
        mine = np.zeros((seg.active.shape[1], k), dtype=bool)
        for s, j in _assign(rows, C, mean, k):
            mine[:, j] |= seg.active[c, :, s]
        ok = line.valid[c]
        score[line.index[c][ok]] += mine[ok]
    score /= np.maximum(cover, 1.0)[:, None]

    # per frame, the n best speakers (n: the averaged count), each only where it scored
    n_speakers = np.minimum(n_speakers, k)
    order = np.argsort(-score, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(k)[None, :].repeat(line.n, 0), axis=1)
    on = (rank < n_speakers[:, None]) & (score > 0)
    raw = []
    duration = seg.n_samples / SAMPLE_RATE
    half = line.shift / 2 / SAMPLE_RATE
    for j in range(k):
        for g0, g1 in _runs(on[:, j]):
            a = max(0.0, float(line.seconds(g0)) - half)
            b = min(duration, float(line.seconds(g1 - 1)) + half)
            raw.append([a, b, j])
    raw = _tidy(raw, settings)
    return name_turns([(a, b, j) for a, b, j in raw])


def _alone(seg: Segmented) -> np.ndarray:
    """[shape=(windows, frames, speakers)] bool: each local speaker talking alone."""
    return seg.active & (seg.active.sum(-1, keepdims=True) == 1)


def _alone_seconds(
    seg: Segmented, line: _Timeline, model: SegmentationModel, cover: np.ndarray | None = None
) -> np.ndarray:
    """How long each local speaker talks alone in each window [shape=(windows, speakers)]:
    seconds of that window, or, given ``cover``, each frame weighed by 1 / the windows that
    cover it (so that summed over windows it is seconds of the file)."""
    weight = line.valid.astype(np.float64)
    if cover is not None:
        weight /= np.maximum(cover[np.minimum(line.index, line.n - 1)], 1.0)
    return np.einsum("wfs,wf->ws", _alone(seg), weight) * (model.geometry.shift / SAMPLE_RATE)


@dataclass
class Detected:
    """What a segmentation model says of a file, on the VAD's frames (``who="encoder"``).

    Attributes
    ----------
    speech : np.ndarray [shape=(n_frames,)] the share of the model's windows that hear
        someone talk in each 32 ms frame (read as a speech probability)
    two : np.ndarray [shape=(n_frames,)] bool, frames where two or more talk at once
    least : how many speakers there are at least (see ``OverlapSettings.cannot_link``)
    pure : np.ndarray [shape=(n_windows,)] bool, the encoder windows that hold one voice
        alone (no second voice, no change of speaker inside): the one-voice test runs on
        them too (:func:`~audiolens.tasks.speakers.cluster.cluster`'s ``pure``); None: not
        known
    """

    speech: np.ndarray
    two: np.ndarray
    least: int
    pure: np.ndarray | None = None


def detect(
    e: Embedded,
    seg: Segmented,
    model: SegmentationModel,
    *,
    settings: OverlapSettings,
    cluster_settings: ClusterSettings,
) -> Detected:
    """The model's speech, overlaps and least number of speakers on the frames of
    ``e.probabilities``."""
    from ...models.vad import FRAME

    n = e.probabilities.size
    if seg.active.shape[0] == 0:
        return Detected(np.zeros(n, np.float32), np.zeros(n, bool), 1)
    line = _Timeline(seg, model)
    count, cover = line.average(seg.active.sum(-1).astype(np.float64))
    talk, _ = line.average(seg.active.any(-1).astype(np.float64))
    # each VAD frame takes the model frame nearest its centre
    centres = (np.arange(n) + 0.5) * FRAME / SAMPLE_RATE
    model_centres = line.seconds(np.arange(line.n))
    right = np.clip(np.searchsorted(model_centres, centres), 0, line.n - 1)
    left = np.maximum(right - 1, 0)
    nearest = np.where(
        np.abs(model_centres[left] - centres) <= np.abs(model_centres[right] - centres),
        left,
        right,
    )
    least = 1
    if settings.cannot_link:
        local = _local_embeddings(e, seg, model, settings)
        seconds = _alone_seconds(seg, line, model, cover)
        in_window = _alone_seconds(seg, line, model)
        least = _together(local, seconds, settings, cluster_settings, in_window)
    return Detected(
        talk[nearest].astype(np.float32),
        np.rint(count[nearest]) >= 2,
        int(least),
        _pure(e, seg, model, settings),
    )


def _speakers(
    e: Embedded,
    line: _Timeline,
    n_speakers: np.ndarray,
    options: SpeakersOptions,
    settings: OverlapSettings,
    cluster_settings: ClusterSettings,
    *,
    low: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster the encoder windows where one speaker talks (at least ``low`` speakers): the
    centroids [shape=(k, d)] (of centred embeddings) and the mean removed [shape=(d,)]."""
    n, d = e.embeddings.shape
    if n == 0:
        return np.zeros((1, d)), np.zeros(d)
    centre = line.seconds(np.arange(line.n))
    pos = np.searchsorted(centre, e.starts), np.searchsorted(centre, e.ends)
    one = np.concatenate([[0], np.cumsum(n_speakers == 1)])
    some = np.concatenate([[0], np.cumsum(n_speakers >= 1)])
    width = np.maximum(pos[1] - pos[0], 1)
    clean = (one[pos[1]] - one[pos[0]]) / width >= settings.clean
    if clean.sum() < 2:
        clean = (some[pos[1]] - some[pos[0]]) / width >= settings.loose
    idx = np.nonzero(clean)[0]
    if idx.size == 0:
        return np.zeros((1, d)), np.zeros(d)
    X = e.embeddings[idx].astype(np.float64)
    high = options.bounds[1]
    bounds = (min(max(options.bounds[0], low), high, X.shape[0]), high)
    labels = cluster(X, bounds=bounds, settings=cluster_settings, starts=e.starts[idx])
    k = int(labels.max()) + 1
    mean = X.mean(0) if k > 1 else np.zeros(d)
    return centroids(X - mean, labels, k), mean


def _covered_windows(
    e: Embedded, seg: Segmented, model: SegmentationModel
) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """Per model window ``c``: the encoder windows that lie inside it (indices), and the share
    of their frames where each local speaker talks alone and where it talks at all
    [shape=(windows, speakers)] each."""
    alone = _alone(seg)
    for c in range(seg.active.shape[0]):
        start = int(seg.starts[c])
        idx = np.nonzero(
            (e.starts * SAMPLE_RATE >= start)
            & (e.ends * SAMPLE_RATE <= start + model.geometry.window)
        )[0]
        lo, hi = _window_frames(e.starts[idx], e.ends[idx], start, model)
        yield c, idx, _share(alone[c], lo, hi), _share(seg.active[c], lo, hi)


def _pure(
    e: Embedded, seg: Segmented, model: SegmentationModel, settings: OverlapSettings
) -> np.ndarray:
    """[shape=(n_windows,)] bool: the encoder windows that hold one voice alone, in the model's
    hearing: in at least half the model windows that cover it, one local speaker talks alone
    in ``settings.clean`` of its frames (no second voice, no change of speaker inside)."""
    n = e.embeddings.shape[0]
    votes, cover = np.zeros(n), np.zeros(n)
    for _, idx, clean, _ in _covered_windows(e, seg, model):
        if idx.size and clean.shape[1]:
            votes[idx] += clean.max(1) >= settings.clean
            cover[idx] += 1
    return (cover > 0) & (votes >= 0.5 * cover)


def _local_embeddings(
    e: Embedded, seg: Segmented, model: SegmentationModel, settings: OverlapSettings
) -> dict[int, list[tuple[int, np.ndarray | None, bool]]]:
    """Per model window, its talking local speakers: ``(local speaker, mean embedding of the
    encoder windows where it talks (alone when ``clean``), clean)``; the embedding is None
    when no encoder window speaks for it."""
    X = e.embeddings.astype(np.float64)
    out: dict[int, list[tuple[int, np.ndarray | None, bool]]] = {}
    for c, idx, clean, loose in _covered_windows(e, seg, model):
        talks = np.nonzero(seg.active[c].any(0))[0]
        if not talks.size:
            continue
        rows = []
        for s in talks:
            pick, is_clean = idx[clean[:, s] >= settings.clean], True
            if pick.size == 0:
                pick, is_clean = idx[loose[:, s] >= settings.loose], False
            v = None
            if pick.size:
                v = X[pick].mean(0)
                v /= max(float(np.linalg.norm(v)), 1e-9)
            rows.append((int(s), v, is_clean))
        out[c] = rows
    return out


def _distinct(vectors: list[np.ndarray], threshold: float) -> int:
    """How many voices ``vectors`` (unit embeddings of one window's local speakers) hold: the
    groups left when every two at least ``threshold`` cosine-similar are joined."""
    if not vectors:
        return 0
    from scipy.sparse.csgraph import connected_components

    V = np.array(vectors)
    return int(connected_components(np.greater_equal(V @ V.T, threshold), directed=False)[0])


def _together(
    local: dict[int, list[tuple[int, np.ndarray | None, bool]]],
    seconds: np.ndarray,
    settings: OverlapSettings,
    cluster_settings: ClusterSettings,
    in_window: np.ndarray | None = None,
) -> int:
    """The most voices that talk alone in one model window, for ``min_alone`` seconds each
    there (``in_window`` [shape=(windows, speakers)]; None: no such bound), whom the encoder
    also hears as two voices (mean embeddings less than ``distinct`` alike), and whose voices
    each talk alone for ``min_speech`` seconds in the whole file: at least that many people
    talk (a short aside opens no speaker). ``seconds`` as in :func:`_speakers_local`."""
    clean = [
        (c, s, v)
        for c, items in local.items()
        for s, v, ok in items
        if v is not None and ok and (in_window is None or in_window[c, s] >= settings.min_alone)
    ]
    if not clean:
        return 1
    V = np.array([v for _, _, v in clean])
    talk = np.array([seconds[c, s] for c, s, _ in clean])
    alike = np.greater_equal(V @ V.T, settings.distinct)
    enough = alike @ talk >= cluster_settings.min_speech
    together = 1
    for c in local:
        mine = [i for i, (cc, _, _) in enumerate(clean) if cc == c and enough[i]]
        together = max(together, _distinct([V[i] for i in mine], settings.distinct))
    return together


def _speakers_local(
    local: dict[int, list[tuple[int, np.ndarray | None, bool]]],
    options: SpeakersOptions,
    settings: OverlapSettings,
    cluster_settings: ClusterSettings,
    *,
    dim: int,
    seconds: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster the local speakers' embeddings (the clean ones, else all): the centroids
    [shape=(k, d)] of centred embeddings and the mean removed [shape=(d,)].

    ``seconds`` [shape=(windows, local speakers)]: how long each local speaker talks alone in
    each window, each frame weighed by 1 / the windows that cover it (so that summed over
    windows it is seconds of the file)."""
    rows = [(v, ok) for items in local.values() for _, v, ok in items if v is not None]
    if not rows:
        return np.zeros((1, dim)), np.zeros(dim)
    pick = [v for v, ok in rows if ok] or [v for v, _ in rows]
    X = np.array(pick)
    low, high = options.bounds
    if settings.cannot_link:
        low = min(max(low, _together(local, seconds, settings, cluster_settings)), high, X.shape[0])
    labels = cluster(X, bounds=(low, high), settings=cluster_settings)
    k = int(labels.max()) + 1
    mean = X.mean(0) if k > 1 else np.zeros(X.shape[1])
    return centroids(X - mean, labels, k), mean


def _assign(
    rows: list[tuple[int, np.ndarray | None, bool]], C: np.ndarray, mean: np.ndarray, k: int
) -> list[tuple[int, int]]:
    """``(local speaker, file speaker)`` pairs for one model window: one to one by the
    Hungarian algorithm on cosine similarity, then any local speakers left over go to their
    nearest; local speakers with no embedding are left out (all go to 0 when k is 1)."""
    from scipy.optimize import linear_sum_assignment

    if k == 1:
        return [(s, 0) for s, _, _ in rows]
    have = [(s, v) for s, v, _ in rows if v is not None]
    if not have:
        return []
    V = np.array([v for _, v in have]) - mean
    V /= np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1e-9)
    S = V @ C.T
    r, c = linear_sum_assignment(-S)
    out = {have[i][0]: int(j) for i, j in zip(r, c)}
    for i, (s, _) in enumerate(have):
        if s not in out:
            out[s] = int(np.argmax(S[i]))
    return sorted(out.items())


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(first, one past last) of each run of True."""
    d = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return list(zip(np.nonzero(d == 1)[0].tolist(), np.nonzero(d == -1)[0].tolist()))


def _tidy(raw: list[list], settings: OverlapSettings) -> list[list]:
    """Per speaker: fill pauses shorter than ``min_gap``, drop turns shorter than ``min_turn``."""
    out = []
    for j in sorted({t[2] for t in raw}):
        mine = sorted((t for t in raw if t[2] == j), key=lambda t: t[0])
        merged = [mine[0]]
        for t in mine[1:]:
            if t[0] - merged[-1][1] < settings.min_gap:
                merged[-1][1] = max(merged[-1][1], t[1])
            else:
                merged.append(t)
        out.extend(t for t in merged if t[1] - t[0] >= settings.min_turn)
    return out
