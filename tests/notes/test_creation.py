"""Note creation against a naive, line-by-line reference of the published algorithm."""

from __future__ import annotations

import numpy as np
import pytest

from audiolens.tasks.notes.creation import activations_to_notes
from audiolens.tasks.notes.engine import Activations
from audiolens.tasks.notes.types import NotesOptions

FR = 22050 / 256


def naive_notes(frames, onsets, *, onset_t, frame_t, min_len, infer=True, melodia=True, tol=11):
    """basic-pitch's note creation written the slow, obvious way (argmax per melodia note)."""
    frames = frames.astype(np.float64).copy()
    onsets = onsets.astype(np.float64).copy()
    n, bins = frames.shape
    if infer:
        diffs = []
        for k in (1, 2):
            shifted = np.concatenate([np.zeros((k, bins)), frames])
            diffs.append(shifted[k:] - shifted[:-k])
        diff = np.min(diffs, axis=0)
        diff[diff < 0] = 0
        diff[:2] = 0
        if diff.max() > 0:
            diff = onsets.max() * diff / diff.max()
        onsets = np.maximum(onsets, diff)
    cand = []
    for t in range(1, n - 1):
        for f in range(bins):
            v = onsets[t, f]
            if v > onsets[t - 1, f] and v > onsets[t + 1, f] and v >= onset_t:
                cand.append((t, f))
    cand.sort(reverse=True)
    energy = frames.copy()
    out = []
    for t, f in cand:
        if t >= n - 1:
            continue
        i, k = t + 1, 0
        while i < n - 1 and k < tol:
            k = k + 1 if energy[i, f] < frame_t else 0
            i += 1
        i -= k
        if i - t <= min_len:
            continue
        for g in (f - 1, f, f + 1):
            if 0 <= g < bins:
                energy[t:i, g] = 0
        out.append((t, i, f, frames[t:i, f].mean()))
    while melodia and energy.max() > frame_t:
        mid, f = np.unravel_index(np.argmax(energy), energy.shape)
        energy[mid, f] = 0
        i, k = mid + 1, 0
        while i < n - 1 and k < tol:
            k = k + 1 if energy[i, f] < frame_t else 0
            for g in (f - 1, f, f + 1):
                if 0 <= g < bins:
                    energy[i, g] = 0
            i += 1
        end = i - 1 - k
        i, k = mid - 1, 0
        while i > 0 and k < tol:
            k = k + 1 if energy[i, f] < frame_t else 0
            for g in (f - 1, f, f + 1):
                if 0 <= g < bins:
                    energy[i, g] = 0
            i -= 1
        start = i + 1 + k
        if end - start <= min_len:
            continue
        out.append((start, end, f, frames[start:end, f].mean()))
    return sorted((s, e, f + 21, int(min(127, max(1, round(127 * a))))) for s, e, f, a in out)


def _acts(frames, onsets):
    n = frames.shape[0]
    return Activations(frames, onsets, None, np.arange(n) / FR, FR)


def _as_frames(notes, n):
    times = np.arange(n) / FR
    out = []
    for x in notes:
        s = int(np.argmin(np.abs(times - x.onset)))
        e = n if x.offset > times[-1] else int(np.argmin(np.abs(times - x.offset)))
        out.append((s, e, x.pitch, x.velocity))
    return sorted(out)


