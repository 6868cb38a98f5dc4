"""Run an ONNX graph with PyTorch: the same weights on CPU, CUDA or MPS, without onnxruntime.

:class:`TorchGraph` reads a model file with the ``onnx`` package, keeps its weights as torch
tensors on the device, and compiles each node into a small closure with its constant inputs
(shapes, axes, pads, slices) turned into Python values once, so a call is a straight run of
torch operations. 4-D convolutions run in channels-last layout, which oneDNN executes much
faster on CPUs for the small channel counts of audio models.

Only the operators that the models audiolens ships adapters for use are implemented (those of
basic-pitch's ICASSP 2022 graph); any other raises ``NotImplementedError`` naming it when the
graph is loaded, never halfway through a run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import MissingDependency

__all__ = ["TorchGraph"]

_DTYPES = {1: "float32", 6: "int32", 7: "int64", 9: "bool", 10: "float16", 11: "float64"}

Fn = Callable[[list[Any]], Any]


def _onnx() -> Any:
    try:
        import onnx
    except ImportError as exc:
        raise MissingDependency(
            "running this model with PyTorch reads it with the onnx package: "
            "pip install 'audiolens[notes]'"
        ) from exc
    return onnx


class TorchGraph:
    """An ONNX model compiled into a sequence of torch operations.

    Parameters
    ----------
    path : the ``.onnx`` file
    device : a torch device name (``"cpu"``, ``"cuda:0"``, ``"mps"``)

    Raises
    ------
    ModelNotFound
        when the file is not an ONNX model (it is named)
    NotImplementedError
        when the graph uses an operator this runner does not implement (it is named)
    """

    def __init__(self, path: str | os.PathLike, device: str = "cpu") -> None:
        import torch
        from onnx import numpy_helper

        onnx = _onnx()
        try:
            model = onnx.load(os.fspath(path))
        except Exception as exc:  # protobuf's DecodeError, or an OSError reading it
            from .onnx import not_a_model

            raise not_a_model(path, exc) from None
        graph = model.graph
        self.device = torch.device(device)
        self.torch = torch
        arrays = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        steps: list[tuple[Fn, list[str], str]] = []
        for node in graph.node:
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            if node.op_type == "Constant":
                arrays[node.output[0]] = numpy_helper.to_array(attrs["value"])
                continue
            make = getattr(self, f"_op_{node.op_type}", None)
            if make is None:
                raise NotImplementedError(
                    f"{os.fspath(path)}: ONNX operator {node.op_type!r} is not supported by "
                    "audiolens' torch runner; use onnxruntime for this model"
                )
            consts = [arrays.get(name) if name else None for name in node.input]
            fn, dynamic = make(consts, attrs)
            steps.append((fn, [node.input[i] for i in dynamic], node.output[0]))
        self._steps = steps
        self._tensors = {
            name: self._tensor(value)
            for name, value in arrays.items()
            if any(name in ins for _, ins, _ in steps)
        }
        self.inputs = [i.name for i in graph.input if i.name not in arrays]
        self.outputs = [o.name for o in graph.output]

    def _tensor(self, value: np.ndarray) -> Any:
        t = self.torch.from_numpy(np.array(value, copy=True)).to(self.device)
        return t.contiguous(memory_format=self.torch.channels_last) if t.dim() == 4 else t

    def __call__(self, *inputs: Any) -> list[Any]:
        """Run the graph on torch tensors (one per graph input); the outputs in graph order."""
        env = dict(self._tensors)
        env.update(zip(self.inputs, inputs))
        for fn, names, out in self._steps:
            env[out] = fn([env[n] for n in names])
        return [env[name] for name in self.outputs]

    # -- operators: each returns (fn over the dynamic inputs, indices of those inputs) ---------
    # A constant input (an initializer or Constant node) is folded into the closure; the
    # shapes, axes, pads and slice bounds of exported graphs always are constants.

    def _elementwise(self, consts: Sequence[Any], fn: Callable[..., Any]) -> tuple[Fn, list[int]]:
        # an input that is a constant stays a (device) tensor in the environment
        return (lambda xs: fn(*xs)), list(range(len(consts)))

    def _op_Add(self, c, a):
        return self._elementwise(c, lambda x, y: x + y)

    def _op_Sub(self, c, a):
        return self._elementwise(c, lambda x, y: x - y)

    def _op_Mul(self, c, a):
        return self._elementwise(c, lambda x, y: x * y)

    def _op_Div(self, c, a):
        return self._elementwise(c, lambda x, y: x / y)

    def _op_Neg(self, c, a):
        return self._elementwise(c, lambda x: -x)

    def _op_Relu(self, c, a):
        return self._elementwise(c, self.torch.relu)

    def _op_Sigmoid(self, c, a):
        return self._elementwise(c, self.torch.sigmoid)

    def _op_Sqrt(self, c, a):
        return self._elementwise(c, self.torch.sqrt)

    def _op_Log(self, c, a):
        return self._elementwise(c, self.torch.log)

    def _op_Equal(self, c, a):
        return self._elementwise(c, lambda x, y: x == y)

    def _op_Where(self, c, a):
        return self._elementwise(c, self.torch.where)

    def _op_Cast(self, c, a):
        dtype = getattr(self.torch, _DTYPES[int(a["to"])])
        return self._elementwise(c, lambda x: x.to(dtype))

    def _op_Shape(self, c, a):
        torch = self.torch
        return (lambda xs: torch.tensor(list(xs[0].shape), dtype=torch.int64)), [0]

    def _op_Reshape(self, c, a):
        if c[1] is None:  # a shape computed in the graph
            return (lambda xs: xs[0].reshape([int(v) for v in xs[1].tolist()])), [0, 1]
        shape = [int(v) for v in c[1]]
        if 0 in shape and not a.get("allowzero", 0):
            keep = [i for i, v in enumerate(shape) if v == 0]

            def reshape(xs: list[Any]) -> Any:
                s = list(shape)
                for i in keep:
                    s[i] = xs[0].shape[i]
                return xs[0].reshape(s)

            return reshape, [0]
        return (lambda xs: xs[0].reshape(shape)), [0]

    def _op_Unsqueeze(self, c, a):
        axes = [int(v) for v in (c[1] if len(c) > 1 else a["axes"])]

        def unsqueeze(xs: list[Any]) -> Any:
            y = xs[0]
            for ax in sorted(v % (y.dim() + len(axes)) for v in axes):
                y = y.unsqueeze(ax)
            return y

        return unsqueeze, [0]

    def _op_Transpose(self, c, a):
        perm = list(a["perm"])
        return (lambda xs: xs[0].permute(perm)), [0]

    def _op_Concat(self, c, a):
        torch, axis = self.torch, int(a["axis"])
        return (lambda xs: torch.cat(xs, dim=axis)), list(range(len(c)))

    def _op_Slice(self, c, a):
        starts, ends = [int(v) for v in c[1]], [int(v) for v in c[2]]
        axes = [int(v) for v in c[3]] if len(c) > 3 and c[3] is not None else None
        steps = [int(v) for v in c[4]] if len(c) > 4 and c[4] is not None else None
        axes = axes if axes is not None else list(range(len(starts)))
        steps = steps if steps is not None else [1] * len(starts)

        def slice_(xs: list[Any]) -> Any:
            y = xs[0]
            index = [slice(None)] * y.dim()
            for s, e, ax, st in zip(starts, ends, axes, steps):
                n = y.shape[ax]
                index[ax] = slice(max(-n - 1, min(s, n)), max(-n - 1, min(e, n)), st)
            return y[tuple(index)]

        return slice_, [0]

    def _op_Pad(self, c, a):
        F = self._functional()
        mode = a.get("mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else str(mode)
        pads = [int(v) for v in c[1]]
        value = float(c[2]) if len(c) > 2 and c[2] is not None and c[2].size else 0.0

        def torch_pads(nd: int) -> list[int]:
            out: list[int] = []
            for ax in reversed(range(nd)):
                out += [pads[ax], pads[ax + nd]]
            return out

        if mode == "constant":
            return (lambda xs: F.pad(xs[0], torch_pads(xs[0].dim()), value=value)), [0]
        if mode != "reflect":
            raise NotImplementedError(f"ONNX Pad mode {mode!r} is not supported")

        def reflect(xs: list[Any]) -> Any:
            y = xs[0]
            nd = y.dim()
            for ax in range(nd):
                lo, hi = pads[ax], pads[ax + nd]
                if lo == 0 and hi == 0:
                    continue
                moved = y.movedim(ax, -1)
                shape = moved.shape
                flat = moved.reshape(-1, 1, shape[-1])
                y = F.pad(flat, (lo, hi), mode="reflect").reshape(*shape[:-1], -1).movedim(-1, ax)
            return y

        return reflect, [0]

    def _op_Conv(self, c, a):
        F = self._functional()
        torch = self.torch
        nd = len(c[1].shape) - 2
        pads = list(a.get("pads", [0] * (2 * nd)))
        stride = tuple(a.get("strides", [1] * nd))
        dilation = tuple(a.get("dilations", [1] * nd))
        groups = int(a.get("group", 1))
        conv = F.conv2d if nd == 2 else F.conv1d
        same = pads[:nd] == pads[nd:]
        extra: list[int] = []
        for ax in reversed(range(nd)):
            extra += [pads[ax], pads[ax + nd]]
        padding = tuple(pads[:nd]) if same else 0
        layout = torch.channels_last if nd == 2 else None

        def run(xs: list[Any]) -> Any:
            x, w = xs[0], xs[1]
            b = xs[2] if len(xs) > 2 else None
            if layout is not None:
                x = x.contiguous(memory_format=layout)
            if not same:
                x = F.pad(x, extra)
            return conv(x, w, b, stride, padding, dilation, groups)

        return run, list(range(len(c)))  # weights come from the environment, channels-last

    def _reduce(self, c, a, how: str) -> tuple[Fn, list[int]]:
        if len(c) > 1 and c[1] is not None:
            axes = [int(v) for v in c[1]]
        else:
            axes = [int(v) for v in a.get("axes", [])]
        keep = bool(a.get("keepdims", 1))

        def reduce(xs: list[Any]) -> Any:
            y = xs[0]
            dims = [ax % y.dim() for ax in axes] if axes else list(range(y.dim()))
            if how == "sum":
                return y.sum(dim=dims, keepdim=keep)
            op = y.amin if how == "min" else y.amax
            return op(dim=dims, keepdim=keep)

        return reduce, [0]

    def _op_ReduceSum(self, c, a):
        return self._reduce(c, a, "sum")

    def _op_ReduceMin(self, c, a):
        return self._reduce(c, a, "min")

    def _op_ReduceMax(self, c, a):
        return self._reduce(c, a, "max")

    def _functional(self) -> Any:
        import torch.nn.functional as F

        return F
