"""The beat-synchronous cues: the frame summary, the cues at the beats, the two learnt models
(downbeat evidence, on-beat margin), moving off-beat beats on to the beat, and the bar model
that places the bar with them."""

from __future__ import annotations

import numpy as np
import pytest
from _beats_kit import groove

from audiolens.errors import ModelNotFound
from audiolens.tasks.beats.activation import load_net
from audiolens.tasks.beats.bars import metrical_reading
from audiolens.tasks.beats.cues import (
    CUE_ROWS,
    PITCH_ROWS,
    beat_cues,
    downbeat_evidence,
    frame_cues,
    in_context,
    load_cues,
    on_beat_margin,
)
from audiolens.tasks.beats.features import FPS, logspec
from audiolens.tasks.beats.harmony import pitch_classes
from audiolens.tasks.beats.track import on_the_beat


def band(bpm: float = 110.0, seconds: float = 24.0, meter: int = 4, seed: int = 0):
    y, times, positions = groove(bpm, seconds, meter=meter, seed=seed)
    S = logspec(y)
    return S, np.round(times * FPS).astype(np.int64), positions


def test_the_frame_summary_has_its_rows_and_joins_across_blocks():
    S, _, _ = band(seconds=10.0)
    cues = frame_cues(S)
    assert cues.shape == (CUE_ROWS, S.shape[1]) and cues.dtype == np.float32
    np.testing.assert_allclose(cues[PITCH_ROWS], pitch_classes(S), rtol=1e-6, atol=1e-6)
    assert np.all(cues[:3] >= 0)  # onset strengths are positive differences
    cut = 377
    parts = np.concatenate(
        [frame_cues(S[:, :cut]), frame_cues(S[:, cut:], previous=S[:, cut - 1])], axis=1
    )
    np.testing.assert_allclose(parts, cues, rtol=1e-6, atol=1e-6)  # the matrix products' rounding
    with pytest.raises(ValueError, match=r"\(81, n\)"):
        frame_cues(S[:40])


def test_the_cues_at_the_beats_hear_the_kick_and_the_chord_changes():
    """The groove: kick on 1 and 3, snare on 2 and 4, a chord and a bass note each bar."""
    S, frames, positions = band()
    X = beat_cues(frame_cues(S), frames)
    assert X.shape == (frames.size, 13)
    low_onset, harmony_1 = X[:, 0], X[:, 9]
    strong = np.isin(positions, (1, 3))
    assert low_onset[strong].mean() > low_onset[~strong].mean() + 1.0
    inner = slice(2, -2)  # a change needs a beat on either side
    first = positions[inner] == 1
    assert harmony_1[inner][first].mean() > harmony_1[inner][~first].mean() + 1.0
    with_down = beat_cues(frame_cues(S), frames, downbeat=np.full(S.shape[1], 0.5))
    assert with_down.shape == (frames.size, 15)
    ctx = in_context(X)
    assert ctx.shape == (frames.size, 9 * 14)
    # the first beat has no neighbours before it: their flags and values are 0
    assert np.all(ctx[0, : 4 * 14] == 0) and ctx[0, 4 * 14 + 13] == 1


@pytest.mark.parametrize(("bpm", "meter"), [(96.0, 4), (132.0, 4), (120.0, 3)])
def test_the_downbeat_evidence_is_highest_on_the_downbeats(bpm, meter):
    S, frames, positions = band(bpm, meter=meter, seed=int(bpm))
    act = load_net()(S)
    e = downbeat_evidence(frame_cues(S), frames, act[1])
    assert e.shape == frames.shape
    assert e[positions == 1].mean() > e[positions != 1].mean() + 2.0


def test_the_beats_sound_like_beats_and_the_off_beats_do_not():
    S, frames, _ = band(seed=3)
    cues = frame_cues(S)
    assert on_beat_margin(cues, frames) > 3.0
    off = (frames[:-1] + frames[1:]) // 2
    assert on_beat_margin(cues, off) < -3.0
    moved = on_the_beat(cues, off)
    assert moved.size == frames.size - 1
    np.testing.assert_allclose(moved, frames[1:], atol=2)
    np.testing.assert_array_equal(on_the_beat(cues, frames), frames)


def test_few_beats_give_no_opinion():
    S, frames, _ = band(seconds=6.0)
    cues = frame_cues(S)
    assert on_beat_margin(cues, frames[:2]) == 0.0
    assert np.all(downbeat_evidence(cues, frames[:2], np.zeros(S.shape[1])) == 0)
    np.testing.assert_array_equal(on_the_beat(cues, frames[:3]), frames[:3])


def test_the_cues_place_the_bar_but_leave_the_level():
    # the activation cannot tell beat 1 from beat 3; the cues can
    d = np.tile([0.6, 0.2, 0.6, 0.2], 12)
    cues = np.tile([-2.0, -2.0, 3.0, -2.0], 12)
    alone = metrical_reading(d, bpm=120.0)
    placed = metrical_reading(d, bpm=120.0, cues=cues)
    assert placed.meter == 4 and placed.group == 1
    assert np.all(placed.positions[2::4] == 1)
    assert alone.meter in (2, 4)
    # cues that repeat every six tracked beats do not make a slow reading of the tracked
    # eighths: the level is the activation's
    d = np.tile([0.7, 0.2, 0.2, 0.2], 12)
    six = np.tile([4.0, -2.0, -2.0, -2.0, -2.0, -2.0], 8)
    assert metrical_reading(d, bpm=130.0, cues=six).group == 1
    with pytest.raises(ValueError, match="cues"):
        metrical_reading(d, bpm=130.0, cues=six[:-1])


def test_the_numpy_models_match_the_trainers_networks():
    torch = pytest.importorskip("torch")
    model = load_cues().downbeat
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, model.w1.shape[2])).astype(np.float32)
    outs = []
    for k in range(model.w1.shape[0]):
        net = torch.nn.Sequential(
            torch.nn.Linear(model.w1.shape[2], model.w1.shape[1]),
            torch.nn.ELU(),
            torch.nn.Linear(model.w1.shape[1], 1),
        )
        with torch.no_grad():
            net[0].weight.copy_(torch.from_numpy(model.w1[k]))
            net[0].bias.copy_(torch.from_numpy(model.b1[k]))
            net[2].weight.copy_(torch.from_numpy(model.w2[k][None]))
            net[2].bias.fill_(float(model.b2[k]))
            outs.append(net(torch.from_numpy(X))[:, 0].numpy())
    np.testing.assert_allclose(model(X), np.mean(outs, axis=0) - model.base, atol=1e-4)


def test_a_missing_weights_file_is_named(tmp_path):
    missing = tmp_path / "nothing.npz"
    with pytest.raises(ModelNotFound, match=r"nothing\.npz"):
        load_cues(str(missing))
