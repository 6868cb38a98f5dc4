"""Clustering speaker embeddings: how many speakers, and which window is whose.

The default (``method="voices"``) takes the count from the embeddings' own statistics.
Its score, :func:`speaker_similarity`, compares two groups of windows by the cosine of their
mean voices, corrected for each group's own spread, so that it does not depend on how many
windows a group has: about 1 for one speaker, lower for two.

1. Is there more than one voice at all? k-means splits of the centred embeddings into 2, 3
   and 4 groups, and the groups the next step finds, are compared; only when some two groups
   (each holding at least ``min_speech`` seconds and ``min_share`` of the speech) are less
   alike than a threshold is there more than one speaker.
2. How many: runs of ``segment`` contiguous windows are merged agglomeratively, the two most
   similar groups first, while their similarity is at least ``same``; then groups with too
   little speech (a short aside, a cough, a laugh) join their most similar group.

The thresholds were learnt on conversations and monologues built from Debian's Asterisk
prompts (7 voices; benchmarks/_speaker_material.py, the "tune" half of each voice's
prompts), never on the evaluation clips.

The previous default (``method="ahc"``, with ``same=None``): the embeddings are centred (the
file's mean removed, which takes away what all windows share: the room, the microphone, the
channel), then average-linkage agglomerative clustering on cosine similarity stops at a
threshold; clusters of fewer than ``min_size`` windows join their nearest neighbour, a few
rounds of nearest-centroid reassignment follow, and clusters whose raw centroids are at least
``merge`` alike are merged. It splits a monologue into several "speakers".

The alternative (``method="spectral"``): spectral clustering (Ng, Jordan and Weiss 2001) on
the cosine affinity of the embeddings, as in Park et al. 2019 ("Auto-tuning spectral
clustering for speaker diarization using normalized maximum eigengap"): each row of the
affinity keeps only its strongest ``p``-share of neighbours, the matrix is symmetrised,
and the number of speakers is where the eigenvalues of
its normalised Laplacian show their largest gap (relative to the eigenvalue). A single speaker
is told apart from several by how similar the two halves of a 2-way split are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "ClusterSettings",
    "centroids",
    "cluster",
    "kmeans",
    "smooth_neighbours",
    "speaker_similarity",
]


@dataclass(frozen=True)
class ClusterSettings:
    """Settings of :func:`cluster`.

    Attributes
    ----------
    method : "voices" (agglomerative clustering of runs of windows by
        :func:`speaker_similarity`, stopped at ``same``), "ahc" (average-linkage
        agglomerative clustering of centred embeddings, cut at ``threshold``) or "spectral"
        (eigengap)
    centre : remove the file's mean embedding first (what every window shares: the channel)
    threshold : AHC stops merging when the average cosine similarity between two clusters
        falls below this (of centred embeddings when ``centre``)
    min_size : clusters of fewer windows join the nearest larger cluster
    refine : rounds of nearest-centroid reassignment after AHC
    merge : clusters whose raw (uncentred) mean embeddings are at least this cosine-similar
        are one speaker (centring alone splits a long monologue into its parts)
    max_ahc : AHC (quadratic in time and memory) runs on at most this many windows, evenly
        spaced; the others join their nearest cluster
    smooth : cluster the mean of each window and this many contiguous neighbours on each side
        (less noise; the boundaries are found again by the re-segmentation)
    prune : the share of each row's neighbours kept in the affinity
    single_threshold : when the raw (uncentred) centroids of a 2-way split are at least this
        cosine-similar, the file has one speaker
    max_gap_rank : speakers are looked for among at most this many eigenvalues
    same : the least :func:`speaker_similarity` of two groups of windows of one speaker: groups
        at least this similar are one speaker (learnt on pairs of groups of one speaker and of
        two speakers built from packages' speech, see benchmarks/bench_speakers.py; None
        turns the test off, the AHC's count then stands)
    one_voice : the file has one speaker when every two groups of its k-means splits into
        k = 2, 3, ... groups (of the centred embeddings) are at least ``one_voice[k - 2]``
        similar (:func:`speaker_similarity`; learnt like ``same``), and every two groups the
        "voices" clustering finds are at least ``one_voice_groups`` similar
    max_split : the k-means splits of the one-voice test run on at most this many windows,
        evenly spaced
    segment : the "voices" clustering starts from runs of this many contiguous windows
    prior_pairs : a group's self-similarity (see :func:`speaker_similarity`) is shrunk towards
        the recording's typical one as if from this many more pairs of windows (small groups
        have few pairs to measure it)
    min_speech : a speaker has at least this much speech [s] (windows times ``step``); the
        windows of a smaller group go to the nearest speaker, so a short aside opens none
    min_share : ... and at least this share of all the speech (a short aside in a long
        monologue opens no speaker)
    step : seconds between window starts (for ``min_speech``)
    window : seconds per window: windows whose starts are closer overlap and are not
        compared with each other by :func:`speaker_similarity`
    """

    method: str = "voices"
    centre: bool = True
    threshold: float = -0.05
    min_size: int = 4
    refine: int = 5
    smooth: int = 0
    merge: float = 0.93
    max_ahc: int = 2000
    prune: float = 0.25
    single_threshold: float = 0.90
    max_gap_rank: int = 10
    same: float | None = 0.66
    one_voice: tuple[float, ...] = (0.62, 0.59, 0.59)
    one_voice_groups: float = 0.62
    max_split: int = 400
    segment: int = 1
    prior_pairs: float = 6.0
    min_speech: float = 6.0
    min_share: float = 0.05
    step: float = 0.5
    window: float = 1.5


def _normalise(X: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.maximum(n, 1e-9)


def kmeans(X: np.ndarray, k: int, *, restarts: int = 8, iterations: int = 50) -> np.ndarray:
    """Labels of a k-means (k-means++ starts, fixed seed: the result is reproducible).

    Parameters
    ----------
    X : np.ndarray [shape=(n, d)]
    k : clusters, 1 <= k <= n

    Returns
    -------
    labels : np.ndarray [shape=(n,)] int in [0, k)
    """
    n = X.shape[0]
    if k <= 1 or n <= k:
        return np.arange(n) if n <= k else np.zeros(n, dtype=int)
    rng = np.random.default_rng(0)
    best, best_cost = np.zeros(n, dtype=int), np.inf
    sq = (X * X).sum(1)
    for _ in range(restarts):
        centres = [X[rng.integers(n)]]
        for _ in range(1, k):
            d = np.min([sq - 2 * X @ c + c @ c for c in centres], axis=0).clip(0)
            total = d.sum()
            pick = rng.choice(n, p=d / total) if total > 0 else rng.integers(n)
            centres.append(X[pick])
        C = np.array(centres)
        labels = np.zeros(n, dtype=int)
        for it in range(iterations):
            dist = sq[:, None] - 2 * X @ C.T + (C * C).sum(1)[None, :]
            new = dist.argmin(1)
            if it and np.array_equal(new, labels):
                break
            labels = new
            for j in range(k):
                members = X[labels == j]
                C[j] = members.mean(0) if len(members) else X[rng.integers(n)]
        cost = float((sq - 2 * (X * C[labels]).sum(1) + (C[labels] ** 2).sum(1)).sum())
        if cost < best_cost - 1e-9:
            best, best_cost = labels, cost
    return best


def centroids(X: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """The L2-normalised mean embedding of each cluster [shape=(k, d)] (zeros when empty)."""
    C = np.zeros((k, X.shape[1]), dtype=np.float64)
    for j in range(k):
        members = X[labels == j]
        if len(members):
            C[j] = members.mean(0)
    return _normalise(C)


def _affinity(X: np.ndarray, prune: float) -> np.ndarray:
    S = X @ X.T
    n = S.shape[0]
    keep = max(2, min(n, int(np.ceil(prune * n))))
    A = np.zeros_like(S)
    idx = np.argsort(-S, axis=1)[:, :keep]
    rows = np.arange(n)[:, None]
    A[rows, idx] = S[rows, idx]
    A = np.maximum(A, 0.0)
    A = 0.5 * (A + A.T)
    np.fill_diagonal(A, 0.0)
    return A


def _spectral(A: np.ndarray, low: int, high: int, max_rank: int) -> tuple[int, np.ndarray]:
    d = A.sum(1)
    dinv = 1.0 / np.sqrt(np.maximum(d, 1e-12))
    L = np.eye(A.shape[0]) - dinv[:, None] * A * dinv[None, :]
    w, V = np.linalg.eigh(L)
    top = min(max_rank, A.shape[0] - 1, high)
    if high > low and top >= 2:
        gaps = np.diff(w[: top + 1])  # gap after the k-th smallest eigenvalue, k = 1..top
        ks = np.arange(1, top + 1)
        allowed = (ks >= max(low, 2)) & (ks <= high)
        k = int(ks[allowed][np.argmax(gaps[allowed])]) if allowed.any() else max(low, 2)
    else:
        k = low
    k = max(1, min(k, A.shape[0]))
    U = _normalise(V[:, :k])
    return k, U


def cluster(
    X: np.ndarray,
    *,
    bounds: tuple[int, int],
    settings: ClusterSettings | None = None,
    starts: np.ndarray | None = None,
    pure: np.ndarray | None = None,
) -> np.ndarray:
    """Speaker labels of embeddings.

    First: is there more than one voice at all? The windows are split in two (k-means of the
    centred embeddings) and the halves compared by :func:`speaker_similarity`; at least
    ``settings.same`` alike, they are one speaker. Given ``pure`` (the "voices" method), the
    same test runs again on the windows that hold one voice alone: a window that straddles a
    change of speaker holds both voices and pulls their groups together, so a file is one
    speaker only when both its windows and its pure windows sound like one voice. Otherwise
    AHC (or spectral clustering) proposes groups, groups with less than ``min_speech``
    seconds join their most similar group, and the two most similar groups merge while their
    similarity is at least ``same``: the count comes from the embeddings' own statistics,
    weighted by how much speech each group holds.

    Parameters
    ----------
    X : np.ndarray [shape=(n, d)]
        L2-normalised speaker embeddings.
    bounds : the least and the most speakers allowed
    settings : (defaults when None)
    starts : np.ndarray [shape=(n,)] the windows' starts [s], so that overlapping windows are
        not compared (None: embeddings that do not overlap)
    pure : np.ndarray [shape=(n,)] bool, the windows that hold one voice alone, no second
        voice and no change of speaker inside (a segmentation model's say,
        :func:`~audiolens.tasks.speakers.overlap.detect`); None: not known

    Returns
    -------
    labels : np.ndarray [shape=(n,)] int, 0 .. k - 1 (k within ``bounds`` unless there are
        fewer embeddings)
    """
    s = settings or ClusterSettings()
    X = _normalise(np.asarray(X, dtype=np.float64))
    n = X.shape[0]
    low, high = bounds
    if n == 0:
        return np.zeros(0, dtype=int)
    if n == 1 or high == 1:
        return np.zeros(n, dtype=int)
    low, high = min(low, n), min(high, n)
    t = None if starts is None else np.asarray(starts, dtype=np.float64)
    if s.method == "voices":
        labels = _cluster_voices(X, t, low, high, s)
        if low > 1 or s.same is None:
            return labels
        one = _one_voice(X, t, s) and _groups_alike(X, t, labels, s)
        if (one or labels.max() == 0) and _pure_voices(X, t, pure, high, s):
            return _cluster_voices(X, t, 2, high, s)
        return np.zeros(n, dtype=int) if one else labels
    if low == 1 and s.same is not None:
        if _one_voice(X, t, s):
            return np.zeros(n, dtype=int)
        low = 2
    pick = np.arange(n)
    if n > s.max_ahc:  # long files: cluster an even subsample, then assign every window
        pick = np.linspace(0, n - 1, s.max_ahc).round().astype(int)
    if s.method == "spectral":
        labels = _cluster_spectral(X[pick], low, high, s)
    else:
        labels = _cluster_ahc(X[pick], low, high, s)
    if pick.size < n:
        k = int(labels.max()) + 1
        Xc = _normalise(X - X.mean(0)) if s.centre else X
        labels = _refine(Xc, np.argmax(Xc @ centroids(Xc[pick], labels, k).T, axis=1), k, 2)
    if s.same is None:
        return _merge_close(X, labels, s.merge, low)
    return _merge_same(X, t, labels, s, low, high)


def _groups_similarity(
    X: np.ndarray, t: np.ndarray | None, a: np.ndarray, b: np.ndarray, window: float
) -> float:
    return speaker_similarity(
        X[a],
        X[b],
        starts_a=None if t is None else t[a],
        starts_b=None if t is None else t[b],
        window=window,
    )


def _least(n: int, s: ClusterSettings) -> float:
    """The fewest windows (of ``n``) a speaker has: ``min_speech`` seconds and
    ``min_share`` of the speech."""
    return max(s.min_speech / s.step, s.min_share * n)


def _big_groups(labels: np.ndarray, k: int, least: float) -> list[np.ndarray]:
    """The window indices of each of the ``k`` groups of ``labels`` with >= ``least`` windows."""
    return [g for g in (np.nonzero(labels == j)[0] for j in range(k)) if g.size >= least]


def _all_alike(
    X: np.ndarray, t: np.ndarray | None, groups: list[np.ndarray], threshold: float, window: float
) -> bool:
    """True when every two of ``groups`` are at least ``threshold`` alike."""
    return all(
        _groups_similarity(X, t, a, b, window) >= threshold
        for i, a in enumerate(groups)
        for b in groups[i + 1 :]
    )


def _groups_alike(
    X: np.ndarray, t: np.ndarray | None, labels: np.ndarray, s: ClusterSettings
) -> bool:
    """True when every two groups of ``labels`` with at least ``min_speech`` seconds each are
    at least ``one_voice_groups`` similar."""
    groups = _big_groups(labels, int(labels.max()) + 1, _least(X.shape[0], s))
    return _all_alike(X, t, groups, s.one_voice_groups, s.window)


def _pure_voices(
    X: np.ndarray, t: np.ndarray | None, pure: np.ndarray | None, high: int, s: ClusterSettings
) -> bool:
    """True when the ``pure`` windows (at least two speakers' worth of them, see
    :func:`_least`) do not sound like one voice, by the tests of :func:`cluster`."""
    if pure is None:
        return False
    idx = np.nonzero(pure)[0]
    if idx.size < 2 or idx.size < 2 * _least(idx.size, s):
        return False
    Xp, tp = X[idx], None if t is None else t[idx]
    if not _one_voice(Xp, tp, s):
        return True
    return not _groups_alike(Xp, tp, _cluster_voices(Xp, tp, 1, min(high, idx.size), s), s)


def _one_voice(X: np.ndarray, t: np.ndarray | None, s: ClusterSettings) -> bool:
    """True when no split of the windows into 2, 3, ... groups (k-means of the centred
    embeddings) has two groups of at least ``min_speech`` seconds that sound like two
    speakers: for each k, the least :func:`speaker_similarity` of two such groups is
    compared with ``one_voice[k - 2]`` (several speakers can hide in the halves of a 2-way
    split, and smaller groups are noisier, hence a threshold per k)."""
    least = _least(X.shape[0], s)
    if X.shape[0] > s.max_split:  # long files: an even subsample is enough to tell
        least *= s.max_split / X.shape[0]
        pick = np.linspace(0, X.shape[0] - 1, s.max_split).round().astype(int)
        X, t = X[pick], None if t is None else t[pick]
    Xc = _normalise(X - X.mean(0))
    for k, threshold in enumerate(s.one_voice, start=2):
        if X.shape[0] < k:
            break
        if not _all_alike(X, t, _big_groups(kmeans(Xc, k), k, least), threshold, s.window):
            return False
    return True


def _segments(n: int, t: np.ndarray | None, s: ClusterSettings) -> list[np.ndarray]:
    """Runs of up to ``segment`` contiguous windows (each window alone without times); at
    most about ``max_ahc`` / ``segment`` runs (longer runs on long files)."""
    if t is None:
        return [np.array([i]) for i in range(n)]
    size = max(s.segment, int(np.ceil(n * s.segment / max(s.max_ahc, 1))))
    breaks = np.nonzero(np.diff(t) > s.step * 1.5)[0] + 1
    return [
        run[k : k + size]
        for run in np.split(np.arange(n), breaks)
        for k in range(0, run.size, size)
    ]


def _pairs(X: np.ndarray, t: np.ndarray | None, window: float) -> tuple[float, float]:
    """The sum of the dot products of a group's different, non-overlapping windows, and how
    many such pairs there are."""
    n = X.shape[0]
    if n < 2:
        return 0.0, 0.0
    keep = ~np.eye(n, dtype=bool)
    if t is not None and window > 0:
        keep &= np.abs(t[:, None] - t[None, :]) >= window
    return float((X @ X.T)[keep].sum()), float(keep.sum())


def _cluster_voices(
    X: np.ndarray, t: np.ndarray | None, low: int, high: int, s: ClusterSettings
) -> np.ndarray:
    """Agglomerative clustering of runs of windows: the two groups with the highest
    :func:`speaker_similarity` merge while it is at least ``same``; groups with less than
    ``min_speech`` seconds then join their most similar group; ``bounds`` are kept."""
    n = X.shape[0]
    segs = _segments(n, t, s)
    m = len(segs)
    S = np.stack([X[g].sum(0) for g in segs])
    N = np.array([g.size for g in segs], dtype=np.float64)
    QC = np.array([_pairs(X[g], None if t is None else t[g], s.window) for g in segs])
    Q, C = QC[:, 0].copy(), QC[:, 1].copy()
    measured = C > 0
    u0 = float(np.median(Q[measured] / C[measured])) if measured.any() else 0.5
    live = np.ones(m, dtype=bool)
    owner = np.arange(m)

    def row(i: int) -> np.ndarray:
        u = np.maximum((Q + u0 * s.prior_pairs) / (C + s.prior_pairs), 1e-3)
        r = (S @ S[i]) / (N * N[i]) / np.sqrt(u * u[i])
        r[~live] = -np.inf
        r[i] = -np.inf
        return r

    R = np.full((m, m), -np.inf)
    for i in range(m):
        R[i] = row(i)

    def merge(i: int, j: int) -> None:
        Q[i] += Q[j] + float(S[i] @ S[j])
        C[i] += C[j] + N[i] * N[j]
        S[i] += S[j]
        N[i] += N[j]
        live[j] = False
        owner[owner == j] = i
        R[j, :] = -np.inf
        R[:, j] = -np.inf
        R[i] = row(i)
        R[:, i] = R[i]

    same = float(s.same if s.same is not None else 1.0)
    low = max(1, low)
    while live.sum() > low:
        i, j = np.unravel_index(int(np.argmax(R)), R.shape)
        if R[i, j] < same and live.sum() <= high:
            break
        merge(int(i), int(j))
    while live.sum() > low:
        alive = np.nonzero(live)[0]
        small = alive[int(np.argmin(N[alive]))]
        if N[small] >= _least(n, s):
            break
        merge(int(np.argmax(R[small])), int(small))
    labels = np.zeros(n, dtype=int)
    names = {g: k for k, g in enumerate(sorted(set(owner.tolist()), key=lambda g: segs[g][0]))}
    for g, idx in enumerate(segs):
        labels[idx] = names[int(owner[g])]
    if live.sum() < low:  # fewer groups than asked for: split by k-means
        return kmeans(_normalise(X - X.mean(0)), low)
    return labels


def _merge_same(
    X: np.ndarray,
    t: np.ndarray | None,
    labels: np.ndarray,
    s: ClusterSettings,
    low: int,
    high: int,
) -> np.ndarray:
    """Groups under ``min_speech`` join their most similar group; then the two most similar
    groups merge while they are at least ``same`` alike (or more than ``high`` are left)."""
    labels = np.unique(labels, return_inverse=True)[1]
    groups = [np.nonzero(labels == j)[0] for j in range(int(labels.max()) + 1)]
    low = max(1, low)
    while len(groups) > low:
        sizes = np.array([g.size for g in groups])
        small = int(np.argmin(sizes))
        if sizes[small] * s.step >= s.min_speech:
            break
        sims = [
            _groups_similarity(X, t, groups[small], g, s.window) if j != small else -np.inf
            for j, g in enumerate(groups)
        ]
        into = int(np.argmax(sims))
        groups[into] = np.concatenate([groups[into], groups[small]])
        del groups[small]
    while len(groups) > low:
        best, pair = -np.inf, (0, 1)
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                r = _groups_similarity(X, t, groups[i], groups[j], s.window)
                if r > best:
                    best, pair = r, (i, j)
        if best < float(s.same or 0.0) and len(groups) <= high:
            break
        i, j = pair
        groups[i] = np.concatenate([groups[i], groups[j]])
        del groups[j]
    out = np.zeros(X.shape[0], dtype=int)
    order = sorted(range(len(groups)), key=lambda j: int(groups[j].min()))
    for new, j in enumerate(order):
        out[groups[j]] = new
    return out


def _self_similarity(X: np.ndarray, t: np.ndarray | None, window: float) -> float:
    """The mean dot product of two different, non-overlapping windows of a group."""
    n = X.shape[0]
    if n < 2:
        return 1.0
    G = X @ X.T
    keep = ~np.eye(n, dtype=bool)
    if t is not None and window > 0:
        apart = keep & (np.abs(t[:, None] - t[None, :]) >= window)
        if apart.any():
            keep = apart
    return float(G[keep].mean())


def speaker_similarity(
    A: np.ndarray,
    B: np.ndarray,
    *,
    starts_a: np.ndarray | None = None,
    starts_b: np.ndarray | None = None,
    window: float = 0.0,
) -> float:
    """How alike the voices of two groups of embeddings are, whatever the groups' sizes.

    Each window's embedding is its speaker's mean voice plus noise (what was said, the level,
    the room). The dot product of the two groups' mean embeddings estimates the dot product
    of their mean voices, and the mean dot product of two different windows of one group
    estimates its mean voice's squared length; so ``mean(A) . mean(B) / sqrt(u_A u_B)`` is
    an estimate of the cosine between the two mean voices that a group's size does not bias
    (the plain cosine of the means is lower for small groups): about 1 for one speaker,
    lower for two.

    Parameters
    ----------
    A, B : np.ndarray [shape=(n_a, d)], [shape=(n_b, d)] L2-normalised raw (not centred)
        embeddings
    starts_a, starts_b : their windows' starts [s] (None: no two windows overlap)
    window : windows whose starts are closer than this [s] overlap and are not compared

    Returns
    -------
    similarity : float, about 1 for one speaker
    """
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    u_a = max(_self_similarity(A, starts_a, window), 1e-3)
    u_b = max(_self_similarity(B, starts_b, window), 1e-3)
    return float(A.mean(0) @ B.mean(0) / np.sqrt(u_a * u_b))


def _merge_close(X: np.ndarray, labels: np.ndarray, merge: float, low: int) -> np.ndarray:
    """Merge the two clusters with the most similar raw centroids while that similarity is
    at least ``merge`` and more than ``low`` clusters are left; labels renumbered 0..k-1."""
    labels = np.unique(labels, return_inverse=True)[1]
    while True:
        k = int(labels.max()) + 1 if labels.size else 0
        if k <= max(1, low):
            return labels
        C = centroids(X, labels, k)
        S = C @ C.T
        np.fill_diagonal(S, -np.inf)
        i, j = np.unravel_index(int(np.argmax(S)), S.shape)
        if S[i, j] < merge:
            return labels
        labels = np.where(labels == max(i, j), min(i, j), labels)
        labels = np.unique(labels, return_inverse=True)[1]


def _cluster_ahc(X: np.ndarray, low: int, high: int, s: ClusterSettings) -> np.ndarray:
    from scipy.cluster.hierarchy import fcluster, linkage

    if s.centre:
        X = _normalise(X - X.mean(0))
    Z = linkage(X, method="average", metric="cosine")
    labels = fcluster(Z, t=1.0 - s.threshold, criterion="distance") - 1
    sizes = np.bincount(labels)
    big = np.nonzero(sizes >= s.min_size)[0]
    if not len(big):
        big = np.array([int(np.argmax(sizes))])
    k = len(big)
    if not low <= k <= high:
        k = min(max(k, low), high)
        labels = fcluster(Z, t=k, criterion="maxclust") - 1
        return _refine(X, labels, k, s.refine)
    if len(big) < len(sizes):  # small clusters join the nearest big one
        C = centroids(X, labels, len(sizes))
        keep = C[big]
        for j in np.nonzero(sizes < s.min_size)[0]:
            members = labels == j
            labels[members] = big[np.argmax(X[members] @ keep.T, axis=1)]
        remap = -np.ones(len(sizes), dtype=int)
        remap[big] = np.arange(len(big))
        labels = remap[labels]
    return _refine(X, labels, k, s.refine)


def _refine(X: np.ndarray, labels: np.ndarray, k: int, rounds: int) -> np.ndarray:
    """A few rounds of nearest-centroid reassignment (k-means on the sphere)."""
    for _ in range(rounds):
        C = centroids(X, labels, k)
        new = np.argmax(X @ C.T, axis=1)
        if np.array_equal(new, labels) or len(np.unique(new)) < k:
            break
        labels = new
    return labels


def _cluster_spectral(X: np.ndarray, low: int, high: int, s: ClusterSettings) -> np.ndarray:
    centred = _normalise(X - X.mean(0))
    if low == 1:
        two = kmeans(centred, 2)
        raw = centroids(X, two, 2)
        if float(raw[0] @ raw[1]) >= s.single_threshold:
            return np.zeros(X.shape[0], dtype=int)
        low = 2
    if X.shape[0] <= 3:
        return kmeans(centred, low)
    A = _affinity(centred, s.prune)
    k, U = _spectral(A, low, high, s.max_gap_rank)
    return kmeans(U, k)


def smooth_neighbours(X: np.ndarray, starts: np.ndarray, step: float, width: int) -> np.ndarray:
    """Each embedding averaged with up to ``width`` neighbours on each side that follow it
    without a gap (windows ``step`` seconds apart), L2-normalised again.

    Parameters
    ----------
    X : np.ndarray [shape=(n, d)] embeddings, in time order
    starts : np.ndarray [shape=(n,)] window starts [s]
    """
    if width <= 0 or X.shape[0] < 2:
        return X
    n = X.shape[0]
    run = np.concatenate([[0], np.cumsum(np.diff(starts) > step * 1.5)])
    out = np.empty_like(X, dtype=np.float64)
    for i in range(n):
        lo, hi = max(0, i - width), min(n, i + width + 1)
        idx = np.arange(lo, hi)
        out[i] = X[idx[run[idx] == run[i]]].mean(0)
    return _normalise(out)