def _random_roll(seed: int, n: int = 600, bins: int = 88):
    """Piano-roll-like activations: blobs of notes with noise and ties."""
    rng = np.random.default_rng(seed)
    frames = rng.uniform(0, 0.25, (n, bins)).astype(np.float32)
    onsets = rng.uniform(0, 0.3, (n, bins)).astype(np.float32)
    for _ in range(40):
        f = int(rng.integers(0, bins))
        t0 = int(rng.integers(0, n - 5))
        length = int(rng.integers(3, 80))
        level = rng.uniform(0.3, 1.0)
        frames[t0 : t0 + length, f] = level * rng.uniform(0.8, 1.0, len(frames[t0 : t0 + length]))
        if rng.random() < 0.7:
            onsets[t0, f] = rng.uniform(0.5, 1.0)
        if rng.random() < 0.3 and f + 1 < bins:  # a neighbour that the note uses up
            frames[t0 : t0 + length, f + 1] = level * 0.9
    frames[100:110, 10] = 0.5  # exact ties for the strongest-first order
    frames[200:210, 20] = 0.5
    return frames, onsets


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(
    "opts",
    [
        {},
        {"melodia": False},
        {"infer_onsets": False},
        {"onset_threshold": 0.7, "frame_threshold": 0.4, "min_note_ms": 50},
    ],
    ids=["default", "no-melodia", "no-inferred-onsets", "other-thresholds"],
)
def test_same_notes_as_naive_reference(seed, opts):
    frames, onsets = _random_roll(seed)
    options = NotesOptions(**opts)
    min_len = int(np.round(options.min_note_ms / 1000 * FR))
    want = naive_notes(
        frames,
        onsets,
        onset_t=options.onset_threshold,
        frame_t=options.frame_threshold,
        min_len=min_len,
        infer=options.infer_onsets,
        melodia=options.melodia,
    )
    got = _as_frames(activations_to_notes(_acts(frames, onsets), options), frames.shape[0])
    assert len(want) > 5
    assert got == want


def test_inputs_are_not_changed():
    frames, onsets = _random_roll(0)
    f0, o0 = frames.copy(), onsets.copy()
    activations_to_notes(_acts(frames, onsets))
    assert np.array_equal(frames, f0) and np.array_equal(onsets, o0)


def test_pitch_limits_drop_notes_outside():
    frames, onsets = _random_roll(1)
    all_notes = activations_to_notes(_acts(frames, onsets))
    lo, hi = 220.0, 880.0  # A3 (57) .. A5 (81)
    some = activations_to_notes(_acts(frames, onsets), NotesOptions(min_hz=lo, max_hz=hi))
    assert some and len(some) < len(all_notes)
    assert all(57 <= n.pitch < 81 for n in some)


def test_empty_and_silent_activations_give_no_notes():
    for n in (0, 1, 2, 50):
        z = np.zeros((n, 88), np.float32)
        assert activations_to_notes(_acts(z, z)) == []


def test_notes_use_the_frame_times():
    n = 300
    frames = np.zeros((n, 88), np.float32)
    onsets = np.zeros((n, 88), np.float32)
    frames[50:120, 48] = 0.9
    onsets[50, 48] = 0.9
    times = np.arange(n) / FR + 7.0  # e.g. a grid that starts later
    (note,) = activations_to_notes(Activations(frames, onsets, None, times, FR))
    assert note.pitch == 69 and note.onset == pytest.approx(times[50])
    assert note.offset == pytest.approx(times[120])
    assert note.velocity == round(127 * 0.9)


def test_pitch_bends_follow_the_contour():
    n = 200
    frames = np.zeros((n, 88), np.float32)
    onsets = np.zeros((n, 88), np.float32)
    frames[20:100, 40] = 0.8
    onsets[20, 40] = 0.9
    contour = np.zeros((n, 264), np.float32)
    # note bin 40 sums contour bins 120-122: an in-tune note peaks in the middle one (121);
    # basic-pitch measures from 120, which bends every steady note +1 (its issue #87)
    contour[20:60, 3 * 40 + 1] = 1.0  # on pitch
    contour[60:100, 3 * 40 + 3] = 1.0  # two thirds of a semitone sharp
    act = Activations(frames, onsets, contour, np.arange(n) / FR, FR)
    (note,) = activations_to_notes(act, NotesOptions(pitch_bends=True))
    assert note.bends is not None and len(note.bends) == 80
    assert set(note.bends[:40]) == {0} and set(note.bends[40:]) == {2}
    (plain,) = activations_to_notes(act)
    assert plain.bends is None
