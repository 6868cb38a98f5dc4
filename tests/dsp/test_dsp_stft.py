"""STFT, power and Mel spectrograms: librosa and scipy parity, a naive DFT, torch parity."""

from __future__ import annotations

import numpy as np
import pytest

from audiolens.dsp import magnitude, mel_spectrogram, power_spectrogram, stft
from audiolens.errors import ParameterError

librosa = pytest.importorskip("librosa")
scipy_signal = pytest.importorskip("scipy.signal")

CONFIGS = [
    {},
    {"n_fft": 512, "hop_length": 100, "win_length": 400},
    {"n_fft": 1024, "center": False},
    {"n_fft": 256, "pad_mode": "reflect"},
    {"n_fft": 256, "pad_mode": "edge", "hop_length": 256},
    {"n_fft": 255, "hop_length": 64, "window": "hamming"},
    {"n_fft": 128, "window": ("kaiser", 8.0), "hop_length": 1},
]


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((2, 22050 + 17))


def _naive_stft(y: np.ndarray, n_fft: int, hop: int, window: np.ndarray, center: bool):
    """Direct DFT loop (librosa's tests/test_core.py style), one frame and bin at a time."""
    if center:
        y = np.pad(y, n_fft // 2)
    n_frames = 1 + (len(y) - n_fft) // hop
    out = np.zeros((1 + n_fft // 2, n_frames), dtype=np.complex128)
    m = np.arange(n_fft)
    for t in range(n_frames):
        seg = y[t * hop : t * hop + n_fft] * window
        for k in range(1 + n_fft // 2):
            out[k, t] = np.sum(seg * np.exp(-2j * np.pi * k * m / n_fft))
    return out


@pytest.mark.parametrize("center", [True, False])
def test_stft_against_direct_dft(center):
    y = np.random.default_rng(1).standard_normal(50)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(16) / 16)  # periodic Hann
    ours = stft(y, n_fft=16, hop_length=5, center=center)
    ref = _naive_stft(y, 16, 5, window, center)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_stft_matches_librosa(noise, cfg, peak_close, tol):
    ours = stft(noise, **cfg)
    ref = librosa.stft(noise, **cfg)
    assert ours.dtype == np.complex128
    peak_close(ours, ref, tol.f64, "stft vs librosa.stft")


def test_stft_float32_matches_librosa(noise, peak_close, tol):
    y = noise.astype(np.float32)
    ours = stft(y, n_fft=512)
    assert ours.dtype == np.complex64
    peak_close(ours, librosa.stft(y, n_fft=512), tol.f32, "float32 stft")
    peak_close(ours, librosa.stft(noise, n_fft=512), tol.f32, "float32 stft vs float64")


def test_stft_int16_is_computed_in_float64():
    y = np.random.default_rng(2).integers(-3000, 3000, 4000).astype(np.int16)
    ours = stft(y, n_fft=256)
    assert ours.dtype == np.complex128
    np.testing.assert_array_equal(ours, stft(y.astype(np.float64), n_fft=256))


@pytest.mark.parametrize("n_fft", [256, 255])
def test_stft_matches_scipy_up_to_window_sum(noise, n_fft, peak_close, tol):
    """scipy.signal.stft (scaling="spectrum", boundary="zeros") is ours / sum(window).

    scipy also pads the end to whole segments (padded=True), which can add one frame.
    """
    hop = 64
    _, _, zxx = scipy_signal.stft(noise, nperseg=n_fft, noverlap=n_fft - hop)
    ours = stft(noise, n_fft=n_fft, hop_length=hop)
    window = scipy_signal.get_window("hann", n_fft)
    assert zxx.shape[-1] in (ours.shape[-1], ours.shape[-1] + 1)
    peak_close(ours / window.sum(), zxx[..., : ours.shape[-1]], tol.f64, "stft vs scipy")


def test_stft_window_as_values(noise, peak_close, tol):
    win = np.hanning(300)
    ours = stft(noise, n_fft=512, hop_length=128, win_length=300, window=win)
    ref = librosa.stft(noise, n_fft=512, hop_length=128, win_length=300, window=win)
    peak_close(ours, ref, tol.f64, "array window")


def test_stft_does_not_modify_input(noise):
    before = noise.copy()
    stft(noise, n_fft=256, pad_mode="reflect")
    power_spectrogram(noise, n_fft=256)
    np.testing.assert_array_equal(noise, before)


@pytest.mark.parametrize("power", [1.0, 2.0, 1.5])
def test_power_spectrogram_and_magnitude(noise, power, peak_close, tol):
    ref = np.abs(librosa.stft(noise, n_fft=512)) ** power
    peak_close(power_spectrogram(noise, n_fft=512, power=power), ref, tol.f64, "power")
    peak_close(magnitude(stft(noise, n_fft=512), power=power), ref, tol.f64, "magnitude")


def test_mel_spectrogram_matches_librosa(noise, peak_close, tol):
    ours = mel_spectrogram(noise, sr=22050, n_fft=1024, hop_length=256, n_mels=64, fmax=8000)
    spec = np.abs(librosa.stft(noise, n_fft=1024, hop_length=256)) ** 2
    basis = librosa.filters.mel(sr=22050, n_fft=1024, n_mels=64, fmax=8000, dtype=np.float64)
    peak_close(ours, basis @ spec, tol.f64, "mel vs librosa float64 filters")
    # librosa.feature.melspectrogram itself uses a float32 filterbank: agreement ~1e-7
    ref = librosa.feature.melspectrogram(
        y=noise, sr=22050, n_fft=1024, hop_length=256, n_mels=64, fmax=8000
    )
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-6 * ref.max())


def test_torch_stft_family_matches_numpy(torch_case, noise, peak_close):
    y = noise.astype(torch_case.np_dtype)
    t = torch_case.tensor(noise)
    for cfg in CONFIGS:
        got = torch_case.numpy(stft(t, **cfg))
        peak_close(got, stft(noise, **cfg), torch_case.tol, f"torch stft {cfg}")
    got = torch_case.numpy(power_spectrogram(t, n_fft=512, power=2.0))
    peak_close(got, power_spectrogram(noise, n_fft=512), torch_case.tol, "torch power")
    got = torch_case.numpy(mel_spectrogram(t, sr=22050, n_fft=512, n_mels=40))
    ref = mel_spectrogram(noise, sr=22050, n_fft=512, n_mels=40)
    peak_close(got, ref, torch_case.tol, "torch mel")
    # the result dtype follows the input's
    assert stft(t, n_fft=64).dtype == (
        torch_case.torch.complex128 if y.dtype == np.float64 else torch_case.torch.complex64
    )
    # a window given as a tensor on the device
    win = torch_case.tensor(np.hanning(300))
    got = torch_case.numpy(stft(t, n_fft=512, win_length=300, hop_length=100, window=win))
    ref = stft(noise, n_fft=512, win_length=300, hop_length=100, window=np.hanning(300))
    peak_close(got, ref, torch_case.tol, "torch stft, tensor window")


def test_torch_int16_input(torch_case):
    y = np.random.default_rng(3).integers(-3000, 3000, 3000).astype(np.int16)
    got = stft(torch_case.tensor(y, keep_dtype=True), n_fft=128)
    if torch_case.device == "mps":
        assert got.dtype == torch_case.torch.complex64
    else:
        assert got.dtype == torch_case.torch.complex128
    np.testing.assert_allclose(torch_case.numpy(got), stft(y, n_fft=128), atol=1e-8)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_fft": 0}, "n_fft=0 must be a positive integer"),
        ({"n_fft": 64, "hop_length": 0}, "hop_length=0 must be a positive integer"),
        ({"n_fft": 64, "win_length": 65}, "win_length=65 must be a positive integer no larger "),
        ({"n_fft": 3}, "hop_length=win_length // 4 is 0"),
        ({"n_fft": 64, "pad_mode": "mean"}, "pad_mode='mean' is not supported"),
        ({"n_fft": 64, "window": "nonsense"}, "window='nonsense' is not a window"),
        ({"n_fft": 64, "window": np.ones(10)}, r"window values must have shape \(64,\)"),
        ({"n_fft": 2048, "center": False}, "1000 samples .* at least 2048"),
    ],
)
def test_stft_bad_parameters(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        stft(np.zeros(1000), **kwargs)


def test_stft_rejects_complex_and_empty_input():
    with pytest.raises(ParameterError, match="y must be real-valued, got dtype complex128"):
        stft(np.zeros(100, dtype=complex), n_fft=16)
    with pytest.raises(ParameterError, match="0 samples"):
        stft(np.zeros(0), n_fft=16)
    with pytest.raises(ParameterError, match="power=0 must be a positive"):
        power_spectrogram(np.zeros(100), n_fft=16, power=0)
