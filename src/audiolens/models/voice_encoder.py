"""Resemblyzer's speaker encoder (GE2E, Wan et al. 2018) in numpy: no torch at run time.

The network, as resemblyzer 0.1.4 defines it: 40 Mel bands of a *power* (not log) Mel
spectrogram (25 ms Hann windows, 10 ms hop, 16 kHz, librosa's Slaney filters, centred frames
with zero padding), a 3-layer LSTM with 256 units, the last layer's final hidden state through a
256x256 linear layer, a ReLU and an L2 normalisation. It was trained on partial utterances of
160 frames (1.6 s). The weights are resemblyzer's ``pretrained.pt`` (a legacy torch
checkpoint), read with :mod:`._torch_pickle` and never with torch.

The LSTM runs over a batch of windows at once: per layer, one matmul for the input projection
of every window and frame, then one ``(batch, 256) @ (256, 1024)`` matmul per time step.
Those per-step matmuls are too small for a multi-threaded BLAS: with OpenBLAS on 2 cores, 2
threads were no faster than 1 on an idle machine and 3-10x slower when another process was
busy (threads spinning on each other). So, when ``threadpoolctl`` is installed, the BLAS is
held to one thread while :meth:`VoiceEncoder.embed_mels` runs, and restored when it returns
(``VoiceEncoder(blas_threads=None)`` leaves it alone).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..devices import blas_threads as _blas_limit
from ..errors import ModelNotFound, ParameterError

__all__ = [
    "FRAME_HOP",
    "N_MELS",
    "PARTIAL_FRAMES",
    "SAMPLE_RATE",
    "LstmLayer",
    "VoiceEncoder",
    "find_weights",
    "load_voice_encoder",
    "mel_frames",
    "read_state",
    "run_lstm",
]

SAMPLE_RATE = 16000  #: Hz
FRAME_HOP = 160  #: samples between Mel frames (10 ms)
N_FFT = 400  #: samples per Mel frame (25 ms)
N_MELS = 40
PARTIAL_FRAMES = 160  #: frames per partial utterance in training (1.6 s)
_HIDDEN = 256
_CHUNK = 40  #: time steps whose input projections are computed together (bounds memory)
_LAYERS = 3
_INSTALL = "pip install --no-deps resemblyzer==0.1.4 (its weights ship in the package)"


def mel_frames(y: np.ndarray, *, sr: int = SAMPLE_RATE, center: bool = True) -> np.ndarray:
    """The encoder's input features: resemblyzer's ``wav_to_mel_spectrogram``.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono signal at 16 kHz (converted to float32).
    sr : int
        Must be 16000.
    center : bool
        True (resemblyzer's): frame ``t`` is centred on sample ``160 t`` (the signal is
        zero-padded by 200 samples at both ends); False: frame ``t`` covers samples
        ``160 t`` to ``160 t + 400`` (for cutting a long signal into consistent pieces).

    Returns
    -------
    M : np.ndarray [shape=(n_frames, 40)] float32
        Power Mel spectrogram, one row per 10 ms frame: ``1 + n // 160`` frames when
        ``center``, else ``1 + (n - 400) // 160`` (none when ``n < 400``).
    """
    from ..dsp import mel_spectrogram

    if sr != SAMPLE_RATE:
        raise ParameterError(f"sr={sr!r}: the voice encoder needs {SAMPLE_RATE} Hz audio")
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    if y.size == 0 or (not center and y.size < N_FFT):
        return np.zeros((0, N_MELS), dtype=np.float32)
    M = mel_spectrogram(
        y, sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=FRAME_HOP, n_mels=N_MELS, center=center
    )
    return np.ascontiguousarray(M.T, dtype=np.float32)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # 0.5 * tanh(x / 2) + 0.5: one transcendental, no overflow warnings
    out = np.tanh(x * 0.5)
    out *= 0.5
    out += 0.5
    return out


@dataclass(frozen=True)
class LstmLayer:
    """One LSTM layer's weights, as :func:`run_lstm` reads them (gates in torch's order:
    input, forget, cell, output)."""

    w_ih: np.ndarray  # (in, 4H), transposed for x @ w
    w_hh: np.ndarray  # (H, 4H)
    bias: np.ndarray  # (4H,), b_ih + b_hh


class VoiceEncoder:
    """The speaker encoder with its weights loaded (see the module docstring).

    Parameters
    ----------
    state : dict
        resemblyzer's ``model_state``: ``lstm.weight_ih_l{0,1,2}`` etc., ``linear.weight``,
        ``linear.bias``, as numpy arrays.
    blas_threads : BLAS threads while embedding (needs ``threadpoolctl``; restored after),
        None to leave the BLAS as it is
    """

    def __init__(self, state: dict[str, np.ndarray], *, blas_threads: int | None = 1) -> None:
        self.blas_threads = blas_threads
        try:
            self._layers = tuple(
                LstmLayer(
                    w_ih=np.ascontiguousarray(state[f"lstm.weight_ih_l{k}"].T, dtype=np.float32),
                    w_hh=np.ascontiguousarray(state[f"lstm.weight_hh_l{k}"].T, dtype=np.float32),
                    bias=(state[f"lstm.bias_ih_l{k}"] + state[f"lstm.bias_hh_l{k}"]).astype(
                        np.float32
                    ),
                )
                for k in range(_LAYERS)
            )
            self._w_out = np.ascontiguousarray(state["linear.weight"].T, dtype=np.float32)
            self._b_out = np.asarray(state["linear.bias"], dtype=np.float32)
        except KeyError as exc:
            raise ModelNotFound(f"the voice encoder weights lack {exc.args[0]}") from None
        if self._layers[0].w_ih.shape != (N_MELS, 4 * _HIDDEN):
            raise ModelNotFound(
                f"the voice encoder weights have input shape {self._layers[0].w_ih.shape}, "
                f"not ({N_MELS}, {4 * _HIDDEN})"
            )

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> VoiceEncoder:
        """Load resemblyzer's ``pretrained.pt`` (or a checkpoint of the same network)."""
        return cls(read_state(path))

    def embed_mels(self, mels: np.ndarray) -> np.ndarray:
        """Embeddings of a batch of equally long Mel windows.

        Parameters
        ----------
        mels : np.ndarray [shape=(batch, n_frames, 40)]
            Windows of :func:`mel_frames` output (160 frames is what the model was trained on).

        Returns
        -------
        E : np.ndarray [shape=(batch, 256)] float32
            Non-negative, L2-normalised speaker embeddings (a window of silence gives zeros).
        """
        x = np.asarray(mels, dtype=np.float32)
        if x.ndim != 3 or x.shape[2] != N_MELS:
            raise ParameterError(f"mels must have shape (batch, frames, {N_MELS}), not {x.shape}")
        batch, steps, _ = x.shape
        if batch == 0 or steps == 0:
            return np.zeros((batch, _HIDDEN), dtype=np.float32)
        with _blas_limit(self.blas_threads):
            return self._embed(x)

    def _embed(self, x: np.ndarray) -> np.ndarray:
        seq = x.transpose(1, 0, 2)  # (T, B, F): time-major, so each step reads one block
        h = None
        for k, layer in enumerate(self._layers):
            last = k == len(self._layers) - 1
            h, seq = run_lstm(layer, seq, keep=not last)
        raw = np.maximum(h @ self._w_out + self._b_out, 0.0)
        norm = np.linalg.norm(raw, axis=1, keepdims=True)
        return (raw / np.maximum(norm, 1e-12)).astype(np.float32)


