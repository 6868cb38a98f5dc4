"""The rhythm front end: madmom's log-filtered spectrogram of a file, whole or streamed.

A streamed file is cut into blocks of audio; each block's frames are computed with enough
samples of the neighbouring blocks that every frame sees exactly the samples it would see in
the whole file, so the streamed spectrogram equals the whole-file one frame for frame.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from ...devices import Device
from ...dsp import log_filtered_spectrogram

__all__ = ["FPS", "FRAME_SIZE", "SAMPLE_RATE", "iter_logspec", "logspec", "stream_logspec"]

SAMPLE_RATE = 44100
FPS = 100.0
FRAME_SIZE = 2048
_HOP = int(SAMPLE_RATE / FPS)  # 441 samples, exactly
#: whole frames of context that cover half a frame (1024 samples) on each side
_CONTEXT = -(-FRAME_SIZE // 2 // _HOP)


def logspec(y: np.ndarray, *, device: Device | None = None) -> np.ndarray:
    """The log-filtered spectrogram of a mono 44.1 kHz signal, float32.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
    device : where to compute it: the numpy path (None or a numpy device) or PyTorch on the
        device's torch device (CUDA, MPS, CPU); the result comes back as numpy either way

    Returns
    -------
    S : np.ndarray [shape=(81, ceil(n / 441))], 100 frames per second
    """
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    if y.size == 0:
        return np.zeros((81, 0), dtype=np.float32)
    if device is not None and device.backend == "torch":
        import torch

        x = torch.from_numpy(y).to(device.torch_device)
        S = log_filtered_spectrogram(x, sr=SAMPLE_RATE, frame_size=FRAME_SIZE, fps=FPS)
        return S.to("cpu").numpy().astype(np.float32, copy=False)
    return log_filtered_spectrogram(y, sr=SAMPLE_RATE, frame_size=FRAME_SIZE, fps=FPS)


def stream_logspec(blocks: Iterable[np.ndarray], *, device: Device | None = None) -> np.ndarray:
    """:func:`logspec` of the concatenation of ``blocks``, without ever holding it whole.

    Parameters
    ----------
    blocks : mono 44.1 kHz pieces of one signal, in order (any lengths)
    device : as in :func:`logspec`

    Returns
    -------
    S : np.ndarray [shape=(81, n_frames)], equal to ``logspec(np.concatenate(blocks))``
    """
    out = list(iter_logspec(blocks, device=device))
    if not out:
        return np.zeros((81, 0), dtype=np.float32)
    return np.concatenate(out, axis=1)


def iter_logspec(
    blocks: Iterable[np.ndarray], *, device: Device | None = None
) -> Iterator[np.ndarray]:
    """:func:`stream_logspec` in consecutive pieces of frames, as the blocks come: what is
    held at any time is about a block of audio and its frames.

    Yields
    ------
    S : np.ndarray [shape=(81, m)] the next ``m`` frames; put end to end, they are
        ``logspec(np.concatenate(blocks))``
    """
    pad = _CONTEXT * _HOP
    # buf holds samples [start, start + len(buf)) of the signal; frames before `done` are out
    buf = np.zeros(0, dtype=np.float32)
    start = 0
    done = 0
    total = 0
    for block in blocks:
        b = np.asarray(block, dtype=np.float32).reshape(-1)
        if b.size == 0:
            continue
        buf = np.concatenate([buf, b])
        total += b.size
        # frames whose right half is complete: centre + 1024 <= total
        last = (total - FRAME_SIZE // 2) // _HOP  # highest frame index computable now
        if last < done + 2 * _CONTEXT:
            continue
        yield _frames(buf, start, done, last + 1, total, final=False, device=device)
        done = last + 1
        keep_from = max(done * _HOP - pad - _HOP, 0)
        buf = buf[keep_from - start :]
        start = keep_from
    n_frames = -(-total // _HOP)
    if done < n_frames:
        yield _frames(buf, start, done, n_frames, total, final=True, device=device)


def _frames(
    buf: np.ndarray,
    start: int,
    first: int,
    stop: int,
    total: int,
    *,
    final: bool,
    device: Device | None = None,
) -> np.ndarray:
    """Frames ``first .. stop - 1`` of the signal from ``buf`` (samples from ``start``)."""
    # compute from a piece that starts _CONTEXT frames before `first` (or at the signal's start)
    lead = min(first, _CONTEXT)
    a = (first - lead) * _HOP
    b = total if final else min(total, (stop - 1) * _HOP + FRAME_SIZE // 2 + 1)
    piece = buf[a - start : b - start]
    S = logspec(piece, device=device)
    return S[:, lead : lead + stop - first]
