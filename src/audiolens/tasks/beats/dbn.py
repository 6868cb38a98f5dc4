"""A dynamic Bayesian network that turns a beat activation into beat times (Viterbi decoding).

The model is the bar-less case of the bar-pointer model of Krebs, Böck and Widmer (ISMIR 2015),
as madmom's ``DBNBeatTrackingProcessor`` uses it: the hidden state is a beat period ``tau``
(frames per beat) and a position ``phi`` in ``0 .. tau - 1`` within the current beat.
Position advances by one each frame; at the end of a beat the period may change to ``tau'``
with a probability ``exp(-lambda * |tau' / tau - 1|)`` (normalised), so tempo changes are
possible but smooth. The first ``tau / observation_lambda`` positions of a beat are "beat"
states that expect a high activation ``a``; the others expect ``(1 - a) / (lambda_o - 1)``.

Decoding keeps a back-pointer only where a state has more than one predecessor (the first
position of a beat), so memory grows with frames x periods, not frames x states.
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
    observation_lambda : a beat's first ``1 / observation_lambda`` is its "beat" part
    threshold : activations below this at every frame give no beats at all
    """

    fps: float = 100.0
    min_bpm: float = 55.0
    max_bpm: float = 215.0
    transition_lambda: float = 100.0
    observation_lambda: int = 16
    threshold: float = 0.05

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

    def periods(self) -> np.ndarray:
        """The beat periods (frames per beat), one per whole number of frames in range."""
        lo = int(np.floor(60.0 * self.fps / self.max_bpm))
        hi = int(np.ceil(60.0 * self.fps / self.min_bpm))
        return np.arange(max(lo, 2), hi + 1)


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
    act = np.clip(act, 1e-7, 1 - 1e-7)
    periods = model.periods()
    n_per = periods.size
    start = np.concatenate([[0], np.cumsum(periods)[:-1]])  # first state of each period
    last = start + periods - 1
    n_states = int(periods.sum())
    position = np.arange(n_states) - np.repeat(start, periods)
    is_beat = position < np.repeat(periods, periods) / model.observation_lambda
    log_trans = _log_transitions(periods, model.transition_lambda)
    log_beat = np.log(act)
    log_other = np.log((1.0 - act) / (model.observation_lambda - 1))

    beat_states = np.flatnonzero(is_beat)
    gain = log_beat - log_other  # what a beat state gets on top of a non-beat state
    delta = np.full(n_states, log_other[0] - np.log(n_states))
    delta[beat_states] += gain[0]
    back = np.empty((act.size, n_per), dtype=np.int16)
    columns = np.arange(n_per)
    shifted = np.empty_like(delta)
    entering = np.empty_like(log_trans)
    for t in range(1, act.size):
        np.add(delta[last][:, None], log_trans, out=entering)  # (from period, to period)
        arg = entering.argmax(axis=0)
        back[t] = arg
        shifted[1:] = delta[:-1]  # every position advances by one frame
        shifted[start] = entering[arg, columns]  # a new beat starts, maybe at a new period
        shifted += log_other[t]
        shifted[beat_states] += gain[t]
        delta, shifted = shifted, delta
    # back-track: within a beat the predecessor is the previous position
    s = int(np.argmax(delta))
    k = int(np.searchsorted(start, s, side="right") - 1)
    phi = s - int(start[k])
    beats = []
    for t in range(act.size - 1, -1, -1):
        if phi == 0:
            beats.append(t)
            if t > 0:
                k = int(back[t, k])
                phi = int(periods[k]) - 1
        else:
            phi -= 1
    frames = np.array(beats[::-1], dtype=np.int64)
    # a beat is where the path enters a beat's first position; drop one at frame 0 that is
    # only the path's start
    if frames.size and frames[0] == 0 and act[0] < model.threshold:
        frames = frames[1:]
    return frames / model.fps
