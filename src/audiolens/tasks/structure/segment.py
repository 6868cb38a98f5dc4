"""Sections of a song from its log-filtered spectrogram and its beats.

The chain:

1. Bar-synchronous features: a chroma folded from the semitone bands of the spectrogram and
   a timbre vector (the DCT of the log bands, like MFCCs), each averaged over every bar (over
   every four beats when there are beats but no bars, over 2 s steps without beats), and
   optionally stacked over ``embed`` consecutive bars.
2. A self-similarity matrix (cosine) of those rows and, from it, a recurrence matrix that keeps
   each row's nearest neighbours (mutual k-nearest neighbours).
3. Boundaries where either the repetition pattern changes (Serrà et al.'s structure features:
   the recurrence matrix in time-lag form, smoothed, differenced over time) or the sound
   changes (Foote's checkerboard novelty on the self-similarity matrix, a kernel of
   ``min_bars`` bars on each side); peaks of their sum, at least ``min_bars`` apart, on bar
   lines.
4. Labels by clustering the sections (:func:`cluster_sections`): every two are compared along
   their aligned diagonal (the mean similarity, the shorter section placed inside the
   longer); average linkage joins groups while they are at least ``same`` alike, so the
   number of letters comes from the music; two neighbours less alike than ``same`` never
   share a letter.
5. Neighbours with the same letter are joined (:func:`merge_runs`), except where a run splits
   into two equal halves (a passage played twice: verse, verse), and the sections are labelled
   again, until nothing changes. Boundaries are bar lines (the beats task's downbeats, from the
   same spectrogram).

``threshold``, ``min_bars`` and ``same`` were chosen on the ``train`` split of
``benchmarks/beats_corpus.py``'s rendered pieces (never its ``test`` split, nor the eval clips).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby

import numpy as np
from scipy.fft import dct
from scipy.ndimage import gaussian_filter1d
from scipy.signal import find_peaks

from ...dsp._params import positive_int
from ...errors import ParameterError
from ..beats.harmony import pitch_class_matrix
from ..shown import seconds

__all__ = [
    "Segment",
    "StructureOptions",
    "beat_features",
    "label_letters",
    "segment",
    "self_similarity",
]


@dataclass(frozen=True)
class Segment:
    """One section: ``start`` and ``end`` in seconds (to the millisecond), and its ``label``
    (A, B, ...)."""

    start: float
    end: float
    label: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", seconds(self.start))
        object.__setattr__(self, "end", seconds(self.end))

    def to_dict(self) -> dict[str, object]:
        """``{start, end, label}`` (times to the millisecond, as held)."""
        return {"start": self.start, "end": self.end, "label": self.label}


@dataclass(frozen=True)
class StructureOptions:
    """Settings of the segmentation (see the module docstring).

    Attributes
    ----------
    embed : bars stacked into one row (a passage)
    min_bars : the shortest section, in bars (or 4-beat groups, or 2 s steps)
    threshold : a boundary's novelty (the sum of two standardised curves) must exceed their
        medians by this many robust deviations each
    same : similarity from which two sections (or groups of sections, on average) share a
        label (0-1); neighbours less alike never do
    min_change : below this variation of the timbre between units (the mean deviation of the
        unstandardised DCT coefficients) the file is one section: steady noise measures about
        0.02, the rendered songs of the corpus 0.075 and more
    max_rows : rows of the similarity matrix at most; longer files are pooled (memory)
    """

    embed: int = 1
    min_bars: int = 4
    threshold: float = 0.5
    same: float = 0.85
    min_change: float = 0.04
    max_rows: int = 1500

    def __post_init__(self) -> None:
        for name in ("embed", "min_bars", "max_rows"):
            positive_int(name, getattr(self, name))
        if not 0 < self.same < 1:
            raise ParameterError(f"same={self.same!r} must be between 0 and 1")
        if not self.threshold >= 0:
            raise ParameterError(f"threshold={self.threshold!r} must be >= 0")


def _chroma_matrix(n_bands: int) -> np.ndarray:
    return pitch_class_matrix(100.0, 5000.0)[:, :n_bands]


def unit_times(
    duration: float, *, beats: np.ndarray | None = None, downbeats: np.ndarray | None = None
) -> np.ndarray:
    """The starts of the units sections are made of: bars, else groups of 4 beats, else 2 s.

    Returns
    -------
    starts : np.ndarray [shape=(n,)] seconds, ascending, within [0, duration)
    """
    if downbeats is not None and len(downbeats) >= 8:
        t = np.asarray(downbeats, dtype=float)
    elif beats is not None and len(beats) >= 32:
        t = np.asarray(beats, dtype=float)[::4]
    else:
        t = np.arange(0.0, duration, 2.0)
    return t[(t >= 0) & (t < duration)]


def beat_features(
    S: np.ndarray, *, fps: float, beats: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Chroma and timbre averaged between beats (or any unit starts, e.g. bars).

    Parameters
    ----------
    S : np.ndarray [shape=(81, n_frames)] the log-filtered spectrogram (log10(1 + x))
    fps : its frames per second
    beats : unit start times [s]; None averages over half-second steps

    Returns
    -------
    F : np.ndarray [shape=(n_units, 12 + 13)] per unit: unit-norm chroma, then the timbre
        (DCT coefficients 1-13 of the log bands, as measured: :func:`segment` standardises
        them after using their spread to tell steady sound from music)
    edges : np.ndarray [shape=(n_units + 1,)] the units' edges [s]
    """
    S = np.asarray(S, dtype=np.float32)
    n = S.shape[-1]
    if beats is not None and len(beats) >= 1:
        inner = np.round(np.asarray(beats) * fps).astype(np.int64)
        inner = inner[(inner > 0) & (inner < n)]
        cuts = np.unique(np.concatenate([[0], inner, [n]]))
    else:
        cuts = np.unique(np.concatenate([np.arange(0, n, max(int(fps / 2), 1)), [n]]))
    lin = np.power(10.0, S, dtype=np.float32) - 1.0
    chroma = _chroma_matrix(S.shape[0]) @ lin
    timbre = dct(S, type=2, axis=0, norm="ortho")[1:14]
    both = np.concatenate([chroma, timbre], axis=0)
    csum = np.concatenate([np.zeros((both.shape[0], 1), np.float64), np.cumsum(both, axis=1)], 1)
    width = np.diff(cuts).astype(np.float64)
    mean = (csum[:, cuts[1:]] - csum[:, cuts[:-1]]) / np.maximum(width, 1)
    c = np.log1p(100.0 * mean[:12])
    c /= np.linalg.norm(c, axis=0, keepdims=True) + 1e-9
    F = np.concatenate([c, mean[12:]], axis=0).T.astype(np.float32)
    return F, cuts / fps


