"""Beat-synchronous cues to where the bar starts and where the beat is, read by two small learnt
models.

The downbeat activation alone places the bar from what the network hears around each frame.
A listener also hears what changes from one beat to the next: the chord and the bass note
change on the downbeat, the kick falls on 1 and the snare on 2 and 4, a bar ends quieter or
louder than it started. Such cues are measured here per beat, from a summary of the
spectrogram the network already read (:func:`frame_cues`, 30 numbers per frame: no second
pass over the audio, and it is what a streamed file keeps instead of the spectrogram):

- onset strength at the beat (the positive spectral difference near it) in three bands: low
  (under 150 Hz: kick, bass), middle (150 Hz-2.5 kHz: snare, chords, voice) and high (above:
  hi-hats, cymbals);
- the loudness of the beat's span in the same bands, and its change from the span before;
- the harmonic change at the beat (:func:`.harmony.harmonic_change` of the pitch-class profile
  over 1, 2 and 4 beats on each side) and the change of the bass's spectrum (the 12 bands
  under 300 Hz, over one beat);
- for the downbeat model, the downbeat activation at the beat (as it is, and standardised).

Each is standardised over the piece. A beat's input is its cues and those of the four beats on
either side (with a flag for each neighbour that exists), and two models read them, each the
mean of two one-hidden-layer networks (``benchmarks/train_bar_cues.py``, weights
in ``bar_cues.npz`` beside this module):

- :func:`downbeat_evidence`: how much likelier a downbeat is at each beat than at a beat
  picked at random (log odds), added to the log downbeat activation by the bar model
  (:func:`.bars.metrical_reading`);
- :func:`on_beat_margin`: how much more each tracked beat sounds like a beat than the points
  half-way between them do (the mean log odds at the beats less that at the midpoints); under
  :data:`OFF_BEAT_MARGIN` the tracker has locked on to the off-beats (comping that accents
  the "and", a syncopated bass) and the beats move to the midpoints
  (:func:`.track.on_the_beat`).

Trained on the training corpora of ``benchmarks/`` (rendered pieces, pieces played like
records, Debian tracker modules, Frets on Fire band recordings; the labels are the corpora's
beats and bars) and chosen on the validation sets of ``bench_beat_models.py --validation``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .activation import _elu, weights_path
from .bars import beat_values
from .harmony import HARMONY_FMAX, HARMONY_FMIN, harmonic_change, pitch_class_matrix, span_means

__all__ = [
    "CONTEXT",
    "CUE_ROWS",
    "OFF_BEAT_MARGIN",
    "PITCH_ROWS",
    "CueModel",
    "beat_cues",
    "downbeat_evidence",
    "frame_cues",
    "load_cues",
    "on_beat_margin",
]

CUES_PATH = Path(__file__).with_name("bar_cues.npz")
#: the rows of the frame summary: onset strength in the three bands, loudness in the same
#: bands, the 12 pitch classes, the 12 bands under :data:`BASS_FMAX`
ONSET_ROWS, LEVEL_ROWS, PITCH_ROWS, BASS_ROWS = (
    slice(0, 3),
    slice(3, 6),
    slice(6, 18),
    slice(18, 30),
)
#: the frame summary's row count
CUE_ROWS = BASS_ROWS.stop
#: band edges (Hz) of the onset and loudness bands
LOW_FMAX = 150.0
MID_FMAX = 2500.0
#: the bass spectrum: the spectrogram's bands under this (12 of them)
BASS_FMAX = 300.0
#: beats on each side whose cues a beat's input includes
CONTEXT = 4
#: standardised cues are clipped to this
CLIP = 7.0
#: tracked beats whose :func:`on_beat_margin` is under this are moved to the midpoints: chosen
#: on the validation sets of ``bench_beat_models.py --validation`` (202 pieces: the margins of
#: those tracked in time are -0.4 and up, of the six tracked on the off-beats -9.9, -8.0,
#: -1.1, -0.8, 0.1 and 2.3; -2 and -3 move the same two, -3 leaves more room)
OFF_BEAT_MARGIN = -3.0


@lru_cache(maxsize=1)
def _bands() -> tuple[np.ndarray, ...]:
    from ...dsp import log_filterbank_frequencies
    from .features import FRAME_SIZE, SAMPLE_RATE

    f = log_filterbank_frequencies(sr=SAMPLE_RATE, frame_size=FRAME_SIZE)
    return f < LOW_FMAX, (f >= LOW_FMAX) & (f < MID_FMAX), f >= MID_FMAX, f < BASS_FMAX


def frame_cues(S: np.ndarray, *, previous: np.ndarray | None = None) -> np.ndarray:
    """The per-frame summary the beat cues are read from.

    Parameters
    ----------
    S : np.ndarray [shape=(81, n_frames)] the beat front end's log-filtered spectrogram
    previous : np.ndarray [shape=(81,)] the frame before ``S[:, 0]`` when ``S`` is a block of
        a longer spectrogram (the blocks' summaries then join into the whole one's)

    Returns
    -------
    cues : np.ndarray [shape=(30, n_frames)] float32: onset strength (summed positive first
        difference) and mean level in the low, middle and high bands, the pitch-class profile
        (:func:`.harmony.pitch_classes`) and the 12 bass bands
    """
    S = np.asarray(S, dtype=np.float32)
    low, mid, high, bass = _bands()
    if S.ndim != 2 or S.shape[0] != low.size:
        raise ValueError(f"expected a spectrogram of shape ({low.size}, n), got {S.shape}")
    first = S[:, :1] if previous is None else np.asarray(previous, np.float32).reshape(-1, 1)
    flux = np.maximum(np.diff(S, axis=1, prepend=first), 0.0)
    fold = pitch_class_matrix(HARMONY_FMIN, HARMONY_FMAX)
    rows = [flux[b].sum(axis=0) for b in (low, mid, high)]
    rows += [S[b].mean(axis=0) for b in (low, mid, high)]
    return np.concatenate([np.stack(rows), fold @ S, S[bass]]).astype(np.float32)


def _standard(x: np.ndarray) -> np.ndarray:
    spread = x.std()
    return (x - x.mean()) / spread if spread > 1e-9 else np.zeros_like(x)


def beat_cues(
    cues: np.ndarray, frames: np.ndarray, *, downbeat: np.ndarray | None = None
) -> np.ndarray:
    """The standardised cues of each beat (see the module's docstring).

    Parameters
    ----------
    cues : np.ndarray [shape=(30, n_frames)] :func:`frame_cues`
    frames : np.ndarray [shape=(n_beats,)] int, increasing beat frames, at least 2
    downbeat : np.ndarray [shape=(n_frames,)] the downbeat activation (None: its two cues are
        left out)

    Returns
    -------
    X : np.ndarray [shape=(n_beats, 13)] or [shape=(n_beats, 15)] with ``downbeat``
    """
    cues = np.asarray(cues, dtype=np.float64)
    frames = np.asarray(frames, dtype=np.int64)
    out = [_standard(beat_values(onset, frames, radius=2)) for onset in cues[ONSET_ROWS]]
    level = span_means(cues[LEVEL_ROWS], frames)
    for k in range(3):
        out.append(_standard(level[:, k]))
        out.append(_standard(np.diff(level[:, k], prepend=level[0, k])))
    out += [harmonic_change(cues[PITCH_ROWS], frames, span=s) for s in (1, 2, 4)]
    out.append(harmonic_change(cues[BASS_ROWS], frames, span=1))
    if downbeat is not None:
        log_down = np.log(beat_values(downbeat, frames, radius=2) + 1e-3)
        out += [log_down, _standard(log_down)]
    return np.clip(np.stack(out, axis=1), -CLIP, CLIP)


def in_context(X: np.ndarray, *, context: int = CONTEXT) -> np.ndarray:
    """Each row of ``X`` with the rows ``context`` before and after it (zeros past either end)
    and a flag per neighbour that exists: shape ``(n, (2 * context + 1) * (X.shape[1] + 1))``."""
    n, f = X.shape
    out = np.zeros((n, 2 * context + 1, f + 1))
    for j, k in enumerate(range(-context, context + 1)):
        lo, hi = max(0, -k), min(n, n - k)
        out[lo:hi, j, :f] = X[lo + k : hi + k]
        out[lo:hi, j, f] = 1.0
    return out.reshape(n, -1)


@dataclass(frozen=True)
class CueModel:
    """A mean of one-hidden-layer networks (ELU) giving log odds, less the training prior's.

    Attributes
    ----------
    w1 : np.ndarray [shape=(k, hidden, inputs)]
    b1 : np.ndarray [shape=(k, hidden)]
    w2 : np.ndarray [shape=(k, hidden)]
    b2 : np.ndarray [shape=(k,)]
    base : the training data's log prior odds (subtracted)
    """

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    base: float = 0.0

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """Log odds per row of ``X`` [shape=(n, inputs)] -> [shape=(n,)]."""
        X = np.asarray(X, dtype=np.float32)
        h = np.einsum("ni,khi->knh", X, self.w1) + self.b1[:, None, :]
        h = _elu(h)
        z = np.einsum("knh,kh->kn", h, self.w2) + self.b2[:, None]
        return z.mean(axis=0).astype(np.float64) - self.base


@dataclass(frozen=True)
class Cues:
    """The two models of :mod:`.cues`: ``downbeat`` and ``beat``."""

    downbeat: CueModel
    beat: CueModel


@lru_cache(maxsize=2)
def load_cues(path: str | None = None) -> Cues:
    """The cue models (those shipped with the package when ``path`` is None); a missing file
    raises :class:`~audiolens.errors.ModelNotFound` naming it (a broken installation)."""
    where = weights_path(path, default=CUES_PATH, what="bar cue model", script="train_bar_cues.py")
    with np.load(where) as z:
        models = {
            name: CueModel(
                *(z[f"{name}_{k}"].astype(np.float32) for k in ("w1", "b1", "w2", "b2")),
                base=float(z[f"{name}_base"]),
            )
            for name in ("downbeat", "beat")
        }
    return Cues(**models)


def downbeat_evidence(
    cues: np.ndarray, frames: np.ndarray, downbeat: np.ndarray, *, model: Cues | None = None
) -> np.ndarray:
    """Log odds of a downbeat at each beat against the training prior's (0: no opinion).

    Parameters
    ----------
    cues : np.ndarray [shape=(30, n_frames)] :func:`frame_cues`
    frames : np.ndarray [shape=(n_beats,)] int, increasing beat frames
    downbeat : np.ndarray [shape=(n_frames,)] the downbeat activation

    Returns
    -------
    evidence : np.ndarray [shape=(n_beats,)] (all 0 with fewer than 3 beats)
    """
    frames = np.asarray(frames, dtype=np.int64)
    if frames.size < 3:
        return np.zeros(frames.size)
    model = model or load_cues()
    return model.downbeat(in_context(beat_cues(cues, frames, downbeat=downbeat)))


def on_beat_margin(cues: np.ndarray, frames: np.ndarray, *, model: Cues | None = None) -> float:
    """How much more the beats sound like beats than the midpoints between them do: the mean
    log odds of "a beat" at the beats less the mean at the midpoints (0 with fewer than 3
    beats). Positive when the beats are on the beat, negative when they are on the off-beats.

    Parameters
    ----------
    cues : np.ndarray [shape=(30, n_frames)] :func:`frame_cues`
    frames : np.ndarray [shape=(n_beats,)] int, increasing beat frames
    """
    frames = np.asarray(frames, dtype=np.int64)
    if frames.size < 3:
        return 0.0
    model = model or load_cues()
    grid = np.sort(np.concatenate([frames, (frames[:-1] + frames[1:]) // 2]))
    z = model.beat(in_context(beat_cues(cues, grid)))
    return float(z[0::2].mean() - z[1::2].mean())
