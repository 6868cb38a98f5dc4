"""Silero VAD run by PyTorch on a device (CUDA, MPS or the CPU), with the weights of the ONNX
model the CPU path runs.

The network is read from the same ONNX file :class:`~audiolens.models.vad.SileroVAD` uses
(``silero_vad_16k_sequence.onnx`` from the silero-vad package, or faster-whisper's
``silero_vad_v6.onnx``: both lay the network out the same way), with the ``onnx`` package: its
six convolutions and its LSTM, found by the graph's structure, not by tensor names. Each
576-sample frame (512 new samples after 64 of context) is reflect-padded by 64 samples, a
256-tap STFT as a convolution with a 128-sample hop gives 4 magnitude frames of 129 bins,
four convolutions with ReLUs reduce them to 128 features, an LSTM of 128 units steps over the
frames, and a ReLU, a 1x1 convolution and a sigmoid give the speech probability. The
convolutions run on all the frames of a block at once and the LSTM over the whole sequence in
one call (cuDNN on CUDA), so a block of audio is one short series of device kernels.

Why not the other files silero-vad ships: ``silero_vad_16k.safetensors`` holds other weights
than every ONNX export and the TorchScript model (its first convolution differs by up to 4.0),
so it would change the answers; ``silero_vad.jit`` steps one 32 ms frame per call (and loading
it runs its TorchScript code).

The probabilities equal the ONNX model's to float32 rounding
(``tests/speakers/test_device_path.py``). On CUDA, cuDNN runs in full float32, not TF32
(:func:`~audiolens.devices.full_float32`); on the CPU, torch computes with one thread during
a call (:func:`~audiolens.devices.torch_threads`).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..devices import Device, ensure_torch, full_float32, torch_threads
from ..errors import MissingDependency, ModelNotFound
from .vad import CONTEXT, SileroVAD, find_model

__all__ = ["TorchVAD", "read_weights"]

#: frames per device call (about 9 minutes of audio; the front end holds ~7 KB a frame)
_CALL_FRAMES = 16384
_HIDDEN = 128
#: the weight shapes of the six convolutions, in graph order (the STFT first)
_CONV_SHAPES = ((258, 1, 256), (128, 129, 3), (64, 128, 3), (64, 64, 3), (128, 64, 3), (1, 128, 1))


def _onnx_gates(m: np.ndarray) -> np.ndarray:
    """ONNX's LSTM gate order (input, output, forget, cell) as torch's (input, forget, cell,
    output), along the first axis."""
    i, o, f, c = np.split(m, 4)
    return np.concatenate([i, f, c, o])


def read_weights(path: str | os.PathLike) -> dict[str, Any]:
    """The network's weights from a silero VAD sequence ONNX model.

    Returns
    -------
    weights : ``convs``, a list of six ``(weight, bias or None, stride)`` in graph order (the
        STFT, four encoder convolutions, the output), and ``lstm``: ``weight_ih``,
        ``weight_hh``, ``bias_ih``, ``bias_hh`` in torch's gate order

    Raises
    ------
    MissingDependency
        when the ``onnx`` package is not installed
    ModelNotFound
        naming the file when it is not laid out as silero VAD's sequence model
    """
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as exc:
        raise MissingDependency(
            "silero VAD on a torch device reads the ONNX model with the onnx package: "
            "pip install onnx"
        ) from exc
    try:
        graph = onnx.load(os.fspath(path)).graph
    except Exception as exc:  # protobuf's DecodeError, or an OSError reading it
        raise ModelNotFound(f"{path}: not an ONNX model ({exc})") from None
    arrays = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    convs, lstm = [], []
    for node in graph.node:
        if node.op_type == "Conv":
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            bias = arrays.get(node.input[2]) if len(node.input) > 2 else None
            convs.append((arrays.get(node.input[1]), bias, int(attrs.get("strides", [1])[0])))
        elif node.op_type == "LSTM":
            lstm = [arrays.get(name) for name in node.input[1:4]]
    shapes = [None if w is None else w.shape for w, _, _ in convs]
    lstm_shapes = [None if a is None else a.shape for a in lstm]
    want_lstm = [(1, 4 * _HIDDEN, _HIDDEN), (1, 4 * _HIDDEN, _HIDDEN), (1, 8 * _HIDDEN)]
    if shapes != list(_CONV_SHAPES) or lstm_shapes != want_lstm:
        raise ModelNotFound(
            f"{path}: not laid out as silero VAD's sequence model (convolutions {shapes}, "
            f"LSTM {lstm_shapes})"
        )
    w, r, b = (np.asarray(a, dtype=np.float32) for a in lstm)
    return {
        "convs": convs,
        "lstm": {
            "weight_ih": _onnx_gates(w[0]),
            "weight_hh": _onnx_gates(r[0]),
            "bias_ih": _onnx_gates(b[0, : 4 * _HIDDEN]),
            "bias_hh": _onnx_gates(b[0, 4 * _HIDDEN :]),
        },
    }


class _Network:
    """The network's weights as float32 tensors on one device, and its forward pass."""

    def __init__(self, weights: dict[str, Any], device: Device) -> None:
        import torch

        dev = device.torch_device

        def tensor(a: np.ndarray | None) -> Any:
            return None if a is None else torch.from_numpy(np.array(a, np.float32)).to(dev)

        self.torch = torch
        convs = [(tensor(w), tensor(b), stride) for w, b, stride in weights["convs"]]
        self.stft, self.encoder, self.output = convs[0], convs[1:5], convs[5]
        self.lstm = torch.nn.LSTM(_HIDDEN, _HIDDEN).to(dev).eval()
        with torch.no_grad():
            for name, value in weights["lstm"].items():
                getattr(self.lstm, f"{name}_l0").copy_(tensor(value))

    def __call__(self, x: Any, h: Any, c: Any) -> tuple[Any, Any, Any]:
        """Probabilities [shape=(n,)] of frames ``x`` [shape=(n, 576)] and the new state
        ``h``, ``c`` [shape=(1, 1, 128)]."""
        F = self.torch.nn.functional
        y = F.pad(x[:, None, :], (0, CONTEXT), mode="reflect")
        w, _, stride = self.stft
        spec = F.conv1d(y, w, stride=stride)  # (n, 258, 4): real and imaginary parts
        half = spec.shape[1] // 2
        z = self.torch.sqrt(spec[:, :half] ** 2 + spec[:, half:] ** 2)
        for w, b, stride in self.encoder:
            z = F.relu(F.conv1d(z, w, b, stride=stride, padding=1))
        seq, (h, c) = self.lstm(z[:, :, 0][:, None, :], (h, c))  # (n, 1, 128)
        w, b, _ = self.output
        out = F.conv1d(F.relu(seq).permute(1, 2, 0), w, b)
        return self.torch.sigmoid(out).reshape(-1), h, c


