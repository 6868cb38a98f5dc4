"""The metrical level and the "no steady beat" decision: the beat where listeners put it."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest
from audiolens_testkit import eval_root

from audiolens.tasks.beats import beats, read_beats_file
from audiolens.tasks.beats.bars import PRIOR_BPM, bar_positions, metrical_reading, tempo_prior
from audiolens.tasks.beats.track import (
    HALVE_RATIO,
    HALVE_STRONG,
    beat_fit,
    doubled,
    halved,
    pulse_clarity,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "song_lossless.flac"
EVAL = eval_root() / "beats"
tracking = importlib.import_module("audiolens.tasks.beats.track")


def test_the_readme_example_is_three_four_at_93_bpm():
    """examples/song_lossless.flac is seconds 10-20 of benchmarks/quality_corpus.py's synthetic
    source 2 (seed 0): its MIDI says 93 BPM in 3/4 (the README says how this was checked), so
    its beats fall on 0.3226 + k * 60/93 s and its downbeats on 1.6129 + k * 3 * 60/93 s."""
    r = beats(EXAMPLE, device="cpu")
    assert r.tempo == pytest.approx(93, rel=0.04) and r.meter == 3
    period = 60 / 93
    beat_grid = 0.3226 + period * np.arange(15)
    down_grid = 1.6129 + 3 * period * np.arange(5)
    found = np.array(r.beats)
    assert np.abs(beat_grid[:, None] - found[None, :]).min(axis=1).max() <= 0.07
    downs = np.array(r.downbeats)
    assert downs.size >= 4
    assert np.abs(downs[:, None] - down_grid[None, :]).min(axis=1).max() <= 0.07


def test_bars_of_six_fast_beats_are_read_as_three_beats_when_the_tempo_is_fast():
    six = np.tile([0.9, 0.05, 0.05, 0.05, 0.05, 0.05], 12)
    fast = metrical_reading(six, bpm=186.0)
    assert (fast.group, fast.meter) == (2, 3)
    np.testing.assert_array_equal(fast.keep, np.arange(0, 72, 2))
    np.testing.assert_array_equal(fast.positions[:3], [1, 2, 3])
    # read at half speed they would be 46 BPM, below the tempo range: left as tracked
    slow = metrical_reading(six, bpm=92.0, min_bpm=55.0)
    assert slow.group == 1 and slow.keep.size == 72
    # a clear bar of four is never regrouped
    four = metrical_reading(np.tile([0.9, 0.05, 0.3, 0.05], 18), bpm=186.0)
    assert (four.group, four.meter) == (1, 4)
    assert metrical_reading(np.zeros(0), bpm=120.0).meter is None


def test_the_tempo_prior_peaks_at_its_median_and_is_symmetric_in_log_tempo():
    assert tempo_prior(PRIOR_BPM) == 0
    assert tempo_prior(PRIOR_BPM * 1.5) == pytest.approx(tempo_prior(PRIOR_BPM / 1.5))
    assert tempo_prior(95.0) > tempo_prior(190.0)


def _activation(n: int, beat_every: int, mid_height: float) -> tuple[np.ndarray, np.ndarray]:
    act = np.full(n, 0.01)
    frames = np.arange(20, n - beat_every, beat_every)
    act[frames] = 0.95
    act[frames[:-1] + beat_every // 2] = mid_height
    return act, frames


def test_a_slow_beat_is_doubled_only_when_the_half_beats_are_there():
    act, frames = _activation(3000, 100, 0.8)  # 60 BPM at 100 frames/s, strong half beats
    out = doubled(act, frames, fps=100.0, max_bpm=215.0)
    assert out.size == 2 * frames.size - 1 and np.all(np.diff(out) == 50)
    act, frames = _activation(3000, 100, 0.1)  # weak half beats: left alone
    assert doubled(act, frames, fps=100.0, max_bpm=215.0).size == frames.size
    act, frames = _activation(3000, 50, 0.8)  # 120 BPM: near the prior's median already
    assert doubled(act, frames, fps=100.0, max_bpm=215.0).size == frames.size
    act, frames = _activation(3000, 100, 0.8)
    assert doubled(act, frames, fps=100.0, max_bpm=110.0).size == frames.size  # out of range


def _alternating(period: int, strong: float, weak: float, *, n: int = 3000, first: int = 20):
    """A beat activation with beats every ``period`` frames, alternately ``strong`` and
    ``weak`` (the first one strong), and the beat frames."""
    act = np.full(n, 0.01)
    frames = np.arange(first, n - period, period)
    act[frames[0::2]] = strong
    act[frames[1::2]] = weak
    return act, frames


def test_a_fast_beat_is_halved_only_when_every_other_beat_is_weak():
    # 200 BPM (30 frames at 100/s) whose odd beats are half as strong: the eighth notes of a
    # 100 BPM song; the strong set is kept, whichever comes first
    act, frames = _alternating(30, 0.9, 0.45)
    out = halved(act, frames, fps=100.0, min_bpm=55.0)
    np.testing.assert_array_equal(out, frames[0::2])
    act, frames = _alternating(30, 0.45, 0.9)
    np.testing.assert_array_equal(halved(act, frames, fps=100.0, min_bpm=55.0), frames[1::2])
    # just above the ratio: every beat is a beat
    act, frames = _alternating(30, 0.9, 0.9 * HALVE_RATIO + 0.01)
    assert halved(act, frames, fps=100.0, min_bpm=55.0) is frames
    # 140 BPM (43 frames): nearer the prior's median than 70 would be, so halved only when
    # every other beat is far weaker (a slow groove's hi-hat eighths tracked as beats)
    act, frames = _alternating(43, 0.9, 0.9 * HALVE_STRONG + 0.01)
    assert halved(act, frames, fps=100.0, min_bpm=55.0) is frames
    act, frames = _alternating(43, 0.9, 0.9 * HALVE_STRONG - 0.01)
    np.testing.assert_array_equal(halved(act, frames, fps=100.0, min_bpm=55.0), frames[0::2])
    # but at 200 BPM the weaker ratio is enough
    act, frames = _alternating(30, 0.9, 0.9 * HALVE_STRONG + 0.01)
    np.testing.assert_array_equal(halved(act, frames, fps=100.0, min_bpm=55.0), frames[0::2])
    # the halved tempo (100) would fall below the range asked for
    act, frames = _alternating(30, 0.9, 0.2)
    assert halved(act, frames, fps=100.0, min_bpm=110.0) is frames
    # too few beats to tell
    assert halved(act, frames[:7], fps=100.0, min_bpm=55.0).size == 7


def _naive_clarity(beat, fps=100.0, min_bpm=55.0, max_bpm=215.0):
    """pulse_clarity written out window by window and lag by lag (the reference)."""
    win = min(int(round(tracking.CLARITY_WINDOW * fps)), beat.size)
    tol = int(round(tracking.CLARITY_TOLERANCE * fps))
    top = max(tracking.CLARITY_PERIODS)
    lags = [
        lag
        for lag in range(int(np.ceil(60 * fps / max_bpm)), int(60 * fps / min_bpm) + 1)
        if top * lag < win // 2
    ]
    sigma = tracking.CLARITY_SMOOTH * fps
    t = np.arange(-int(4 * sigma + 0.5), int(4 * sigma + 0.5) + 1)
    kernel = np.exp(-0.5 * (t / sigma) ** 2)
    smooth = np.convolve(beat, kernel / kernel.sum(), mode="same")
    per_window = []
    for start in range(0, beat.size - win + 1, max(win // 2, 1)):
        if beat[start : start + win].max() < tracking.ACTIVE:
            continue
        x = smooth[start : start + win].astype(float)
        x = x - x.mean()
        ac = np.array([np.dot(x[: win - k], x[k:]) / (win - k) for k in range(win)])
        ac = ac / (ac[0] / win) / win
        best = -np.inf
        for lag in lags:
            vals = [
                ac[max(m * lag - tol, 0) : m * lag + tol + 1].max()
                for m in tracking.CLARITY_PERIODS
            ]
            best = max(best, float(np.mean(vals)))
        per_window.append(best)
    if not per_window or not lags:
        return 0.0
    return float(np.clip(np.median(per_window), 0.0, 1.0))


def _onsets(times: np.ndarray, n: int, height: float = 0.9) -> np.ndarray:
    act = np.full(n, 0.01)
    frames = np.round(times * 100).astype(int)
    frames = frames[(frames >= 0) & (frames < n)]
    act[frames] = height
    act[np.clip(frames + 1, 0, n - 1)] = np.maximum(act[np.clip(frames + 1, 0, n - 1)], height / 3)
    return act


def test_pulse_clarity_matches_the_naive_reference():
    rng = np.random.default_rng(0)
    cases = [
        rng.random(3000) ** 4,  # no pulse
        _onsets(np.arange(0.2, 30, 0.5) + rng.normal(0, 0.01, 60), 3000),  # 120 BPM
        _onsets(np.arange(0.1, 7, 0.41), 700),  # shorter than a window
        np.concatenate([np.zeros(1500), _onsets(np.arange(0, 20, 0.6), 2000)]),  # silent start
    ]
    for act in cases:
        assert pulse_clarity(act) == pytest.approx(_naive_clarity(act), abs=1e-9)
    assert pulse_clarity(cases[1], min_bpm=70, max_bpm=100) == pytest.approx(
        _naive_clarity(cases[1], min_bpm=70, max_bpm=100), abs=1e-9
    )
    fps50 = cases[1][::2]
    assert pulse_clarity(fps50, fps=50.0) == pytest.approx(
        _naive_clarity(fps50, fps=50.0), abs=1e-9
    )


def test_a_steady_pulse_is_clear_however_weak_and_onsets_at_random_times_are_not():
    rng = np.random.default_rng(1)
    beats_ = np.arange(0.3, 40, 60 / 96)
    halves = beats_[:-1] + 30 / 96
    steady = _onsets(np.concatenate([beats_, halves]), 4000)
    assert pulse_clarity(steady) > 0.7
    assert pulse_clarity(_onsets(beats_, 4000, height=0.3)) > 0.7  # quiet, but steady
    # the same number of onsets, at random times (what speech and free rhythm look like)
    scattered = _onsets(np.sort(rng.uniform(0, 40, beats_.size + halves.size)), 4000)
    assert pulse_clarity(scattered) < 0.2
    # two tempi, one after the other: each window sees one steady pulse
    change = _onsets(np.concatenate([np.arange(0.2, 30, 0.5), np.arange(30.2, 60, 0.42)]), 6000)
    assert pulse_clarity(change) > 0.7
    # silence, a clip shorter than two slow beats, nothing active: 0; never above 1
    assert pulse_clarity(np.zeros(5000)) == 0.0
    assert pulse_clarity(np.full(5000, 0.1)) == 0.0
    assert pulse_clarity(steady[:100]) == 0.0  # 1 s: four beats of 215 BPM do not fit
    assert 0.0 <= pulse_clarity(np.tile([0.9] + [0.0] * 49, 80)) <= 1.0


def test_onsets_on_the_half_beats_do_not_lower_the_fit_but_stray_ones_do():
    act, frames = _activation(3000, 60, 0.8)
    on_half = beat_fit(act, frames)
    stray = act.copy()
    stray[frames[:-1] + 17] = 0.8
    assert on_half > 0.9
    assert beat_fit(stray, frames) < 0.7 * on_half


def test_a_silent_stretch_before_the_music_changes_nothing():
    music = _onsets(np.arange(0.25, 30, 0.5), 3000)
    padded = np.concatenate([np.zeros(2000), music])
    assert pulse_clarity(padded) == pytest.approx(pulse_clarity(music), abs=0.05)


def test_guitarset_comping_gets_beats_at_its_tempo():
    """GuitarSet's bossa nova comping, played to a click at 129 BPM, with its accents between
    the beats: tracked at 129, not at half speed, and not reported as "no steady beat"."""
    for name in ("guitarset_00_BN1-129-Eb_comp_mic.wav",):
        r = beats(EVAL / name, device="cpu")
        ref, _ = read_beats_file(EVAL / "guitarset_00_BN1-129-Eb_comp.beats")
        assert r.tempo == pytest.approx(60 / np.median(np.diff(ref)), rel=0.04)
        assert len(r.beats) >= 0.8 * ref.size


def test_tied_bar_paths_go_the_same_way_whatever_the_rounding_of_the_activation():
    """A beat tracked twice inside a bar: the slip may go on any of its weak beats, paths
    that tie exactly; activations from another device (differences of 1e-7) must not move
    it."""
    bar = [0.9, 0.1, 0.1, 0.1]
    d = np.array(bar * 6 + [0.1] + bar * 6)
    want = bar_positions(d)[0]
    rng = np.random.default_rng(5)
    for _ in range(20):
        got = bar_positions(d + rng.uniform(-1e-7, 1e-7, d.size))[0]
        np.testing.assert_array_equal(got, want)
    assert (want == 1).sum() == 12


@pytest.mark.parametrize(
    ("clarity", "fit", "min_confidence", "reported"),
    [
        (0.50, 0.00, None, True),  # a clear pulse: beats, however they fit
        (0.28, 0.30, None, True),  # faint, but the beats fit the onsets
        (0.28, 0.10, None, False),  # faint and a poor fit
        (0.20, 0.90, None, False),  # under every recording without a pulse
        (0.10, 0.00, 0.0, True),  # min_confidence 0: whatever the decoder finds
    ],
)
def test_the_no_beat_decision_uses_the_clarity_then_the_fit(
    monkeypatch, clarity, fit, min_confidence, reported
):
    monkeypatch.setattr(tracking, "pulse_clarity", lambda beat, **_: clarity)
    monkeypatch.setattr(tracking, "beat_fit", lambda beat, frames: fit)
    act = np.full((2, 3000), 0.01)
    act[0, 50::50] = 0.9
    act[1, 50::200] = 0.9
    kwargs = {} if min_confidence is None else {"min_confidence": min_confidence}
    found = tracking.track_activations(act, **kwargs)
    assert (found.beats.size > 0) == reported
    assert found.confidence == clarity
    if reported:
        assert found.tempo == pytest.approx(120, rel=0.02) and found.meter == 4
