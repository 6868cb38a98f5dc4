"""CAM++ (:mod:`audiolens.models.campplus`) by ONNX Runtime on the CPU, without torch.

The numpy network is the reference; its folded weights are written here, once per process, into
an ONNX graph of the same trunk (the ``onnx`` package builds it in memory, nothing is written to
disk) that ONNX Runtime runs. Its convolutions are much faster than numpy's matrix products over
gathered columns: about 2.5 times on one core, 3 on two (``benchmarks/bench_speakers.py``
compares them). :meth:`OrtCamPlus.trunk` gives the numpy trunk's frames to float32 rounding
(``tests/speakers/test_campplus.py``). The filter bank and the pooling stay on numpy.

Layers, as in the numpy network: the 2-D front end (``Conv`` 3x3, residual blocks, the last
convolution halving the frequency axis), the 320 channels read as one axis (``Reshape``), the
kernel-5 stride-2 ``Conv``, and each densely connected layer as batch norm (``Mul``, ``Add``)
+ ``Relu``, a 1x1 ``Conv`` + ``Relu``, the masked kernel-3 ``Conv`` gated by ``Sigmoid`` of two
1x1 ``Conv`` over the input's mean (``ReduceMean``) plus its 100-frame segment's
(``AveragePool`` with ``ceil_mode`` so the last, shorter segment averages its own frames,
repeated by ``Expand`` and cut to length by ``Slice``), appended by ``Concat``.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from ..errors import MissingDependency
from .campplus import _SEGMENT, CamPlus, conv_kernel, load_campplus
from .onnx_graph import GraphWriter

__all__ = ["OrtCamPlus", "campplus_graph", "load_ort_campplus"]

logger = logging.getLogger("audiolens")


def _dense_layer(g: GraphWriter, x: str, layer: dict) -> str:
    """One densely connected layer of :class:`CamPlus`: its 32 new channels."""
    h = g.op("Relu", [g.affine(x, *layer["bn1"])])
    M, bias = layer["linear1"]
    h = g.op("Relu", [g.conv(h, conv_kernel(M, 1), bias, stride=(1,))])
    M, bias = layer["local"]
    d = layer["dilation"]
    local = g.conv(h, conv_kernel(M, 3), bias, stride=(1,), dilation=d)
    seg = g.op("AveragePool", [h], kernel_shape=[_SEGMENT], strides=[_SEGMENT], ceil_mode=1)
    seg = g.op("Unsqueeze", [seg, g.ints(3)])
    seg = g.op("Expand", [seg, g.ints(1, 1, 1, _SEGMENT)])
    seg = g.op("Reshape", [seg, g.ints(0, 0, -1)])
    length = g.op("Shape", [h], start=2, end=3)
    seg = g.op("Slice", [seg, g.ints(0), length, g.ints(2)])
    context = g.op("Add", [g.op("ReduceMean", [h], axes=[2], keepdims=1), seg])
    M1, b1 = layer["ctx1"]
    M2, b2 = layer["ctx2"]
    gate = g.op("Relu", [g.conv(context, conv_kernel(M1, 1), b1, stride=(1,))])
    gate = g.op("Sigmoid", [g.conv(gate, conv_kernel(M2, 1), b2, stride=(1,))])
    return g.op("Mul", [local, gate])


def campplus_graph(net: CamPlus) -> bytes:
    """The CAM++ trunk of ``net`` as a serialised ONNX model.

    Parameters
    ----------
    net : the numpy network whose (folded) weights are written

    Returns
    -------
    model : bytes of an ONNX model (opset 17) with input ``feats`` [shape=(n, n_frames, 80)]
        float32 (mean-removed filter bank frames) and output ``frames``
        [shape=(n, 512, (n_frames + 1) // 2)], as :meth:`CamPlus.trunk`

    Raises
    ------
    MissingDependency
        when the ``onnx`` package is not installed
    """
    g = GraphWriter("CAM++")
    x = g.op("Transpose", ["feats"], perm=[0, 2, 1])
    x = g.op("Unsqueeze", [x, g.ints(1)])
    for part in net.head:
        if part[0] == "conv":
            _, M, bias, stride = part
            x = g.op("Relu", [g.conv(x, conv_kernel(M, (3, 3)), bias, stride=(stride, 1))])
            continue
        _, (M1, b1), (M2, b2), short, stride = part
        h = g.op("Relu", [g.conv(x, conv_kernel(M1, (3, 3)), b1, stride=(stride, 1))])
        h = g.conv(h, conv_kernel(M2, (3, 3)), b2, stride=(1, 1))
        if short is not None:
            Ms, bs = short
            x = g.conv(x, conv_kernel(Ms, (1, 1)), bs, stride=(stride, 1))
        x = g.op("Relu", [g.op("Add", [h, x])])
    M, bias = net.tdnn
    channels = M.shape[1] // 5  # 32 channels x 10 bands, read as one axis
    x = g.op("Reshape", [x, g.ints(0, channels, -1)])
    x = g.op("Relu", [g.conv(x, conv_kernel(M, 5), bias, stride=(2,))])
    for layers, ((ts, tb), (Mt, bt)) in net.blocks:
        for layer in layers:
            x = g.op("Concat", [x, _dense_layer(g, x, layer)], axis=1)
        x = g.conv(g.op("Relu", [g.affine(x, ts, tb)]), conv_kernel(Mt, 1), bt, stride=(1,))
    s, b = net.out_bn
    x = g.op("Relu", [g.affine(x, s, b)])
    return g.model("campplus_trunk", [("feats", ["n", "n_frames", 80])], [(x, ["n", 512, "n_out"])])


class OrtCamPlus:
    """The CAM++ trunk by ONNX Runtime on the CPU.

    Parameters
    ----------
    net : the numpy network whose weights are used
    threads : intra-op threads; None: :func:`~audiolens.models.onnx.onnx_threads` (the CPUs
        this process may use, or ``OMP_NUM_THREADS`` in the runner's workers)

    Raises
    ------
    MissingDependency
        when onnxruntime or onnx is not installed
    """

    def __init__(self, net: CamPlus, threads: int | None = None) -> None:
        from .onnx import _ort, session_options

        ort = _ort("speakers")
        # calls come between numpy work of the same thread: spinning threads took a core from
        # it (2 threads ran slower than 1)
        opts = session_options(ort, threads, spin=False)
        self.session = ort.InferenceSession(
            campplus_graph(net), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self.output = self.session.get_outputs()[0].name

    def trunk(self, feats: np.ndarray) -> np.ndarray:
        """The trunk's frames [shape=(n, 512, (n_frames + 1) // 2)] of mean-removed filter bank
        frames ``feats`` [shape=(n, n_frames, 80)]: :meth:`CamPlus.trunk
        <audiolens.models.campplus.CamPlus.trunk>` by ONNX Runtime."""
        x = np.ascontiguousarray(feats, dtype=np.float32)
        return self.session.run([self.output], {"feats": x})[0]


_LOCK = threading.Lock()
_CACHE: dict[int, OrtCamPlus | None] = {}


def load_ort_campplus(threads: int | None = None) -> OrtCamPlus | None:
    """The CAM++ trunk by ONNX Runtime, built once per process; None (and one log line) when
    onnxruntime or onnx is missing, so that the numpy trunk is used.

    Parameters
    ----------
    threads : intra-op threads (see :class:`OrtCamPlus`)

    Raises
    ------
    ModelNotFound
        when the weights are not found (see :func:`~audiolens.models.campplus.find_weights`)
    """
    from .onnx import onnx_threads

    threads = threads or onnx_threads()  # one session per thread count, however it was asked
    with _LOCK:
        if threads not in _CACHE:
            net = load_campplus()
            try:
                _CACHE[threads] = OrtCamPlus(net, threads)
            except MissingDependency as e:
                logger.info("CAM++ runs on numpy: %s", e)
                _CACHE[threads] = None
        return _CACHE[threads]
