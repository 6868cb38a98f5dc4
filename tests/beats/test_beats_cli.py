"""``audiolens beats``, ``analyze --tasks beats`` and the beats export; click tracks and files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _beats_kit import SR, groove

from audiolens import load
from audiolens.cli import main
from audiolens.errors import ParameterError
from audiolens.tasks.beats import beats_name, read_beats_file, write_beats_file
from audiolens.tasks.beats.click import click_track, write_audio
from audiolens.tasks.beats.types import BeatsResult


@pytest.fixture(scope="module")
def song(tmp_path_factory) -> Path:
    """A 20 s groove at 120 BPM in 4/4, as a stereo FLAC."""
    y, _, _ = groove(120.0, 20.0)
    return write_audio(tmp_path_factory.mktemp("song") / "groove.flac", np.stack([y, y]), sr=SR)


def test_help(capsys):
    assert main(["beats", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--click" in out and "--meters" in out and ".beats" in out


def test_tempo_meter_and_files(song, tmp_path, capsys):
    out, clicks = tmp_path / "out", tmp_path / "clicks"
    assert main(["beats", str(song), "-o", str(out), "--click", str(clicks)]) == 0
    line = capsys.readouterr().out
    assert line.startswith(f"{song}: 120.0 BPM") or "BPM" in line
    times, positions = read_beats_file(out / "groove.beats")
    assert times.size > 30 and set(positions) <= {1, 2, 3, 4}
    record = json.loads((out / "groove.json").read_text())
    assert record["tempo"] == pytest.approx(120, rel=0.04)
    assert record["beats"] == pytest.approx(list(times), abs=1e-3)
    click = load(clicks / "groove.click.wav")
    original = load(song)
    assert click.samples.shape == original.samples.shape and click.sample_rate == SR


def test_json_formats_and_a_bad_file(song, tmp_path, capsys):
    bad = tmp_path / "broken.mp3"
    bad.write_bytes(b"ID3" + b"\x00" * 200)
    assert main(["beats", str(bad), str(song), "--format", "jsonl"]) == 1
    captured = capsys.readouterr()
    assert "broken.mp3" in captured.err and "Traceback" not in captured.err
    (record,) = [json.loads(line) for line in captured.out.splitlines()]
    assert record["path"] == str(song) and record["meter"] in (2, 4)
    assert main(["beats", str(song), "--format", "json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert {"beats", "downbeats", "tempo", "meter", "tempo_curve"} <= set(record)


def test_bad_options_exit_2(song, capsys):
    assert main(["beats", str(song), "--min-bpm", "200", "--max-bpm", "100"]) == 2
    assert "min_bpm" in capsys.readouterr().err
    assert main(["beats", str(song), "--meters", "1,4"]) == 2
    assert "meters are beats per bar" in capsys.readouterr().err


def test_analyze_and_export_have_the_beats_fields(song, tmp_path, capsys):
    db = tmp_path / "r.sqlite"
    args = ["analyze", str(song), "--tasks", "beats", "--db", str(db), "--workers", "1"]
    assert main([*args, "--no-progress", "--out", str(tmp_path / "b")]) == 0
    capsys.readouterr()
    assert main(["export", "--db", str(db), "--format", "json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["task"] == "beats" and record["status"] == "ok"
    assert record["tempo"] == pytest.approx(120, rel=0.04)
    assert record["meter"] in (2, 4) and len(record["downbeats"]) >= len(record["beats"]) // 4
    assert Path(record["beats_path"]).is_file()


def test_click_track_puts_clicks_on_beats_and_accents_downbeats():
    y = np.zeros((2, SR * 3), dtype=np.float32)
    mixed = click_track(y, sr=SR, beats=[0.5, 1.0, 1.5, 2.0], downbeats=[0.5, 2.0])
    assert mixed.shape == y.shape and mixed.dtype == np.float32
    env = np.abs(mixed[0])
    for t, down in ((0.5, True), (1.0, False), (1.5, False), (2.0, True)):
        i = int(t * SR)
        assert env[i : i + 200].max() > 0.3 and env[i - 200 : i].max() == 0
        assert (env[i : i + 200].max() > 0.6) == down
    loud = click_track(np.full(SR, 0.9, dtype=np.float32), sr=SR, beats=[0.1])
    assert np.abs(loud).max() <= 1.0  # scaled, not clipped
    assert np.array_equal(y, np.zeros_like(y))  # the input is untouched
    with pytest.raises(ParameterError, match="level"):
        click_track(y, sr=SR, beats=[], level=2.0)


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_write_audio_round_trip(tmp_path, suffix):
    x = (0.5 * np.sin(np.arange(SR) / 10.0)).astype(np.float32)
    for samples in (x, np.stack([x, -x])):
        back = load(write_audio(tmp_path / f"a{suffix}", samples, sr=22050))
        assert back.sample_rate == 22050
        np.testing.assert_allclose(back.samples, np.atleast_2d(samples), atol=1e-4)
    with pytest.raises(ParameterError, match=r"wav or \.flac"):
        write_audio(tmp_path / "a.mp3", x, sr=SR)


def test_beats_files_round_trip_and_bad_lines(tmp_path):
    r = BeatsResult(beats=[0.5, 1.0, 1.5], positions=[1, 2, 3], downbeats=[0.5], tempo=120.0,
                    meter=3)  # fmt: skip
    path = write_beats_file(r, tmp_path / "x.beats")
    times, positions = read_beats_file(path)
    assert list(times) == [0.5, 1.0, 1.5] and list(positions) == [1, 2, 3]
    (tmp_path / "bad.beats").write_text("0.5\t1\nhello\n")
    with pytest.raises(ParameterError, match=r"bad\.beats: line 2"):
        read_beats_file(tmp_path / "bad.beats")
    assert beats_name("/a/song.flac", unique=False) == "song.beats"
    assert beats_name("/a/song.flac", unique=True) != beats_name("/b/song.flac", unique=True)
