"""The numpy path transforms long signals block by block: same results as one big transform."""

from __future__ import annotations

import numpy as np
import pytest

import audiolens.dsp._backend as backend
from audiolens.dsp import log_filtered_spectrogram, power_spectrogram, stft, welch

librosa = pytest.importorskip("librosa")
scipy_signal = pytest.importorskip("scipy.signal")


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of a few frames, with a ragged last block, so every path loops."""
    monkeypatch.setattr(backend, "_CHUNK_BYTES", 3 * 8 * 256 * 2)


@pytest.fixture(scope="module")
def signal() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((2, 20000))


def test_blocks_stft_and_power(small_blocks, signal, peak_close, tol):
    ref = librosa.stft(signal, n_fft=256, hop_length=60)
    peak_close(stft(signal, n_fft=256, hop_length=60), ref, tol.f64, "blocked stft")
    got = power_spectrogram(signal, n_fft=256, hop_length=60, power=2.0)
    peak_close(got, np.abs(ref) ** 2, tol.f64, "blocked power")


@pytest.mark.parametrize("average", ["mean", "median"])
def test_blocks_welch(small_blocks, signal, average):
    got = welch(signal, nperseg=256, noverlap=200, average=average)[1]
    ref = scipy_signal.welch(signal, nperseg=256, noverlap=200, average=average)[1]
    np.testing.assert_allclose(got, ref, rtol=1e-6)


def test_blocks_log_filtered_spectrogram(small_blocks, signal, peak_close, tol, monkeypatch):
    got = log_filtered_spectrogram(signal, frame_size=256, fps=441.0, fmin=200.0)
    monkeypatch.setattr(backend, "_CHUNK_BYTES", 1 << 40)  # one block
    ref = log_filtered_spectrogram(signal, frame_size=256, fps=441.0, fmin=200.0)
    peak_close(got, ref, tol.f64, "blocked log spectrogram")
