"""``audiolens beats``, ``analyze --tasks beats`` and the beats fields of ``export``."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from _beats_kit import SR, groove

from audiolens import load
from audiolens.cli import main
from audiolens.cli.beats import write_click_file
from audiolens.tasks.beats import read_beats_file
from audiolens.tasks.beats.click import click_track, write_audio
from audiolens.tasks.beats.track import MIN_CONFIDENCE, MIN_PULSE
from audiolens.tasks.beats.types import BeatsResult

LINE = re.compile(
    r"^(?P<path>.+): (?P<tempo>\d+\.\d) BPM( \(from \d+ to \d+\))?, meter (?P<meter>\d+), "
    r"(?P<beats>\d+) beats, (?P<downbeats>\d+) downbeats, confidence (?P<confidence>[01]\.\d\d)$"
)


def _near_120(bpm: float) -> bool:
    """120 BPM, or its half or double (loose: the tracker is still being tuned)."""
    return any(abs(bpm - t) <= 0.04 * t for t in (60.0, 120.0, 240.0))


def _clicks(seconds: float, *, sr: int, bpm: float = 120.0) -> np.ndarray:
    """A quiet stereo click track made by hand: a 1.5 kHz burst per beat, every 4th louder."""
    y = np.zeros((2, int(seconds * sr)), dtype=np.float32)
    t = np.arange(int(0.02 * sr)) / sr
    burst = np.sin(2 * np.pi * 1500 * t) * np.exp(-t * 250)
    for k, at in enumerate(np.arange(0.25, seconds - 0.1, 60.0 / bpm)):
        i = int(at * sr)
        y[:, i : i + burst.size] += (0.3 if k % 4 == 0 else 0.15) * burst[: y.shape[1] - i]
    return y


@pytest.fixture(scope="module")
def clicks(tmp_path_factory) -> Path:
    """A 10 s click track at 120 BPM: a stereo 48 kHz WAV."""
    folder = tmp_path_factory.mktemp("clicks")
    return write_audio(folder / "metronome.wav", _clicks(10.0, sr=48000), sr=48000)


@pytest.fixture(scope="module")
def song(tmp_path_factory) -> Path:
    """A 15 s groove at 120 BPM in 4/4 (kick, snare, hi-hat, chords), as a stereo FLAC."""
    y, _, _ = groove(120.0, 15.0)
    return write_audio(tmp_path_factory.mktemp("song") / "groove.flac", np.stack([y, y]), sr=SR)


def test_help(capsys):
    assert main(["beats", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--click", "-o", "--format", "--min-bpm", "--max-bpm", "--meters", ".beats"):
        assert option in out
    # the thresholds the help states are the ones the tracker uses
    text = " ".join(out.split())
    assert f"reported from {MIN_CONFIDENCE}, or from {MIN_PULSE} when" in text


def test_tempo_line_beats_and_json_files_and_click_track(clicks, tmp_path, capsys):
    out, folder = tmp_path / "out", tmp_path / "clicks"
    assert main(["beats", str(clicks), "-o", str(out), "--click", str(folder)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    (line,) = captured.out.splitlines()
    m = LINE.match(line)
    assert m, line
    assert m["path"] == str(clicks) and _near_120(float(m["tempo"]))
    assert int(m["meter"]) in (2, 3, 4) and 0 < int(m["downbeats"]) < int(m["beats"])

    assert sorted(p.name for p in out.iterdir()) == ["metronome.beats", "metronome.json"]
    times, positions = read_beats_file(out / "metronome.beats")
    record = json.loads((out / "metronome.json").read_text())
    assert record["path"] == str(clicks) and record["tempo"] == pytest.approx(
        float(m["tempo"]), abs=0.05
    )
    assert len(times) == int(m["beats"]) > 10 and record["beats"] == pytest.approx(
        list(times), abs=1e-3
    )
    assert record["positions"] == list(positions) and set(positions) <= set(range(1, 5))
    assert record["downbeats"] == pytest.approx(list(times[positions == 1]), abs=1e-3)
    assert Path(record["beats_path"]) == out / "metronome.beats"

    # the click track: the original audio, its rate and channels, plus a click on every beat
    (wav,) = folder.iterdir()
    assert wav.name == "metronome.click.wav"
    original, clicked = load(clicks), load(wav)
    assert clicked.sample_rate == 48000 and clicked.samples.shape == original.samples.shape
    added = clicked.samples - original.samples  # quiet audio: nothing was scaled
    for t, p in zip(times, positions):
        i = round(t * 48000)
        assert added[:, i] == pytest.approx(0.75 if p == 1 else 0.5, abs=1e-3)


def test_json_and_jsonl_and_a_broken_file(song, tmp_path, capsys):
    bad = tmp_path / "broken.mp3"
    bad.write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x10" + b"\xff\x00" * 300)
    out = tmp_path / "out"
    assert main(["beats", str(bad), str(song), "--format", "jsonl", "-o", str(out)]) == 1
    captured = capsys.readouterr()
    assert "broken.mp3: " in captured.err and "Traceback" not in captured.err
    assert str(song) not in captured.err
    (record,) = [json.loads(line) for line in captured.out.splitlines()]
    assert record["path"] == str(song) and _near_120(record["tempo"])
    assert sorted(p.name for p in out.iterdir()) == ["groove.beats", "groove.json"]

    assert main(["beats", str(song), str(song), "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert len(records) == 2 and records[0] == records[1]
    keys = {"path", "device", "beats", "positions", "downbeats", "tempo", "meter", "tempo_curve"}
    assert keys <= set(records[0]) and records[0]["meter"] in (2, 4)


def test_audio_without_a_beat_is_answered_not_raised(tmp_path, capsys):
    """Silence, one click, white noise, a 2 s clip and 50 ms: a line each, and click tracks."""
    sr, rng = 22050, np.random.default_rng(1)
    one_click = np.zeros(5 * sr, dtype=np.float32)
    one_click[sr : sr + 30] = 0.9
    inputs = {
        "silence.wav": np.zeros(4 * sr, dtype=np.float32),
        "one_click.wav": one_click,
        "noise.flac": rng.normal(0, 0.3, (2, 5 * sr)).astype(np.float32),
        "short.wav": _clicks(2.0, sr=sr),
        "blip.wav": _clicks(0.05, sr=sr),
    }
    for name, y in inputs.items():
        write_audio(tmp_path / name, y, sr=sr)
    paths = [str(tmp_path / name) for name in inputs]
    clicked = tmp_path / "clicked"
    assert main(["beats", *paths, "--click", str(clicked), "-o", str(tmp_path / "o")]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.splitlines()
    assert [line.split(": ")[0] for line in lines] == paths
    for name in ("silence.wav", "one_click.wav", "noise.flac"):
        (line,) = [x for x in lines if x.startswith(str(tmp_path / name))]
        assert ": no steady beat (confidence 0." in line
    for name, y in inputs.items():
        back = load(clicked / name.replace(Path(name).suffix, ".click.wav"))
        assert back.samples.shape == np.atleast_2d(y).shape


def test_bad_command_lines_exit_2(song, capsys):
    for args, message in [
        (["--min-bpm", "0"], "must be above 0"),
        (["--min-bpm", "fast"], "'fast' is not a number"),
        (["--max-bpm", "900"], "at most 400"),
        (["--min-bpm", "200", "--max-bpm", "100"], "min_bpm"),
        (["--meters", "1,4"], "meters are beats per bar"),
        (["--meters", "three"], "not a list of whole numbers"),
        (["--format", "xml"], "invalid choice"),
    ]:
        assert main(["beats", str(song), *args]) == 2, args
        captured = capsys.readouterr()
        assert message in captured.err and captured.out == "", args
    assert main(["beats"]) == 2
    assert "FILE" in capsys.readouterr().err


def test_same_stems_get_distinct_names(clicks, tmp_path, capsys):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(clicks, tmp_path / folder / "take.wav")
    out = tmp_path / "out"
    paths = [str(tmp_path / "a" / "take.wav"), str(tmp_path / "b" / "take.wav")]
    assert main(["beats", *paths, "-o", str(out), "--format", "jsonl"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    names = sorted(p.name for p in out.iterdir())
    assert names == ["take.a.beats", "take.a.json", "take.b.beats", "take.b.json"]
    assert {Path(r["beats_path"]).name for r in records} == {"take.a.beats", "take.b.beats"}


def test_analyze_names_same_stems_apart_in_the_pool_and_again_on_rerun(clicks, tmp_path, capsys):
    # the names are decided from every file found, before the two worker processes start
    for folder in ("a", "b", "c"):
        (tmp_path / "lib" / folder).mkdir(parents=True)
    shutil.copy(clicks, tmp_path / "lib" / "a" / "take.wav")
    shutil.copy(clicks, tmp_path / "lib" / "b" / "take.wav")
    shutil.copy(clicks, tmp_path / "lib" / "c" / "solo.wav")
    db, out = tmp_path / "r.sqlite", tmp_path / "out"
    args = ["analyze", str(tmp_path / "lib"), "--tasks", "beats", "--db", str(db)]
    args += ["--out", str(out), "--workers", "2", "--no-progress", "-q"]
    assert main(args) == 0
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(first) == ["solo.beats", "take.a.beats", "take.b.beats"]
    assert main([*args, "--force"]) == 0  # a rerun writes the same files, no new names
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first
    assert main(["export", "--db", str(db), "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert sorted(Path(r["beats_path"]).name for r in records) == sorted(first)


def test_click_file_in_blocks_is_the_click_track_of_the_whole(tmp_path):
    x = (0.2 * np.random.default_rng(2).normal(size=(2, 3 * 8000))).clip(-1, 1)
    source = write_audio(tmp_path / "in.flac", x, sr=8000)
    y = load(source).samples
    y[:, 5000] = 0.99  # loud enough with a click to need scaling
    write_audio(source, y, sr=8000)
    beats, positions = [0.2, 0.62, 1.0, 1.7, 2.999], [1, 2, 1, 2, 1]
    result = BeatsResult(beats, positions, [0.2, 1.0, 2.999], tempo=100.0, meter=2)
    path = write_click_file(source, tmp_path / "c" / "in.click.wav", result, block=0.37)
    expected = click_track(y, sr=8000, beats=result.beats, downbeats=result.downbeats)
    got = load(path)
    assert got.sample_rate == 8000
    np.testing.assert_allclose(got.samples, expected, atol=1.5 / 32767)


def test_analyze_and_export_have_the_beats_fields(clicks, tmp_path, capsys):
    folder = tmp_path / "music"
    folder.mkdir()
    shutil.copy(clicks, folder / "metronome.wav")
    db, out = tmp_path / "r.sqlite", tmp_path / "beats"
    args = ["analyze", str(folder), "--tasks", "beats", "--db", str(db), "--workers", "1"]
    assert main([*args, "--no-progress", "--out", str(out), "--meters", "4"]) == 0
    capsys.readouterr()
    assert main(["export", "--db", str(db), "--format", "json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["task"] == "beats" and record["status"] == "ok"
    assert _near_120(record["tempo"]) and record["meter"] == 4
    beats, downbeats = record["beats"], record["downbeats"]
    assert len(beats) > 10 and set(downbeats) <= set(beats) and len(downbeats) >= 2
    assert all(isinstance(t, float) for t in beats) and beats == sorted(beats)
    (written,) = out.iterdir()
    assert Path(record["beats_path"]) == written and written.suffix == ".beats"
    assert list(read_beats_file(written)[0]) == pytest.approx(beats, abs=1e-3)
