"""The metrical level and the "no steady beat" decision: the beat where listeners put it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from audiolens_testkit import eval_root

from audiolens.tasks.beats import beats, read_beats_file
from audiolens.tasks.beats.bars import PRIOR_BPM, metrical_reading, tempo_prior
from audiolens.tasks.beats.track import beat_confidence, doubled

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "song_lossless.flac"
EVAL = eval_root() / "beats"


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


def test_onsets_on_the_half_beats_do_not_lower_the_confidence_but_stray_ones_do():
    act, frames = _activation(3000, 60, 0.8)
    on_half = beat_confidence(act, frames)
    stray = act.copy()
    stray[frames[:-1] + 17] = 0.8
    assert on_half > 0.9
    assert beat_confidence(stray, frames) < 0.7 * on_half


def test_guitarset_comping_gets_beats_at_its_tempo():
    """GuitarSet's bossa nova comping, played to a click at 129 BPM, with its accents between
    the beats: tracked at 129, not at half speed, and not reported as "no steady beat"."""
    for name in ("guitarset_00_BN1-129-Eb_comp_mic.wav",):
        r = beats(EVAL / name, device="cpu")
        ref, _ = read_beats_file(EVAL / "guitarset_00_BN1-129-Eb_comp.beats")
        assert r.tempo == pytest.approx(60 / np.median(np.diff(ref)), rel=0.04)
        assert len(r.beats) >= 0.8 * ref.size
