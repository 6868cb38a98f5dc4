"""madmom's log-filtered spectrogram against the golden outputs of madmom 0.16.1."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

from audiolens.dsp import (
    log_filterbank,
    log_filterbank_frequencies,
    log_filtered_spectrogram,
)
from audiolens.errors import ParameterError

GOLDEN_TOL = 1e-5  # float32 max absolute difference required against madmom's output
GOLDEN = {
    "ballroom_Media-105901": "beats",
    "guitarset_00_BN1-129-Eb_comp_mic": "beats",
    "madmom_stereo_sample": "music_transcription",
}


def _madmom_signal(path: Path) -> tuple[int, np.ndarray]:
    """Read a WAV as madmom does: int16, stereo -> mean over channels truncated to int16."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", wavfile.WavFileWarning)  # unknown (non-data) chunks
        sr, x = wavfile.read(path)
    assert x.dtype == np.int16
    if x.ndim == 2:
        x = x.mean(axis=-1).astype(np.int16)
    return sr, x


@pytest.fixture(scope="module", params=sorted(GOLDEN))
def golden(request, eval_dir):
    name = request.param
    ref = np.load(eval_dir / "golden" / f"madmom_logfiltspec_{name}.npz")
    sr, x = _madmom_signal(eval_dir / GOLDEN[name] / f"{name}.wav")
    return name, sr, x, {k: ref[k] for k in ref.files}


def test_golden_spectrogram_numpy(golden):
    name, sr, x, ref = golden
    spec = log_filtered_spectrogram(x, sr=sr)
    assert spec.dtype == np.float64
    assert spec.shape == ref["spec"].T.shape == (81, math.ceil(len(x) / 441))
    err = np.max(np.abs(spec.T.astype(np.float32) - ref["spec"]))
    assert err <= GOLDEN_TOL, f"{name}: {err}"


def test_golden_filterbank_and_frequencies(golden):
    name, sr, _, ref = golden
    fb = log_filterbank(sr=sr, frame_size=2048)
    assert fb.T.shape == ref["filterbank"].shape
    err = np.max(np.abs(fb.T.astype(np.float32) - ref["filterbank"]))
    assert err <= GOLDEN_TOL, f"{name}: {err}"
    np.testing.assert_array_equal(np.fft.rfftfreq(2048, 1 / sr)[:1024], ref["bin_frequencies"])
    np.testing.assert_array_equal(
        log_filterbank_frequencies(sr=sr, as_madmom=True), ref["center_frequencies"]
    )


def test_golden_spectrogram_torch(golden, torch_case):
    name, sr, x, ref = golden
    if torch_case.dtype == torch_case.torch.float64:
        inp = torch_case.tensor(x, keep_dtype=True)  # int16 on the device, computed in float64
    else:
        inp = torch_case.tensor(x / 32767.0)  # float32 samples scaled as madmom's window does
    spec = torch_case.numpy(log_filtered_spectrogram(inp, sr=sr))
    assert spec.dtype == torch_case.np_dtype
    err = np.max(np.abs(spec.T.astype(np.float32) - ref["spec"]))
    assert err <= GOLDEN_TOL, f"{name} {torch_case.device} {torch_case.dtype}: {err}"


def _naive_logspec(y, sr, frame_size, fps):
    """Frame by frame, written from madmom's definition."""
    hop = sr / fps
    window = np.hanning(frame_size)
    if np.issubdtype(y.dtype, np.integer):
        window = window / np.iinfo(y.dtype).max
    fb = log_filterbank(sr=sr, frame_size=frame_size)
    out = []
    for i in range(math.ceil(len(y) / hop)):
        start = int(i * hop) - frame_size // 2
        frame = np.zeros(frame_size)
        for j in range(frame_size):
            if 0 <= start + j < len(y):
                frame[j] = y[start + j]
        mag = np.abs(np.fft.fft(frame * window))[: frame_size // 2]
        out.append(np.log10(fb @ mag + 1.0))
    return np.array(out).T


@pytest.mark.parametrize(("sr", "fps"), [(44100, 100.0), (22050, 100.0), (44100, 43.0)])
def test_against_naive_loop(sr, fps, tol):
    y = np.random.default_rng(0).integers(-20000, 20000, 5000).astype(np.int16)
    ours = log_filtered_spectrogram(y, sr=sr, fps=fps, frame_size=1024)
    ref = _naive_logspec(y, sr, 1024, fps)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=tol.f64)


@pytest.mark.parametrize("n", [1, 300, 441, 511, 512, 513, 883, 1023, 1024, 1025, 1466, 2048])
def test_short_signals_against_naive_loop(n, tol):
    """Signals around the frame and hop sizes: the numpy path frames the signal's start, middle
    and end separately, with no padded copy; every frame must still be madmom's."""
    y = np.random.default_rng(n).integers(-20000, 20000, n).astype(np.int16)
    ours = log_filtered_spectrogram(y, sr=44100, fps=100.0, frame_size=1024)
    np.testing.assert_allclose(ours, _naive_logspec(y, 44100, 1024, 100.0), rtol=0, atol=tol.f64)
    two = log_filtered_spectrogram(np.stack([y, y[::-1]]), sr=44100, fps=100.0, frame_size=1024)
    np.testing.assert_array_equal(two[0], ours)


def test_batch_axes_and_float_input(peak_close, tol):
    rng = np.random.default_rng(1)
    y = rng.standard_normal((2, 3, 3000))
    batch = log_filtered_spectrogram(y, frame_size=512, fmin=100.0, fps=50.0)
    for i in range(2):
        for j in range(3):
            one = log_filtered_spectrogram(y[i, j], frame_size=512, fmin=100.0, fps=50.0)
            peak_close(batch[i, j], one, tol.f64, "batched")
    f32 = log_filtered_spectrogram(y.astype(np.float32), frame_size=512, fmin=100.0, fps=50.0)
    assert f32.dtype == np.float32
    peak_close(f32, batch, tol.f32, "float32")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"fps": 0}, "fps=0 must be a positive finite number"),
        ({"sr": -1}, "sr=-1 must be a positive finite number"),
        ({"mul": 0}, "mul=0 must be a positive finite number"),
        ({"add": -1}, "add=-1 must be a finite number >= 0"),
        ({"frame_size": 0}, "frame_size=0 must be a positive integer"),
    ],
)
def test_bad_parameters(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        log_filtered_spectrogram(np.zeros(1000, dtype=np.int16), **kwargs)
    with pytest.raises(ParameterError, match="0 samples"):
        log_filtered_spectrogram(np.zeros(0))
