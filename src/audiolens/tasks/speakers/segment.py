"""From labelled windows to speaker turns: frame scores, Viterbi smoothing, turns.

Each cluster gets a centroid; every VAD frame (32 ms) inside speech gets, per cluster, the mean
cosine similarity to that centroid of the windows that cover it (the nearest window where none
does). A Viterbi pass over the frames of each speech region then picks one speaker per frame,
paying ``switch`` for every change of speaker, which re-segments the speech at a finer grain
than the windows and removes single-frame flips. Runs of one speaker become turns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...models.vad import FRAME, SAMPLE_RATE
from .types import Turn

__all__ = ["SegmentSettings", "frame_scores", "turns_from_frames", "viterbi"]

FRAME_S = FRAME / SAMPLE_RATE  #: seconds per VAD frame


@dataclass(frozen=True)
class SegmentSettings:
    """Settings of the re-segmentation.

    Attributes
    ----------
    switch : cost of a change of speaker, in units of cosine similarity per frame
    min_turn : turns shorter than this (seconds) go to the neighbouring speaker
    overlap_margin : where the runner-up speaker's frame score is within this of the chosen
        speaker's, the runner-up is taken to speak too (0 turns overlap detection off)
    min_overlap : overlapping turns shorter than this (seconds) are dropped
    """

    switch: float = 2.0
    min_turn: float = 0.2
    overlap_margin: float = 0.0
    min_overlap: float = 0.3


def frame_scores(
    sims: np.ndarray, starts: np.ndarray, ends: np.ndarray, n_frames: int
) -> np.ndarray:
    """Per frame and cluster, the mean similarity of the windows covering the frame.

    Parameters
    ----------
    sims : np.ndarray [shape=(n_windows, k)] similarity of each window to each centroid
    starts, ends : np.ndarray [shape=(n_windows,)] seconds
    n_frames : frames of 32 ms

    Returns
    -------
    scores : np.ndarray [shape=(n_frames, k)]; frames with no window take the nearest one's
    """
    k = sims.shape[1]
    acc = np.zeros((n_frames + 1, k))
    cnt = np.zeros(n_frames + 1)
    a = np.clip(np.round(starts / FRAME_S).astype(int), 0, n_frames)
    b = np.clip(np.round(ends / FRAME_S).astype(int), 0, n_frames)
    np.add.at(acc, a, sims)
    np.add.at(acc, b, -sims)
    np.add.at(cnt, a, 1.0)
    np.add.at(cnt, b, -1.0)
    acc = np.cumsum(acc, axis=0)[:n_frames]
    cnt = np.cumsum(cnt)[:n_frames]
    covered = cnt > 0.5
    out = np.empty((n_frames, k))
    out[covered] = acc[covered] / cnt[covered, None]
    if (~covered).any():
        centres = 0.5 * (starts + ends) / FRAME_S
        order = np.argsort(centres, kind="stable")
        c = centres[order]
        frames = np.nonzero(~covered)[0]
        right = np.clip(np.searchsorted(c, frames), 0, c.size - 1)
        left = np.clip(right - 1, 0, c.size - 1)
        pick = np.where(np.abs(c[left] - frames) <= np.abs(c[right] - frames), left, right)
        out[frames] = sims[order[pick]]
    return out


def viterbi(scores: np.ndarray, switch: float) -> np.ndarray:
    """The best label path: maximise the summed scores minus ``switch`` per change.

    Parameters
    ----------
    scores : np.ndarray [shape=(n, k)]

    Returns
    -------
    path : np.ndarray [shape=(n,)] int
    """
    n, k = scores.shape
    if n == 0:
        return np.zeros(0, dtype=int)
    back = np.zeros((n, k), dtype=np.int64)
    total = scores[0].copy()
    eye = np.eye(k, dtype=bool)
    for t in range(1, n):
        cand = total[:, None] - switch * ~eye  # from i (rows) to j (columns)
        back[t] = cand.argmax(0)
        total = cand.max(0) + scores[t]
    path = np.empty(n, dtype=int)
    path[-1] = int(total.argmax())
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def turns_from_frames(
    labels: np.ndarray, regions: list[tuple[float, float]], *, min_turn: float
) -> list[tuple[float, float, int]]:
    """Turns ``(start, end, label)`` from per-frame labels inside speech regions.

    A speaker change falls on a frame boundary; region ends are kept exactly. Turns shorter
    than ``min_turn`` inside a region are given to the longer neighbour.
    """
    out: list[tuple[float, float, int]] = []
    n = labels.size
    for r0, r1 in regions:
        f0 = min(n - 1, int(r0 / FRAME_S)) if n else 0
        f1 = min(n, max(f0 + 1, int(np.ceil(r1 / FRAME_S))))
        lab = labels[f0:f1]
        if not lab.size:
            continue
        cuts = np.nonzero(np.diff(lab))[0] + 1
        bounds = [f0, *(f0 + cuts), f1]
        pieces = [
            [
                max(r0, bounds[i] * FRAME_S),
                min(r1, bounds[i + 1] * FRAME_S),
                int(lab[bounds[i] - f0]),
            ]
            for i in range(len(bounds) - 1)
        ]
        pieces = _absorb_short(pieces, min_turn)
        out.extend((a, b, lab_) for a, b, lab_ in pieces if b > a)
    return out


def _absorb_short(pieces: list[list], min_turn: float) -> list[list]:
    changed = True
    while changed and len(pieces) > 1:
        changed = False
        lengths = [b - a for a, b, _ in pieces]
        i = int(np.argmin(lengths))
        if lengths[i] >= min_turn:
            break
        left = pieces[i - 1] if i > 0 else None
        right = pieces[i + 1] if i + 1 < len(pieces) else None
        target = (
            left
            if right is None or (left is not None and lengths[i - 1] >= lengths[i + 1])
            else right
        )
        if target is left:
            left[1] = pieces[i][1]
        else:
            right[0] = pieces[i][0]
        del pieces[i]
        merged = [pieces[0]]
        for p in pieces[1:]:
            if p[2] == merged[-1][2]:
                merged[-1][1] = p[1]
            else:
                merged.append(p)
        pieces = merged
        changed = True
    return pieces


def name_turns(raw: list[tuple[float, float, int]]) -> tuple[list[Turn], list[str]]:
    """Turns named ``SPEAKER_1``, ``SPEAKER_2``, ... by first appearance, sorted by start."""
    raw = sorted(raw, key=lambda t: (t[0], t[1]))
    names: dict[int, str] = {}
    turns = []
    for a, b, lab in raw:
        if lab not in names:
            names[lab] = f"SPEAKER_{len(names) + 1}"
        turns.append(Turn(round(float(a), 3), round(float(b), 3), names[lab]))
    return turns, list(names.values())


def overlap_turns(
    scores: np.ndarray,
    labels: np.ndarray,
    regions: list[tuple[float, float]],
    *,
    margin: float,
    min_length: float,
    where: np.ndarray | None = None,
) -> list[tuple[float, float, int]]:
    """Second-speaker turns: runs of frames where the best other speaker scores within
    ``margin`` of the chosen one (the windows there look like a mixture of the two), or, when
    ``where`` is given, the frames it marks; the second speaker is the best other one.

    Parameters
    ----------
    scores : np.ndarray [shape=(n_frames, k)] frame scores
    labels : np.ndarray [shape=(n_frames,)] the chosen speaker per frame
    regions : speech regions (seconds); overlap is only looked for inside them
    where : np.ndarray [shape=(n_frames,)] bool, frames where two or more talk (from a
        segmentation model); None: found by ``margin``

    Returns
    -------
    turns : (start, end, label) of the second speakers
    """
    n, k = scores.shape
    if k < 2 or n == 0 or (margin <= 0 and where is None):
        return []
    masked = scores.copy()
    masked[np.arange(n), labels] = -np.inf
    second = masked.argmax(1)
    gap = scores[np.arange(n), labels] - masked[np.arange(n), second]
    inside = np.zeros(n, dtype=bool)
    for a, b in regions:
        inside[int(a / FRAME_S) : min(n, int(np.ceil(b / FRAME_S)))] = True
    if where is not None:
        flag = inside & where[:n]
    else:  # smooth the margin over ~0.25 s so single frames do not flicker
        width = max(1, int(round(0.25 / FRAME_S)))
        smooth = np.convolve(gap, np.ones(width) / width, mode="same")
        flag = inside & (smooth < margin)
    out = []
    i = 0
    while i < n:
        if not flag[i]:
            i += 1
            continue
        j = i
        while j < n and flag[j] and second[j] == second[i]:
            j += 1
        if (j - i) * FRAME_S >= min_length:
            out.append((i * FRAME_S, j * FRAME_S, int(second[i])))
        i = j
    return out