def _embed(F: np.ndarray, m: int) -> np.ndarray:
    if m <= 1:
        return F
    pad = np.concatenate([F, np.repeat(F[-1:], m - 1, axis=0)], axis=0)
    return np.concatenate([pad[i : i + F.shape[0]] for i in range(m)], axis=1)


def self_similarity(F: np.ndarray) -> np.ndarray:
    """Cosine similarity of every row with every other, mapped to 0-1.

    Parameters
    ----------
    F : np.ndarray [shape=(n, d)]

    Returns
    -------
    A : np.ndarray [shape=(n, n)] float32, 1 on the diagonal
    """
    X = F / (np.linalg.norm(F, axis=1, keepdims=True) + 1e-9)
    return ((X @ X.T + 1.0) / 2.0).astype(np.float32)


#: similarities this close to a row's k-th largest count as tied with it
_TIE = 1e-4


def _recurrence(A: np.ndarray, k: int) -> np.ndarray:
    n = A.shape[0]
    k = min(max(k, 1), n - 1)
    B = A.copy()
    np.fill_diagonal(B, -np.inf)
    # the k-th largest similarity of each row; near-ties count as neighbours too, so that
    # repeats (equal up to rounding) do not depend on the rounding of the spectrogram
    kth = -np.partition(-B, k - 1, axis=1)[:, k - 1 : k]
    R = kth - _TIE <= B
    return (R & R.T).astype(np.float32)


