"""From the log-filtered spectrogram to beats, bar positions, tempo and meter."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .activation import BeatNet, load_net
from .bars import PRIOR_BPM, SUBDIVISIONS, beat_values, metrical_reading
from .cues import OFF_BEAT_MARGIN, PITCH_ROWS, downbeat_evidence, frame_cues, on_beat_margin
from .dbn import BeatDBN, track_beats
from .harmony import harmonic_change
from .types import BeatsOptions, BeatsResult

__all__ = [
    "BeatTrack",
    "beat_fit",
    "decode_beats",
    "doubled",
    "halved",
    "on_the_beat",
    "pulse_clarity",
    "tempo_curve",
    "track",
    "track_activations",
]

#: frames of each beat's "beat" part in the decoder, and its observation lambda (chosen on the
#: training set's held-out pieces, see benchmarks/train_beats.py)
BEAT_WIDTH = 4
OBSERVATION_LAMBDA = 16
#: the frame rate the beat DBN runs at (the activation's pairs of frames max-pooled); measured
#: on the held-out pieces: the same beat F and tempo as at 100 frames/s, 2.4x faster
DECODE_FPS = 50.0


@dataclass
class BeatTrack:
    """What the tracker found in one spectrogram.

    Attributes
    ----------
    beats : np.ndarray [shape=(n,)] beat times in seconds
    positions : np.ndarray [shape=(n,)] bar position of each beat, 1 = downbeat
    meter : beats per bar, None without beats
    confidence : 0-1, the pulse clarity (:func:`pulse_clarity`), also when no beats are reported
    """

    beats: np.ndarray
    positions: np.ndarray
    meter: int | None
    confidence: float = 0.0

    @property
    def downbeats(self) -> np.ndarray:
        """Times of the beats at bar position 1."""
        return self.beats[self.positions == 1]

    @property
    def tempo(self) -> float | None:
        """Beats per minute from the median beat period; None with fewer than 2 beats."""
        if self.beats.size < 2:
            return None
        return float(60.0 / np.median(np.diff(self.beats)))

    def result(self, *, duration: float) -> BeatsResult:
        """The task's record."""
        return BeatsResult(
            beats=[float(t) for t in self.beats],
            positions=[int(p) for p in self.positions],
            downbeats=[float(t) for t in self.downbeats],
            tempo=self.tempo,
            meter=self.meter if self.beats.size else None,
            tempo_curve=tempo_curve(self.beats),
            confidence=float(self.confidence),
            duration=float(duration),
        )


