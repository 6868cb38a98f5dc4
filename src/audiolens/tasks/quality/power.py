"""|STFT|^2 frames of many stretches, of many files, in one device call.

The quality features look 100+ dB under the music (a codec's wall, 16-bit rounding noise), so
the frames are transformed in float64 on every backend. On numpy (the reference) each stretch
is its own :func:`audiolens.dsp.power_spectrogram`. On a torch device the stretches of a whole
batch of files go up in one host-to-device copy, are cut into frames there (``unfold``; the
FFT does not care about the sample rate, so files of every rate share a call), windowed, and
transformed by one float64 ``rfft``; the powers come back in one copy and are split per
stretch. Batches are sized from the device's free memory and halved when it runs out anyway
(:func:`audiolens.devices.halve_on_oom`). MPS has no float64: it uses the numpy path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ...devices import Device, free_memory, halve_on_oom

__all__ = [
    "HOST_BUDGET",
    "device_calls",
    "device_power",
    "frame_count",
    "hann",
    "on_device",
    "piece_bytes",
    "piece_powers",
]

#: device bytes per frame sample while a batch is transformed: the frames, the complex128
#: spectrum (as large), the power (half) and the FFT's work space, in float64
_BYTES_PER_SAMPLE = 8 * 4
#: share of the device's free memory a batch may take
_FREE_SHARE = 0.5
#: the most a batch may take where free memory is not known (torch on the CPU): host memory
HOST_BUDGET = 256 * 2**20


def on_device(device: Device) -> bool:
    """Whether the frames of ``device`` are transformed by torch there (not MPS: no float64)."""
    return device.backend == "torch" and not device.name.startswith("mps")


def frame_count(n: int, *, n_fft: int, hop: int) -> int:
    """Frames of ``n_fft`` every ``hop`` samples in ``n`` samples (``center=False``)."""
    return 0 if n < n_fft else 1 + (n - n_fft) // hop


def piece_powers(
    pieces: Sequence[np.ndarray], *, n_fft: int, hop: int, device: Device
) -> list[np.ndarray | None]:
    """|STFT|^2 frames of each piece: periodic Hann, ``center=False``, float64.

    Parameters
    ----------
    pieces : sequence of np.ndarray [shape=(n,)], float64, mono stretches (of any files,
        any sample rates)
    n_fft : frame (and FFT) length in samples
    hop : samples between frame starts
    device : numpy: each piece alone (the reference); torch (not MPS): all of them in as few
        device calls as its free memory allows

    Returns
    -------
    powers : list, per piece, of np.ndarray [shape=(frames, n_fft // 2 + 1), dtype=float64],
        or None for a piece shorter than ``n_fft``
    """
    if not on_device(device):
        from ...dsp import power_spectrogram

        return [
            power_spectrogram(p, n_fft=n_fft, hop_length=hop, center=False).T
            if p.shape[-1] >= n_fft
            else None
            for p in pieces
        ]
    out: list[np.ndarray | None] = [None] * len(pieces)
    todo = [i for i, p in enumerate(pieces) if p.shape[-1] >= n_fft]
    if not todo:
        return out
    win = hann(n_fft, device)

    def run(batch: Sequence[int]) -> None:
        chosen = [todo[j] for j in batch]
        powers = _transform([pieces[i] for i in chosen], win, n_fft=n_fft, hop=hop, dev=win.device)
        for i, power in zip(chosen, powers, strict=True):
            out[i] = power

    sizes = [piece_bytes(pieces[i].shape[-1], n_fft=n_fft, hop=hop) for i in todo]
    device_calls(sizes, run, device=device)
    return out


def hann(n_fft: int, device: Device) -> Any:
    """The periodic Hann window of ``n_fft`` points, float64, on ``device`` (a torch tensor)."""
    import torch

    from ...dsp.windows import get_window

    return torch.from_numpy(get_window("hann", n_fft)).to(device.torch_device)


def piece_bytes(n: int, *, n_fft: int, hop: int) -> int:
    """Device bytes a stretch of ``n`` samples takes while its frames are transformed."""
    return frame_count(n, n_fft=n_fft, hop=hop) * n_fft * _BYTES_PER_SAMPLE + n * 8


def device_calls(
    sizes: Sequence[int], run: Callable[[Sequence[int]], None], *, device: Device
) -> None:
    """``run`` over consecutive runs of items ``0 .. len(sizes) - 1``, as many per call as
    half the device's free memory holds (``HOST_BUDGET`` where that is not known), halved and
    retried when a call runs out of memory anyway; later calls then start at the size that fit.

    Parameters
    ----------
    sizes : device bytes each item takes while it is worked on
    run : works on the items of one call (their indices, in order) and keeps its results
    device : the torch device (its free memory sizes the calls)
    """
    free = free_memory(device)
    budget = HOST_BUDGET if free is None else int(free * _FREE_SHARE)
    limit = [len(sizes)]  # items per call; lowered for good when a call runs out of memory

    def smaller(size: int) -> None:
        limit[0] = min(limit[0], size)

    start = 0
    while start < len(sizes):
        stop = _fill(sizes, start, budget, limit[0])
        halve_on_oom(range(start, stop), run, on_halve=smaller)
        start = stop


def _fill(sizes: Sequence[int], start: int, budget: int, most: int) -> int:
    """Where a call that starts at ``sizes[start]`` ends: as many items (at least one, at
    most ``most``) as fit in ``budget`` bytes together."""
    stop, used = start, 0
    while stop < len(sizes) and stop - start < most:
        if stop > start and used + sizes[stop] > budget:
            break
        used += sizes[stop]
        stop += 1
    return stop


def _transform(
    pieces: Sequence[np.ndarray], win: Any, *, n_fft: int, hop: int, dev: Any
) -> list[np.ndarray]:
    """One device call: the |STFT|^2 frames of ``pieces`` (each >= ``n_fft`` long), brought
    back to the host, one array per piece."""
    power, counts = device_power(pieces, win, n_fft=n_fft, hop=hop, dev=dev)
    return np.split(power.cpu().numpy(), np.cumsum(counts)[:-1])


def device_power(
    pieces: Sequence[np.ndarray], win: Any, *, n_fft: int, hop: int, dev: Any
) -> tuple[Any, list[int]]:
    """The |STFT|^2 frames of ``pieces``, left on the device: one torch tensor
    [shape=(frames, n_fft // 2 + 1), dtype=float64], the frames of each piece in turn, and
    the number of frames of each piece (0 for a piece shorter than ``n_fft``)."""
    import torch

    lengths = [p.shape[-1] for p in pieces]
    counts = [frame_count(n, n_fft=n_fft, hop=hop) for n in lengths]
    used = [p for p, c in zip(pieces, counts, strict=True) if c]
    signal = torch.from_numpy(np.concatenate(used).astype(np.float64, copy=False)).to(dev)
    # each piece's frames (a strided view of the signal) times the window, written into one
    # frame matrix: one pass over it
    frames = torch.empty((sum(counts), n_fft), dtype=torch.float64, device=dev)
    at, row = 0, 0
    for n, count in zip(lengths, counts, strict=True):
        if not count:
            continue
        view = signal[at : at + n].unfold(0, n_fft, hop)
        torch.mul(view, win, out=frames[row : row + count])
        at, row = at + n, row + count
    del signal
    spectrum = torch.fft.rfft(frames, dim=-1)
    del frames
    power = spectrum.real.square() + spectrum.imag.square()
    del spectrum
    return power, counts
