"""Shared pieces of the notes tests (imported as ``_notes_kit``): is the model installed, and
a fast fake frame engine."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from audiolens.errors import ModelNotFound


def _missing(module: str, hint: str, find_model) -> str | None:
    """Why the tests of a model cannot run (its runtime or its weights are missing), or None."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        return f"needs {module} ({hint})"
    try:
        find_model()
    except ModelNotFound as exc:
        return str(exc)
    return None


def _basic_pitch() -> str | None:
    from audiolens.models.basic_pitch import find_model

    return _missing("onnxruntime", "pip install 'audiolens[notes]'", find_model)


def _transkun() -> str | None:
    from audiolens.models.transkun import find_model

    if importlib.util.find_spec("transkun") is None:
        return "needs transkun (pip install --no-deps transkun==2.0.1)"
    return _missing("torch", "pip install 'audiolens[torch]'", find_model)


_WHY = _basic_pitch()
requires_model = pytest.mark.skipif(_WHY is not None, reason=_WHY or "")
_WHY_TRANSKUN = _transkun()
requires_transkun = pytest.mark.skipif(_WHY_TRANSKUN is not None, reason=_WHY_TRANSKUN or "")


class ToneEngine:
    """A tiny frame engine for contract tests: the activation of a pitch is the share of the
    window's energy at that pitch's frequency, measured with a short DFT per frame.

    It is exact enough for pure tones and fast enough to run an hour of audio in a test.
    """

    name = "tone-test"
    sample_rate = 8000
    window = 8000
    frame_hop = 80
    frames_per_window = 100
    edge_frames = 5
    pitch_bins = 88
    lowest_pitch = 21
    contour_bins_per_semitone = 3
    dft_size = 400  # samples of each frame's DFT

    def __init__(self) -> None:
        self.calls: list[int] = []
        n = self.dft_size
        t = np.arange(n) / self.sample_rate
        hz = 440.0 * 2.0 ** ((np.arange(88) + 21 - 69) / 12.0)
        hz = np.minimum(hz, self.sample_rate / 2 - 1)
        self._basis = np.exp(-2j * np.pi * hz[:, None] * t[None, :]) * np.hanning(n)[None, :]
        self._n = n

    def run(self, windows: np.ndarray, *, device: object) -> dict[str, np.ndarray]:
        self.calls.append(int(windows.shape[0]))
        pad = np.pad(windows, ((0, 0), (self._n // 2, self._n // 2)))
        idx = np.arange(self.frames_per_window)[:, None] * self.frame_hop + np.arange(self._n)
        frames = pad[:, idx]  # (b, frames, n)
        mag = np.abs(frames @ self._basis.T) / (self._n / 4)
        note = np.clip(mag, 0, 1).astype(np.float32)
        onset = np.zeros_like(note)
        onset[:, 1:] = np.clip(note[:, 1:] - note[:, :-1], 0, 1) * 4
        contour = np.repeat(note, 3, axis=2)
        return {"note": note, "onset": np.clip(onset, 0, 1), "contour": contour}
