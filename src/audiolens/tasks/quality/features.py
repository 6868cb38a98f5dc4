"""Spectral features of the ``quality`` task.

Lossy codecs leave two marks a listener's eye finds in a spectrogram: a low-pass "brick wall"
(LAME 128 kb/s cuts at 17 kHz, 320 kb/s at 20.5 kHz, Vorbis and AAC by quality) above which the
spectrum is empty or sits at the quantization floor, and holes where the quantizer zeroed
coefficients. The features below describe the long-term average spectrum (LTAS) of a few
stretches of the file around those marks; the model in :mod:`.model` turns them into classes.

Everything above a lossy cutoff is tiny (float32 FFT rounding would dominate it), so the
features are computed in float64 on every backend.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from ...devices import Device
from .lattice import device_lattice_shares, lattice_share
from .mp3grid import grid_share
from .power import on_device, piece_powers

__all__ = [
    "FEATURE_NAMES",
    "N_FFT",
    "HostMeasures",
    "SpectralSummary",
    "Stretches",
    "clipped_frames",
    "host_measures",
    "summarize",
    "summarize_batch",
]

#: bumped whenever a feature's definition changes (trained models and caches go stale)
#: (4: frames holding a full-scale sample left out of a lossless file's features; 5: the MP3
#: granule grid, ``mp3_grid``)
FEATURE_VERSION = 5
N_FFT = 4096
HOP = 2048
BAND_EDGES = np.arange(8000.0, 24001.0, 250.0)  # 64 bands of 250 Hz, 8-24 kHz
_FLOOR_DB = -160.0
_REF_BAND = (1000.0, 8000.0)
_HF_BANDS = ((12000.0, 15000.0), (15000.0, 17500.0), (17500.0, 19500.0), (19500.0, 22000.0))
_HOLE_BANDS = (
    (8000.0, 11000.0),
    (11000.0, 14000.0),
    (14000.0, 16000.0),
    (16000.0, 19000.0),
    (19000.0, 21000.0),
)
#: where every lossy codec keeps content: a file with nothing here gives no evidence either way
EVIDENCE_BAND = (12000.0, 16000.0)
_HOLE_DB = 20.0  # a sub-band this far below its neighbours is a hole the quantizer made
#: how far content must sit over the floor below an edge for the edge to count as a wall
EDGE_DROP_DB = 20.0

FEATURE_NAMES: tuple[str, ...] = (
    *(f"band_{int(lo)}" for lo in BAND_EDGES[:-1]),
    "nyquist_khz",
    "hf_abs_db",
    "cutoff_khz",
    "step_db",
    "below_rel_db",
    "above_rel_db",
    "slope_db",
    *(f"std_{int(lo)}" for lo, _ in _HF_BANDS),
    *(f"quiet_{int(lo)}" for lo, _ in _HF_BANDS),
    *(f"zero_{int(lo)}" for lo, _ in _HF_BANDS),
    *(f"holes_{int(lo)}" for lo, _ in _HOLE_BANDS),
    *(f"dips_{int(lo)}" for lo, _ in _HOLE_BANDS),
    "above_abs_db",
    "below_abs_db",
    "above_flat_db",
    "above_var_db",
    "below_var_db",
    "edge_khz",
    "edge_drop_db",
    "edge_width_khz",
    "edge_gap_khz",
    "mp3_grid",
)


def _rounding_floor(n_fft: int) -> float:
    """Per-bin power of 16-bit rounding noise in a Hann-windowed |STFT|^2 of ``n_fft``:
    (2 / 2**16)**2 / 12 * sum(hann**2)."""
    return (2.0 / 2**16) ** 2 / 12.0 * 0.375 * n_fft


#: per-bin power of 16-bit rounding noise in these spectra, in dB
QUANT_FLOOR_DB = float(10.0 * np.log10(_rounding_floor(N_FFT)))

#: short frames (11.6 ms at 44.1 kHz, about an MP3 granule) for codec marks that come and go
#: from one frame to the next, and the bands above 16 kHz where they are looked for
SHORT_FFT = 512
FLICKER_BANDS = ((16000.0, 17500.0), (17500.0, 19000.0), (19000.0, 20500.0))
#: a frame counts when its 10-14 kHz band is this far over 16-bit rounding noise (dB) ...
_FLICKER_ACTIVE_DB = 30.0
#: ... a band is off within this of the rounding noise (dB), and was on this far over it
_FLICKER_HOLE_DB = 3.0
_FLICKER_ON_DB = 20.0
#: fewest counted frames for a share to mean anything
_FLICKER_MIN_FRAMES = 100
_SHORT_FLOOR = _rounding_floor(SHORT_FFT)
#: a sample this close to full scale (16-bit 32767 / 32768 and up) was likely clipped
FULL_SCALE = 32767.0 / 32768.0
#: fewest frames without a full-scale sample for the features to use those frames alone
MIN_CLEAN_FRAMES = 32


@dataclass(frozen=True)
class SpectralSummary:
    """What the features saw in one file.

    Attributes
    ----------
    features : np.ndarray [shape=(len(FEATURE_NAMES),), dtype=float64]
    cutoff_hz : the estimated low-pass frequency (the Nyquist frequency when there is none)
    step_db : how far the spectrum drops at that cutoff, in dB
    ltas_db : np.ndarray [shape=(N_FFT // 2 + 1,)], the long-term average spectrum in dB
    freqs : np.ndarray [shape=(N_FFT // 2 + 1,)], Hz
    frames : number of non-silent STFT frames used
    clipped : number of STFT frames left out because a channel reached full scale in them
    flicker : :func:`flicker` of the stretches (0.0 when it was not asked for)
    lattice : :func:`.lattice.lattice_share` of the stretches (0.0 when it was not asked for)
    mp3_grid : :func:`.mp3grid.grid_share` of the stretches (0.0 when it was not asked for)
    """

    features: np.ndarray
    cutoff_hz: float
    step_db: float
    ltas_db: np.ndarray
    freqs: np.ndarray
    frames: int
    flicker: float = 0.0
    lattice: float = 0.0
    clipped: int = 0
    mp3_grid: float = 0.0


def clipped_frames(
    pieces: Sequence[np.ndarray], *, n_fft: int = N_FFT, hop: int = HOP
) -> np.ndarray:
    """Which STFT frames of the pieces hold a sample at full scale in any channel.

    A lossy decode overshoots full scale where the original was mastered to it; stored in a
    16-bit file it clips there, and each clipped run spreads a broadband burst over the band
    above the codec's wall that the wall's tests (flat, steady, at the rounding floor) would
    otherwise see. Frames are those of the features' STFT (``center=False``), in order.

    Parameters
    ----------
    pieces : sequence of np.ndarray [shape=(channels, n)] or [shape=(n,)]

    Returns
    -------
    clipped : np.ndarray [shape=(frames,), dtype=bool]
    """
    out = []
    for p in pieces:
        x = np.atleast_2d(p)
        n = x.shape[-1]
        if n < n_fft:
            continue
        hit = (np.abs(x) >= FULL_SCALE).any(axis=0)
        c = np.concatenate([[0], np.cumsum(hit)])
        first = np.arange(1 + (n - n_fft) // hop) * hop
        out.append(c[first + n_fft] - c[first] > 0)
    return np.concatenate(out) if out else np.zeros(0, dtype=bool)


def flicker(pieces: Sequence[np.ndarray], *, sr: int, device: Device) -> float:
    """How often a band above 16 kHz falls from content to bare rounding noise in one frame.

    A lossy encoder short of bits zeroes its highest bands granule by granule, so its decode,
    stored in 16 bits, drops there from content to nothing but rounding noise from one 11.6 ms
    frame to the next, even where the encoder applies no low-pass (LAME ``-V0``, Vorbis
    ``-q 7``). Sounds may start that abruptly, but they do not end so: notes, rooms and
    reverb decay, and noise and dither stay. Per band of ``FLICKER_BANDS``: the share of counted
    frames (10-14 kHz at least 30 dB over 16-bit rounding noise) where the band sits within
    3 dB of that noise while the frame before had it 20 dB over; the largest share is returned.
    0.0 with fewer than 100 counted frames or no such band below the Nyquist frequency.

    Parameters
    ----------
    pieces : sequence of np.ndarray [shape=(n,)], float64, mono stretches of one file
    sr : sample rate in Hz
    device : where the STFT runs

    Returns
    -------
    share : float in [0, 1]
    """
    if not _flicker_bands(sr):
        return 0.0
    return _flicker_share(_short_powers(pieces, device), sr=sr)


def _flicker_bands(sr: int) -> list[tuple[float, float]]:
    """The bands of ``FLICKER_BANDS`` under the Nyquist frequency of ``sr`` (with 500 Hz)."""
    return [(lo, hi) for lo, hi in FLICKER_BANDS if hi <= sr / 2.0 - 500.0]


def _short_powers(pieces: Sequence[np.ndarray], device: Device) -> list[np.ndarray | None]:
    return piece_powers(pieces, n_fft=SHORT_FFT, hop=SHORT_FFT, device=device)


def _flicker_share(powers: Sequence[np.ndarray | None], *, sr: int) -> float:
    """:func:`flicker` from the ``SHORT_FFT`` |STFT|^2 frames of each piece (None: too short)."""
    freqs = np.arange(SHORT_FFT // 2 + 1) * (sr / SHORT_FFT)
    bands = _flicker_bands(sr)
    if not bands:
        return 0.0
    active_min = _SHORT_FLOOR * 10.0 ** (_FLICKER_ACTIVE_DB / 10.0)
    hole_max = _SHORT_FLOOR * 10.0 ** (_FLICKER_HOLE_DB / 10.0)
    on_min = _SHORT_FLOOR * 10.0 ** (_FLICKER_ON_DB / 10.0)
    counted, flips = 0, np.zeros(len(bands))
    for power in powers:
        if power is None or power.shape[0] < 3:
            continue
        active = _band_mean(power, freqs, 10000.0, 14000.0)[1:-1] > active_min
        counted += int(active.sum())
        for i, (lo, hi) in enumerate(bands):
            b = _band_mean(power, freqs, lo, hi)
            flips[i] += int(np.sum(active & (b[1:-1] < hole_max) & (b[:-2] > on_min)))
    if counted < _FLICKER_MIN_FRAMES:
        return 0.0
    return float(flips.max() / counted)


def _db(x: np.ndarray) -> np.ndarray:
    return np.maximum(10.0 * np.log10(np.maximum(x, 1e-30)), _FLOOR_DB)


def _band_mean(spec: np.ndarray, freqs: np.ndarray, lo: float, hi: float) -> np.ndarray:
    sel = (freqs >= lo) & (freqs < hi)
    if not sel.any():
        return np.full(spec.shape[:-1], np.nan)
    return spec[..., sel].mean(axis=-1)


@lru_cache(maxsize=16)
def _band_bins(sr: int) -> tuple[tuple[int, np.ndarray], ...]:
    """The bins of each band of ``BAND_EDGES`` at ``sr``, the bands of one width together:
    (band positions, [bands, width] bin indices) per width."""
    freqs = _freqs(sr)
    by_width: dict[int, list[tuple[int, np.ndarray]]] = {}
    for i, (lo, hi) in enumerate(itertools.pairwise(BAND_EDGES)):
        sel = np.flatnonzero((freqs >= lo) & (freqs < hi))
        by_width.setdefault(sel.size, []).append((i, sel))
    return tuple(
        (np.array([i for i, _ in rows]), np.stack([b for _, b in rows]))
        for width, rows in by_width.items()
        if width
    )


def _band_means(ltas_db: np.ndarray, sr: int) -> np.ndarray:
    """Per band of ``BAND_EDGES``, the mean of ``ltas_db`` over its bins (NaN above the
    Nyquist frequency): the same sums as :func:`_band_mean`, band by band (each band's bins
    are one contiguous row), in one indexing per band width."""
    out = np.full(BAND_EDGES.size - 1, np.nan)
    for where, bins in _band_bins(sr):
        out[where] = ltas_db[bins].mean(axis=1)
    return out


def _cutoff(ltas_db: np.ndarray, freqs: np.ndarray, nyquist: float) -> tuple[float, float, float]:
    """Find the brick wall: (cutoff_hz, step_db, slope_db per 100 Hz)."""
    df = freqs[1] - freqs[0]
    w = max(int(round(800.0 / df)), 4)  # compare 800 Hz either side
    gap = max(int(round(120.0 / df)), 1)  # ignore the transition band
    c = np.concatenate([[0.0], np.cumsum(ltas_db)])
    n = ltas_db.size
    k = np.arange(n)
    lo_a, lo_b = np.clip(k - gap - w, 0, n), np.clip(k - gap, 0, n)
    hi_a, hi_b = np.clip(k + gap, 0, n), np.clip(k + gap + w, 0, n)
    below = (c[lo_b] - c[lo_a]) / np.maximum(lo_b - lo_a, 1)
    above = (c[hi_b] - c[hi_a]) / np.maximum(hi_b - hi_a, 1)
    step = np.where((lo_b - lo_a >= w // 2) & (hi_b - hi_a >= 2), below - above, 0.0)
    step[freqs < 3000.0] = 0.0
    if not np.any(step > 0):
        return nyquist, 0.0, 0.0
    best = float(step.max())
    # the highest-frequency wall that is nearly as strong as the strongest one
    cand = np.flatnonzero(step >= best - 3.0)
    kc = int(cand[-1])
    span = slice(max(kc - gap - 2, 1), min(kc + gap + 3, n))
    drops = ltas_db[span.start - 1 : span.stop - 1] - ltas_db[span]
    kd = span.start + int(np.argmax(drops))
    slope = float(ltas_db[max(kd - 5, 0)] - ltas_db[min(kd + 5, n - 1)]) / (10 * df / 100.0)
    return float(freqs[kd]), best, slope


def _holes(power: np.ndarray, freqs: np.ndarray) -> tuple[list[float], list[float]]:
    """Per band: the share of (frame, 8-bin sub-band) cells far below their neighbours in the
    same frame, and how deep the deepest 5% of cells dip below them (dB), median over sub-bands.

    Lossless audio has no holes: dither, noise and the music itself fill every sub-band about
    as much as its neighbours. Lossy codecs switch sub-bands off frame by frame. Comparing with
    the same frame's neighbours (not the band's long-term level) keeps loud transients from
    looking like holes.
    """
    from scipy.ndimage import median_filter

    holes, dips = [], []
    for lo, hi in _HOLE_BANDS:
        sel = np.flatnonzero((freqs >= lo) & (freqs < hi))
        n_sub = sel.size // 8
        if n_sub < 3 or power.shape[0] == 0:
            holes.append(1.0)
            dips.append(-100.0)
            continue
        cells = power[:, sel[: n_sub * 8]].reshape(power.shape[0], n_sub, 8).mean(axis=2)
        cells_db = _db(cells)
        below = cells_db - median_filter(cells_db, size=(1, 7), mode="nearest")
        holes.append(float(np.mean(below < -_HOLE_DB)))
        dips.append(float(np.median(np.percentile(below, 5, axis=0))))
    return holes, dips


def _wall_bins(freqs: np.ndarray, cutoff: float, nyquist: float) -> tuple[np.ndarray, np.ndarray]:
    """The bins just above and just below the wall at ``cutoff`` (boolean masks)."""
    hi_end = min(cutoff + 2000.0, nyquist - 200.0)
    above = (freqs >= cutoff + 150.0) & (freqs < hi_end)
    below = (freqs >= cutoff - 1500.0) & (freqs < cutoff - 150.0)
    return above, below


def _wall_sides(
    ltas_db: np.ndarray, freqs: np.ndarray, cutoff: float, nyquist: float
) -> list[float]:
    """Absolute level and flatness just above and below the wall.

    A codec's low-pass leaves, above its wall, nothing but the decoder's rounding noise: flat
    across bins (``above_flat_db``: dB std of the long-term spectrum around a straight line),
    steady from frame to frame (:func:`_wall_vars`) and at the quantization floor
    (``above_abs_db``). Music and room noise above a natural roll-off come and go with the
    notes. Levels are absolute dB per bin (16-bit rounding noise of one channel:
    ``QUANT_FLOOR_DB``).
    """
    above, below = _wall_bins(freqs, cutoff, nyquist)
    out = []
    for sel in (above, below):
        out.append(float(ltas_db[sel].mean()) if sel.sum() >= 4 else _FLOOR_DB)
    if above.sum() >= 8:
        f, v = freqs[above], ltas_db[above]
        resid = v - np.polyval(np.polyfit(f, v, 1), f)
        out.append(float(np.std(resid)))
    else:
        out.append(0.0)
    return out


def _wall_vars(power: np.ndarray, freqs: np.ndarray, cutoff: float, nyquist: float) -> list[float]:
    """How much the per-frame level just above and just below the wall ranges
    (``above_var_db``, ``below_var_db``: the 95th minus the 50th percentile of the frames'
    dB level there)."""
    out = []
    for sel in _wall_bins(freqs, cutoff, nyquist):
        if sel.sum() >= 4 and power.shape[0] >= 2:
            lv = _db(power[:, sel].mean(axis=1))
            out.append(float(np.percentile(lv, 95) - np.percentile(lv, 50)))
        else:
            out.append(0.0)
    return out


def _edge_features(ltas_db: np.ndarray, freqs: np.ndarray, cutoff: float) -> list[float]:
    edge, drop, width = content_edge(ltas_db, freqs, cutoff)
    return [edge / 1000.0, drop, width / 1000.0, (cutoff - edge) / 1000.0]


def content_edge(
    ltas_db: np.ndarray, freqs: np.ndarray, top_hz: float, *, min_drop_db: float = EDGE_DROP_DB
) -> tuple[float, float, float]:
    """Where the content stops below ``top_hz``: (edge_hz, drop_db, width_hz).

    The floor is the long-term level just below ``top_hz`` (a container's own low-pass, or the
    wall found); the edge is the highest frequency whose smoothed level is 10 dB over that
    floor; ``drop_db`` is how far the content 0.3-1 kHz below the edge sits over the floor and
    ``width_hz`` how wide the fall from content to floor is. An earlier encoder's low-pass
    falls in a few hundred Hz; the roll-off of an instrument, a room or an EQ takes kHz.
    The edge chosen is the highest one with content ``min_drop_db`` over the floor under it.
    Without an edge (the content reaches ``top_hz``): (top_hz, 0, 0).
    """
    df = float(freqs[1] - freqs[0])
    k = max(int(round(101.0 / df)), 1) | 1
    smooth = np.convolve(ltas_db, np.ones(k) / k, mode="same")
    floor_sel = (freqs >= top_hz - 1200.0) & (freqs < top_hz - 200.0)
    if floor_sel.sum() < 4:
        return top_hz, 0.0, 0.0
    floor = float(np.median(ltas_db[floor_sel]))
    idx = np.flatnonzero((smooth > floor + 10.0) & (freqs < top_hz - 200.0) & (freqs > 2000.0))
    if idx.size == 0:
        return top_hz, 0.0, 0.0
    # the level 0.3-1 kHz below every candidate edge, from cumulative sums
    c = np.concatenate([[0.0], np.cumsum(ltas_db)])
    lo_k = np.clip(idx - int(round(1000.0 / df)), 0, None)
    hi_k = np.clip(idx - int(round(300.0 / df)), 1, None)
    content_all = (c[hi_k] - c[lo_k]) / np.maximum(hi_k - lo_k, 1)
    # the highest edge with a real fall under it (a codec's wall), else the highest edge
    strong = np.flatnonzero(content_all - floor >= min_drop_db)
    j = int(strong[-1]) if strong.size else idx.size - 1
    ke = int(idx[j])
    edge = float(freqs[ke])
    content = float(content_all[j])
    drop = content - floor
    hi = (
        ke + int(np.argmax(smooth[ke:] <= floor + 3.0))
        if np.any(smooth[ke:] <= floor + 3.0)
        else ke
    )
    above_c = np.flatnonzero(smooth[:ke] >= content - 3.0)
    lo = int(above_c[-1]) if above_c.size else 0
    return edge, drop, float(freqs[hi] - freqs[lo])


def summarize(
    pieces: Sequence[np.ndarray],
    *,
    sr: int,
    device: Device,
    codec_marks: bool = False,
    starts: Sequence[int] | None = None,
    skip_clipped: bool = False,
    mp3_grid: bool = False,
) -> SpectralSummary:
    """Compute the quality features of one file from some of its stretches.

    Parameters
    ----------
    pieces : sequence of np.ndarray [shape=(n,)] or [shape=(channels, n)], float32 or
        float64; the features are those of the channels' mean
    sr : sample rate in Hz
    device : where the STFT runs (features are float64 everywhere)
    codec_marks : also measure the marks only a lossless container can be caught by:
        :func:`flicker` (one more, shorter STFT) and, given ``starts``, the AAC lattice
        (:func:`.lattice.lattice_share`)
    starts : the first sample of each piece in the file (the AAC frame grid and the MP3
        granule grid are counted from the file's first sample)
    skip_clipped : leave out the frames where a channel reaches full scale
        (:func:`clipped_frames`), when at least ``MIN_CLEAN_FRAMES`` others remain: for a
        lossless file, whose clipping may hide a lossy decoder's wall. Clipping itself is no
        evidence either way (masters clip too).
    mp3_grid : given ``starts``, also measure how coarsely an MP3 encoder once quantized the
        audio (:func:`.mp3grid.grid_share`): for MP3 and lossless files

    Returns
    -------
    summary : SpectralSummary
    """
    one = Stretches(
        pieces,
        sr=sr,
        codec_marks=codec_marks,
        starts=starts,
        skip_clipped=skip_clipped,
        mp3_grid=mp3_grid,
    )
    return summarize_batch([one], device=device)[0]


@dataclass(frozen=True)
class Stretches:
    """The decoded stretches of one file, and what :func:`summarize_batch` measures in them
    (the arguments of :func:`summarize`)."""

    pieces: Sequence[np.ndarray]
    sr: int
    codec_marks: bool = False
    starts: Sequence[int] | None = None
    skip_clipped: bool = False
    #: measure the MP3 granule grid (:func:`.mp3grid.grid_share`; needs ``starts``)
    mp3_grid: bool = False
    #: what :func:`host_measures` found, where it ran already (the runner's workers)
    measured: HostMeasures | None = None


@dataclass(frozen=True)
class HostMeasures:
    """What the features measure on the samples, not on the frames: made on the host, where
    the file was decoded when the runner calls :meth:`QualityTask.prepare` (the mono mix
    alone goes on to the frames).

    Attributes
    ----------
    clipped : :func:`clipped_frames` of a file whose clipped frames are left out, else None
    mp3_grid : :func:`.mp3grid.grid_share` of the mono mix (0.0 when it was not asked for):
        its filter bank runs on the host for every device, about 13 ms a file
    """

    clipped: np.ndarray | None
    mp3_grid: float = 0.0


def host_measures(f: Stretches, flat: Sequence[np.ndarray] | None = None) -> HostMeasures:
    """:class:`HostMeasures` of one file (``flat``: its stretches' mono mix, when made)."""
    grid = 0.0
    if f.mp3_grid and f.starts is not None:
        flat = [_mono(p) for p in f.pieces] if flat is None else flat
        grid = grid_share(flat, starts=f.starts)
    return HostMeasures(clipped_frames(f.pieces) if f.skip_clipped else None, grid)


def summarize_batch(files: Sequence[Stretches], *, device: Device) -> list[SpectralSummary]:
    """:func:`summarize` of many files, with their frames batched on the device.

    On a torch device (CUDA; the CPU stands in for it in the tests) the ``N_FFT`` frames of
    every stretch of a batch of files are transformed in one float64 device call (more where
    free memory is short) and stay there: the per-frame statistics (the long-term spectrum,
    the frames' high-band levels, the holes, the levels either side of the wall and their
    percentiles, and the :func:`flicker` of the ``SHORT_FFT`` frames) are computed there for
    all the files together, and only a few numbers per file come back
    (:func:`.device_stats.device_frame_stats`); the AAC lattice's MDCTs and fits run there too,
    all files together (:func:`.lattice.device_lattice_shares`). The wall itself
    (:func:`_cutoff`) and the content edge run on the host, file by file. On numpy each stretch is
    transformed and measured alone: the reference, which the device path equals within
    float64 rounding.

    Parameters
    ----------
    files : one :class:`Stretches` per file, of any sample rates, lengths and channel counts
    device : where the frames are transformed and measured (float64 everywhere; MPS uses numpy)

    Returns
    -------
    summaries : list of SpectralSummary, one per file, in order
    """
    flats = [[_mono(p) for p in f.pieces] for f in files]
    files = [
        f if f.measured is not None else replace(f, measured=host_measures(f, flat))
        for f, flat in zip(files, flats, strict=True)
    ]
    if on_device(device):
        from .device_stats import device_frame_stats

        stats = device_frame_stats(files, flats, device=device)
    else:
        stats = [_host_stats(f, flat) for f, flat in zip(files, flats, strict=True)]
    lattices = _lattices(files, flats, device)
    return [_summary(f, st, s) for f, st, s in zip(files, stats, lattices, strict=True)]


def _lattices(
    files: Sequence[Stretches], flats: Sequence[Sequence[np.ndarray]], device: Device
) -> list[float]:
    """The AAC lattice share of each file that asks for it (0.0 for the others): numpy file
    by file, or every file at once on a torch device (:func:`.lattice.device_lattice_shares`)."""
    asked = [k for k, f in enumerate(files) if f.codec_marks and f.starts is not None]
    if on_device(device):
        shares = device_lattice_shares(
            [flats[k] for k in asked],
            starts=[files[k].starts for k in asked],  # type: ignore[misc]
            srs=[files[k].sr for k in asked],
            device=device,
        )
    else:
        shares = [lattice_share(flats[k], starts=files[k].starts, sr=files[k].sr) for k in asked]
    out = [0.0] * len(files)
    for k, share in zip(asked, shares, strict=True):
        out[k] = share
    return out


@dataclass(frozen=True)
class FrameStats:
    """The per-frame statistics of one file, as few numbers as the features need: what the
    device sends back (:mod:`.device_stats`), or the host computes from the frames (numpy).

    Attributes
    ----------
    mean_power : np.ndarray [shape=(N_FFT // 2 + 1,)], the kept frames' mean |STFT|^2
    frames : number of frames kept (not silent, not clipped)
    clipped : number of frames left out because a channel reached full scale in them
    wall : (cutoff_hz, step_db, slope_db) of :func:`_cutoff` on the long-term spectrum
    hf : the frame-level high-band statistics: 4 ``std_``, 4 ``quiet_``, 4 ``zero_``
    holes : :func:`_holes`: 5 ``holes_``, 5 ``dips_``
    wall_vars : :func:`_wall_vars`: ``above_var_db``, ``below_var_db``
    flicker : :func:`flicker` (0.0 when it was not asked for)
    """

    mean_power: np.ndarray
    frames: int
    clipped: int
    wall: tuple[float, float, float]
    hf: list[float]
    holes: list[float]
    wall_vars: list[float]
    flicker: float


def _freqs(sr: int) -> np.ndarray:
    return np.arange(N_FFT // 2 + 1) * (sr / N_FFT)


def _wall(mean_power: np.ndarray, frames: int, sr: int) -> tuple[float, float, float]:
    """:func:`_cutoff` of the long-term spectrum ``mean_power`` (none without frames)."""
    nyquist = sr / 2.0
    return _cutoff(_db(mean_power), _freqs(sr), nyquist) if frames else (nyquist, 0.0, 0.0)


def _host_stats(f: Stretches, flat: Sequence[np.ndarray]) -> FrameStats:
    """:class:`FrameStats` of one file on the host (numpy): the reference."""
    cpu = Device("cpu", "numpy", "float64")
    long_powers = piece_powers(flat, n_fft=N_FFT, hop=HOP, device=cpu)
    stacked = [p for p in long_powers if p is not None]
    power = np.concatenate(stacked, axis=0) if stacked else np.zeros((0, N_FFT // 2 + 1))
    n_clipped = 0
    left_out = _left_out(f, power.shape[0])
    if left_out is not None:
        power, n_clipped = power[~left_out], int(left_out.sum())
    if power.shape[0]:
        energy = power.sum(axis=1)
        power = power[energy > max(energy.max(), 1e-30) * 1e-7]
    share = 0.0
    if f.codec_marks and _flicker_bands(f.sr):
        share = _flicker_share(_short_powers(flat, cpu), sr=f.sr)
    return _power_stats(power, sr=f.sr, clipped=n_clipped, flicker=share)


def _left_out(f: Stretches, frames: int) -> np.ndarray | None:
    """Which of a file's ``frames`` STFT frames are left out for clipping (None: none): its
    clipped frames, when it asks for that and ``MIN_CLEAN_FRAMES`` others remain."""
    if not f.skip_clipped or not frames:
        return None
    clipped = f.measured.clipped if f.measured is not None else clipped_frames(f.pieces)
    if clipped is None or not clipped.any() or int((~clipped).sum()) < MIN_CLEAN_FRAMES:
        return None
    return clipped


def _power_stats(power: np.ndarray, *, sr: int, clipped: int, flicker: float) -> FrameStats:
    """:class:`FrameStats` of the kept frames ``power`` [shape=(frames, N_FFT // 2 + 1)]."""
    freqs, nyquist = _freqs(sr), sr / 2.0
    frames = int(power.shape[0])
    mean_power = power.mean(axis=0) if frames else np.zeros_like(freqs)
    wall = _wall(mean_power, frames, sr)
    holes, dips = _holes(power, freqs)
    return FrameStats(
        mean_power,
        frames,
        clipped,
        wall,
        _hf_stats(power, freqs, nyquist),
        [*holes, *dips],
        _wall_vars(power, freqs, wall[0], nyquist),
        flicker,
    )


def _hf_stats(power: np.ndarray, freqs: np.ndarray, nyquist: float) -> list[float]:
    """Per band of ``_HF_BANDS``: the std of the frames' dB level, the share of frames 70 dB
    under their own 1-8 kHz level, and the share of (frame, bin) cells under -135 dB."""
    frames = power.shape[0]
    frame_db = _db(power) if frames else np.full((1, freqs.size), _FLOOR_DB)
    frame_ref = _band_mean(frame_db, freqs, *_REF_BAND)
    stds, quiet, zero = [], [], []
    for lo, hi in _HF_BANDS:
        band = _band_mean(frame_db, freqs, lo, min(hi, nyquist))
        if not np.all(np.isfinite(band)):
            stds.append(0.0), quiet.append(1.0), zero.append(1.0)
            continue
        stds.append(float(np.std(band)))
        quiet.append(float(np.mean(band < frame_ref - 70.0)))
        sel = (freqs >= lo) & (freqs < min(hi, nyquist))
        zero.append(float(np.mean(frame_db[:, sel] < -135.0)))
    return [*stds, *quiet, *zero]


def _summary(f: Stretches, st: FrameStats, lattice: float) -> SpectralSummary:
    """The features of one file from its :class:`FrameStats`, its lattice share and its
    :class:`HostMeasures`."""
    grid = f.measured.mp3_grid if f.measured is not None else 0.0
    sr = f.sr
    freqs = _freqs(sr)
    nyquist = sr / 2.0
    mean_power = st.mean_power
    ltas_db = _db(mean_power)  # all at the floor when there are no frames
    ref = float(_db(np.asarray(_band_mean(mean_power, freqs, *_REF_BAND))))
    bands_arr = _band_means(ltas_db, sr) - ref
    last = bands_arr[np.isfinite(bands_arr)]
    bands_arr[~np.isfinite(bands_arr)] = (last[-1] if last.size else 0.0) - 30.0
    cutoff, step, slope = st.wall
    below = _band_mean(ltas_db, freqs, cutoff - 1000.0, cutoff - 100.0)
    above = _band_mean(ltas_db, freqs, cutoff + 100.0, min(cutoff + 1500.0, nyquist))
    below = float(below) - ref if np.isfinite(below) else 0.0
    above = float(above) - ref if np.isfinite(above) else below
    hf_abs = float(_band_mean(ltas_db, freqs, *EVIDENCE_BAND))
    above_abs, below_abs, above_flat = _wall_sides(ltas_db, freqs, cutoff, nyquist)
    feats = np.concatenate(
        [
            bands_arr,
            [nyquist / 1000.0, hf_abs, cutoff / 1000.0, step, below, above, min(slope, 100.0)],
            st.hf,
            st.holes,
            [above_abs, below_abs, above_flat, *st.wall_vars],
            _edge_features(ltas_db, freqs, cutoff),
            [grid],
        ]
    ).astype(np.float64)
    share = st.flicker if f.codec_marks else 0.0
    return SpectralSummary(
        feats, cutoff, step, ltas_db, freqs, st.frames, share, lattice, st.clipped, grid
    )


def _mono(p: np.ndarray) -> np.ndarray:
    """The channels' mean of one stretch, float64 [shape=(n,)] (as the decoder's downmix)."""
    x = np.asarray(p)
    if x.ndim == 2 and x.shape[0] > 1:
        x = x.mean(axis=0, dtype=np.float32)
    return np.asarray(x, dtype=np.float64).reshape(-1)
