"""Multi-window spectra (the front end of the transkun engine) on numpy and torch."""

from __future__ import annotations

import numpy as np
import pytest

from audiolens.dsp import get_window
from audiolens.dsp.multiwin import (
    centered_frames,
    gaussian_windows,
    log_compress,
    multi_window_power,
)


def test_gaussian_windows_peak_where_asked():
    w = gaussian_windows(400, centers=np.array([0.25, 0.5]), widths=np.array([0.1, 0.3]))
    assert w.shape == (2, 400)
    assert list(w.argmax(axis=1)) == [100, 200]
    # one standard deviation is width * n / 2 samples from the centre
    assert w[0, 100 + 20] == pytest.approx(np.exp(-0.5))
    assert w[1, 200 - 60] == pytest.approx(np.exp(-0.5))


def test_centered_frames():
    y = np.arange(10.0)
    f = centered_frames(y, frame_length=4, hop_length=3)
    assert f.shape == (int(np.ceil(10 / 3)) + 1, 4)
    assert f[0].tolist() == [0, 0, 0, 1]  # frame t is centred on sample 3 t
    assert f[1].tolist() == [1, 2, 3, 4]
    assert f[-2].tolist() == [7, 8, 9, 0]
    assert not f[-1].any()  # the last frame starts past the signal, as Transkun's do


def test_power_against_numpy_fft_and_torch():
    rng = np.random.default_rng(0)
    frames = rng.standard_normal((2, 5, 64))
    wins = np.stack([get_window("hann", 64), gaussian_windows(64, centers=[0.4], widths=[0.2])[0]])
    p = multi_window_power(frames, windows=wins)
    assert p.shape == (2, 5, 33, 2)
    want = np.abs(np.fft.rfft(frames[..., None, :] * wins, norm="ortho")) ** 2
    np.testing.assert_allclose(p, np.moveaxis(want, -2, -1), rtol=1e-12, atol=1e-12)
    torch = pytest.importorskip("torch")
    pt = multi_window_power(torch.from_numpy(frames).float(), windows=wins)
    np.testing.assert_allclose(pt.numpy(), p, rtol=0, atol=5e-6 * p.max())
    ft = centered_frames(torch.arange(10.0), frame_length=4, hop_length=3)
    assert (
        ft.numpy().tolist()
        == centered_frames(np.arange(10.0), frame_length=4, hop_length=3).tolist()
    )


def test_log_compress():
    x = np.array([0.0, 1.0, 1e-5])
    np.testing.assert_allclose(
        log_compress(x, eps=1e-5), [0.0, np.log1p(1e5) / np.log(1e5), np.log(2) / np.log(1e5)]
    )
