"""The ``key`` task: cadences in all 24 keys, a modulation, notations, real recordings, the
runner and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from audiolens_testkit import write_wav

import audiolens
from audiolens.cli import main
from audiolens.errors import ParameterError
from audiolens.tasks.key import KEY_NAMES, camelot, estimate, key_name, open_key, parse_key

SR = 44100
MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)


def note(midi: float, seconds: float, amp: float = 0.1) -> np.ndarray:
    """A plucked tone with 6 harmonics."""
    t = np.arange(int(seconds * SR)) / SR
    f = 440.0 * 2 ** ((midi - 69) / 12)
    tone = sum(np.sin(2 * np.pi * f * h * t) / h for h in range(1, 7) if f * h < SR / 2)
    return amp * tone * np.exp(-t * 1.5)


def cadences(tonic: int, minor: bool, *, seconds: float, seed: int = 0) -> np.ndarray:
    """Chords I IV V I (i iv v i in natural minor) with a bass and a melody in the scale."""
    scale = MINOR if minor else MAJOR
    rng = np.random.default_rng(seed)
    out, chord_s = [], 1.0
    degrees = (0, 3, 4, 0)
    for i in range(int(seconds / chord_s)):
        d = degrees[i % 4]
        chord = [48 + tonic + scale[(d + 2 * k) % 7] + 12 * ((d + 2 * k) // 7) for k in range(3)]
        x = sum(note(p + 12, chord_s) for p in chord) + note(chord[0] - 12, chord_s, 0.15)
        for j in range(2):
            step = int(rng.integers(0, 7))
            half = note(72 + tonic + scale[step], chord_s / 2, 0.08)
            x[j * half.size : (j + 1) * half.size] += half
        out.append(x)
    return np.concatenate(out).astype(np.float32)


@pytest.mark.parametrize("name", KEY_NAMES)
def test_cadences_in_all_24_keys(name, tmp_path):
    tonic, minor = parse_key(name)
    path = write_wav(tmp_path / "song.wav", cadences(tonic, minor, seconds=16)[None, :], SR)
    r = audiolens.key(path)
    assert r.key == name
    assert r.mode == ("minor" if minor else "major") and r.tonic == key_name(tonic, False)
    assert r.camelot == camelot(tonic, minor) and r.open_key == open_key(tonic, minor)
    assert r.confidence > 0.5 and r.sections == []


def test_a_modulation_is_listed_as_a_section(tmp_path):
    x = np.concatenate([cadences(0, False, seconds=50), cadences(3, False, seconds=110, seed=1)])
    path = write_wav(tmp_path / "modulating.wav", x[None, :], SR)
    r = audiolens.key(path)
    assert r.key == "D#"
    (section,) = r.sections
    assert section["key"] == "C"
    assert section["start"] == 0.0 and 45.0 <= section["end"] <= 60.0


def test_notations():
    assert [camelot(*parse_key(k)) for k in ("C", "Am", "G", "Em", "F#m", "Db")] == [
        "8B", "8A", "9B", "9A", "11A", "3B"
    ]  # fmt: skip
    assert [open_key(*parse_key(k)) for k in ("C", "Am", "G", "F", "Dm")] == [
        "1d", "1m", "2d", "12d", "12m"
    ]  # fmt: skip
    # beets' spelling (its MusicalKey type turns Bb into A#, Ebm into D#m)
    assert KEY_NAMES[:12] == ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
    assert [key_name(*parse_key(k)) for k in ("A#", "Ebm", "Gb", "Bb minor", "c major")] == [
        "A#", "D#m", "F#", "A#m", "C"
    ]  # fmt: skip
    for k in KEY_NAMES:
        assert key_name(*parse_key(k)) == k
    with pytest.raises(ParameterError, match="H"):
        parse_key("H")


def test_no_tonal_content(tmp_path):
    silent = write_wav(tmp_path / "silence.wav", np.zeros((1, SR * 5), np.float32), SR)
    assert audiolens.key(silent).key is None
    assert estimate(np.zeros(12)).key is None
    rng = np.random.default_rng(0)
    noise = write_wav(tmp_path / "noise.wav", 0.1 * rng.standard_normal((1, SR * 10)), SR)
    # (white noise is not silent to the chroma: it reads as a weak C major, below any music)
    assert audiolens.key(noise).confidence < 0.7
    with pytest.raises(ParameterError):
        estimate(np.ones(11))


def test_real_recordings(eval_dir):
    # GuitarSet's annotation of this take: Eb major (the file is never used for tuning)
    r = audiolens.key(eval_dir / "beats/guitarset_00_BN1-129-Eb_comp_mic.wav")
    assert r.key == "D#" and r.confidence > 0.5
    speech = audiolens.key(eval_dir / "speech/jfk.flac")
    assert speech.confidence < r.confidence


def test_analyze_shares_the_decode_with_beats_and_the_cli(tmp_path, capsys):
    path = write_wav(tmp_path / "song.wav", cadences(9, True, seconds=12)[None, :], SR)
    db = tmp_path / "r.sqlite"
    summary = audiolens.analyze([path], tasks="key,beats", db=db, workers=1, progress=False)
    assert summary.ok
    from audiolens.store import export

    (rec,) = json.loads(export(db, "json", task="key"))
    assert rec["key"] == "Am" and rec["camelot"] == "8A" and rec["open_key"] == "1m"
    assert main(["key", str(path)]) == 0
    assert "Am (8A, 1m)" in capsys.readouterr().out
    assert main(["key", str(path), "--format", "json", "--profile", "krumhansl"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["key"] == "Am"
