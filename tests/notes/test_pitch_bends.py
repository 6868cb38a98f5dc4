"""Pitch bends are measured from the note's own pitch centre: a steady in-tune note has none.

basic-pitch measures them from the lowest of a note's three contour bins, so nearly every
steady note it writes is bent a third of a semitone sharp (its issue #87); these tests would
see +1 (33 cents) on every steady frame there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _notes_kit import requires_model
from audiolens_testkit import eval_root

from audiolens.tasks.beats.click import write_audio
from audiolens.tasks.notes import NotesOptions, transcribe

EVAL = eval_root()

SR = 22050
BENDS = NotesOptions(pitch_bends=True)


def _tone(path: Path, semitones, seconds: float = 2.0) -> Path:
    """A 4-harmonic tone whose pitch is MIDI ``semitones(t)`` (fades of 20 and 50 ms)."""
    t = np.arange(int(seconds * SR)) / SR
    hz = 440.0 * 2.0 ** ((semitones(t) - 69.0) / 12.0)
    phase = 2 * np.pi * np.cumsum(hz) / SR
    x = sum(0.3 / k * np.sin(k * phase) for k in range(1, 5))
    x *= np.minimum(1.0, np.minimum(t / 0.02, (seconds - t) / 0.05))
    return write_audio(path, x[None, :].astype(np.float32), sr=SR)


def _pitch_at(notes, when: float) -> float:
    """The bent pitch (semitones) of the note sounding at ``when`` seconds."""
    (note,) = [n for n in notes if n.onset <= when < n.offset]
    frame = int(round((when - note.onset) * 22050 / 256))
    return note.pitch + note.bends[frame] / 3.0


@requires_model
@pytest.mark.parametrize("pitch", [57, 69, 76])
def test_a_steady_in_tune_tone_has_no_bend(tmp_path, pitch):
    path = _tone(tmp_path / "steady.wav", lambda t: np.full_like(t, float(pitch)))
    notes = transcribe(path, options=BENDS, device="cpu").notes
    assert pitch in {n.pitch for n in notes}  # (and maybe its in-tune harmonics)
    bends = np.concatenate([n.bends for n in notes])
    assert bends.size > 100 and np.all(bends == 0)


@requires_model
@pytest.mark.parametrize("direction", [+1, -1])
def test_a_glide_bends_by_its_size_and_sign(tmp_path, direction):
    # A4 for 0.8 s, a glide of two thirds of a semitone over 0.2 s, then held
    def pitch(t):
        return 69.0 + direction * (2.0 / 3.0) * np.clip((t - 0.8) / 0.2, 0.0, 1.0)

    notes = transcribe(_tone(tmp_path / "glide.wav", pitch), options=BENDS, device="cpu").notes
    assert _pitch_at(notes, 0.5) == pytest.approx(69.0)
    for when in (1.3, 1.6):
        assert _pitch_at(notes, when) == pytest.approx(69.0 + direction * 2.0 / 3.0)


@requires_model
def test_vibrato_bends_both_ways_around_the_note(tmp_path):
    path = _tone(tmp_path / "vibrato.wav", lambda t: 69.0 + 0.5 * np.sin(2 * np.pi * 5.0 * t))
    notes = transcribe(path, options=BENDS, device="cpu").notes
    assert {n.pitch for n in notes} == {69}
    bends = np.concatenate([n.bends for n in notes])
    # +-half a semitone is +-1.5 thirds: frames at +-1 and +-2, centred on the note
    assert bends.min() in (-2, -1) and bends.max() in (1, 2)
    assert abs(bends.mean()) < 0.25


@requires_model
def test_a_real_piano_recording_plays_in_tune():
    clip = EVAL / "music_transcription" / "madmom_stereo_sample.wav"
    notes = transcribe(clip, options=BENDS, device="cpu").notes
    assert len(notes) >= 5
    bends = np.concatenate([n.bends for n in notes])
    assert abs(100.0 * bends.mean() / 3.0) < 3.0  # cents
    assert np.mean(bends == 0) > 0.95
