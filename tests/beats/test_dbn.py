"""The beat DBN on activations with known beats, and on a real clip's spectral flux."""

from __future__ import annotations

from pathlib import Path

import mir_eval
import numpy as np
import pytest

from audiolens.errors import ParameterError
from audiolens.tasks.beats.dbn import BeatDBN, track_beats

FPS = 100.0
EVAL = Path(__file__).resolve().parents[3] / "shared" / "eval"


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


@pytest.mark.skipif(not EVAL.is_dir(), reason="needs shared/eval")
def test_spectral_flux_of_a_real_clip():
    from audiolens import load
    from audiolens.dsp import log_filtered_spectrogram, spectral_flux

    y = load(EVAL / "beats" / "ballroom_Media-105901.wav", sr=44100, mono=True).samples[0]
    env = spectral_flux(log_filtered_spectrogram(y, sr=44100), max_size=3)
    act = np.clip(env / np.percentile(env, 99), 0, 1)
    ref = np.loadtxt(EVAL / "beats" / "ballroom_Media-105901.beats", ndmin=2)[:, 0]
    # a plain onset function, no learned activation yet: measured 0.62 (librosa's tracker 0.91)
    assert f(ref, track_beats(act)) >= 0.55
