"""What the beats task writes: click tracks, audio files and ``.beats`` files, and their names."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from audiolens import load
from audiolens.errors import ParameterError
from audiolens.tasks.beats import beats_name, read_beats_file, write_beats_file
from audiolens.tasks.beats.click import CLICK_S, click_track, write_audio
from audiolens.tasks.beats.types import BeatsResult

SR = 22050


def _pitch(x: np.ndarray, sr: int) -> float:
    """The strongest frequency of ``x`` [Hz]."""
    spectrum = np.abs(np.fft.rfft(x, n=8 * x.size))
    return float(np.argmax(spectrum) * sr / (8 * x.size))


# -- click_track -----------------------------------------------------------------------------


def test_clicks_start_on_the_beat_samples_and_downbeats_are_louder_and_higher():
    beats = [0.5, 1.0, 1.5, 2.0, 2.5]
    mixed = click_track(np.zeros(3 * SR), sr=SR, beats=beats, downbeats=[0.5, 2.5])
    n = round(CLICK_S * SR)
    nonzero = np.flatnonzero(mixed)
    starts = nonzero[np.r_[True, np.diff(nonzero) > n]]
    assert list(starts) == [round(t * SR) for t in beats]  # one click per beat, on its sample
    peaks = [np.abs(mixed[i : i + n]).max() for i in starts]
    assert peaks[0] == peaks[-1] > 1.4 * peaks[1] and peaks[1] == peaks[2] == peaks[3]
    assert _pitch(mixed[starts[0] : starts[0] + n], SR) == pytest.approx(2000, rel=0.05)
    assert _pitch(mixed[starts[1] : starts[1] + n], SR) == pytest.approx(1000, rel=0.05)
    assert np.all(mixed[starts[-1] + n :] == 0)  # ~30 ms each


@pytest.mark.parametrize("shape", [(SR,), (1, SR), (2, SR), (6, SR)])
def test_shape_and_dtype_are_kept_and_every_channel_clicks(shape):
    y = np.full(shape, 0.01, dtype=np.float64)
    mixed = click_track(y, sr=SR, beats=[0.25])
    assert mixed.shape == shape and mixed.dtype == np.float32
    rows = mixed.reshape(-1, SR)
    assert np.all(rows[:, round(0.25 * SR)] > 0.4)
    assert np.all(y == 0.01)  # the input is untouched


def test_no_clipping_the_mix_is_scaled_down_only_when_it_would_clip():
    t = np.arange(SR) / SR
    loud = (0.95 * np.sin(2 * np.pi * 110 * t)).astype(np.float32)
    mixed = click_track(loud, sr=SR, beats=[0.1, 0.6], downbeats=[0.1])
    plain = click_track(loud, sr=SR, beats=[0.1, 0.6], downbeats=[0.1], normalize=False)
    assert np.abs(plain).max() > 1.2
    assert np.abs(mixed).max() == pytest.approx(1.0)
    np.testing.assert_allclose(mixed, plain / np.abs(plain).max(), rtol=1e-6)
    quiet = 0.1 * loud
    clicks = click_track(np.zeros(SR), sr=SR, beats=[0.1])
    assert np.array_equal(click_track(quiet, sr=SR, beats=[0.1]), quiet + clicks)


def test_blocks_with_offsets_add_up_to_the_whole():
    y = np.random.default_rng(0).normal(0, 0.05, (2, 3 * SR)).astype(np.float32)
    beats, downbeats = [0.0, 0.999, 1.5, 2.99], [0.999]
    plain = {"normalize": False}
    whole = click_track(y, sr=SR, beats=beats, downbeats=downbeats, **plain)
    cut = [0, 1000, round(1.0 * SR), round(1.0 * SR) + 7, 2 * SR + 5, 3 * SR]
    parts = [
        click_track(y[:, a:b], sr=SR, beats=beats, downbeats=downbeats, offset=a / SR, **plain)
        for a, b in itertools.pairwise(cut)
    ]
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), whole)


def test_odd_times_downbeats_off_the_beat_and_bad_arguments():
    y = np.zeros(SR, dtype=np.float32)
    assert not click_track(y, sr=SR, beats=[-1.0, 5.0]).any()  # outside the audio
    assert not click_track(y, sr=SR, beats=[]).any()
    assert click_track(np.zeros(0), sr=SR, beats=[0.0]).shape == (0,)
    off = click_track(y, sr=SR, beats=[], downbeats=[0.5])
    assert off[round(0.5 * SR)] > 0.6  # a downbeat is clicked even when it is no beat
    with pytest.raises(ParameterError, match="level"):
        click_track(y, sr=SR, beats=[0.1], level=2.0)
    with pytest.raises(ParameterError, match="sr=0"):
        click_track(y, sr=0, beats=[0.1])
    with pytest.raises(ParameterError, match="finite"):
        click_track(y, sr=SR, beats=[float("nan")])
    with pytest.raises(ParameterError, match="offset"):
        click_track(y, sr=SR, beats=[0.1], offset=-1.0)


# -- write_audio -----------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".wav", ".flac"])
@pytest.mark.parametrize("channels", [1, 2, 6])
def test_write_audio_round_trips_through_load(tmp_path, suffix, channels):
    t = np.arange(SR) / SR
    x = np.stack([0.5 * np.sin(2 * np.pi * 220 * (c + 1) * t) for c in range(channels)])
    x = x.astype(np.float32)
    samples = x[0] if channels == 1 else x
    path = write_audio(tmp_path / f"a{suffix}", samples, sr=SR)
    assert path == tmp_path / f"a{suffix}"
    back = load(path)
    assert back.sample_rate == SR and back.samples.shape == x.shape
    np.testing.assert_allclose(back.samples, x, atol=1 / 32767)
    assert [p.name for p in tmp_path.iterdir()] == [f"a{suffix}"]  # no temporary file left


def test_write_audio_from_blocks_clips_and_replaces(tmp_path):
    x = np.linspace(-1.5, 1.5, 3 * SR, dtype=np.float32).reshape(1, -1)
    whole = write_audio(tmp_path / "whole.wav", x, sr=SR)
    pieces = (x[:, a : a + 10000] for a in range(0, x.size, 10000))
    blocks = write_audio(tmp_path / "blocks.wav", pieces, sr=SR)
    a, b = load(whole).samples, load(blocks).samples
    np.testing.assert_array_equal(a, b)
    assert a.max() == pytest.approx(1.0, abs=1e-4) and a.min() >= -1.0
    write_audio(whole, np.zeros(100), sr=8000)  # an existing file is replaced
    assert load(whole).sample_rate == 8000 and load(whole).samples.shape == (1, 100)


def test_write_audio_refuses_what_it_cannot_write_and_leaves_nothing(tmp_path):
    with pytest.raises(ParameterError, match=r"\.wav or \.flac"):
        write_audio(tmp_path / "a.mp3", np.zeros(10), sr=SR)
    with pytest.raises(ParameterError, match="1 to 8"):
        write_audio(tmp_path / "a.flac", np.zeros((9, 10)), sr=SR)
    with pytest.raises(ParameterError, match="sr="):
        write_audio(tmp_path / "a.wav", np.zeros(10), sr=0)
    with pytest.raises(ParameterError, match="channels"):
        write_audio(tmp_path / "a.wav", iter([np.zeros((2, 10)), np.zeros((1, 10))]), sr=SR)
    assert list(tmp_path.iterdir()) == []


# -- .beats files and their names --------------------------------------------------------------


def _result(beats, positions) -> BeatsResult:
    downbeats = [t for t, p in zip(beats, positions) if p == 1]
    meter = max(positions, default=None)
    return BeatsResult(beats, positions, downbeats, tempo=120.0, meter=meter)


def test_beats_file_round_trip(tmp_path):
    r = _result([0.5, 1.0, 1.5, 2.0004], [3, 1, 2, 3])
    path = write_beats_file(r, tmp_path / "sub" / "x.beats")
    assert path.read_text() == "0.500\t3\n1.000\t1\n1.500\t2\n2.000\t3\n"
    times, positions = read_beats_file(path)
    assert times.dtype == float and positions.dtype.kind == "i"
    np.testing.assert_allclose(times, r.beats, atol=5e-4)
    assert list(positions) == r.positions
    empty = write_beats_file(_result([], []), tmp_path / "none.beats")
    assert empty.read_text() == "" and all(a.size == 0 for a in read_beats_file(empty))
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["x.beats"]


def test_beats_file_reads_annotation_variants(tmp_path):
    path = tmp_path / "ann.beats"
    path.write_text("# a comment\n0.5 1\n\n1.0\t2.0\n1.5\n")  # spaces, 2.0, no position
    times, positions = read_beats_file(path)
    assert list(times) == [0.5, 1.0, 1.5] and list(positions) == [1, 2, 0]


@pytest.mark.parametrize(
    ("text", "line"), [("0.5\t1\nhello\n", 2), ("x 1\n", 1), ("0.5 1\n\n1.0 one\n", 3)]
)
def test_bad_beats_lines_name_the_file_and_line(tmp_path, text, line):
    path = tmp_path / "bad.beats"
    path.write_text(text)
    with pytest.raises(ParameterError, match=rf"bad\.beats: line {line}\b"):
        read_beats_file(path)


def test_beats_names():
    from audiolens.tasks.names import OutputNames

    assert beats_name("/a/song.flac") == "song.beats"
    assert beats_name("/a/song.flac", suffix=".click.wav") == "song.click.wav"
    names = OutputNames(["/a/song.flac", "/b/song.flac"])
    a, b = beats_name("/a/song.flac", names=names), beats_name("/b/song.flac", names=names)
    assert (a, b) == ("song.a.beats", "song.b.beats")
    assert beats_name(b"/a/caf\xe9.mp3").endswith(".beats")  # undecodable bytes
