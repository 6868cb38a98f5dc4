"""Writing ONNX graphs from numpy weights, in memory, for ONNX Runtime to run.

Networks that ship as weights only (CAM++, segmentation-3.0) are re-implemented in numpy, the
reference; for speed the same weights are also written as an ONNX graph that ONNX Runtime runs
(its convolutions and LSTMs are several times faster than numpy's). The ``onnx`` package builds
the graph; nothing is written to disk.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import MissingDependency

__all__ = ["OPSET", "GraphWriter"]

OPSET = 17


class GraphWriter:
    """Nodes and weights of a graph being written; each node's output gets a unique name.

    Parameters
    ----------
    what : the network, for the message when ``onnx`` is missing

    Raises
    ------
    MissingDependency
        when the ``onnx`` package is not installed
    """

    def __init__(self, what: str) -> None:
        try:
            import onnx
            from onnx import helper, numpy_helper
        except ImportError as exc:
            raise MissingDependency(
                f"{what} by ONNX Runtime needs the onnx package: pip install 'audiolens[speakers]'"
            ) from exc
        self.onnx, self.helper, self.numpy_helper = onnx, helper, numpy_helper
        self.nodes: list[Any] = []
        self.weights: list[Any] = []
        self.n = 0

    def name(self, prefix: str) -> str:
        """A new name starting with ``prefix``."""
        self.n += 1
        return f"{prefix}_{self.n}"

    def const(self, value: np.ndarray, prefix: str = "w") -> str:
        """A constant (an initializer) holding ``value``; its name."""
        name = self.name(prefix)
        self.weights.append(self.numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def ints(self, *values: int) -> str:
        """A constant int64 vector (shapes, axes)."""
        return self.const(np.array(values, dtype=np.int64), "i")

    def op(self, kind: str, inputs: list[str], **attrs: Any) -> str:
        """A node of operator ``kind`` on ``inputs`` (names); its output's name."""
        out = self.name(kind.lower())
        self.nodes.append(self.helper.make_node(kind, inputs, [out], **attrs))
        return out

    def conv(
        self,
        x: str,
        W: np.ndarray,
        b: np.ndarray | None,
        *,
        stride: tuple[int, ...],
        dilation: int = 1,
        same: bool = True,
    ) -> str:
        """A convolution by ``W`` [shape=(out, in, *k)] (zero padding that keeps the length
        when ``same``, none otherwise) and bias ``b``."""
        k = W.shape[2:]
        pads = [(s - 1) // 2 * dilation if same else 0 for s in k]
        inputs = [x, self.const(W.astype(np.float32))]
        if b is not None:
            inputs.append(self.const(b.astype(np.float32)))
        return self.op(
            "Conv",
            inputs,
            kernel_shape=list(k),
            strides=list(stride),
            dilations=[dilation] * len(k),
            pads=pads + pads,
        )

    def affine(self, x: str, scale: np.ndarray, shift: np.ndarray) -> str:
        """``x * scale + shift`` per channel of (B, C, T)."""
        y = self.op("Mul", [x, self.const(scale.astype(np.float32)[:, None])])
        return self.op("Add", [y, self.const(shift.astype(np.float32)[:, None])])

    def model(
        self,
        name: str,
        inputs: list[tuple[str, list[Any]]],
        outputs: list[tuple[str, list[Any]]],
        metadata: dict[str, str] | None = None,
    ) -> bytes:
        """The serialised model: float32 ``inputs`` and ``outputs`` as (name, shape) with
        names or sizes for the dimensions, and ``metadata`` as its metadata properties."""
        h = self.helper
        f32 = self.onnx.TensorProto.FLOAT
        graph = h.make_graph(
            self.nodes,
            name,
            [h.make_tensor_value_info(n, f32, s) for n, s in inputs],
            [h.make_tensor_value_info(n, f32, s) for n, s in outputs],
            initializer=self.weights,
        )
        model = h.make_model(
            graph, opset_imports=[h.make_opsetid("", OPSET)], producer_name="audiolens"
        )
        model.ir_version = 8
        if metadata:
            h.set_model_props(model, metadata)
        return model.SerializeToString()
