"""Values people read are rounded where results are made: the API and the JSON agree."""

from __future__ import annotations

import json
from pathlib import Path

import audiolens
from audiolens.tasks.beats.types import BeatsResult
from audiolens.tasks.quality import QualityResult
from audiolens.tasks.structure import StructureResult
from audiolens.tasks.structure.segment import Segment

SONG = Path(__file__).resolve().parents[1] / "examples" / "song_lossless.flac"


def _decimals(value: float) -> int:
    text = json.dumps(value)
    return len(text.split(".")[1]) if "." in text else 0


def test_a_beats_result_holds_what_people_read():
    r = BeatsResult(
        beats=[0.32000000000000001, 0.6400000000000003, 0.9812345],
        positions=[1, 2, 3],
        downbeats=[0.32000000000000001],
        tempo=187.49999999999983,
        meter=3,
        tempo_curve=[[0.6400000000000003, 187.49999999999983], [0.9812345, 181.81818181818184]],
        confidence=0.6630232437668605,
        duration=10.00000000001,
    )
    assert r.tempo == 187.5 and r.tempo_curve == [[0.64, 187.5], [0.981, 181.82]]
    assert r.beats == [0.32, 0.64, 0.981] and r.downbeats == [0.32]
    assert r.confidence == 0.663 and r.duration == 10.0
    d = r.to_dict()
    assert (d["tempo"], d["tempo_curve"], d["beats"]) == (r.tempo, r.tempo_curve, r.beats)
    assert BeatsResult([], [], [], None, None).tempo is None


def test_beats_of_a_song_read_the_same_in_the_api_and_the_json():
    r = audiolens.beats(SONG, device="cpu")
    assert r.tempo is not None and _decimals(r.tempo) <= 2
    assert all(_decimals(t) <= 3 for t in r.beats + r.downbeats)
    assert all(_decimals(t) <= 3 and _decimals(b) <= 2 for t, b in r.tempo_curve)
    record = json.loads(json.dumps(r.to_dict()))
    assert record["tempo"] == r.tempo and record["tempo_curve"] == r.tempo_curve
    assert record["beats"] == r.beats


def test_sections_are_held_to_the_millisecond():
    seg = Segment(1.23456789, 5.4800000000001, "A")
    assert (seg.start, seg.end) == (1.235, 5.48)
    r = StructureResult([seg], duration=10.0000000004, form="A")
    assert r.duration == 10.0 and r.to_dict()["segments"] == [
        {"start": 1.235, "end": 5.48, "label": "A"}
    ]


def test_quality_confidence_and_cutoff_are_rounded():
    r = QualityResult("lossy", "V0", None, cutoff_hz=19123.456, confidence=0.8234567891)
    assert (r.cutoff_hz, r.confidence) == (19123.5, 0.8235)
    assert r.to_dict()["confidence"] == r.confidence
