"""The public surface of audiolens.dsp: cheap import, signatures, docs, no input mutation."""

from __future__ import annotations

import inspect
import subprocess
import sys

import numpy as np
import pytest

import audiolens.dsp as dsp
from audiolens.errors import ParameterError

SIGNAL_FUNCTIONS = [
    "frame",
    "frame_centered",
    "madmom_frames",
    "stft",
    "power_spectrogram",
    "magnitude",
    "welch",
    "mel_spectrogram",
    "log_filtered_spectrogram",
]


def test_import_is_light():
    code = (
        "import sys, audiolens.dsp\n"
        "heavy = [m for m in ('torch', 'scipy.signal', 'librosa') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "", f"importing audiolens.dsp imported {out.stdout.strip()}"


@pytest.mark.parametrize("name", dsp.__all__)
def test_public_functions_are_documented_and_keyword_only(name):
    fn = getattr(dsp, name)
    doc = inspect.getdoc(fn)
    assert doc and "Returns" in doc, f"{name} needs a numpydoc docstring with Returns"
    params = list(inspect.signature(fn).parameters.values())
    positional = [p for p in params if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    assert len(positional) <= 2, f"{name}: only the signal may be positional"
    if name in SIGNAL_FUNCTIONS:
        assert len(positional) == 1 and "[shape=" in doc


def test_parameter_error_is_a_value_error():
    with pytest.raises(ValueError, match="hop_length=0 must be a positive integer"):
        dsp.stft(np.zeros(100), n_fft=16, hop_length=0)
    assert issubclass(ParameterError, ValueError)


def _calls():
    return {
        "frame": lambda y: dsp.frame(y, frame_length=64, hop_length=16),
        "frame_centered": lambda y: dsp.frame_centered(
            y, frame_length=64, hop_length=16, pad_mode="reflect"
        ),
        "madmom_frames": lambda y: dsp.madmom_frames(y, frame_size=64, hop_size=10.5),
        "stft": lambda y: dsp.stft(y, n_fft=128, pad_mode="edge"),
        "power_spectrogram": lambda y: dsp.power_spectrogram(y, n_fft=128),
        "welch": lambda y: dsp.welch(y, nperseg=128, detrend="linear", average="median"),
        "mel_spectrogram": lambda y: dsp.mel_spectrogram(y, sr=8000, n_fft=256, n_mels=20),
        "log_filtered_spectrogram": lambda y: dsp.log_filtered_spectrogram(y, frame_size=256),
    }


@pytest.mark.parametrize("name", sorted(_calls()))
def test_inputs_are_not_modified_numpy(name):
    y = np.random.default_rng(0).standard_normal((2, 1000))
    before = y.copy()
    _calls()[name](y)
    np.testing.assert_array_equal(y, before)


@pytest.mark.parametrize("name", sorted(_calls()))
def test_inputs_are_not_modified_torch(name, torch_case):
    y = torch_case.tensor(np.random.default_rng(0).standard_normal((2, 1000)))
    before = y.clone()
    _calls()[name](y)
    assert torch_case.torch.equal(y, before)
