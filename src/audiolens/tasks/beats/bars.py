"""Bar positions and meter from beats and a downbeat activation (a hidden Markov model over beats).

For each meter ``M`` the hidden state of beat ``i`` is its bar position ``p`` (0 = downbeat);
it advances by one per beat (``p -> p + 1 mod M``) with probability ``1 - slip`` and jumps to
any other position with ``slip`` (a beat tracked twice or missed). A beat's observation is the
downbeat activation ``d`` near it: ``log d`` at position 0 and ``log(1 - d)`` elsewhere. Each
meter's best path is found by Viterbi decoding; the meter whose path explains the activations
best wins (ties go to the first meter listed).

Metrical level (:func:`metrical_reading`): the beat decoder may lock on to a faster level than
the one listeners tap (the eighth notes of a song whose chords change every three quarter
notes). So a bar of six tracked beats is tried too, read as three counted beats of two tracked
beats (3/4 tracked in eighths) or two of three (6/8); such a grouped reading must beat the best
ungrouped one by :data:`GROUP_COST` per beat, and a log-normal prior on the counted tempo
(median :data:`PRIOR_BPM`, spread :data:`PRIOR_SIGMA` in log tempo: the annotated tempi of the
training corpus's ``train`` split, 79 pieces of ``benchmarks/beats_corpus.py``) weighs the
readings; only the counted beats are kept.

Harmony (:mod:`.harmony`): chords change on downbeats far more often than elsewhere, whatever
the drums play (a kick on 1 and 3 looks like bars of 2 to the downbeat activation). When the
caller gives the harmonic change at each beat, :data:`HARMONY_WEIGHT` times it is added to the
log downbeat activation, for every meter and reading alike.

Cues (:mod:`.cues`): a learnt model reads the harmony, the bass, the onsets and the loudness
per band around each beat, with the downbeat activation, and gives the log odds of a downbeat
there. When the caller gives them, the group of tracked beats (the metrical level) is chosen
as above, and then the meter and the bar positions at that level from the log downbeat
activation plus :data:`CUE_WEIGHT` times the cues' log odds (in place of the harmony): the
cues place the bar; the level stays the activation's, the harmony's and the prior's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "CUE_WEIGHT",
    "GROUPED_BARS",
    "GROUP_COST",
    "HARMONY_WEIGHT",
    "PRIOR_BPM",
    "PRIOR_SIGMA",
    "PRIOR_WEIGHT",
    "SLIP",
    "SUBDIVISIONS",
    "TWO_BEAT_COST",
    "Reading",
    "bar_positions",
    "beat_values",
    "metrical_reading",
    "tempo_prior",
]

#: the probability per beat that the bar position slips (a beat tracked twice or missed):
#: chosen on the validation sets of ``bench_beat_models.py --validation`` (1e-5 to 1e-3; real
#: music val's downbeat F 0.494 at 1e-3, 0.515 at 3e-4, 0.513 at 1e-4, 0.49 below; rendered
#: and realistic val the same at 3e-4 and 1e-3): real songs seldom shift their bar
SLIP = 3e-4
#: per-beat cost of meter 2 against 4, chosen on held-out training pieces (0.2-0.4 scored the
#: same there); 0.4 since session 17's network (it reads a synthetic 4/4 band with its kick on
#: 1 and 3, ``tests/structure``'s ABA seed 6, in 4 where 0.3 reads 2). 0.6 since the cues
#: place the bar (issue 15, session 21): on the seven validation sets of
#: ``bench_beat_models.py --validation`` 0.5-0.7 score alike and no set loses against 0.4
#: (downbeat F: real music val 0.627 -> 0.635, module val 0.685 -> 0.699, realistic val
#: 0.947 -> 0.963; the same with cue models retrained from other seeds), while 0.8 lowers
#: syncopated val's (0.977 -> 0.957)
TWO_BEAT_COST = 0.6
#: the log-normal tempo prior: median (BPM) and standard deviation of the log tempo, fitted to
#: the annotated tempi of the training corpus's ``train`` split
PRIOR_BPM = 110.7
PRIOR_SIGMA = 0.33
#: the prior's weight per second of audio against the bar model's log-likelihood: 0.05-2
#: score the same on the train split and on the calibration half of the Debian music (5
#: halves 12 fast training pieces); 0.1, as 0.5 and more halved songs of the agreement set
PRIOR_WEIGHT = 0.1
#: tracked beats per counted beat that a reading may group
SUBDIVISIONS = (1, 2, 3)
#: the bar lengths (in tracked beats) that may be read as groups of tracked beats: six, as
#: three counted beats of two (3/4 tracked in eighths) or two of three (6/8 tracked in
#: eighths). Bars of eight are not read as four of two: on real music the downbeat activation
#: often marks every other bar, and read so it would halve songs whose beat is the fast one
GROUPED_BARS = (6,)
#: per tracked beat, what a grouped reading must gain over the best ungrouped one: on the
#: calibration half of the Debian music (benchmarks/_beats_material.py) bars of six beat the
#: ungrouped readings by up to 0.19 per beat on songs whose fast beat is the reference's
GROUP_COST = 0.3
#: the weight of the harmonic change at a beat (standardised and clipped to +-2,
#: :func:`.harmony.harmonic_change`) added to the log downbeat activation there: chosen with
#: :data:`.track.HARMONY_SPAN` and :data:`.harmony.HARMONY_FMIN` on the validation sets of
#: ``bench_beat_models.py --validation`` (real music val, rendered val, realistic val: the best
#: mean downbeat F of the three among weights 0-6, spans 1-4 and 100 or 250 Hz)
HARMONY_WEIGHT = 3.0
#: the weight of the cues' log odds at a beat (:func:`.cues.downbeat_evidence`) added to the
#: log downbeat activation there when the bar is placed: chosen on the validation sets of
#: ``bench_beat_models.py --validation`` among 0.5, 1 and 2 (1: read as the log likelihood
#: ratio they are trained to be)
CUE_WEIGHT = 1.0


def beat_values(act: np.ndarray, frames: np.ndarray, *, radius: int = 3) -> np.ndarray:
    """The largest value of ``act`` within ``radius`` frames of each beat frame.

    Parameters
    ----------
    act : np.ndarray [shape=(n_frames,)]
    frames : np.ndarray [shape=(n_beats,)] int, beat frames

    Returns
    -------
    values : np.ndarray [shape=(n_beats,)]
    """
    act = np.asarray(act, dtype=np.float64)
    frames = np.asarray(frames, dtype=np.int64)
    if frames.size == 0 or act.size == 0:
        return np.zeros(frames.size)
    idx = np.clip(frames[:, None] + np.arange(-radius, radius + 1)[None, :], 0, act.size - 1)
    return act[idx].max(axis=1)


#: the Viterbi decoding sums log probabilities in integer units of this: paths that tie in
#: exact arithmetic (a slip one beat earlier or later between two positions that are not
#: downbeats) then tie exactly and go the same way whichever device computed the activations
LOG_UNIT = 1e-4


def _viterbi(obs_down: np.ndarray, obs_other: np.ndarray, meter: int, slip: float):
    n = obs_down.size

    def units(x: np.ndarray | float) -> np.ndarray:
        return np.round(np.asarray(x, dtype=np.float64) / LOG_UNIT).astype(np.int64)

    trans = np.full((meter, meter), units(np.log(slip / max(meter - 1, 1))))
    for p in range(meter):
        trans[p, (p + 1) % meter] = units(np.log1p(-slip))
    obs = np.tile(units(obs_other)[:, None], (1, meter))
    obs[:, 0] = units(obs_down)
    delta = obs[0] - units(np.log(meter))
    back = np.zeros((n, meter), dtype=np.int64)
    for i in range(1, n):
        cand = delta[:, None] + trans  # (from, to)
        back[i] = cand.argmax(axis=0)
        delta = cand[back[i], np.arange(meter)] + obs[i]
    path = np.empty(n, dtype=np.int64)
    path[-1] = int(np.argmax(delta))
    for i in range(n - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return float(delta.max()) * LOG_UNIT, path


def bar_positions(
    downbeat: np.ndarray,
    *,
    meters: tuple[int, ...] = (2, 3, 4),
    slip: float = SLIP,
    two_beat_cost: float = TWO_BEAT_COST,
) -> tuple[np.ndarray, int | None, dict[int, float]]:
    """Bar positions of beats from the downbeat activation at each beat.

    Parameters
    ----------
    downbeat : np.ndarray [shape=(n_beats,)] downbeat probability at each beat, 0-1
    meters : beats per bar to choose from
    slip : probability per beat that the bar position does not advance by one
    two_beat_cost : subtracted per beat from the score of meter 2 when 4 is also allowed: a
        4/4 bar with an accented third beat looks like two bars of 2, and in doubt the longer
        bar is the usual answer

    Returns
    -------
    positions : np.ndarray [shape=(n_beats,)] int, 1 = downbeat ... meter
    meter : the meter chosen (None without beats)
    scores : meter -> the log-likelihood of its best path
    """
    d = np.clip(np.asarray(downbeat, dtype=np.float64), 1e-4, 1 - 1e-4)
    if d.size == 0:
        return np.zeros(0, dtype=int), None, {}
    down, other = np.log(d), np.log1p(-d)
    scores, paths = {}, {}
    for m in meters:
        scores[m], paths[m] = _viterbi(down, other, m, slip)
    if 2 in scores and 4 in scores:
        scores[2] -= two_beat_cost * d.size
    best = max(meters, key=lambda m: scores[m])
    return paths[best] + 1, best, scores


def tempo_prior(bpm: float | np.ndarray) -> float | np.ndarray:
    """Log density (up to a constant) of the tempo prior at ``bpm``: a log-normal with median
    :data:`PRIOR_BPM` and log spread :data:`PRIOR_SIGMA`, 0 at the median."""
    return -0.5 * (np.log(np.asarray(bpm, dtype=np.float64) / PRIOR_BPM) / PRIOR_SIGMA) ** 2


@dataclass(frozen=True)
class Reading:
    """How the tracked beats are counted.

    Attributes
    ----------
    keep : np.ndarray [shape=(n_counted,)] indices of the tracked beats that are counted beats
    positions : np.ndarray [shape=(n_counted,)] their bar positions, 1 = downbeat ... meter
    meter : counted beats per bar (None without beats)
    group : tracked beats per counted beat (1: the beats as tracked)
    """

    keep: np.ndarray
    positions: np.ndarray
    meter: int | None
    group: int = 1


def metrical_reading(
    downbeat: np.ndarray,
    *,
    bpm: float,
    meters: tuple[int, ...] = (2, 3, 4),
    slip: float = SLIP,
    prior_weight: float | None = None,
    two_beat_cost: float = TWO_BEAT_COST,
    min_bpm: float = 0.0,
    subdivisions: tuple[int, ...] = SUBDIVISIONS,
    harmony: np.ndarray | None = None,
    harmony_weight: float | None = None,
    cues: np.ndarray | None = None,
) -> Reading:
    """The counted beats, their bar positions and the meter, from tracked beats.

    A reading ``(s, m)`` (``s`` in ``subdivisions``, ``m`` in ``meters``; for ``s > 1`` only
    bars of :data:`GROUPED_BARS` tracked beats) is a bar of ``s * m`` tracked beats; its score
    is the bar model's log-likelihood for that bar length (:func:`bar_positions`' Viterbi
    path), plus ``prior_weight`` x seconds x :func:`tempo_prior` of the counted tempo
    ``bpm / s``, less ``two_beat_cost`` per tracked beat for ``m = 2`` when 4 is allowed (see
    :func:`bar_positions`) and :data:`GROUP_COST` per tracked beat for ``s > 1``. The best
    reading keeps the tracked beats at path positions ``0, s, 2s, ...``. With ``cues``, the
    group ``s`` is chosen so, and then the meter and the path among the readings of that
    group with :data:`CUE_WEIGHT` times the cues in place of the harmony (cues that repeat
    every six beats of comping are no reason to read it at half the tempo).

    Parameters
    ----------
    downbeat : np.ndarray [shape=(n_beats,)] downbeat probability at each tracked beat, 0-1
    bpm : the tracked tempo (beats per minute)
    meters : counted beats per bar to choose from
    prior_weight : the prior's weight (:data:`PRIOR_WEIGHT` when None)
    min_bpm : readings whose counted tempo falls below this are not considered
    subdivisions : the groups ``s`` to try (``(1,)``: the beats as tracked, only the meter)
    harmony : np.ndarray [shape=(n_beats,)] the standardised harmonic change at each tracked
        beat (:func:`.harmony.harmonic_change`); ``harmony_weight`` times it is added to the
        log downbeat activation (None: the activation alone)
    harmony_weight : :data:`HARMONY_WEIGHT` when None
    cues : np.ndarray [shape=(n_beats,)] the log odds of a downbeat at each tracked beat
        against the prior's (:func:`.cues.downbeat_evidence`), to place the bar
    """
    d = np.clip(np.asarray(downbeat, dtype=np.float64), 1e-4, 1 - 1e-4)
    n = d.size
    if n == 0:
        return Reading(np.zeros(0, dtype=int), np.zeros(0, dtype=int), None)
    weight = PRIOR_WEIGHT if prior_weight is None else prior_weight
    down, other = np.log(d), np.log1p(-d)
    level = down
    for name, given in (("harmony", harmony), ("cues", cues)):
        if given is not None and np.shape(given) != d.shape:
            raise ValueError(f"{name} has shape {np.shape(given)}, the beats {d.shape}")
    if harmony is not None:
        w = HARMONY_WEIGHT if harmony_weight is None else harmony_weight
        level = down + w * np.asarray(harmony, dtype=np.float64)
    seconds = n * 60.0 / bpm
    readings = [
        (s, m)
        for s in subdivisions
        if s == 1 or (bpm / s >= min_bpm and n >= 2 * s)
        for m in meters
        if s == 1 or s * m in GROUPED_BARS
    ]

    def best(obs: np.ndarray, among: list[tuple[int, int]]) -> tuple[int, int, np.ndarray]:
        paths: dict[int, tuple[float, np.ndarray]] = {}
        top: tuple[float, int, int] | None = None
        for s, m in among:
            if s * m not in paths:
                paths[s * m] = _viterbi(obs, other, s * m, slip)
            score = paths[s * m][0] + weight * seconds * float(tempo_prior(bpm / s))
            if m == 2 and 4 in meters:
                score -= two_beat_cost * n
            if s > 1:
                score -= GROUP_COST * n
            if top is None or score > top[0]:
                top = (score, s, m)
        assert top is not None
        return top[1], top[2], paths[top[1] * top[2]][1]

    s, m, path = best(level, readings)
    if cues is not None:
        placed = down + CUE_WEIGHT * np.asarray(cues, dtype=np.float64)
        s, m, path = best(placed, [r for r in readings if r[0] == s])
    keep = np.flatnonzero(path % s == 0)
    return Reading(keep, path[keep] // s + 1, m, s)