_LOCK = threading.Lock()
_NETWORKS: dict[tuple[str, str], _Network] = {}


def _network(path: Path, device: Device) -> _Network:
    """The process's network for ``path`` on ``device`` (built once)."""
    key = (str(path.resolve()), device.name)
    with _LOCK:
        if key not in _NETWORKS:
            _NETWORKS[key] = _Network(read_weights(path), device)
        return _NETWORKS[key]


class TorchVAD(SileroVAD):
    """:class:`~audiolens.models.vad.SileroVAD` with the network run by PyTorch on ``device``
    (same :meth:`feed`, :meth:`flush` and :meth:`reset`; the state carries over blocks).

    Parameters
    ----------
    device : a torch device (the computation is float32 whatever the device's precision)
    model_path : a silero VAD sequence ONNX file; None: the one :func:`find_model` finds

    Raises
    ------
    MissingDependency
        when torch or onnx is not installed
    ModelNotFound
        when no model is found, or it is not laid out as silero's sequence model (the
        streaming export ``silero_vad.onnx`` is not)
    """

    def __init__(self, device: Device, model_path: str | None = None) -> None:
        ensure_torch()
        self.path = find_model(model_path)
        self.kind = "torch"
        self.device = device
        self._net = _network(self.path, device)
        self.reset()

    def _run(self, x: np.ndarray) -> np.ndarray:
        torch = self._net.torch
        dev = self.device.torch_device
        out = []
        with torch.inference_mode(), full_float32(self.device), torch_threads(self.device, 1):
            h = torch.from_numpy(np.ascontiguousarray(self._state[0:1])).to(dev)
            c = torch.from_numpy(np.ascontiguousarray(self._state[1:2])).to(dev)
            for i in range(0, x.shape[0], _CALL_FRAMES):
                part = torch.from_numpy(np.ascontiguousarray(x[i : i + _CALL_FRAMES])).to(dev)
                p, h, c = self._net(part, h, c)
                out.append(p.cpu().numpy())
            self._state = torch.cat([h, c]).cpu().numpy().astype(np.float32)
        return np.concatenate(out).astype(np.float32)
