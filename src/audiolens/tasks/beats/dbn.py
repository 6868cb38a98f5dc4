"""A dynamic Bayesian network that turns a beat activation into beat times (Viterbi decoding).

The model is the bar-less case of the bar-pointer model of Krebs, Böck and Widmer (ISMIR 2015),
as madmom's ``DBNBeatTrackingProcessor`` uses it: the hidden state is a beat period ``tau``
(frames per beat) and a position ``phi`` in ``0 .. tau - 1`` within the current beat.
Position advances by one each frame; at the end of a beat the period may change to ``tau'``
with a probability ``exp(-lambda * |tau' / tau - 1|)`` (normalised), so tempo changes are
possible but smooth. The first ``tau / observation_lambda`` positions of a beat are "beat"
states that expect a high activation ``a``; the others expect ``(1 - a) / (lambda_o - 1)``.

Decoding: within a beat the path is fixed (the position advances one state per frame), so the
Viterbi path over (period, position) states is a path over beat starts, and its best score is
a semi-Markov recursion over (frame, period): ``D[s, k]`` = the score of the frames of a beat
of period ``tau_k`` starting at frame ``s`` (two look-ups in cumulative sums) plus the best
``D[s - tau_j, j] + log P(tau_k | tau_j)``. Every predecessor lies at least ``min(tau)``
frames back, so ``min(tau)`` frames at a time are solved in one vectorised step. The decoded
beats are exactly those of the frame-by-frame Viterbi decoding of the same model (a test
compares the two); back-pointers take frames x periods (16 bits each), scores only the last
``max(tau) + min(tau)`` frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import ParameterError

__all__ = ["BeatDBN", "track_beats"]


@dataclass(frozen=True)
class BeatDBN:
    """The beat model's settings.

    Attributes
    ----------
    fps : activation frames per second
    min_bpm, max_bpm : the tempo range the periods cover
    transition_lambda : how strongly tempo changes between beats are penalised
    observation_lambda : a beat's first ``1 / observation_lambda`` is its "beat" part, and a
        non-beat frame expects ``(1 - a) / (observation_lambda - 1)``
    beat_width : when set, the "beat" part is this many frames at every tempo instead (for
        activations whose peaks are equally narrow at every tempo: the proportional part would
        make slow tempi pay for frames after the peak and favour doubled tempi)
    threshold : activations below this at every frame give no beats at all
    """

    fps: float = 100.0
    min_bpm: float = 55.0
    max_bpm: float = 215.0
    transition_lambda: float = 100.0
    observation_lambda: int = 16
    threshold: float = 0.05
    beat_width: int | None = None

    def __post_init__(self) -> None:
        if not self.fps > 0:
            raise ParameterError(f"fps={self.fps!r} must be positive")
        if not 0 < self.min_bpm < self.max_bpm:
            raise ParameterError(
                f"min_bpm={self.min_bpm!r} and max_bpm={self.max_bpm!r} must satisfy "
                "0 < min_bpm < max_bpm"
            )
        if self.observation_lambda < 2:
            raise ParameterError(f"observation_lambda={self.observation_lambda!r} must be >= 2")
        if self.beat_width is not None and not 1 <= self.beat_width < self.periods()[0]:
            raise ParameterError(
                f"beat_width={self.beat_width!r} must be at least 1 and shorter than the "
                f"shortest beat ({self.periods()[0]} frames)"
            )

    def periods(self) -> np.ndarray:
        """The beat periods (frames per beat), one per whole number of frames in range."""
        lo = int(np.floor(60.0 * self.fps / self.max_bpm))
        hi = int(np.ceil(60.0 * self.fps / self.min_bpm))
        return np.arange(max(lo, 2), hi + 1)

    def beat_states(self, periods: np.ndarray) -> np.ndarray:
        """How many frames at the start of a beat of each period are its "beat" part."""
        if self.beat_width is not None:
            return np.full(periods.shape, self.beat_width, dtype=np.int64)
        return np.ceil(periods / self.observation_lambda).astype(np.int64)


def _log_transitions(periods: np.ndarray, lam: float) -> np.ndarray:
    """log P(next period | period) [shape=(from, to)], rows normalised."""
    ratio = periods[None, :] / periods[:, None]
    w = np.exp(-lam * np.abs(ratio - 1.0))
    w /= w.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        return np.log(w)


def track_beats(activation: np.ndarray, model: BeatDBN | None = None) -> np.ndarray:
    """Beat times from a beat activation.

    Parameters
    ----------
    activation : np.ndarray [shape=(n,)]
        Beat probability per frame, in 0-1 (``model.fps`` frames per second).
    model : the network's settings (defaults when None)

    Returns
    -------
    beats : np.ndarray [shape=(n_beats,)]
        Beat times in seconds, increasing. Empty when the activation never reaches
        ``model.threshold`` (silence, or nothing beat-like).
    """
    model = model or BeatDBN()
    act = np.asarray(activation, dtype=np.float64).reshape(-1)
    if act.size < 2 or not np.isfinite(act).all():
        if act.size and not np.isfinite(act).all():
            raise ParameterError("activation has NaN or infinite values")
        return np.zeros(0)
    if act.max() < model.threshold:
        return np.zeros(0)
    frames = _decode(np.clip(act, 1e-7, 1 - 1e-7), model)
    # a beat is where the path enters a beat's first position; drop one at frame 0 that is
    # only the path's start
    if frames.size and frames[0] == 0 and act[0] < model.threshold:
        frames = frames[1:]
    return frames / model.fps


def _decode(act: np.ndarray, model: BeatDBN) -> np.ndarray:
    """The frames where the Viterbi path starts a beat (see the module docstring)."""
    n = act.size
    tau = model.periods()
    K = tau.size
    lam = model.observation_lambda
    m = model.beat_states(tau)  # the "beat" states at the start of each beat
    tmax, tmin = int(tau.max()), int(tau.min())
    # cumulative log-likelihoods of "beat" and "no beat"; past the end, no evidence (0)
    lb = np.zeros(n + tmax + 1)
    lo = np.zeros(n + tmax + 1)
    lb[:n] = np.log(act)
    lo[:n] = np.log((1.0 - act) / (lam - 1))
    CB = np.concatenate([[0.0], np.cumsum(lb)])
    CO = np.concatenate([[0.0], np.cumsum(lo)])
    log_init = -np.log(float(tau.sum()))  # uniform over all (period, position) states
    to_from = np.ascontiguousarray(_log_transitions(tau, model.transition_lambda).T)
    to_from = to_from.astype(np.float32)
    # the path's first, partial beat: period j, its last frame at s - 1 (s <= tau_j)
    s0 = np.arange(tmax + 1)[:, None]
    nb = np.clip(m[None, :] - tau[None, :] + s0, 0, s0)
    first = CB[nb] + CO[s0] - CO[nb] + log_init
    first[(s0 > tau[None, :]) | (s0 == 0)] = -np.inf
    # D[s, k] lives in a ring of the last R frames: a predecessor is at most tmax frames back
    R = tmax + tmin + 1
    ring = np.empty((R, K))
    ring[0] = CB[m] - CB[0] + CO[tau] - CO[m] + log_init
    back = np.empty((n, K), dtype=np.int16)
    flat = ring.reshape(-1)
    cols = np.arange(K)
    lag = np.arange(tmin)[:, None] - tau[None, :]  # (frame in block, from) -> s - tau_j - b
    rows = np.arange(tmin)
    X = np.empty((tmin, K, K), dtype=np.float32)  # (frame, to, from), reused
    picked = np.arange(tmin * K) * K  # flat offset of each (frame, to) row of X
    chunk = 64 * tmin  # frames whose beat scores and ring indices are prepared at once
    for c in range(1, n, chunk):
        ce = min(c + chunk, n)
        sc = np.arange(c, ce)[:, None]
        own_all = CB[sc + m] - CB[sc] + CO[sc + tau] - CO[sc + m]
        for b in range(c, ce, tmin):
            e = min(b + tmin, ce)
            L = e - b
            idx = lag[:L] + b
            F = flat[(idx % R) * K + cols]
            if b <= tmax:
                F = np.where(idx >= 1, F, first[np.minimum(np.arange(b, e), tmax)])
            top = F.max(axis=1, keepdims=True)
            XL = X[:L]
            np.add((F - top).astype(np.float32)[:, None, :], to_from, out=XL)
            arg = XL.argmax(axis=2)
            back[b:e] = arg
            best = XL.reshape(-1)[picked[: L * K] + arg.reshape(-1)].reshape(L, K)
            ring[(rows[:L] + b) % R] = own_all[b - c : e - c] + best + top
    # the path ends in the beat that covers the last frame
    tail = np.arange(max(n - tmax, 0), n)
    score = np.where(tail[:, None] + tau[None, :] > n - 1, ring[tail % R], -np.inf)
    i, k = divmod(int(np.argmax(score)), K)
    s = int(tail[i])
    starts = [s]
    while s > 0:
        j = int(back[s, k])
        if s <= tau[j]:  # its predecessor is the partial first beat
            break
        s, k = s - int(tau[j]), j
        starts.append(s)
    return np.array(starts[::-1], dtype=np.int64)
