"""Fixtures for the audiolens.dsp parity tests.

Tolerances (all explicit, all relative to the peak magnitude of the reference array unless a
test says otherwise):

- ``F64_TOL = 1e-9``: float64 against scipy/librosa or against our numpy path. The project
  target is 1e-6; what we measure is ~1e-14 (the STFT and filterbanks are bit-identical to
  librosa's).
- ``F32_TOL = 5e-6``: float32 computations against the float64 reference. Measured on 32 s of
  real music: <= 1.1e-7 (stft), 2.1e-7 (power), 7.8e-7 (welch, numpy float32 mean over ~650
  segments), 1.5e-7 (mel), 2.5e-7 (log-filtered spectrogram).
- Golden madmom log-filtered spectrogram: float32 max absolute difference <= 1e-5 (required);
  measured 2.4e-7 (numpy and torch float64), 7.7e-7 (torch float32).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import pytest

F64_TOL = 1e-9
F32_TOL = 5e-6


def assert_peak_close(actual: Any, expected: Any, tol: float, what: str = "") -> float:
    """Assert ``max|actual - expected| <= tol * max|expected|``; return that relative error."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    peak = float(np.max(np.abs(expected))) if expected.size else 0.0
    err = float(np.max(np.abs(actual - expected))) if expected.size else 0.0
    rel = err / peak if peak > 0 else err
    assert rel <= tol, f"{what}: max error {err:.3g} is {rel:.3g} of the peak {peak:.3g} > {tol}"
    return rel


@dataclass(frozen=True)
class Tolerances:
    """The tolerances above, for tests (as a fixture: conftest is not importable)."""

    f64: float = F64_TOL
    f32: float = F32_TOL


@pytest.fixture(scope="session")
def tol() -> Tolerances:
    """Float64 and float32 tolerances, relative to the reference's peak."""
    return Tolerances()


@pytest.fixture
def peak_close():
    """The :func:`assert_peak_close` helper."""
    return assert_peak_close


@dataclass
class TorchCase:
    """A torch device and dtype to run a function on, with its tolerance against numpy."""

    torch: ModuleType
    device: str
    dtype: Any
    tol: float

    @property
    def np_dtype(self) -> Any:
        return np.float64 if self.dtype == self.torch.float64 else np.float32

    def tensor(self, x: np.ndarray, *, keep_dtype: bool = False) -> Any:
        """``x`` as a tensor on this device (in this case's dtype unless ``keep_dtype``)."""
        t = self.torch.from_numpy(np.ascontiguousarray(x))
        if not keep_dtype:
            t = t.to(self.dtype)
        return t.to(self.device)

    def numpy(self, t: Any) -> np.ndarray:
        """Check that ``t`` is a tensor on this device and bring it back as numpy."""
        assert isinstance(t, self.torch.Tensor), f"expected a torch.Tensor, got {type(t)}"
        assert t.device.type == self.torch.device(self.device).type
        return t.detach().cpu().numpy()


def _available(device: str) -> bool:
    """Whether torch can run on ``device`` here (CPU: whenever torch is installed)."""
    if device == "cpu":
        return True
    try:
        import torch
    except ImportError:
        return False
    if device == "cuda":
        return torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()


def _torch_params() -> list[Any]:
    """CPU always (skipped without torch); CUDA and MPS only where they are present."""
    params = []
    for device, dtype, tol in [
        ("cpu", "float64", F64_TOL),
        ("cpu", "float32", F32_TOL),
        ("cuda", "float64", F64_TOL),
        ("cuda", "float32", F32_TOL),
        ("mps", "float32", F32_TOL),
    ]:
        if _available(device):
            params.append(pytest.param((device, dtype, tol), id=f"torch-{device}-{dtype}"))
    return params


@pytest.fixture(params=_torch_params())
def torch_case(request) -> TorchCase:
    """A torch device/dtype pair; skipped when torch is not installed."""
    torch = pytest.importorskip("torch")
    device, dtype, tol = request.param
    return TorchCase(torch, device, getattr(torch, dtype), tol)
