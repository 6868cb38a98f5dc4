"""Spectral features on any backend: frames, STFT, Welch PSD, Mel and logarithmic filterbanks,
onset envelopes (spectral flux) and tempo (autocorrelation tempogram).

Every function takes a numpy array or a torch tensor (on any device) and returns the same kind;
the numpy/scipy path is the reference, and the torch path runs the same code through the
Python array API (``array_api_compat``). float64 input is computed in float64, float32 in
float32. Inputs are never modified. Importing this package does not import torch or scipy.

Shapes follow librosa: signals are ``(..., n)``, spectrograms ``(..., n_bins, n_frames)``,
filterbanks ``(n_bands, n_bins)`` (madmom's log-filtered spectrogram and filterbank are the
transposes of ours).

Precision, as tested (tests/dsp): in float64 the numpy path equals librosa's STFT and Mel
filterbank bit for bit and scipy's Welch PSD to ~2e-13 per bin; torch float64 agrees with numpy
to ~1e-15 of the peak. float32 (numpy or torch) stays within 5e-6 of the float64 result's peak
(measured up to 1.2e-6, for Welch). The log-filtered spectrogram is within 2.4e-7 (float64)
and 7.7e-7 (torch float32) of madmom 0.16.1's float32 output.
"""

from __future__ import annotations

from .filters import (
    LogFilterbankOptions as LogFilterbankOptions,
)  # options type; __all__ lists functions
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
from .rhythm import spectral_flux, tempo, tempo_frequencies, tempogram
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
    "spectral_flux",
    "stft",
    "tempo",
    "tempo_frequencies",
    "tempogram",
    "welch",
]
