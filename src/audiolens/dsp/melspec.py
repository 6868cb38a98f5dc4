"""Mel spectrogram: a power spectrogram passed through librosa's Mel filterbank."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._backend import PadMode
from .filters import MelNorm, mel_filterbank
from .spectral import power_spectrogram

if TYPE_CHECKING:
    from ._backend import Array
    from .windows import WindowSpec

__all__ = ["mel_spectrogram"]


def mel_spectrogram(
    y: Array,
    *,
    sr: float,
    n_fft: int = 2048,
    hop_length: int | None = None,
    win_length: int | None = None,
    window: WindowSpec = "hann",
    center: bool = True,
    pad_mode: PadMode = "constant",
    power: float = 2.0,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: MelNorm = "slaney",
) -> Array:
    """Mel-scaled spectrogram, as :func:`librosa.feature.melspectrogram` (without its float32
    filterbank: the filters here are in the signal's precision).

    Parameters
    ----------
    y : np.ndarray or torch.Tensor [shape=(..., n)]
        Real signal, any device.
    sr : float > 0
        Sample rate [Hz].
    n_fft, hop_length, win_length, window, center, pad_mode
        As for :func:`audiolens.dsp.stft`.
    power : float > 0
        Exponent of the magnitude (2: power, 1: magnitude).
    n_mels, fmin, fmax, htk, norm
        As for :func:`audiolens.dsp.mel_filterbank`.

    Returns
    -------
    M : np.ndarray or torch.Tensor [shape=(..., n_mels, n_frames)]
        In the signal's compute dtype (float64 for float64 input).
    """
    spec = power_spectrogram(
        y,
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=win_length,
        window=window,
        center=center,
        pad_mode=pad_mode,
        power=power,
    )
    basis = mel_filterbank(
        sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm, like=spec
    )
    return basis @ spec