def _structure_novelty(R: np.ndarray, sigma: float) -> np.ndarray:
    n = R.shape[0]
    idx = (np.arange(n)[:, None] + np.arange(n)[None, :]) % n
    L = R[np.arange(n)[:, None], idx]  # L[i, l] = R[i, i + l]
    L = gaussian_filter1d(L, sigma, axis=0, mode="nearest")
    d = np.sum(np.diff(L, axis=0) ** 2, axis=1)
    return np.concatenate([[0.0], d])


def _foote_novelty(A: np.ndarray, half: int) -> np.ndarray:
    n = A.shape[0]
    g = np.exp(-0.5 * (np.arange(-half, half) + 0.5) ** 2 / (0.5 * half) ** 2)
    sign = np.sign(np.arange(-half, half) + 0.5)
    K = np.outer(g * sign, g * sign)
    P = np.pad(A, half, mode="constant", constant_values=float(A.mean()))
    out = np.zeros(n)
    for i in range(n):
        out[i] = np.sum(P[i : i + 2 * half, i : i + 2 * half] * K)
    return np.maximum(out, 0.0)


def pick_peaks(nov: np.ndarray, *, height: float, distance: int) -> np.ndarray:
    """Boundaries from a novelty curve: its peaks of at least ``height``, at least
    ``distance`` units apart.

    The peaks are taken highest first. A peak too near one already taken moves to the nearest
    unit that is far enough from all of them, if the novelty there still reaches ``height``
    (a change two bars into a three-bar passage that the shortest section forbids is placed
    at that section's end, instead of being lost); otherwise it is dropped.

    Parameters
    ----------
    nov : np.ndarray [shape=(n,)] the novelty of each unit
    height : the least novelty of a boundary
    distance : the fewest units between two boundaries

    Returns
    -------
    peaks : np.ndarray [shape=(k,)] int, ascending
    """
    nov = np.asarray(nov, dtype=np.float64)
    found, _ = find_peaks(nov, height=height)
    taken: list[int] = []
    for p in found[np.argsort(-nov[found], kind="stable")]:
        near = [q for q in taken if abs(q - p) < distance]
        if not near:
            taken.append(int(p))
            continue
        lo = max(near) + distance if max(near) < p else None  # all near ones below p
        hi = min(near) - distance if min(near) > p else None  # all above
        for c in sorted((c for c in (lo, hi) if c is not None), key=lambda c: abs(c - p)):
            if (
                0 <= c < nov.size
                and nov[c] >= height
                and all(abs(q - c) >= distance for q in taken)
            ):
                taken.append(int(c))
                break
    return np.array(sorted(taken), dtype=np.int64)


def _standard(x: np.ndarray) -> np.ndarray:
    med = np.median(x)
    mad = np.median(np.abs(x - med)) * 1.4826 + 1e-9
    return (x - med) / mad


def label_letters(n: int) -> list[str]:
    """``A, B, ..., Z, AA, AB, ...`` for ``n`` labels."""
    out = []
    for i in range(n):
        s, k = "", i
        while True:
            s = chr(ord("A") + k % 26) + s
            k = k // 26 - 1
            if k < 0:
                break
        out.append(s)
    return out


