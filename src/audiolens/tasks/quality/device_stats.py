"""The per-frame statistics of ``quality``, for a batch of files, where their frames are.

:func:`.features.summarize_batch` on a torch device: the ``N_FFT`` |STFT|^2 frames of every
stretch of a batch of files are made on the device (:func:`.power.device_power`) and measured
there, all the files together, in float64: which frames are kept (clipped, silent), the
long-term spectrum, the frames' high-band levels, the holes (a median over 7 sub-bands, by
``unfold``), the levels either side of the wall and their percentiles (per-file sorts), and the
:func:`.features.flicker` of the ``SHORT_FFT`` frames. What comes back is a few numbers per
file and its long-term spectrum; the wall (:func:`.features._cutoff`, on those 2049 bins) is
found on the host between the two halves. The numpy functions of :mod:`.features` are the
reference these equal within float64 rounding (the tests compare them on real files).

Rows of one call are the frames of whole files, in order, files of one sample rate next to
each other (so each rate's bins are plain column slices); per-file sums are ``index_add_``
over a file index per row, per-file percentiles sort a padded [files, frames, ...] block.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...devices import Device
from .features import (
    _FLICKER_ACTIVE_DB,
    _FLICKER_HOLE_DB,
    _FLICKER_MIN_FRAMES,
    _FLICKER_ON_DB,
    _FLOOR_DB,
    _HF_BANDS,
    _HOLE_BANDS,
    _HOLE_DB,
    _REF_BAND,
    _SHORT_FLOOR,
    HOP,
    N_FFT,
    SHORT_FFT,
    FrameStats,
    Stretches,
    _flicker_bands,
    _freqs,
    _host_stats,
    _left_out,
    _power_stats,
    _wall,
    _wall_bins,
)
from .power import device_calls, device_power, hann, piece_bytes

__all__ = ["device_frame_stats"]


def device_frame_stats(
    files: Sequence[Stretches], flats: Sequence[Sequence[np.ndarray]], *, device: Device
) -> list[FrameStats]:
    """:class:`.features.FrameStats` of each file, measured on ``device``.

    Parameters
    ----------
    files : the files' stretches (sample rate, what to measure)
    flats : per file, its stretches' mono mix, float64 [shape=(n,)] each
    device : a torch device (not MPS)

    Returns
    -------
    stats : one per file, in order; a file without one ``N_FFT`` frame is measured on the
        host (there is nothing to batch)
    """
    out: list[FrameStats | None] = [None] * len(files)
    framed = [k for k, flat in enumerate(flats) if any(p.shape[-1] >= N_FFT for p in flat)]
    for k in set(range(len(files))) - set(framed):
        out[k] = _host_stats(files[k], flats[k])
    framed.sort(key=lambda k: files[k].sr)  # each call's files of one rate side by side
    marked = [k for k in framed if files[k].codec_marks and _flicker_bands(files[k].sr)]
    shares = dict.fromkeys(framed, 0.0)
    shares.update(_on_device(files, flats, marked, device, SHORT_FFT, _flicker_call))
    got = _on_device(files, flats, framed, device, N_FFT, _long_call)
    for k in framed:
        clipped, frames, rest = got[k]
        out[k] = rest(clipped, shares[k]) if frames else _empty(files[k], clipped, shares[k])
    return out  # type: ignore[return-value]


def _empty(f: Stretches, clipped: int, share: float) -> FrameStats:
    """The statistics of a file all of whose frames were left out (silence)."""
    return _power_stats(np.zeros((0, N_FFT // 2 + 1)), sr=f.sr, clipped=clipped, flicker=share)


def _on_device(
    files: Sequence[Stretches],
    flats: Sequence[Sequence[np.ndarray]],
    todo: Sequence[int],
    device: Device,
    n_fft: int,
    measure: Any,
) -> dict[int, Any]:
    """``measure(files, calls_pieces, power, counts)`` on the frames of the files ``todo``,
    whole files per device call; its per-file results by file index."""
    hop = HOP if n_fft == N_FFT else n_fft
    win = hann(n_fft, device)
    results: dict[int, Any] = {}

    def run(batch: Sequence[int]) -> None:
        chosen = [todo[j] for j in batch]
        pieces = [p for k in chosen for p in flats[k]]
        power, counts = device_power(pieces, win, n_fft=n_fft, hop=hop, dev=win.device)
        per_file = np.add.reduceat(counts, np.cumsum([0, *(len(flats[k]) for k in chosen)])[:-1])
        got = measure([files[k] for k in chosen], counts, per_file, power)
        results.update(zip(chosen, got, strict=True))

    sizes = [sum(piece_bytes(p.shape[-1], n_fft=n_fft, hop=hop) for p in flats[k]) for k in todo]
    device_calls(sizes, run, device=device)
    return results


# ----------------------------------------------------------------------------- helpers


def _db(x: Any) -> Any:
    """:func:`.features._db` in torch."""
    import torch

    return torch.clamp(10.0 * torch.log10(torch.clamp(x, min=1e-30)), min=_FLOOR_DB)


def _bins(freqs: np.ndarray, lo: float, hi: float) -> slice:
    """The bins of ``lo <= f < hi`` (a contiguous run) as a slice."""
    sel = np.flatnonzero((freqs >= lo) & (freqs < hi))
    return slice(int(sel[0]), int(sel[-1]) + 1) if sel.size else slice(0, 0)


class _Segments:
    """Rows of one tensor that belong to files: per-file sums, means and percentiles."""

    def __init__(self, counts: np.ndarray, dev: Any) -> None:
        import torch

        self.counts = np.asarray(counts, dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(self.counts)[:-1]]).astype(np.int64)
        self.n = len(self.counts)
        self.dev = dev
        sizes = torch.from_numpy(self.counts).to(dev)
        self.fid = torch.repeat_interleave(torch.arange(self.n, device=dev), sizes)
        self.sizes = sizes.to(torch.float64)

    def sum(self, x: Any) -> Any:
        """Per-file sums of the rows of ``x`` [rows, ...] -> [files, ...]."""
        import torch

        out = torch.zeros((self.n, *x.shape[1:]), dtype=torch.float64, device=self.dev)
        return out.index_add_(0, self.fid, x.to(torch.float64))

    def mean(self, x: Any) -> Any:
        """Per-file means of the rows of ``x`` [rows, ...] -> [files, ...]."""
        return self.sum(x) / self.sizes.reshape(-1, *([1] * (x.dim() - 1)))

    def percentiles(self, x: Any, qs: Sequence[float]) -> list[Any]:
        """Per file, ``np.percentile(rows, q, axis=0)`` (linear) of ``x`` [rows, ...] for each
        ``q`` in ``qs``: a list of [files, ...]."""
        import torch

        longest = int(self.counts.max())
        at = np.arange(longest)
        idx = self.starts[:, None] + np.minimum(at[None, :], self.counts[:, None] - 1)
        pad = torch.from_numpy(at[None, :] >= self.counts[:, None]).to(self.dev)
        block = x[torch.from_numpy(idx).to(self.dev)]  # [files, longest, ...]
        pad = pad.reshape(*pad.shape, *([1] * (x.dim() - 1)))
        ordered = torch.sort(block.masked_fill(pad, float("inf")), dim=1).values
        return [_lerp_at(ordered, self.counts, q / 100.0, self.dev) for q in qs]


def _lerp_at(ordered: Any, counts: np.ndarray, q: float, dev: Any) -> Any:
    """Numpy's linear quantile ``q`` of each file's ``counts`` first sorted values (dim 1)."""
    import torch

    virtual = counts * q + (1.0 + q * (1.0 - 1.0 - 1.0)) - 1.0  # numpy's, alpha = beta = 1
    lo = np.clip(np.floor(virtual), 0, counts - 1).astype(np.int64)
    hi = np.clip(lo + 1, 0, counts - 1)
    t = virtual - np.floor(virtual)

    def pick(i: np.ndarray) -> Any:
        index = torch.from_numpy(i).to(dev).reshape(-1, 1, *([1] * (ordered.dim() - 2)))
        return torch.gather(ordered, 1, index.expand(-1, 1, *ordered.shape[2:])).squeeze(1)

    a, b = pick(lo), pick(hi)
    w = torch.from_numpy(t).to(dev).reshape(-1, *([1] * (a.dim() - 1)))
    diff = b - a
    return torch.where(w >= 0.5, b - diff * (1.0 - w), a + diff * w)


# ------------------------------------------------------------------ the N_FFT frames


def _long_call(
    files: Sequence[Stretches], counts: Sequence[int], per_file: np.ndarray, power: Any
) -> list[tuple[int, int, Any]]:
    """Per file of one call: (clipped frames, kept frames, its statistics given those and
    its flicker share)."""
    import torch

    dev = power.device
    keep, clipped = _unclipped(files, per_file, dev)
    rows = _Segments(per_file, dev)
    energy = power.sum(dim=1)
    most = torch.full((rows.n,), float("-inf"), dtype=torch.float64, device=dev)
    most = most.scatter_reduce(0, rows.fid, torch.where(keep, energy, -torch.inf), "amax")
    keep &= energy > torch.clamp(most, min=1e-30)[rows.fid] * 1e-7
    kept = rows.sum(keep).cpu().numpy().astype(np.int64)
    frames = power[keep]
    del keep, energy
    out: list[Any] = [None] * len(files)
    at = 0
    # files of one rate are next to each other: each such run is measured together
    for sr, group in _runs([f.sr for f in files]):
        n = kept[group]
        live = [g for g, c in zip(group, n, strict=True) if c]
        for g in group:
            if not kept[g]:
                out[g] = (clipped[g], 0, None)
        take = int(n.sum())
        if live:
            part = _Segments(n[n > 0], dev)
            for g, stats in zip(live, _rate_stats(frames[at : at + take], part, sr), strict=True):
                out[g] = (clipped[g], int(kept[g]), stats)
        at += take
    return out


def _runs(rates: Sequence[int]) -> list[tuple[int, list[int]]]:
    """Consecutive runs of one sample rate: (rate, positions)."""
    out: list[tuple[int, list[int]]] = []
    for i, sr in enumerate(rates):
        if out and out[-1][0] == sr:
            out[-1][1].append(i)
        else:
            out.append((sr, [i]))
    return out


def _unclipped(files: Sequence[Stretches], per_file: np.ndarray, dev: Any) -> tuple[Any, list[int]]:
    """Which rows are not left out for clipping (:func:`.features.clipped_frames`, decided on
    the host from the samples), and how many are, per file."""
    import torch

    keep, clipped = [], []
    for f, rows in zip(files, per_file, strict=True):
        left_out = _left_out(f, int(rows))
        mask = np.ones(int(rows), dtype=bool) if left_out is None else ~left_out
        keep.append(mask)
        clipped.append(int(rows - mask.sum()))
    return torch.from_numpy(np.concatenate(keep)).to(dev), clipped


def _rate_stats(power: Any, rows: _Segments, sr: int) -> list[Any]:
    """The statistics of files of one sample rate from their kept frames [rows, bins]: per
    file, a function of its clipped frames and flicker share giving its :class:`FrameStats`."""
    freqs, nyquist = _freqs(sr), sr / 2.0
    mean_power = rows.mean(power)
    frame_db = _db(power)
    hf = _hf(frame_db, rows, freqs, nyquist)
    holes = _holes(power, rows, freqs)
    del frame_db
    mean_host = mean_power.cpu().numpy()
    walls = [_wall(m, int(c), sr) for m, c in zip(mean_host, rows.counts, strict=True)]
    wall_vars = _wall_vars(power, rows, freqs, [w[0] for w in walls], nyquist)
    small = np.concatenate([hf, holes, wall_vars], axis=1)

    def stats(i: int) -> Any:
        v = small[i].tolist()
        return lambda clipped, share: FrameStats(
            mean_host[i], int(rows.counts[i]), clipped, walls[i], v[:12], v[12:22], v[22:], share
        )

    return [stats(i) for i in range(rows.n)]


def _hf(frame_db: Any, rows: _Segments, freqs: np.ndarray, nyquist: float) -> np.ndarray:
    """:func:`.features._hf_stats` of each file: [files, 12]."""
    import torch

    ref = frame_db[:, _bins(freqs, *_REF_BAND)].mean(dim=1)
    stds, quiet, zero = [], [], []
    for lo, hi in _HF_BANDS:
        cols = _bins(freqs, lo, min(hi, nyquist))
        if cols.stop == cols.start:
            ones = torch.ones(rows.n, dtype=torch.float64, device=frame_db.device)
            stds.append(ones * 0.0), quiet.append(ones), zero.append(ones)
            continue
        band = frame_db[:, cols].mean(dim=1)
        centred = band - rows.mean(band)[rows.fid]
        stds.append(torch.sqrt(rows.mean(centred * centred)))
        quiet.append(rows.mean(band < ref - 70.0))
        low = (frame_db[:, cols] < -135.0).sum(dim=1)
        zero.append(rows.sum(low) / (rows.sizes * (cols.stop - cols.start)))
    return torch.stack([*stds, *quiet, *zero], dim=1).cpu().numpy()


def _holes(power: Any, rows: _Segments, freqs: np.ndarray) -> np.ndarray:
    """:func:`.features._holes` of each file: [files, 10] (5 ``holes_``, 5 ``dips_``)."""
    import torch

    holes, dips = [], []
    for lo, hi in _HOLE_BANDS:
        cols = _bins(freqs, lo, hi)
        n_sub = (cols.stop - cols.start) // 8
        if n_sub < 3:
            holes.append(torch.full((rows.n,), 1.0, dtype=torch.float64, device=power.device))
            dips.append(torch.full((rows.n,), -100.0, dtype=torch.float64, device=power.device))
            continue
        cells = power[:, cols.start : cols.start + n_sub * 8].reshape(-1, n_sub, 8).mean(dim=2)
        cells_db = _db(cells)
        # the median of 7 sub-bands around each, the edges repeated (scipy's "nearest")
        padded = torch.cat(
            [cells_db[:, :1].expand(-1, 3), cells_db, cells_db[:, -1:].expand(-1, 3)], dim=1
        )
        below = cells_db - padded.unfold(1, 7, 1).median(dim=-1).values
        holes.append(rows.mean((below < -_HOLE_DB).sum(dim=1)) / n_sub)
        low = rows.percentiles(below, [5.0])[0]  # [files, n_sub]
        ordered = torch.sort(low, dim=1).values  # the median over sub-bands
        dips.append(_lerp_at(ordered, np.full(rows.n, n_sub), 0.5, power.device))
    return torch.stack([*holes, *dips], dim=1).cpu().numpy()


def _wall_vars(
    power: Any, rows: _Segments, freqs: np.ndarray, cutoffs: Sequence[float], nyquist: float
) -> np.ndarray:
    """:func:`.features._wall_vars` of each file (its bins from its own wall): [files, 2]."""
    import torch

    out = np.zeros((rows.n, 2))
    for side in range(2):
        sels = [_wall_bins(freqs, c, nyquist)[side] for c in cutoffs]
        used = [i for i, s in enumerate(sels) if s.sum() >= 4 and rows.counts[i] >= 2]
        if not used:
            continue
        mask = np.zeros((rows.n, freqs.size))
        for i in used:
            mask[i, sels[i]] = 1.0
        cols = np.flatnonzero(mask.any(axis=0))
        span = slice(int(cols[0]), int(cols[-1]) + 1)
        weights = torch.from_numpy(mask[:, span]).to(power.device)
        width = torch.from_numpy(np.maximum(mask.sum(axis=1), 1.0)).to(power.device)
        level = _db((power[:, span] * weights[rows.fid]).sum(dim=1) / width[rows.fid])
        hi, mid = rows.percentiles(level, [95.0, 50.0])
        out[used, side] = (hi - mid).cpu().numpy()[used]
    return out


# ------------------------------------------------------------------ the SHORT_FFT frames


def _flicker_call(
    files: Sequence[Stretches], counts: Sequence[int], per_file: np.ndarray, power: Any
) -> list[float]:
    """:func:`.features.flicker` of each file of one call, from its ``SHORT_FFT`` frames."""
    import torch

    dev = power.device
    # a frame counts with a frame before and after it in its own stretch
    inner = np.concatenate([np.arange(c) for c in counts if c])
    last = np.concatenate([np.full(c, c - 1) for c in counts if c])
    inner = torch.from_numpy((inner > 0) & (inner < last)).to(dev)
    active_min = _SHORT_FLOOR * 10.0 ** (_FLICKER_ACTIVE_DB / 10.0)
    hole_max = _SHORT_FLOOR * 10.0 ** (_FLICKER_HOLE_DB / 10.0)
    on_min = _SHORT_FLOOR * 10.0 ** (_FLICKER_ON_DB / 10.0)
    out = [0.0] * len(files)
    at = 0
    for sr, group in _runs([f.sr for f in files]):
        take = int(per_file[group].sum())
        p, valid = power[at : at + take], inner[at : at + take]
        rows = _Segments(per_file[group], dev)
        freqs = np.arange(SHORT_FFT // 2 + 1) * (sr / SHORT_FFT)
        active = valid & (p[:, _bins(freqs, 10000.0, 14000.0)].mean(dim=1) > active_min)
        tallies = [rows.sum(active)]
        for lo, hi in _flicker_bands(sr):
            b = p[:, _bins(freqs, lo, hi)].mean(dim=1)
            before = torch.cat([b[:1], b[:-1]])  # only read where the row is inner
            tallies.append(rows.sum(active & (b < hole_max) & (before > on_min)))
        counted, *flips = torch.stack(tallies, dim=1).cpu().numpy().T
        for g, c, f in zip(group, counted, np.stack(flips, axis=1), strict=True):
            if c >= _FLICKER_MIN_FRAMES:
                out[g] = float(f.max() / c)
        at += take
    return out
