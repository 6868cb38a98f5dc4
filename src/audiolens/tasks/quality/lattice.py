"""The AAC quantization lattice: proof that a lossless file was decoded from AAC.

An AAC encoder codes each 1024-sample frame as the MDCT of 2048 windowed samples (a sine or a
Kaiser-Bessel-derived window), and each coefficient as an integer ``q`` that the decoder turns
back into ``sign(q) * |q| ** (4 / 3) * gain``, one ``gain`` per scale-factor band (32
coefficients wide above 10 kHz at 44.1 and 48 kHz). The MDCT with its window is a lapped
orthogonal transform, so the same MDCT, on the same frame grid, of the decoded samples gives
those values back, up to the rounding of the decode to 16 bits. Their magnitudes to the power
3/4 then sit on an integer lattice, band by band: ``1, 2, 3, 5, ...`` times one step. Audio that
never went through AAC shows no such lattice on any grid. This finds the AAC encodes that leave
no other mark (FFmpeg's AAC at 256 kb/s keeps the whole band, with no wall and no bands
switched off).

The decoder trims the encoder's priming samples, so the grid starts at a known place: at the
file's first sample for FFmpeg's encoder (1024 priming samples), 64 samples before a multiple
of 1024 for Apple's and Fraunhofer's (2112). Files that were cut after decoding keep no known
grid and are not found.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import array_api_compat
import numpy as np
import scipy.fft

from ...devices import Device

__all__ = ["LATTICE_RATES", "device_lattice_shares", "lattice_share"]

_N = 1024  # AAC long frame: 1024 new samples, a 2048-sample window
#: where the frame grid starts, in samples modulo 1024, for the usual encoders' priming
_GRID_OFFSETS = (0, 960)
#: the scale-factor bands tested: 448-928 in steps of 32 (about 9.6-19.9 kHz at 44.1 kHz)
_FIRST_BIN, _BAND, _N_BANDS = 448, 32, 15
#: the sample rates whose long-frame band table has those 32-wide bands
LATTICE_RATES = (44100, 48000)
#: frames analysed per grid (spread evenly over the stretches)
_FRAMES = 16
#: 16-bit rounding noise of one MDCT coefficient (standard deviation, unnormalised MDCT)
_NOISE = 2.0**-15 * np.sqrt(_N / 24.0)
#: a coefficient counts when it is this many noise deviations over the rounding noise
_OVER_NOISE = 6.0
#: a band is tested when this many of its coefficients count
_MIN_COUNTED = 8
#: a band is on the lattice when its values' mean distance to the nearest lattice point is
#: below this (in lattice steps; values with no lattice are 0.25 away on average)
_ON_LATTICE = 0.06
#: fewest tested bands for a share to mean anything
_MIN_BANDS = 30
#: lattice steps tried per band: its smallest counted values, divided by these
_CANDIDATES = 6
_MULTIPLES = (1.0, 2.0, 3.0)


@lru_cache(maxsize=1)
def _windows() -> np.ndarray:
    """The two AAC long windows, sine and Kaiser-Bessel-derived (alpha 4): [2, 2048]."""
    n = np.arange(2 * _N)
    sine = np.sin(np.pi * (n + 0.5) / (2 * _N))
    cum = np.cumsum(np.kaiser(_N + 1, 4.0 * np.pi))
    half = np.sqrt(cum[:_N] / cum[-1])
    return np.stack([sine, np.concatenate([half, half[::-1]])])


def mdct(frames: np.ndarray) -> np.ndarray:
    """The MDCT of windowed 2048-sample frames: [F, 2048] -> [F, 1024].

    ``X[k] = sum_n z[n] cos(pi / N (n + 1/2 + N/2) (k + 1/2))``, N = 1024, computed as the
    DCT-IV of the frame folded in half (quarters a b c d -> ``-c' - d, a - b'``, ``'``
    reversed).
    """
    a, b, c, d = np.split(frames, 4, axis=-1)
    folded = np.concatenate([-c[..., ::-1] - d, a - b[..., ::-1]], axis=-1)
    return scipy.fft.dct(folded, type=4, axis=-1) / 2.0


def _frames(pieces: Sequence[np.ndarray], starts: Sequence[int], offset: int) -> np.ndarray:
    """Up to ``_FRAMES`` 2048-sample frames on the grid ``offset`` (mod 1024): [F, 2048]."""
    spans = []
    for x, s0 in zip(pieces, starts):
        first = (offset - int(s0)) % _N
        count = (x.shape[-1] - first - 2 * _N) // _N + 1
        spans.extend((x, first + j * _N) for j in range(max(count, 0)))
    if not spans:
        return np.zeros((0, 2 * _N))
    pick = np.unique(np.linspace(0, len(spans) - 1, min(_FRAMES, len(spans))).round().astype(int))
    return np.stack([spans[i][0][spans[i][1] : spans[i][1] + 2 * _N] for i in pick])


def _band_distance(coef: Any) -> Any:
    """Per band, the mean distance of ``|coef| ** 0.75`` to the best lattice (NaN: untested).

    coef : [..., bands, 32], numpy or torch (any device). Lattice steps are tried from the
    band's ``_CANDIDATES`` smallest counted values divided by each of ``_MULTIPLES`` (the
    smallest often is ``q`` = 1, else 2 or 3), each refined to the step that fits all the
    values best (least squares), once each value has its lattice point.
    """
    xp = array_api_compat.array_namespace(coef)
    mag = xp.abs(coef)
    counted = (mag > _OVER_NOISE * _NOISE)[..., None, :]
    y = (mag**0.75)[..., None, :]  # [..., bands, 1, 32]
    smallest = xp.sort(xp.where(counted[..., 0, :], y[..., 0, :], xp.inf), axis=-1)
    # every candidate step (smallest value / multiple) at once: [..., bands, tries, 1]
    multiples = xp.asarray(_MULTIPLES, dtype=coef.dtype, device=array_api_compat.device(coef))
    step = smallest[..., :_CANDIDATES, None] / multiples
    step = xp.reshape(step, (*step.shape[:-2], step.shape[-2] * step.shape[-1], 1))
    usable = xp.isfinite(step)
    q = y / xp.where(usable, step, 1.0)
    near = xp.round(q)
    sel = counted & (near >= 1.0) & usable
    n = xp.sum(sel, axis=-1)
    # the step that fits the values best, given which lattice point each is on
    fit = xp.where(sel, near, 0.0)
    den = xp.sum(fit * fit, axis=-1, keepdims=True)
    num = xp.sum(fit * xp.where(sel, q, 0.0), axis=-1, keepdims=True)
    q = q / xp.where(den > 0, num / xp.clip(den, min=1e-30), 1.0)
    dist = xp.sum(xp.where(sel, xp.abs(q - near), 0.0), axis=-1) / xp.clip(n, min=1)
    # the best try with enough values (NaN where none has)
    tried = xp.where(n >= _MIN_COUNTED, dist, xp.inf)
    best = xp.min(tried, axis=-1)
    return xp.where(xp.isinf(best), xp.nan, best)


def lattice_share(pieces: Sequence[np.ndarray], *, starts: Sequence[int], sr: int) -> float:
    """The share of tested scale-factor bands whose MDCT values sit on an AAC lattice.

    Tried on both usual frame grids and both AAC windows; the largest share is returned. Audio
    that never went through AAC gives about 0; FFmpeg's AAC at 128-256 kb/s mostly 0.3-1.

    Parameters
    ----------
    pieces : sequence of np.ndarray [shape=(n,)], mono stretches of one file (the channels'
        mean: where the encoder coded mid and side, the mid is on the lattice)
    starts : the first sample of each stretch in the file (the frame grid is counted from the
        file's first sample)
    sr : sample rate in Hz; other rates than ``LATTICE_RATES`` give 0.0

    Returns
    -------
    share : float in [0, 1]; 0.0 when fewer than 30 bands could be tested
    """
    if sr not in LATTICE_RATES:
        return 0.0
    best = 0.0
    flat = [np.asarray(p, dtype=np.float64) for p in pieces]
    for offset in _GRID_OFFSETS:
        frames = _frames(flat, starts, offset)
        if frames.shape[0] == 0:
            continue
        for window in _windows():
            coef = mdct(frames * window)[:, _FIRST_BIN : _FIRST_BIN + _N_BANDS * _BAND]
            coef = coef.reshape(frames.shape[0], _N_BANDS, _BAND)
            dist = _band_distance(coef)
            tested = dist[np.isfinite(dist)]
            if tested.size >= _MIN_BANDS:
                best = max(best, float(np.mean(tested < _ON_LATTICE)))
    return best


@lru_cache(maxsize=1)
def _basis() -> np.ndarray:
    """The MDCT's rows for the tested bins: [2048, _N_BANDS * _BAND], so that
    ``frames @ basis`` is ``mdct(frames)[:, _FIRST_BIN : _FIRST_BIN + _N_BANDS * _BAND]``. The
    phase ``pi / N (n + 1/2 + N/2) (k + 1/2)`` is reduced in integers first (mod 2 pi)."""
    n = np.arange(2 * _N)[:, None]
    k = np.arange(_FIRST_BIN, _FIRST_BIN + _N_BANDS * _BAND)[None, :]
    turns = ((2 * n + 1 + _N) * (2 * k + 1)) % (8 * _N)  # the phase in units of pi / (4N)
    return np.cos(np.pi * turns / (4 * _N))


def device_lattice_shares(
    flats: Sequence[Sequence[np.ndarray]],
    *,
    starts: Sequence[Sequence[int]],
    srs: Sequence[int],
    device: Device,
) -> list[float]:
    """:func:`lattice_share` of many files at once on a torch ``device``: their frames (picked
    on the host, 64 kB each) go up in one copy, and the MDCTs (one matrix product with the
    tested bins' rows) and the lattice fits of every grid, window and band run together
    there, in float64; one number per file comes back.

    Parameters
    ----------
    flats : per file, its mono stretches float64 [shape=(n,)]
    starts : per file, the first sample of each stretch in the file
    srs : per file, its sample rate (other rates than ``LATTICE_RATES`` give 0.0)
    device : a torch device

    Returns
    -------
    shares : one per file, equal to :func:`lattice_share` within float64 rounding
    """
    import torch

    from .power import device_calls

    out = [0.0] * len(flats)
    todo = [k for k, sr in enumerate(srs) if sr in LATTICE_RATES]
    dev = device.torch_device

    def run(batch: Sequence[int]) -> None:
        chosen = [todo[j] for j in batch]
        # [files, grids, frames, 2048]; a grid with fewer frames is padded with silence,
        # whose bands count no value and so are not tested
        frames = np.zeros((len(chosen), len(_GRID_OFFSETS), _FRAMES, 2 * _N))
        for row, k in enumerate(chosen):
            flat = [np.asarray(p, dtype=np.float64) for p in flats[k]]
            for g, offset in enumerate(_GRID_OFFSETS):
                picked = _frames(flat, starts[k], offset)
                frames[row, g, : picked.shape[0]] = picked
        x = torch.from_numpy(frames).to(dev)
        windows = torch.from_numpy(_windows()).to(dev)  # [windows, 2048]
        basis = torch.from_numpy(_basis()).to(dev)
        coef = (x[:, :, None] * windows[None, None, :, None, :]) @ basis
        dist = _band_distance(coef.reshape(*coef.shape[:-1], _N_BANDS, _BAND))
        tested = torch.isfinite(dist).sum(dim=(-2, -1))  # per file, grid, window
        on = (dist < _ON_LATTICE).sum(dim=(-2, -1))
        share = torch.where(tested >= _MIN_BANDS, on.double() / tested.clamp(min=1), 0.0)
        best = share.reshape(len(chosen), -1).amax(dim=1).cpu().numpy()
        for k, v in zip(chosen, best, strict=True):
            out[k] = float(v)

    # the frames, their windowed copies and the fits' work space (every try at once)
    device_calls([48 * 2**20] * len(todo), run, device=device)
    return out