def run_lstm(
    layer: LstmLayer, seq: np.ndarray, *, keep: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """One LSTM layer over a sequence, from zero state.

    Parameters
    ----------
    layer : the layer's weights
    seq : np.ndarray [shape=(steps, batch, in)] float32, time-major (each step reads one
        block); a reversed view runs the layer backwards
    keep : return every step's output, not only the last

    Returns
    -------
    h : np.ndarray [shape=(batch, H)] the last step's output
    out : np.ndarray [shape=(steps, batch, H)] every step's output (None unless ``keep``)
    """
    steps, batch, feat = seq.shape
    H = layer.w_hh.shape[0]
    h = np.zeros((batch, H), dtype=np.float32)
    c = np.zeros((batch, H), dtype=np.float32)
    out = np.empty((steps, batch, H), dtype=np.float32) if keep else None
    gates = np.empty((batch, 4 * H), dtype=np.float32)
    for t in range(steps):
        if t % _CHUNK == 0:  # input projections of the next steps, one matmul
            part = seq[t : t + _CHUNK]
            proj = (part.reshape(-1, feat) @ layer.w_ih).reshape(part.shape[0], batch, 4 * H)
            proj += layer.bias
        np.matmul(h, layer.w_hh, out=gates)
        gates += proj[t % _CHUNK]
        ifo = gates[:, : 2 * H]  # input and forget gates
        _sigmoid_inplace(ifo)
        g = np.tanh(gates[:, 2 * H : 3 * H])
        o = _sigmoid(gates[:, 3 * H :])
        c *= ifo[:, H:]
        g *= ifo[:, :H]
        c += g
        h = np.tanh(c)
        h *= o
        if out is not None:
            out[t] = h
    return h, out


def _sigmoid_inplace(x: np.ndarray) -> None:
    x *= 0.5
    np.tanh(x, out=x)
    x *= 0.5
    x += 0.5


def read_state(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The ``model_state`` of resemblyzer's ``pretrained.pt`` as numpy arrays (read without
    torch, see :mod:`._torch_pickle`).

    Raises
    ------
    ModelNotFound
        when the file is not such a checkpoint
    """
    from ._torch_pickle import load_checkpoint

    checkpoint = load_checkpoint(path)
    state = checkpoint.get("model_state") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ModelNotFound(f"{path}: no 'model_state' in this checkpoint")
    return state


def find_weights() -> Path:
    """Where resemblyzer's ``pretrained.pt`` is (found without importing resemblyzer, among
    the installed packages: never in the current folder).

    Raises
    ------
    ModelNotFound
        naming the place looked and how to install the weights
    """
    from .packages import package_file

    return package_file(
        "resemblyzer",
        "pretrained.pt",
        what="resemblyzer's voice encoder weights",
        install=_INSTALL,
    )


_LOCK = threading.Lock()
_CACHE: dict[str, VoiceEncoder] = {}


def load_voice_encoder(path: str | os.PathLike | None = None) -> VoiceEncoder:
    """The voice encoder, loaded once per process (per weights file).

    Parameters
    ----------
    path : a ``pretrained.pt``; None looks in the installed resemblyzer package

    Raises
    ------
    ModelNotFound
        when no weights are found (the message says where it looked and how to install them)
    """
    target = Path(path) if path is not None else find_weights()
    key = str(target.resolve()) if target.exists() else str(target)
    with _LOCK:
        if key not in _CACHE:
            if not target.is_file():
                raise ModelNotFound(
                    f"no voice encoder weights at {target}; install them with: {_INSTALL}"
                )
            _CACHE[key] = VoiceEncoder.from_file(target)
        return _CACHE[key]
