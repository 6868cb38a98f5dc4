"""The notes task with basic-pitch's model on the real clips of shared/eval.

Parity: our notes against golden notes written by basic-pitch 0.4.0's own ``predict()`` (ONNX
model, default thresholds; ``benchmarks/_notes_reference.py --golden``). basic-pitch trims its
output to ``floor(n * 86 / 22050)`` frames although its frames advance by 86.13 per second and
its windows drift by 0.73 frames each, so it stops about 0.7 % before the end of the file;
audiolens transcribes to the end. Parity is scored over the part both cover.

Accuracy: note F-measure (mir_eval, 50 ms onset tolerance) against the ground truth that came
with each clip, at levels a little under what this model reaches (see benchmarks/RESULTS.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import mido
import numpy as np
import pytest
from _notes_kit import requires_model
from audiolens_testkit import eval_root
from mir_eval.transcription import precision_recall_f1_overlap

from audiolens.tasks.notes import NotesOptions, transcribe

pytestmark = requires_model

EVAL = eval_root()
GOLDEN = Path(__file__).resolve().parents[1] / "data" / "notes_golden"


def hz(pitches) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(pitches, dtype=float) - 69.0) / 12.0)


def f_measure(ref, est, *, offsets: bool) -> float:
    """Note F-measure of est against ref; each a list of (onset, offset, midi_pitch)."""
    ri = np.array([[a, b] for a, b, _ in ref], dtype=float).reshape(-1, 2)
    ei = np.array([[a, b] for a, b, _ in est], dtype=float).reshape(-1, 2)
    rp, ep = hz([p for *_, p in ref]), hz([p for *_, p in est])
    return precision_recall_f1_overlap(
        ri, rp, ei, ep, onset_tolerance=0.05, offset_ratio=0.2 if offsets else None
    )[2]


def covered_until(n_samples: int) -> float:
    """The time of the last frame basic-pitch's predict() keeps for n samples at 22050 Hz."""
    j = int(np.floor(n_samples * 86 / 22050)) - 1
    return ((j // 142) * 36164 + (j % 142) * 256) / 22050


def golden_cases():
    return sorted(GOLDEN.glob("*.json")) if GOLDEN.is_dir() else []


@pytest.mark.parametrize("golden", golden_cases(), ids=lambda p: p.stem)
def test_same_notes_as_basic_pitch_predict(golden):
    data = json.loads(golden.read_text())
    res = transcribe(EVAL / data["clip"], device="cpu")
    end = covered_until(round(res.duration * 22050)) - 0.13  # a note needs 128 ms to count
    ref = [(a, b, p) for a, b, p, _ in data["notes"] if a < end]
    ours = [(n.onset, n.offset, n.pitch) for n in res.notes if n.onset < end]
    assert len(ref) > 0
    assert f_measure(ref, ours, offsets=False) >= 0.99
    assert f_measure(ref, ours, offsets=True) >= 0.95
    vel_ref = {(round(a, 2), p): v for a, _, p, v in data["notes"]}
    close = [
        abs(vel_ref[k] - n.velocity)
        for n in res.notes
        if (k := (round(n.onset, 2), n.pitch)) in vel_ref
    ]
    assert close and np.median(close) <= 1


def _midi_truth(path: Path) -> list[tuple[float, float, int]]:
    mid = mido.MidiFile(path)
    t, sounding, out = 0.0, {}, []
    for msg in mid:  # iterating a MidiFile gives delta times in seconds, tempo applied
        t += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            sounding[(msg.channel, msg.note)] = t
        elif msg.type in ("note_off", "note_on") and (msg.channel, msg.note) in sounding:
            out.append((sounding.pop((msg.channel, msg.note)), t, msg.note))
    return out


def _table_truth(path: Path, *, pitch_col: int = 1, in_hz: bool = False):
    rows = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        cols = [float(c) for c in line.replace(",", " ").split()]
        pitch = 69 + 12 * np.log2(cols[pitch_col] / 440) if in_hz else cols[pitch_col]
        rows.append((cols[0], cols[0] + cols[2], float(pitch)))
    return rows


MT = "music_transcription"
ACCURACY = [
    # clip, truth loader, F without offsets at least (this model reaches about 0.05 more)
    (
        f"{MT}/guitarset_00_BN1-129-Eb_comp_mic.wav",
        lambda: _table_truth(EVAL / MT / "guitarset_00_BN1-129-Eb_comp.notes.tsv"),
        0.68,
    ),
    (
        f"{MT}/madmom_stereo_sample.flac",
        lambda: _table_truth(EVAL / MT / "madmom_stereo_sample.notes"),
        0.68,
    ),
    (
        f"{MT}/slakh_Track01876_S09.flac",
        lambda: _midi_truth(EVAL / MT / "slakh_Track01876_S09.mid"),
        0.70,
    ),
    (
        f"{MT}/vocadito_1.wav",
        lambda: _table_truth(EVAL / MT / "vocadito_1_notesA2.csv", in_hz=True),
        0.47,
    ),
]


@pytest.mark.parametrize("clip,truth,least", ACCURACY, ids=lambda x: str(x).split("/")[-1][:30])
def test_accuracy_against_ground_truth(clip, truth, least):
    res = transcribe(EVAL / clip, device="cpu")
    ours = [(n.onset, n.offset, n.pitch) for n in res.notes]
    assert f_measure(truth(), ours, offsets=False) >= least


def test_stereo_flac_and_wav_of_the_same_take_agree():
    a = transcribe(EVAL / MT / "madmom_stereo_sample.flac", device="cpu")
    b = transcribe(EVAL / MT / "madmom_stereo_sample.wav", device="cpu")
    assert [n.to_dict() for n in a.notes] == [n.to_dict() for n in b.notes]


def test_thresholds_change_the_notes_the_expected_way():
    clip = EVAL / MT / "guitarset_00_BN1-129-Eb_comp_mic.wav"
    base = transcribe(clip, device="cpu").notes
    strict = transcribe(
        clip,
        device="cpu",
        options=NotesOptions(onset_threshold=0.8, frame_threshold=0.5, melodia=False),
    ).notes
    longer = transcribe(clip, device="cpu", options=NotesOptions(min_note_ms=400)).notes
    assert 0 < len(strict) < len(base)
    assert 0 < len(longer) < len(base)
    assert min(n.offset - n.onset for n in longer) > 0.39  # > 34 frames (one join may be short)
