"""Spectral features on any backend: frames, STFT, Welch PSD, Mel and logarithmic filterbanks.

Every function takes a numpy array or a torch tensor (on any device) and returns the same kind;
the numpy/scipy path is the reference, and the torch path runs the same code through the
Python array API (``array_api_compat``). float64 input is computed in float64, float32 in
float32. Inputs are never modified. Importing this package does not import torch or scipy.

Shapes follow librosa: signals are ``(..., n)``, spectrograms ``(..., n_bins, n_frames)``,
filterbanks ``(n_bands, n_bins)``.
"""

from __future__ import annotations

from .filters import (
    hz_to_mel,
    log_filterbank,
    log_filterbank_frequencies,
    log_frequencies,
    mel_filterbank,
    mel_frequencies,
    mel_to_hz,
)
from .frames import frame, frame_centered
from .logspec import log_filtered_spectrogram, madmom_frames
from .melspec import mel_spectrogram
from .spectral import fft_frequencies, magnitude, power_spectrogram, stft
from .welch import welch
from .windows import get_window

__all__ = [
    "fft_frequencies",
    "frame",
    "frame_centered",
    "get_window",
    "hz_to_mel",
    "log_filterbank",
    "log_filterbank_frequencies",
    "log_filtered_spectrogram",
    "log_frequencies",
    "madmom_frames",
    "magnitude",
    "mel_filterbank",
    "mel_frequencies",
    "mel_spectrogram",
    "mel_to_hz",
    "power_spectrogram",
    "stft",
    "welch",
]
