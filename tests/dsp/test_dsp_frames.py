"""Framing: librosa.util.frame parity, naive loops, madmom's centred frames, torch parity."""

from __future__ import annotations

import math

import numpy as np
import pytest

from audiolens.dsp import frame, frame_centered, madmom_frames
from audiolens.errors import ParameterError

librosa = pytest.importorskip("librosa")


def _naive_frames(y: np.ndarray, frame_length: int, hop: int) -> np.ndarray:
    n_frames = 1 + (y.shape[-1] - frame_length) // hop
    out = np.empty((*y.shape[:-1], frame_length, n_frames), dtype=y.dtype)
    for t in range(n_frames):
        out[..., :, t] = y[..., t * hop : t * hop + frame_length]
    return out


def _naive_madmom_frames(y: np.ndarray, frame_size: int, hop: float) -> np.ndarray:
    """madmom's signal_frame, one frame at a time, written from its definition."""
    n = y.shape[-1]
    n_frames = int(np.ceil(n / hop))
    out = np.zeros((n_frames, frame_size), dtype=y.dtype)
    for i in range(n_frames):
        start = int(i * hop) - frame_size // 2
        for j in range(frame_size):
            if 0 <= start + j < n:
                out[i, j] = y[start + j]
    return out


@pytest.mark.parametrize(
    ("shape", "frame_length", "hop"),
    [((100,), 10, 3), ((100,), 100, 7), ((3, 257), 64, 16), ((2, 2, 50), 5, 5), ((9,), 1, 1)],
)
def test_frame_matches_librosa_and_naive(shape, frame_length, hop):
    y = np.random.default_rng(0).standard_normal(shape)
    out = frame(y, frame_length=frame_length, hop_length=hop)
    ref = librosa.util.frame(y, frame_length=frame_length, hop_length=hop, axis=-1)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(out, _naive_frames(y, frame_length, hop))


def test_frame_is_a_read_only_view_and_input_untouched():
    y = np.arange(20.0)
    before = y.copy()
    out = frame(y, frame_length=4, hop_length=2)
    assert np.shares_memory(out, y)
    assert not out.flags.writeable
    np.testing.assert_array_equal(y, before)


def test_frame_of_non_contiguous_input():
    y = np.random.default_rng(1).standard_normal((40, 3)).T  # last axis strided
    out = frame(y, frame_length=8, hop_length=3)
    np.testing.assert_array_equal(out, _naive_frames(np.ascontiguousarray(y), 8, 3))


@pytest.mark.parametrize("pad_mode", ["constant", "reflect", "edge", "wrap"])
@pytest.mark.parametrize(("n", "frame_length", "hop"), [(100, 16, 4), (101, 15, 7), (64, 32, 32)])
def test_frame_centered_matches_librosa_padding(n, frame_length, hop, pad_mode):
    y = np.random.default_rng(2).standard_normal((2, n))
    out = frame_centered(y, frame_length=frame_length, hop_length=hop, pad_mode=pad_mode)
    half = frame_length // 2
    padded = np.pad(y, [(0, 0), (half, half)], mode=pad_mode)
    ref = librosa.util.frame(padded, frame_length=frame_length, hop_length=hop, axis=-1)
    np.testing.assert_array_equal(out, ref)
    assert out.shape[-1] == 1 + (n + 2 * half - frame_length) // hop


@pytest.mark.parametrize(
    ("n", "frame_size", "hop"),
    [(1000, 64, 10.0), (1000, 64, 7.0), (1001, 63, 441.0), (5, 64, 2.0), (997, 32, 22.05)],
)
def test_madmom_frames_against_naive_loop(n, frame_size, hop):
    y = np.random.default_rng(3).integers(-32768, 32767, n).astype(np.int16)
    out = madmom_frames(y, frame_size=frame_size, hop_size=hop)
    ref = _naive_madmom_frames(y, frame_size, hop)
    assert out.shape == (math.ceil(n / hop), frame_size)
    assert out.dtype == np.int16
    np.testing.assert_array_equal(out, ref)


def test_madmom_frames_equal_librosa_centering_for_integer_hop():
    """madmom's frames are librosa's centred frames, truncated to ceil(n / hop)."""
    y = np.random.default_rng(4).standard_normal(4410)
    ours = madmom_frames(y, frame_size=2048, hop_size=441)
    centred = frame_centered(y, frame_length=2048, hop_length=441)
    assert centred.shape[-1] == ours.shape[0] + 1  # n divisible by hop: librosa has one more
    np.testing.assert_array_equal(ours, centred[:, : ours.shape[0]].T)


def test_torch_frames_match_numpy(torch_case):
    y = np.random.default_rng(5).standard_normal((2, 300))
    t = torch_case.tensor(y)
    ref = y.astype(torch_case.np_dtype)
    got = torch_case.numpy(frame(t, frame_length=32, hop_length=10))
    np.testing.assert_array_equal(got, frame(ref, frame_length=32, hop_length=10))
    for mode in ("constant", "reflect", "edge", "wrap"):
        got = torch_case.numpy(frame_centered(t, frame_length=32, hop_length=10, pad_mode=mode))
        np.testing.assert_array_equal(
            got, frame_centered(ref, frame_length=32, hop_length=10, pad_mode=mode)
        )
    for hop in (10.0, 7.5):
        got = torch_case.numpy(madmom_frames(t, frame_size=32, hop_size=hop))
        np.testing.assert_array_equal(got, madmom_frames(ref, frame_size=32, hop_size=hop))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"frame_length": 0, "hop_length": 1}, "frame_length=0 must be a positive integer"),
        ({"frame_length": 4, "hop_length": 0}, "hop_length=0 must be a positive integer"),
        ({"frame_length": 4, "hop_length": 1.5}, "hop_length=1.5 must be a positive integer"),
        ({"frame_length": 4, "hop_length": True}, "hop_length=True must be a positive integer"),
        ({"frame_length": 11, "hop_length": 1}, "10 samples .* at least 11"),
    ],
)
def test_frame_bad_parameters(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        frame(np.zeros(10), **kwargs)


def test_frame_centered_bad_parameters():
    with pytest.raises(ParameterError, match="pad_mode='mean' is not supported"):
        frame_centered(np.zeros(10), frame_length=4, hop_length=1, pad_mode="mean")
    with pytest.raises(ParameterError, match="pad_mode='reflect' needs more than 8"):
        frame_centered(np.zeros(8), frame_length=16, hop_length=4, pad_mode="reflect")
    with pytest.raises(ParameterError, match="0 samples"):
        frame_centered(np.zeros(0), frame_length=16, hop_length=4)
    with pytest.raises(ParameterError, match=r"hop_size=0\.0 must be a positive"):
        madmom_frames(np.zeros(8), frame_size=16, hop_size=0.0)
    with pytest.raises(ParameterError, match="numpy arrays or torch tensors, got list"):
        frame([1.0, 2.0, 3.0], frame_length=2, hop_length=1)
