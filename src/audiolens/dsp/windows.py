"""Analysis windows: scipy's window functions, centred in an FFT frame, on any backend."""

from __future__ import annotations

import functools
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ParameterError
from ._backend import constant_like, namespace

if TYPE_CHECKING:
    from typing import TypeAlias

    from ._backend import Array

    WindowSpec: TypeAlias = str | tuple[Any, ...] | float | np.ndarray | Array

__all__ = ["get_window", "window_on"]


@functools.lru_cache(maxsize=64)
def _scipy_window(spec: str | tuple[Any, ...] | float, n: int, fftbins: bool) -> np.ndarray:
    from scipy.signal import get_window as scipy_get_window

    try:
        win = scipy_get_window(spec, n, fftbins=fftbins)
    except (ValueError, TypeError) as exc:
        raise ParameterError(f"window={spec!r} is not a window scipy.signal knows: {exc}") from exc
    win = np.asarray(win, dtype=np.float64)
    win.setflags(write=False)
    return win


def get_window(window: WindowSpec, n: int, *, fftbins: bool = True) -> np.ndarray:
    """A window of length ``n`` as a float64 numpy array (a new array the caller may modify).

    Parameters
    ----------
    window : str, tuple, float, np.ndarray or torch.Tensor [shape=(n,)]
        A name or tuple :func:`scipy.signal.get_window` understands (``"hann"``,
        ``("kaiser", 8.0)``, ...), or the window values themselves (copied to numpy).
    n : int > 0
        Window length in samples.
    fftbins : bool
        True (the default) for a periodic window, as used for spectral analysis (librosa and
        scipy.signal.stft use this); False for a symmetric one (``numpy.hanning``).

    Returns
    -------
    window : np.ndarray [shape=(n,), dtype=float64]

    Raises
    ------
    ParameterError
        for an unknown window name, or window values of the wrong length.
    """
    if isinstance(window, (str, tuple)) or (
        isinstance(window, (int, float)) and not isinstance(window, bool)
    ):
        return _scipy_window(window, int(n), bool(fftbins)).copy()
    if hasattr(window, "detach"):  # a torch tensor, possibly on a GPU
        window = window.detach().cpu().numpy()
    values = np.asarray(window, dtype=np.float64)
    if values.shape != (n,):
        raise ParameterError(
            f"window has shape {values.shape}; window values must have shape ({n},)"
        )
    return values.copy()


def window_on(
    window: WindowSpec, win_length: int, n_fft: int, xp: ModuleType, like: Any, dtype: Any
) -> Any:
    """The window for an ``n_fft``-point frame, on ``like``'s backend, device and ``dtype``.

    A window shorter than ``n_fft`` is centred in the frame and zero-padded (librosa's
    ``pad_center``). A window given as an array of ``like``'s own library stays on its device.
    """
    if not isinstance(window, (str, tuple, int, float, np.ndarray)):
        try:
            same = namespace(window) is xp
        except ParameterError:
            same = False
        if same:
            if tuple(window.shape) != (win_length,):
                raise ParameterError(
                    f"window has shape {tuple(window.shape)}; window values must have shape "
                    f"({win_length},)"
                )
            win = xp.astype(window, dtype)
            if win_length == n_fft:
                return win
            lpad = (n_fft - win_length) // 2
            zeros_l = xp.zeros(lpad, dtype=dtype, device=win.device)
            zeros_r = xp.zeros(n_fft - win_length - lpad, dtype=dtype, device=win.device)
            return xp.concat([zeros_l, win, zeros_r])
    values = get_window(window, win_length, fftbins=True)
    if win_length < n_fft:
        lpad = (n_fft - win_length) // 2
        values = np.pad(values, (lpad, n_fft - win_length - lpad))
    return constant_like(values, xp, like, dtype)
