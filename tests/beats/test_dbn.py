"""The beat DBN on activations with known beats, and on a real clip's spectral flux."""

from __future__ import annotations

import mir_eval
import numpy as np
import pytest
from audiolens_testkit import eval_root

from audiolens.errors import ParameterError
from audiolens.tasks.beats.dbn import BeatDBN, track_beats

FPS = 100.0
EVAL = eval_root()


def pulses(beats: np.ndarray, seconds: float, *, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """An activation with a peak at each beat (a little smeared), plus optional noise."""
    act = np.zeros(int(seconds * FPS))
    for b in beats:
        i = int(round(b * FPS))
        for d, v in ((-1, 0.4), (0, 1.0), (1, 0.4)):
            if 0 <= i + d < act.size:
                act[i + d] = max(act[i + d], v)
    if noise:
        act += noise * np.random.default_rng(seed).random(act.size)
    return np.clip(act, 0, 1)


def f(ref: np.ndarray, est: np.ndarray) -> float:
    return mir_eval.beat.f_measure(mir_eval.beat.trim_beats(ref), mir_eval.beat.trim_beats(est))


@pytest.mark.parametrize("bpm", [62.0, 96.0, 128.0, 174.0, 205.0])
def test_steady_tempi_are_tracked(bpm):
    beats = np.arange(0.5, 30.0, 60.0 / bpm)
    est = track_beats(pulses(beats, 30.0, noise=0.2))
    assert f(beats, est) >= 0.97


def test_a_tempo_change_is_followed():
    first = np.arange(0.5, 15.0, 60.0 / 100)
    second = np.arange(first[-1] + 60.0 / 130, 30.0, 60.0 / 130)
    beats = np.concatenate([first, second])
    assert f(beats, track_beats(pulses(beats, 30.0, noise=0.1))) >= 0.95


def test_missing_and_extra_onsets_do_not_derail_it():
    beats = np.arange(0.5, 40.0, 0.5)  # 120 BPM
    rng = np.random.default_rng(1)
    kept = beats[rng.random(beats.size) > 0.3]  # 30% of the beats silent
    offbeats = beats[rng.random(beats.size) > 0.7] + 0.25  # some off-beat hits
    act = np.maximum(pulses(kept, 40.0), 0.6 * pulses(offbeats, 40.0))
    assert f(beats, track_beats(act)) >= 0.9


def test_silence_and_bad_activations():
    assert track_beats(np.zeros(3000)).size == 0
    assert track_beats(np.full(3000, 0.01)).size == 0
    assert track_beats(np.zeros(1)).size == 0
    with pytest.raises(ParameterError, match="NaN"):
        track_beats(np.array([0.1, np.nan, 0.2]))
    with pytest.raises(ParameterError, match="min_bpm"):
        BeatDBN(min_bpm=200, max_bpm=100)


def test_spectral_flux_of_a_real_clip():
    from audiolens import load
    from audiolens.dsp import log_filtered_spectrogram, spectral_flux

    y = load(EVAL / "beats" / "ballroom_Media-105901.wav", sr=44100, mono=True).samples[0]
    env = spectral_flux(log_filtered_spectrogram(y, sr=44100), max_size=3)
    act = np.clip(env / np.percentile(env, 99), 0, 1)
    ref = np.loadtxt(EVAL / "beats" / "ballroom_Media-105901.beats", ndmin=2)[:, 0]
    # a plain onset function, no learned activation yet: measured 0.62 (librosa's tracker 0.91)
    assert f(ref, track_beats(act)) >= 0.55


def frame_by_frame_viterbi(act: np.ndarray, model: BeatDBN) -> np.ndarray:
    """The textbook decoding: Viterbi over every (period, position) state, frame by frame."""
    from audiolens.tasks.beats.dbn import _log_transitions

    act = np.clip(act, 1e-7, 1 - 1e-7)
    periods = model.periods()
    start = np.concatenate([[0], np.cumsum(periods)[:-1]])
    last = start + periods - 1
    n_states = int(periods.sum())
    position = np.arange(n_states) - np.repeat(start, periods)
    beat = position < np.repeat(model.beat_states(periods), periods)
    trans = _log_transitions(periods, model.transition_lambda)
    log_b = np.log(act)
    log_o = np.log((1.0 - act) / (model.observation_lambda - 1))
    delta = np.where(beat, log_b[0], log_o[0]) - np.log(n_states)
    back = []
    for t in range(1, act.size):
        entering = delta[last][:, None] + trans
        arg = entering.argmax(axis=0)
        back.append(arg)
        new = np.empty_like(delta)
        new[1:] = delta[:-1]
        new[start] = entering[arg, np.arange(periods.size)]
        delta = new + np.where(beat, log_b[t], log_o[t])
    s = int(np.argmax(delta))
    k = int(np.searchsorted(start, s, side="right") - 1)
    phi = s - int(start[k])
    found = []
    for t in range(act.size - 1, -1, -1):
        if phi == 0:
            found.append(t)
            if t > 0:
                k = int(back[t - 1][k])
                phi = int(periods[k]) - 1
        else:
            phi -= 1
    frames = np.array(found[::-1])
    if frames.size and frames[0] == 0 and act[0] < model.threshold:
        frames = frames[1:]
    return frames / model.fps


@pytest.mark.parametrize("seed,width", [(0, None), (1, None), (2, 4)])
def test_the_blocked_recursion_equals_frame_by_frame_viterbi(seed, width):
    rng = np.random.default_rng(seed)
    bpm = rng.uniform(70, 190)
    beats = np.arange(rng.uniform(0, 1), 12.0, 60.0 / bpm)
    beats = beats + rng.normal(0, 0.01, beats.size)  # a little timing noise
    act = pulses(beats[rng.random(beats.size) > 0.2], 12.0, noise=0.3, seed=seed)
    model = BeatDBN(min_bpm=60, max_bpm=200, beat_width=width)
    np.testing.assert_array_equal(track_beats(act, model), frame_by_frame_viterbi(act, model))
