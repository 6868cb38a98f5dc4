"""The beat and downbeat activation: a small dilated convolutional network run by numpy.

The network (trained by ``benchmarks/train_beats.py`` on pieces that ``beats_corpus.py``
renders, fine-tuned on pieces played and recorded like records (``beats_real.py``) and on
material with no beat (``beats_negatives.py``), the two mixed weight by weight, 0.65 of the
first; that mix fine-tuned again with tracker modules of Debian games (``beats_modules.py``:
produced music with an exact beat grid) and mixed with it, 0.65 of the new; weights in
``beat_model.npz`` beside this module, BSD-3-Clause like the package) reads the
log-filtered spectrogram and its positive first difference, standardised per band, and gives
two numbers per frame: how likely a beat starts there, and a downbeat. Its layers: a 1x1
convolution, ten dilated convolutions (kernel 3, dilations 1 ... 512, residual, ELU: a
receptive field of about 20 s), a 1x1 convolution and a sigmoid. Each layer is one matrix
product over all frames (a kernel's three taps side by side, their outputs added shifted), so a
3-minute song costs a few tens of milliseconds.

Where the audio is silent (:func:`audible`) both activations are 0: the network hears a pulse
in the context around a frame, and without the gate it can continue a pulse into leading or
trailing silence, or hear one around a single click.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.ndimage import maximum_filter1d
from scipy.special import expit

from ...errors import ModelNotFound

__all__ = ["SILENCE", "SILENT_REACH", "BeatNet", "audible", "input_features", "load_net"]

MODEL_PATH = Path(__file__).with_name("beat_model.npz")
#: frames run at once; longer spectrograms go in pieces of this many frames plus the network's
#: reach on each side, so memory stays bounded and the result is the same as in one piece
CHUNK = 30000
#: a frame is silent when no band of the log-filtered spectrogram (``log10(1 + |X|)``) exceeds
#: this: white noise at -80 dBFS stays below it (0.002), at -70 dBFS above it (0.007); quiet
#: passages of produced music measure 0.02 and up
SILENCE = 0.003
#: frames on each side within which a sounding frame makes a frame audible (50 ms)
SILENT_REACH = 5


def audible(S: np.ndarray) -> np.ndarray:
    """Which frames are within :data:`SILENT_REACH` frames of sound (any band above
    :data:`SILENCE`).

    Parameters
    ----------
    S : np.ndarray [shape=(81, n_frames)] the log-filtered spectrogram

    Returns
    -------
    mask : np.ndarray [shape=(n_frames,)] float32, 1 where audible and 0 where silent
    """
    S = np.asarray(S)
    if S.shape[-1] == 0:
        return np.zeros(0, dtype=np.float32)
    loud = (S.max(axis=0) > SILENCE).astype(np.float32)
    return maximum_filter1d(loud, size=2 * SILENT_REACH + 1, mode="constant", cval=0.0)


def input_features(S: np.ndarray, *, standardize: bool = True, net: BeatNet | None = None):
    """The network's input: the spectrogram and its positive difference, frames first.

    Parameters
    ----------
    S : np.ndarray [shape=(81, n_frames)] the log-filtered spectrogram
    standardize : subtract the training mean and divide by the deviation (``net``'s)
    net : the network whose statistics to use (the shipped one when None)

    Returns
    -------
    x : np.ndarray [shape=(n_frames, 162)] float32
    """
    S = np.asarray(S, dtype=np.float32)
    x = np.concatenate([S, _rise(S)], axis=0).T
    if standardize:
        net = net or load_net()
        x = (x - net.mean) / net.std
    return np.ascontiguousarray(x, dtype=np.float32)


def _rise(S: np.ndarray) -> np.ndarray:
    """The positive first difference of ``S`` [shape=(bands, n_frames)] float32 along the
    frames (0 at the first frame)."""
    rise = np.zeros_like(S)
    np.subtract(S[:, 1:], S[:, :-1], out=rise[:, 1:])
    return np.maximum(rise, 0.0, out=rise)


@dataclass(frozen=True)
class BeatNet:
    """The network's weights (see the module docstring)."""

    mean: np.ndarray
    std: np.ndarray
    inp_w: np.ndarray
    inp_b: np.ndarray
    convs: tuple[tuple[int, np.ndarray, np.ndarray], ...]  # (dilation, weight, bias)
    out_w: np.ndarray
    out_b: np.ndarray

    def __call__(self, S: np.ndarray) -> np.ndarray:
        """Beat and downbeat activations of a spectrogram.

        Parameters
        ----------
        S : np.ndarray [shape=(81, n_frames)]

        Returns
        -------
        act : np.ndarray [shape=(2, n_frames)] float32 in 0-1: beat, downbeat (0 where the
            audio is silent: :func:`audible`)
        """
        return self.stream([np.asarray(S, dtype=np.float32)])

    @property
    def reach(self) -> int:
        """Frames on each side an output frame depends on."""
        return sum(d for d, _, _ in self.convs)

    def stream(self, pieces: Iterable[np.ndarray]) -> np.ndarray:
        """:meth:`__call__` of the spectrogram the ``pieces`` make end to end, never holding
        more of it than :data:`CHUNK` frames and the network's reach on each side.

        A spectrogram longer than ``CHUNK + 2 * reach`` frames goes in chunks of ``CHUNK``
        frames with the reach of context on each side, as it arrives; the result is the same
        as in one piece.

        Parameters
        ----------
        pieces : np.ndarray [shape=(81, m)] consecutive frames (any ``m``)

        Returns
        -------
        act : np.ndarray [shape=(2, n_frames)] float32 in 0-1: beat, downbeat
        """
        reach = self.reach
        whole = CHUNK + 2 * reach  # up to this many frames go in one piece
        held: list[np.ndarray] = []  # frames [start, total) not yet let go
        start = total = a = 0  # a: the next chunk's first frame
        out: list[np.ndarray] = []

        def frames(lo: int, hi: int) -> np.ndarray:
            nonlocal held
            x = held[0] if len(held) == 1 else np.concatenate(held, axis=1)
            held = [x]
            return x[:, lo - start : hi - start]

        def chunk(b: int, n: int) -> None:
            nonlocal a, held, start
            lo, hi = max(a - reach, 0), min(b + reach, n)
            first = max(lo - 1, 0)  # the positive difference at `lo` needs the frame before
            act = self._run(frames(first, hi))[:, lo - first :]
            out.append(act[:, a - lo : b - lo])
            a = b
            keep = max(a - reach - 1, start)  # the next chunk's first frame needed
            held = [frames(keep, total).copy()]  # a copy: the rest is let go
            start = keep

        for piece in pieces:
            p = np.asarray(piece, dtype=np.float32)
            if p.shape[-1] == 0:
                continue
            held.append(p)
            total += p.shape[-1]
            while total > whole and total >= a + CHUNK + reach:
                chunk(a + CHUNK, total + 1)  # hi = b + reach <= total: all its frames are here
        if total <= whole:
            return self._run(frames(0, total)) if total else np.zeros((2, 0), dtype=np.float32)
        while a < total:
            chunk(min(a + CHUNK, total), total)
        return np.concatenate(out, axis=1)

    def _run(self, S: np.ndarray) -> np.ndarray:
        S = np.asarray(S, dtype=np.float32)
        n = S.shape[-1]
        if n == 0:
            return np.zeros((2, 0), dtype=np.float32)
        # the input layer on the standardised [S; rise] (input_features) without building
        # it: the standardisation is folded into the weights and the two halves multiplied
        # apart, (x - mean) / std @ W.T = S.T @ W_s + rise.T @ W_r + (b - mean / std @ W.T)
        w_in = (self.inp_w / self.std).T
        f = S.shape[0]
        h = S.T @ w_in[:f]
        h += _rise(S).T @ w_in[f:]
        h += self.inp_b - (self.mean / self.std) @ self.inp_w.T
        h = _elu(h, out=True)
        c = h.shape[1]
        for d, w, b in self.convs:
            # the three taps in one product: y[t] = h[t] @ [w0 | w1 | w2], then
            # z[t] = y0[t - d] + y1[t] + y2[t + d] (zero outside the piece)
            y = h @ w.transpose(1, 2, 0).reshape(c, 3 * c)
            z = y[:, c : 2 * c] + b
            if d < n:
                z[d:] += y[: n - d, :c]
                z[: n - d] += y[d:, 2 * c :]
            h += _elu(z, out=True)
        logits = h @ self.out_w.T + self.out_b
        return expit(logits).T.astype(np.float32) * audible(S)


def _elu(z: np.ndarray, *, out: bool = False) -> np.ndarray:
    """ELU (alpha 1): ``z`` where positive, ``exp(z) - 1`` elsewhere (in ``z`` itself when
    ``out``).

    ``exp(z) - 1`` rather than ``expm1``: numpy's float32 ``expm1`` is scalar code, about 8x
    slower than its vectorised ``exp`` (it took more than half of the network's time), and the two
    differ by at most one float32 unit near 1 (1.2e-7), far below what the decoders resolve.
    """
    neg = np.minimum(z, 0)
    np.exp(neg, out=neg)
    neg -= 1
    pos = np.maximum(z, 0, out=z if out else None)
    pos += neg
    return pos


def weights_path(path: str | os.PathLike | None, *, default: Path, what: str, script: str) -> Path:
    """``path`` (or ``default`` when None) if it is a file.

    Raises
    ------
    ModelNotFound
        naming the file, ``what`` it holds and the ``script`` of ``benchmarks/`` that trains it
    """
    where = Path(path) if path is not None else default
    if not where.is_file():
        raise ModelNotFound(
            f"the {what} {where} is missing; reinstall audiolens, or train one with "
            f"benchmarks/{script}"
        )
    return where


@lru_cache(maxsize=4)
def load_net(path: str | os.PathLike | None = None) -> BeatNet:
    """The activation network (the one shipped with the package when ``path`` is None).

    Raises
    ------
    ModelNotFound
        when the weights file is missing (a broken installation)
    """
    where = weights_path(path, default=MODEL_PATH, what="beat model", script="train_beats.py")
    with np.load(where) as z:
        dil = [int(d) for d in z["dilations"]]
        convs = tuple(
            (d, z[f"conv{i}_w"].astype(np.float32), z[f"conv{i}_b"].astype(np.float32))
            for i, d in enumerate(dil)
        )
        return BeatNet(
            mean=z["mean"].astype(np.float32),
            std=z["std"].astype(np.float32),
            inp_w=z["inp_w"].astype(np.float32),
            inp_b=z["inp_b"].astype(np.float32),
            convs=convs,
            out_w=z["out_w"].astype(np.float32),
            out_b=z["out_b"].astype(np.float32),
        )
