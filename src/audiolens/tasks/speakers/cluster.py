"""Clustering speaker embeddings: how many speakers, and which window is whose.

The default: the embeddings are centred (the file's mean removed, which takes away what all
windows share: the room, the microphone, the channel), then average-linkage agglomerative
clustering on cosine similarity stops at a threshold; clusters of fewer than ``min_size``
windows join their nearest neighbour, and a few rounds of nearest-centroid reassignment
follow. The threshold was chosen on synthetic conversations (benchmarks/bench_speakers.py).

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

__all__ = ["ClusterSettings", "centroids", "cluster", "kmeans", "smooth_neighbours"]


@dataclass(frozen=True)
class ClusterSettings:
    """Settings of :func:`cluster`.

    Attributes
    ----------
    method : "ahc" (average-linkage agglomerative clustering, cut at ``threshold``) or
        "spectral" (eigengap)
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
    """

    method: str = "ahc"
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
    X: np.ndarray, *, bounds: tuple[int, int], settings: ClusterSettings | None = None
) -> np.ndarray:
    """Speaker labels of embeddings.

    Parameters
    ----------
    X : np.ndarray [shape=(n, d)]
        L2-normalised speaker embeddings.
    bounds : the least and the most speakers allowed
    settings : (defaults when None)

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
    return _merge_close(X, labels, s.merge, low)


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