def _section_similarity(A: np.ndarray, a: tuple[int, int], b: tuple[int, int]) -> float:
    """The best mean similarity along the diagonal of two sections, the shorter one placed at
    up to 9 offsets (whole units) inside the longer one."""
    (long0, long1), (short0, short1) = (a, b) if a[1] - a[0] >= b[1] - b[0] else (b, a)
    m = short1 - short0
    if m <= 0:
        return 0.0
    i = np.arange(m)
    spare = long1 - long0 - m
    offsets = np.arange(0, spare + 1, max(spare // 8, 1))[:, None]
    return float(A[long0 + offsets + i, short0 + i].mean(axis=1).max())


def cluster_sections(
    A: np.ndarray,
    spans: list[tuple[int, int]],
    *,
    same: float,
    memo: dict[tuple[tuple[int, int], tuple[int, int]], float] | None = None,
) -> list[int]:
    """Labels of sections by average-linkage clustering; the number of labels is the data's.

    Every two sections are compared with :func:`_section_similarity`; the two most similar
    groups join while their mean similarity is at least ``same``, so there are as many labels
    as groups of sections that play the same music. Two neighbouring sections less alike than
    ``same`` never share a label (a novelty boundary stands unless the music on its two sides
    is itself the same, not only through a third section).

    Parameters
    ----------
    A : np.ndarray [shape=(n, n)] the units' self-similarity
    spans : the sections as (first unit, end unit)
    same : the least mean similarity of two groups that share a label (0-1)
    memo : section similarities already measured, by pair of spans (read and filled in)

    Returns
    -------
    labels : list of int, one per section, numbered in order of first appearance from 0
    """
    memo = {} if memo is None else memo
    k = len(spans)
    sim = np.eye(k)
    for i in range(k):
        for j in range(i):
            pair = (spans[i], spans[j])
            if pair not in memo:
                memo[pair] = _section_similarity(A, *pair)
            sim[i, j] = sim[j, i] = memo[pair]
    total = sim.copy()  # sums of similarities between groups
    size = np.ones(k)
    apart = np.zeros((k, k), dtype=bool)  # groups that may not join
    i = np.arange(k - 1)
    apart[i, i + 1] = apart[i + 1, i] = sim[i, i + 1] < same
    alive = np.ones(k, dtype=bool)
    owner = np.arange(k)
    while alive.sum() > 1:
        mean = total / np.outer(size, size)
        mean[apart | ~alive[:, None] | ~alive[None, :]] = -np.inf
        np.fill_diagonal(mean, -np.inf)
        a, b = np.unravel_index(int(np.argmax(mean)), mean.shape)
        if mean[a, b] < same:
            break
        a, b = min(a, b), max(a, b)
        total[a] += total[b]
        total[:, a] += total[:, b]
        apart[a] |= apart[b]
        apart[:, a] |= apart[:, b]
        size[a] += size[b]
        alive[b] = False
        owner[owner == b] = a
    order: dict[int, int] = {}
    return [order.setdefault(int(g), len(order)) for g in owner]


def merge_runs(spans: list[tuple[int, int]], labels: list[int]) -> list[tuple[int, int]]:
    """Adjacent sections with the same label joined into one.

    One case stays split: a run that divides, at one of its boundaries, into two halves of
    the same length (within one unit) is a passage played twice (verse, verse; the A A of
    AABA): a listener hears the passage start over, so that boundary stays (and only that
    one). Any other run of one label (a riff looped for a minute that the novelty cut at
    every turn, a long steady section cut in unequal parts) is one section.

    Parameters
    ----------
    spans : the sections as (first unit, end unit), in order, contiguous
    labels : their labels

    Returns
    -------
    spans : the sections after joining runs
    """
    out: list[tuple[int, int]] = []
    first = 0
    for _, run in groupby(labels):
        last = first + len(list(run)) - 1
        start, end = spans[first][0], spans[last][1]
        halves = [a for a, _ in spans[first + 1 : last + 1] if abs((a - start) - (end - a)) <= 1]
        out.extend([(start, halves[0]), (halves[0], end)] if halves else [(start, end)])
        first = last + 1
    return out


def segment(
    S: np.ndarray,
    *,
    fps: float = 100.0,
    beats: np.ndarray | None = None,
    downbeats: np.ndarray | None = None,
    options: StructureOptions | None = None,
) -> tuple[list[Segment], dict[str, np.ndarray]]:
    """Sections of a song and which of them repeat.

    Parameters
    ----------
    S : np.ndarray [shape=(81, n_frames)] the log-filtered spectrogram
    fps : its frames per second
    beats : beat times [s]
    downbeats : bar starts [s] (see :func:`unit_times` for what is used without them)
    options : the segmentation's settings

    Returns
    -------
    segments : list of Segment, covering 0 to the end without gaps (one segment when nothing
        changes: silence, noise, a very short clip), starting on bar lines; two neighbours
        share a letter only as the two equal halves of a passage played twice
    details : ``"ssm"`` [shape=(n, n)] the self-similarity matrix of the units, ``"edges"``
        [shape=(n + 1,)] the units' times [s], ``"novelty"`` [shape=(n,)]
    """
    options = options or StructureOptions()
    S = np.asarray(S, dtype=np.float32)
    duration = S.shape[-1] / fps
    whole = [Segment(0.0, float(duration), "A")]
    if S.shape[-1] < 2:
        empty = np.zeros((0, 0), np.float32)
        return whole, {"ssm": empty, "edges": np.zeros(1), "novelty": np.zeros(0)}
    units = unit_times(duration, beats=beats, downbeats=downbeats)
    F, edges = beat_features(S, fps=fps, beats=units)
    change = float(F[:, 12:].std(axis=0).mean()) if F.shape[0] > 1 else 0.0
    t = F[:, 12:]
    F[:, 12:] = (t - t.mean(axis=0)) / (t.std(axis=0) + 1e-6) / np.sqrt(t.shape[1])
    n = F.shape[0]
    # pool very long files so the matrix stays small
    pool = int(np.ceil(n / options.max_rows)) if n > options.max_rows else 1
    if pool > 1:
        m = n // pool * pool
        F = F[:m].reshape(-1, pool, F.shape[1]).mean(axis=1)
        edges = np.concatenate([edges[:m:pool], [edges[-1]]])
        n = F.shape[0]
    steady = change < options.min_change
    if n < 2 * max(options.min_bars // pool, 2) or steady or not np.isfinite(F).all():
        return whole, {"ssm": np.ones((n, n), np.float32), "edges": edges, "novelty": np.zeros(n)}
    A = self_similarity(_embed(F, options.embed))
    R = _recurrence(A, k=max(2, int(0.05 * n)))
    min_units = max(options.min_bars // pool, 2)
    nov = _standard(_structure_novelty(R, sigma=1.0)) + _standard(_foote_novelty(A, half=min_units))
    peaks = pick_peaks(nov, height=options.threshold * 2, distance=min_units)
    peaks = peaks[(peaks >= min_units // 2) & (peaks <= n - min_units // 2)]
    times = edges[peaks]
    times = np.unique(times[(times > 0) & (times < duration)])
    bounds = np.concatenate([[0.0], times, [duration]])
    unit = np.searchsorted(edges, bounds, side="left")
    unit[-1] = n
    spans = [(int(unit[i]), int(unit[i + 1])) for i in range(len(bounds) - 1)]
    memo: dict[tuple[tuple[int, int], tuple[int, int]], float] = {}
    labels = cluster_sections(A, spans, same=options.same, memo=memo)
    for _ in range(len(spans)):
        merged = merge_runs(spans, labels)
        if len(merged) == len(spans):
            break
        spans = merged
        labels = cluster_sections(A, spans, same=options.same, memo=memo)
    bounds = np.concatenate([[0.0], edges[[a for a, _ in spans[1:]]], [duration]])
    letters = label_letters(max(labels) + 1)
    segs = [
        Segment(float(bounds[i]), float(bounds[i + 1]), letters[labels[i]])
        for i in range(len(spans))
    ]
    return segs, {"ssm": A, "edges": edges, "novelty": nov}
