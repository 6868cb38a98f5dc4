"""Welch PSD: scipy.signal.welch parity, a naive periodogram loop, torch parity, speed."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest

from audiolens.dsp import welch
from audiolens.errors import ParameterError

scipy_signal = pytest.importorskip("scipy.signal")

CONFIGS = [
    {},
    {"fs": 44100.0, "nperseg": 4096},
    {"fs": 8000.0, "nperseg": 1000, "noverlap": 300, "detrend": "linear", "scaling": "spectrum"},
    {"nperseg": 512, "average": "median", "nfft": 1025},
    {"nperseg": 500, "noverlap": 0, "average": "median"},  # even number of segments
    {"nperseg": 2048, "detrend": False},
    {"nperseg": 300, "detrend": None, "window": ("kaiser", 8.0), "nfft": 512},
    {"nperseg": 255, "window": "blackman", "scaling": "spectrum"},
]


def _ids(cfg: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in cfg.items()) or "defaults"


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    rng = np.random.default_rng(0)
    tone = np.sin(2 * np.pi * 0.05 * np.arange(30000))
    return np.stack([rng.standard_normal(30000) + 3 * tone, np.cumsum(rng.standard_normal(30000))])


@pytest.mark.parametrize("cfg", CONFIGS, ids=_ids)
def test_welch_matches_scipy(noise, cfg):
    f_ref, p_ref = scipy_signal.welch(noise, **cfg)
    freqs, pxx = welch(noise, **cfg)
    assert pxx.dtype == np.float64
    assert freqs.dtype == np.float64
    np.testing.assert_array_equal(freqs, f_ref)
    np.testing.assert_allclose(pxx, p_ref, rtol=1e-6, atol=0)  # per bin


def test_welch_window_values_and_long_segment(noise):
    win = scipy_signal.get_window(("tukey", 0.25), 700)
    np.testing.assert_allclose(
        welch(noise, window=win, nperseg=None)[1],
        scipy_signal.welch(noise, window=win)[1],
        rtol=1e-6,
    )
    short = noise[0, :100]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns that nperseg > n and uses n
        ref = scipy_signal.welch(short, nperseg=256)
    got = welch(short, nperseg=256)
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_allclose(got[1], ref[1], rtol=1e-6)


def test_welch_against_naive_periodograms():
    """Average of |sum_m w[m] (x[m] - mean) e^{-2 pi i k m / N}|^2, scaled, one-sided."""
    x = np.random.default_rng(1).standard_normal(70)
    fs, nperseg, step = 10.0, 16, 6
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(nperseg) / nperseg)
    m = np.arange(nperseg)
    pgrams = []
    for start in range(0, len(x) - nperseg + 1, step):
        seg = x[start : start + nperseg]
        seg = (seg - seg.mean()) * w
        pgrams.append([abs(np.sum(seg * np.exp(-2j * np.pi * k * m / nperseg))) ** 2 for k in m])
    p = np.mean(pgrams, axis=0)[: nperseg // 2 + 1] / (fs * np.sum(w**2))
    p[1:-1] *= 2
    freqs, pxx = welch(x, fs=fs, nperseg=nperseg, noverlap=nperseg - step)
    np.testing.assert_allclose(freqs, np.arange(nperseg // 2 + 1) * fs / nperseg)
    np.testing.assert_allclose(pxx, p, rtol=1e-12)


def test_welch_dtypes_and_input_untouched(noise, tol, peak_close):
    before = noise.copy()
    x32 = noise.astype(np.float32)
    _, p32 = welch(x32, nperseg=1024)
    assert p32.dtype == np.float32
    peak_close(p32, welch(noise, nperseg=1024)[1], tol.f32, "float32 welch")
    ints = (noise[0] * 1000).astype(np.int16)
    _, pint = welch(ints, nperseg=256)
    assert pint.dtype == np.float64
    np.testing.assert_allclose(pint, scipy_signal.welch(ints, nperseg=256)[1], rtol=1e-6)
    np.testing.assert_array_equal(noise, before)


@pytest.mark.parametrize("cfg", CONFIGS, ids=_ids)
def test_torch_welch_matches_numpy(torch_case, noise, cfg, peak_close):
    freqs, pxx = welch(torch_case.tensor(noise), **cfg)
    f_ref, p_ref = welch(noise, **cfg)
    assert pxx.dtype == torch_case.dtype
    np.testing.assert_allclose(torch_case.numpy(freqs), f_ref, rtol=1e-6)
    got = torch_case.numpy(pxx)
    for ch in range(noise.shape[0]):
        peak_close(got[ch], p_ref[ch], torch_case.tol, f"torch welch {cfg} channel {ch}")


def test_torch_welch_window_values(torch_case, noise, peak_close):
    win = np.hanning(300)
    _, pxx = welch(torch_case.tensor(noise), window=torch_case.tensor(win), nperseg=None)
    ref = scipy_signal.welch(noise, window=win)[1]
    peak_close(torch_case.numpy(pxx), ref, torch_case.tol, "torch welch, tensor window")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"nperseg": 0}, "nperseg=0 must be a positive integer"),
        ({"nperseg": 64, "noverlap": 64}, "noverlap=64 must be an integer >= 0 and smaller than"),
        ({"nperseg": 64, "noverlap": -1}, "noverlap=-1 must be"),
        ({"nperseg": 64, "nfft": 32}, "nfft=32 must be at least nperseg=64"),
        ({"fs": 0}, "fs=0 must be a positive finite number"),
        ({"scaling": "psd"}, "scaling='psd' is not supported; use one of 'density', 'spectrum'"),
        ({"average": "max"}, "average='max' is not supported"),
        ({"detrend": "quadratic"}, "detrend='quadratic' is not supported"),
        ({"window": np.ones(64), "nperseg": 32}, "nperseg=32 must equal the window length 64"),
        ({"window": np.ones(2000), "nperseg": None}, "window has 2000 samples, more than"),
    ],
)
def test_welch_bad_parameters(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        welch(np.zeros(1000), **kwargs)


def test_welch_rejects_complex_and_empty_input():
    with pytest.raises(ParameterError, match="x must be real-valued"):
        welch(np.zeros(1000, dtype=np.complex64))
    with pytest.raises(ParameterError, match="x has 0 samples"):
        welch(np.zeros(0))


def _best_time(fn, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def test_welch_numpy_is_as_fast_as_scipy():
    """20 s of 44.1 kHz float64 (the quality task's load); generous factor for noisy CI."""
    x = np.random.default_rng(2).standard_normal(20 * 44100)
    ours = _best_time(lambda: welch(x, fs=44100.0, nperseg=4096))
    ref = _best_time(lambda: scipy_signal.welch(x, fs=44100.0, nperseg=4096))
    assert ours <= 2.0 * ref + 0.005, f"welch {ours:.4f} s vs scipy {ref:.4f} s"
