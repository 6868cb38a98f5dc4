"""The harmonic-change downbeat cue: pitch classes from the beat spectrogram, the change at
each beat, and the bar model that weighs it beside the network's downbeat activation."""

from __future__ import annotations

import numpy as np
import pytest

from audiolens.tasks.beats.bars import metrical_reading
from audiolens.tasks.beats.features import SAMPLE_RATE, logspec
from audiolens.tasks.beats.harmony import CLIP, harmonic_change, pitch_class_matrix, pitch_classes


def tone(freq: float, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize(("freq", "pc"), [(440.0, 0), (523.25, 3), (196.0, 10), (1318.5, 7)])
def test_a_tone_lands_in_its_pitch_class(freq, pc):
    chroma = pitch_classes(logspec(tone(freq)))
    assert chroma.shape[0] == 12
    assert int(np.argmax(chroma[:, 20:-20].mean(axis=1))) == pc


def test_pitch_classes_of_a_wrong_shape_are_refused():
    with pytest.raises(ValueError, match="81"):
        pitch_classes(np.zeros((40, 10)))
    assert pitch_classes(np.zeros((81, 0))).shape == (12, 0)
    fold = pitch_class_matrix(100.0, 5000.0)
    assert fold.shape == (12, 81) and set(fold.sum(axis=0)) <= {0.0, 1.0}
    assert not fold.flags.writeable  # shared between callers


def chords_every(bar: int, beats: int, *, per_beat: int = 50, seed: int = 0):
    """A pitch-class profile whose chord changes every ``bar`` beats (major triads a whole
    tone apart: no note shared), with some noise."""
    rng = np.random.default_rng(seed)
    frames = np.arange(beats) * per_beat
    chroma = np.zeros((12, beats * per_beat))
    for k, start in enumerate(range(0, beats, bar)):
        chord = np.zeros(12)
        chord[(2 * k + np.array([0, 4, 7])) % 12] = 1.0
        chroma[:, start * per_beat : (start + bar) * per_beat] = chord[:, None]
    return chroma + rng.uniform(0, 0.3, chroma.shape), frames


def test_the_change_is_largest_where_the_chord_changes():
    chroma, frames = chords_every(4, 48)
    h = harmonic_change(chroma, frames, span=3)
    assert h.shape == (48,)
    inner = np.arange(3, 46)
    changes = inner[inner % 4 == 0]
    others = inner[inner % 4 != 0]
    assert h[changes].min() > h[others].max()
    assert np.all(np.abs(h) <= CLIP) and np.all(h[:3] == 0) and np.all(h[-2:] == 0)


def test_no_change_without_harmony_or_with_too_few_beats():
    frames = np.arange(40) * 50
    assert np.all(harmonic_change(np.ones((12, 2000)), frames) == 0)
    chroma, frames = chords_every(4, 7)
    assert np.all(harmonic_change(chroma, frames, span=3) == 0)
    assert harmonic_change(np.zeros((12, 0)), np.zeros(0, dtype=int)).shape == (0,)


def test_chord_changes_count_a_kick_on_one_and_three_in_bars_of_four():
    """The downbeat activation is high on beats 1 and 3 (a kick there): alone it reads bars of
    2; the chords change once every four beats, and with them the bar model reads 4/4 with the
    downbeats on the chord changes. (0.95 against 0.2: at 0.9 against 0.2 the cost of bars of
    2, 0.6 a beat since issue 15's session 21, already reads 4 without the chords.)"""
    beats = 48
    d = np.tile([0.95, 0.2, 0.95, 0.2], beats // 4)
    d = np.roll(d, 1)  # the first beat tracked is the last of a bar
    chroma, frames = chords_every(4, beats)
    chroma = np.roll(chroma, 50, axis=1)
    h = harmonic_change(chroma, frames, span=3)
    alone = metrical_reading(d, bpm=120.0)
    assert alone.meter == 2
    both = metrical_reading(d, bpm=120.0, harmony=h)
    assert both.meter == 4
    assert np.all(both.positions[1::4] == 1) and np.all(both.positions[0::4] == 4)
    with pytest.raises(ValueError, match="harmony"):
        metrical_reading(d, bpm=120.0, harmony=h[:-1])
