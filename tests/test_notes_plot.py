"""The notes task's picture: a piano roll over a spectrogram on a MIDI-pitch axis."""

from __future__ import annotations

import time

import numpy as np
import pytest

from audiolens.errors import ParameterError
from audiolens.report.plots import _pitch_spectrogram, plot_notes
from audiolens.tasks.notes.types import Note

pytest.importorskip("matplotlib")

SR = 22050
PNG = b"\x89PNG\r\n\x1a\n"


def _tones(notes, seconds, sr=SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    x = np.zeros(t.size, dtype=np.float32)
    for n in notes:
        on = (t >= n.onset) & (t < n.offset)
        x[on] += 0.2 * np.sin(2 * np.pi * 440.0 * 2 ** ((n.pitch - 69) / 12) * t[on])
    return x


def _is_png(path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG
    assert len(data) > 10_000


def test_writes_a_png(tmp_path):
    notes = [
        Note(0.5, 2.0, 60, 100),
        Note(1.0, 3.0, 64, 30),
        Note(2.5, 4.0, 67, 127, (0, 1, 2, 3, 2, 1, 0, -1, -2, -3)),
        Note(4.5, 5.5, 21, 80),
        Note(4.5, 5.5, 108, 80),
        Note(5.0, 5.0, 72, 80),  # zero length
    ]
    out = tmp_path / "deeper" / "x.png"
    got = plot_notes(_tones(notes, 6.0), SR, notes, out, title="six notes")
    assert got == out
    _is_png(out)


def test_no_notes(tmp_path):
    got = plot_notes(_tones([Note(0, 1, 69, 80)], 2.0), SR, [], str(tmp_path / "none.png"))
    _is_png(got)


def test_short_input(tmp_path):
    notes = [Note(0.1, 0.4, 69, 90)]
    _is_png(plot_notes(_tones(notes, 0.5), SR, notes, tmp_path / "short.png"))


def test_silent_empty_and_stereo_input(tmp_path):
    _is_png(plot_notes(np.zeros(SR, np.float32), SR, [], tmp_path / "zeros.png"))
    _is_png(plot_notes(np.zeros(0, np.float32), SR, [Note(0, 1, 60, 80)], tmp_path / "e.png"))
    stereo = np.stack([_tones([Note(0, 1, 60, 80)], 1.0)] * 2)
    _is_png(plot_notes(stereo, 44100, [Note(0, 1, 60, 80)], tmp_path / "st.png"))


def test_long_input_is_fast(tmp_path):
    plot_notes(np.zeros(SR, np.float32), SR, [], tmp_path / "warm.png")  # imports, fonts
    x = np.zeros(15 * 60 * SR, dtype=np.float32)
    notes = [Note(float(i), float(i) + 0.5, 40 + i % 40, 80) for i in range(0, 900, 2)]
    t0 = time.perf_counter()
    out = plot_notes(x, SR, notes, tmp_path / "long.png")
    assert time.perf_counter() - t0 < 5.0
    _is_png(out)


def test_spectrogram_rows_follow_pitch():
    # a tone at MIDI 69 (440 Hz) is loudest on the rows of pitch 69; rows above Nyquist are NaN
    x = _tones([Note(0.0, 2.0, 69, 80)], 2.0)
    img, step = _pitch_spectrogram(x, SR)
    assert img.shape[0] == 88 * 3 and step == pytest.approx(512 / SR)
    row = int(np.nanargmax(img[:, img.shape[1] // 2]))
    assert abs((20.5 + (row + 0.5) / 3) - 69) < 0.5
    img8, _ = _pitch_spectrogram(_tones([Note(0.0, 1.0, 60, 80)], 1.0, 8000), 8000)
    assert np.isnan(img8[-1]).all() and np.isfinite(img8[0]).all()


def test_long_spectrogram_is_decimated():
    img, step = _pitch_spectrogram(np.zeros(15 * 60 * SR, np.float32), SR)
    assert img.shape[1] <= 4000
    assert step * img.shape[1] == pytest.approx(900, rel=0.01)


def test_bad_input(tmp_path):
    with pytest.raises(ParameterError):
        plot_notes(np.zeros(100), 0, [], tmp_path / "x.png")
    with pytest.raises(ParameterError):
        plot_notes(np.zeros((1, 2, 100)), SR, [], tmp_path / "x.png")