def tempo_curve(beats: np.ndarray, *, smooth: int = 4) -> list[list[float]]:
    """The local tempo at each beat from the second on: ``[time, bpm]`` pairs.

    Parameters
    ----------
    beats : np.ndarray [shape=(n,)] beat times in seconds
    smooth : the median of this many neighbouring beat periods (centred) gives each value
    """
    beats = np.asarray(beats, dtype=float)
    if beats.size < 2:
        return []
    periods = np.diff(beats)
    half = max(smooth // 2, 0)
    out = []
    for i in range(periods.size):
        local = periods[max(i - half, 0) : i + half + 1]
        out.append([float(beats[i + 1]), float(60.0 / np.median(local))])
    return out


#: the beat activation must reach this somewhere for any beats to be tracked, and the beats
#: are tracked from the first to the last frame where it does
ACTIVE = 0.2
#: beats are reported where the pulse clarity (:func:`pulse_clarity`, the confidence) reaches
#: this; chosen on the calibration half of ``benchmarks/bench_beats.py`` section 3 (every
#: calibration track of the Debian game music, 46 with a steady reference pulse; Asterisk
#: speech, noise, a noise floor and 18 pieces of piano notes at random times): whole, the
#: steady songs score 0.40 and up and the rest 0.24 and below; cut into crops of 10-30 s, the
#: fewest errors fall at 0.305-0.31 (at 0.31: 0.9% of the steady crops under, 0.6% of the
#: others over). With session 17's network the crops favour 0.355-0.36 by a little (0.94%
#: balanced errors against 1.2% at 0.31), but there a steady realistic val piece (clarity
#: 0.34, with either network) gets no beats, so 0.31 stays. The section prints the
#: calibration and two held-out sets
MIN_CONFIDENCE = 0.31
#: below :data:`MIN_CONFIDENCE` but at or above this (just over every recording without a
#: pulse in the calibration half, 0.24 at most), beats are reported when they fit the
#: activation well (:func:`beat_fit` at least :data:`MIN_FIT`): a pulse the network hears only
#: faintly, as in comping that accents the off-beats
MIN_PULSE = 0.25
#: see :data:`MIN_PULSE`: the threshold on the fit alone before the pulse clarity (alone it
#: gave beats to 5 of 16 pieces of free rhythm)
MIN_FIT = 0.25
#: fewer beats than this are not a beat
MIN_BEATS = 4
#: beats on each side of a beat whose harmony is compared (:func:`.harmony.harmonic_change`;
#: chosen with :data:`.bars.HARMONY_WEIGHT`)
HARMONY_SPAN = 3
#: :func:`pulse_clarity`'s window (seconds; half-overlapping), the multiples of the beat
#: period it averages, and how far (seconds) a period may miss a lag: chosen on the same
#: calibration half (windows of 6, 10 or 15 s; periods 1-2, 1-3 or 1-4)
CLARITY_WINDOW = 10.0
CLARITY_PERIODS = (1, 2)
CLARITY_TOLERANCE = 0.02
#: the activation is smoothed first (Gaussian, this standard deviation in seconds): human
#: timing puts onsets a frame or two off the grid (0-40 ms tried in steps of 10; 10 separates
#: best)
CLARITY_SMOOTH = 0.01


def beat_fit(beat: np.ndarray, frames: np.ndarray) -> float:
    """How well the beats found fit the activation, 0-1: the product of

    - support: the mean activation at the beats (a beat where nothing happens counts 0),
    - precision: the share of the activation's clear peaks (>= 0.3) within 30 ms of a beat or
      of the midpoint between two beats (music has onsets on the half beats as well; speech
      and free rhythm have peaks anywhere),
    - steadiness: ``exp(-max(0, d - 0.04) / 0.025)`` with ``d`` the median distance of each
      log beat period from the median of its 9 neighbours (a frame or two of jitter and tempo
      steps cost nothing; rubato and guesses wander).

    Parameters
    ----------
    beat : np.ndarray [shape=(n_frames,)] the beat activation
    frames : np.ndarray [shape=(n_beats,)] the beat frames, at least 3
    """
    from scipy.signal import find_peaks

    support = float(beat_values(beat, frames, radius=2).mean())
    peaks, _ = find_peaks(beat, height=0.3, distance=5)
    if peaks.size == 0:
        return 0.0
    grid = np.sort(np.concatenate([frames, (frames[1:] + frames[:-1]) // 2]))
    pos = np.searchsorted(grid, peaks)
    gap = np.minimum(
        np.abs(peaks - grid[np.clip(pos - 1, 0, grid.size - 1)]),
        np.abs(grid[np.clip(pos, 0, grid.size - 1)] - peaks),
    )
    precision = float(np.mean(gap <= 3))
    log_ibi = np.log(np.diff(frames).astype(float))
    if log_ibi.size >= 3:
        # each beat period against the median of its neighbourhood (9 periods)
        pad = np.pad(log_ibi, 4, mode="edge")
        local = np.median(np.lib.stride_tricks.sliding_window_view(pad, 9), axis=1)
        d = float(np.median(np.abs(log_ibi - local)))
    else:
        d = 0.0
    steadiness = float(np.exp(-max(0.0, d - 0.04) / 0.025))
    return support * precision * steadiness


def pulse_clarity(
    beat: np.ndarray, *, fps: float = 100.0, min_bpm: float = 55.0, max_bpm: float = 215.0
) -> float:
    """How clearly the beat activation repeats at one steady period, 0-1.

    The activation is cut into :data:`CLARITY_WINDOW` windows (half-overlapping; windows
    where it never reaches :data:`ACTIVE` are left out, so silence neither helps nor hurts).
    In each, the autocorrelation of the activation (smoothed by :data:`CLARITY_SMOOTH`) less
    its mean (normalised to 1 at lag 0, unbiased, each lag the largest within
    :data:`CLARITY_TOLERANCE`) is averaged over the multiples :data:`CLARITY_PERIODS` of every
    beat period in the tempo range, and the best period's value taken; the result is the
    median over the windows, clipped to 0-1.

    A steady pulse repeats at its period and twice it however weak its onsets; speech, noise
    and notes at random times do not, even where a beat decoder, free to bend its tempo, finds
    a beat at most of their onsets.

    Parameters
    ----------
    beat : np.ndarray [shape=(n_frames,)] the beat activation, 0-1
    fps : its frames per second
    min_bpm, max_bpm : the tempo range of the beat periods tried

    Returns
    -------
    clarity : float, 0 when no window has activity, or when the audio is too short to hold
        four periods of the fastest beat in range
    """
    from scipy.ndimage import gaussian_filter1d, maximum_filter1d

    beat = np.asarray(beat, dtype=np.float64)
    win = max(int(round(CLARITY_WINDOW * fps)), 2)
    win = min(win, beat.size)
    top = max(CLARITY_PERIODS)
    lags = np.arange(int(np.ceil(60.0 * fps / max_bpm)), int(60.0 * fps / min_bpm) + 1)
    lags = lags[top * lags < win // 2]
    if lags.size == 0:
        return 0.0
    hop = max(win // 2, 1)
    starts = np.arange(0, beat.size - win + 1, hop)
    active = np.lib.stride_tricks.sliding_window_view(beat, win)[starts].max(axis=1) >= ACTIVE
    if not active.any():
        return 0.0
    if CLARITY_SMOOTH > 0:
        beat = gaussian_filter1d(beat, CLARITY_SMOOTH * fps, mode="constant")
    view = np.lib.stride_tricks.sliding_window_view(beat, win)
    n_fft = 1 << int(np.ceil(np.log2(2 * win)))
    unbias = win / (win - np.arange(win))
    tol = max(int(round(CLARITY_TOLERANCE * fps)), 0)
    best = []
    for chunk in np.array_split(starts[active], -(-int(active.sum()) // 64)):
        x = view[chunk]  # at most 64 windows at a time: a long file's memory stays flat
        x = x - x.mean(axis=1, keepdims=True)
        ac = np.fft.irfft(np.abs(np.fft.rfft(x, n_fft, axis=1)) ** 2, n_fft, axis=1)[:, :win]
        ac = ac / np.maximum(ac[:, :1], 1e-12) * unbias
        ac = maximum_filter1d(ac, 2 * tol + 1, axis=1, mode="nearest")
        best.append(np.mean([ac[:, m * lags] for m in CLARITY_PERIODS], axis=0).max(axis=1))
    return float(np.clip(np.median(np.concatenate(best)), 0.0, 1.0))


def decoder(options: BeatsOptions, fps: float) -> BeatDBN:
    """The beat decoder's settings for these options at ``fps`` (see :mod:`.dbn`)."""
    return BeatDBN(
        fps=fps,
        min_bpm=options.min_bpm,
        max_bpm=options.max_bpm,
        threshold=ACTIVE,
        beat_width=max(int(round(BEAT_WIDTH * fps / 100.0)), 1),
        observation_lambda=OBSERVATION_LAMBDA,
    )


def decode_beats(beat: np.ndarray, *, fps: float, options: BeatsOptions) -> np.ndarray:
    """Beat frames of a beat activation: the DBN at about :data:`DECODE_FPS` frames per
    second (pairs of frames max-pooled: half the frames and half the periods, a quarter of the
    work), then each beat moved to the activation's peak among the frames it stands for and
    their neighbours.

    Parameters
    ----------
    beat : np.ndarray [shape=(n,)] the beat activation at ``fps``

    Returns
    -------
    frames : np.ndarray [shape=(n_beats,)] int, at ``fps``
    """
    k = max(int(round(fps / DECODE_FPS)), 1)
    if k == 1:
        return np.round(track_beats(beat, decoder(options, fps)) * fps).astype(np.int64)
    m = -(-beat.size // k) * k
    pooled = np.pad(beat, (0, m - beat.size)).reshape(-1, k).max(axis=1)
    coarse = np.round(track_beats(pooled, decoder(options, fps / k)) * fps / k).astype(np.int64)
    idx = np.clip(coarse[:, None] * k + np.arange(-1, k + 1)[None, :], 0, beat.size - 1)
    return idx[np.arange(idx.shape[0]), beat[idx].argmax(axis=1)]


#: a slow beat is doubled when the activation between its beats averages at least this share
#: of the activation at them: chosen between speech (up to 0.26) and the slowly tracked songs
#: (0.85) of the calibration half of the Debian music (benchmarks/_beats_material.py); the
#: training corpus's slow pieces stay below 0.1
DOUBLE_RATIO = 0.45


def _prior_prefers(bpm: float, factor: float) -> bool:
    """Whether ``factor * bpm`` is nearer the tempo prior's median (:data:`.bars.PRIOR_BPM`)
    than ``bpm``, in log tempo."""
    return abs(np.log(factor * bpm / PRIOR_BPM)) < abs(np.log(bpm / PRIOR_BPM))


def doubled(beat: np.ndarray, frames: np.ndarray, *, fps: float, max_bpm: float) -> np.ndarray:
    """The beat frames with a beat added between every two, when the tracked beat is slower
    than listeners tap and the activation shows the faster one.

    Doubled when the doubled tempo is nearer the tempo prior's median (:data:`.bars.PRIOR_BPM`,
    in log tempo) and within ``max_bpm``, and the activation near the midpoints (the peak
    within an eighth of a beat) averages at least :data:`DOUBLE_RATIO` of its value at the
    beats. Each added beat goes to that peak.

    Parameters
    ----------
    beat : np.ndarray [shape=(n_frames,)] the beat activation
    frames : np.ndarray [shape=(n_beats,)] int, the tracked beat frames (at least 2)
    """
    period = float(np.median(np.diff(frames)))
    bpm = 60.0 * fps / period
    if not bpm * 2 <= max_bpm or not _prior_prefers(bpm, 2.0):
        return frames
    radius = max(int(period / 8), 1)
    mids = (frames[1:] + frames[:-1]) // 2
    idx = np.clip(mids[:, None] + np.arange(-radius, radius + 1)[None, :], 0, beat.size - 1)
    peak = beat[idx].argmax(axis=1)
    between = beat[idx[np.arange(idx.shape[0]), peak]]
    if between.mean() < DOUBLE_RATIO * beat_values(beat, frames, radius=2).mean():
        return frames
    return np.sort(np.concatenate([frames, idx[np.arange(idx.shape[0]), peak]]))


#: a fast beat is halved when the weaker of its two alternate sets of beats (every other beat)
#: averages under this share of the stronger in the activation: chosen on the validation sets
#: of ``bench_beat_models.py --validation`` (0.5-0.85; 0.7 scored best on real music val, the
#: 46 steady tracks of the Debian music's calibration half, and left the rendered and realistic
#: val pieces as they were; 0.8 and up halved songs whose fast beat is the reference's)
HALVE_RATIO = 0.7
#: ... and halved whatever the tempo prior says (down to ``min_bpm``) under this share: a slow
#: groove whose hi-hat eighths were tracked as beats (a 70 BPM ballad at 140, where the prior
#: prefers 140). Chosen on the same validation sets: 0.6-0.65 scored alike and gained on every
#: set; from 0.7 real music val lost the fast beats of songs tracked at madmom's level
HALVE_STRONG = 0.6


def halved(beat: np.ndarray, frames: np.ndarray, *, fps: float, min_bpm: float) -> np.ndarray:
    """The beat frames with every other one dropped, when the tracked beat is faster than
    listeners tap and the activation shows it: the eighth notes of a song tracked as beats.

    The mirror of :func:`doubled`: halved when the halved tempo is at least ``min_bpm`` and
    the activation at one of the two alternate sets of beats (even or odd) averages under
    :data:`HALVE_STRONG` of its value at the other, or under :data:`HALVE_RATIO` with the
    halved tempo nearer the tempo prior's median (:data:`.bars.PRIOR_BPM`, in log tempo); the
    stronger set is kept.

    Parameters
    ----------
    beat : np.ndarray [shape=(n_frames,)] the beat activation
    frames : np.ndarray [shape=(n_beats,)] int, the tracked beat frames

    Returns
    -------
    frames : np.ndarray [shape=(n_kept,)] int, the input itself when not halved
    """
    if frames.size < 2 * MIN_BEATS:
        return frames
    bpm = 60.0 * fps / float(np.median(np.diff(frames)))
    if bpm / 2 < min_bpm:
        return frames
    at = beat_values(beat, frames, radius=2)
    even, odd = float(at[0::2].mean()), float(at[1::2].mean())
    ratio = HALVE_RATIO if _prior_prefers(bpm, 0.5) else HALVE_STRONG
    if min(even, odd) >= ratio * max(even, odd):
        return frames
    return frames[0::2] if even >= odd else frames[1::2]


def on_the_beat(cues: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """The beat frames moved half a beat when they lie on the off-beats.

    When :func:`.cues.on_beat_margin` is under :data:`.cues.OFF_BEAT_MARGIN` (the points half
    way between the beats sound far more like beats than the beats do), the beats become those
    midpoints, and one more half a period after the last beat where the audio lasts.

    Parameters
    ----------
    cues : np.ndarray [shape=(30, n_frames)] :func:`.cues.frame_cues`
    frames : np.ndarray [shape=(n_beats,)] int, increasing beat frames
    """
    frames = np.asarray(frames, dtype=np.int64)
    if frames.size < MIN_BEATS or on_beat_margin(cues, frames) >= OFF_BEAT_MARGIN:
        return frames
    mid = (frames[:-1] + frames[1:]) // 2
    last = frames[-1] + (frames[-1] - frames[-2]) // 2
    return np.append(mid, last) if last < cues.shape[1] else mid


def track(
    S: np.ndarray,
    *,
    fps: float = 100.0,
    options: BeatsOptions | None = None,
    net: BeatNet | None = None,
) -> BeatTrack:
    """Beats, bar positions and meter from a log-filtered spectrogram.

    Parameters
    ----------
    S : np.ndarray [shape=(81, n_frames)] the log-filtered spectrogram (100 frames/s)
    fps : its frames per second
    options : tempo range and meters
    net : the activation network (the shipped one when None)

    Returns
    -------
    found : BeatTrack
        Empty (no beats, meter None) when the audio shows no steady beat: the activation never
        reaches :data:`ACTIVE`, fewer than :data:`MIN_BEATS` beats are found, or its pulse
        clarity (:func:`pulse_clarity`, the confidence) is below :data:`MIN_PULSE`, or below
        :data:`MIN_CONFIDENCE` with beats that fit it poorly (:func:`beat_fit` under
        :data:`MIN_FIT`).
    """
    options = options or BeatsOptions()
    net = net or load_net()
    S = np.asarray(S, dtype=np.float32)
    return track_activations(net(S), fps=fps, options=options, cues=frame_cues(S))


def track_activations(
    act: np.ndarray,
    *,
    fps: float = 100.0,
    options: BeatsOptions | None = None,
    min_confidence: float = MIN_CONFIDENCE,
    cues: np.ndarray | None = None,
) -> BeatTrack:
    """:func:`track` from the network's activations.

    Parameters
    ----------
    act : np.ndarray [shape=(2, n_frames)] beat and downbeat activations, 0-1
    min_confidence : beats are reported where the pulse clarity (:func:`pulse_clarity`,
        returned as the confidence either way) reaches this, or reaches :data:`MIN_PULSE`
        with a :func:`beat_fit` of :data:`MIN_FIT` (0: whatever the decoder finds)
    cues : np.ndarray [shape=(30, n_frames)] the frame summary of the same frames
        (:func:`.cues.frame_cues`): beats tracked on the off-beats are then moved on to the
        beat (:func:`on_the_beat`), the harmonic change at each beat weighs in the choice of
        the metrical level, and the beat-synchronous cues (:func:`.cues.downbeat_evidence`)
        in that of the downbeats and the meter (None: the downbeat activation alone)
    """
    options = options or BeatsOptions()
    beat = np.asarray(act[0], dtype=np.float64)
    confidence = pulse_clarity(beat, fps=fps, min_bpm=options.min_bpm, max_bpm=options.max_bpm)
    nothing = BeatTrack(np.zeros(0), np.zeros(0, dtype=int), None, confidence=confidence)
    if beat.size < 2 or confidence < min(min_confidence, MIN_PULSE):
        return nothing
    active = np.flatnonzero(beat >= ACTIVE)
    if active.size == 0:
        return nothing
    lo, hi = int(active[0]), int(active[-1]) + 1
    frames = np.unique(decode_beats(beat[lo:hi], fps=fps, options=options) + lo)
    if frames.size < MIN_BEATS:
        return nothing
    tracked = frames.size
    frames = doubled(beat, frames, fps=fps, max_bpm=options.max_bpm)
    if frames.size == tracked:
        frames = halved(beat, frames, fps=fps, min_bpm=options.min_bpm)
    as_tracked = frames.size == tracked
    if cues is not None:
        frames = on_the_beat(cues, frames)
    if confidence < min_confidence and beat_fit(beat, frames) < MIN_FIT:
        return nothing
    times = frames / fps
    reading = metrical_reading(
        beat_values(act[1], frames, radius=2),
        bpm=60.0 / float(np.median(np.diff(times))),
        meters=options.meters,
        min_bpm=options.min_bpm,
        subdivisions=SUBDIVISIONS if as_tracked else (1,),
        harmony=None
        if cues is None
        else harmonic_change(cues[PITCH_ROWS], frames, span=HARMONY_SPAN),
        cues=None if cues is None else downbeat_evidence(cues, frames, act[1]),
    )
    return BeatTrack(times[reading.keep], reading.positions, reading.meter, confidence=confidence)
