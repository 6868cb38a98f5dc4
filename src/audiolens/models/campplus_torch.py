"""CAM++ (:mod:`audiolens.models.campplus`) by PyTorch, on any torch device (CPU included).

The layers and the folded weights are the numpy network's (:class:`~.campplus.CamPlus`), moved
to the device once; :meth:`TorchCamPlus.trunk` gives the same frames to float32 rounding
(``tests/speakers/test_campplus.py``). The filter bank and the pooling stay on numpy (a few
percent of the work).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from .campplus import _SEGMENT, CamPlus, conv_kernel, load_campplus

if TYPE_CHECKING:  # pragma: no cover
    from ..devices import Device

__all__ = ["TorchCamPlus", "load_torch_campplus"]


class TorchCamPlus:
    """The CAM++ trunk on a torch device.

    Parameters
    ----------
    net : the numpy network whose weights are used
    device : a torch device name ("cpu", "cuda", "cuda:1", "mps")
    """

    def __init__(self, net: CamPlus, device: str = "cpu") -> None:
        import torch

        self.torch = torch
        self.device = torch.device(device)

        def t(a: np.ndarray) -> Any:
            return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(self.device)

        def conv2d(M: np.ndarray, bias: np.ndarray) -> tuple[Any, Any]:
            return t(conv_kernel(M, (3, 3))), t(bias)

        def conv1d(M: np.ndarray, bias: np.ndarray, k: int) -> tuple[Any, Any]:
            return t(conv_kernel(M, k)), t(bias)

        self.head: list[tuple] = []
        for part in net.head:
            if part[0] == "conv":
                _, M, bias, stride = part
                self.head.append(("conv", *conv2d(M, bias), stride))
            else:
                _, c1, c2, short, stride = part
                sc = None if short is None else conv1d(short[0], short[1], 1)
                self.head.append(("res", conv2d(*c1), conv2d(*c2), sc, stride))
        self.tdnn = conv1d(*net.tdnn, 5)
        self.blocks = []
        for layers, ((ts, tb), transit) in net.blocks:
            tl = []
            for layer in layers:
                tl.append(
                    {
                        "bn1": (t(layer["bn1"][0])[:, None], t(layer["bn1"][1])[:, None]),
                        "linear1": conv1d(*layer["linear1"], 1),
                        "local": conv1d(*layer["local"], 3),
                        "ctx1": conv1d(*layer["ctx1"], 1),
                        "ctx2": conv1d(*layer["ctx2"], 1),
                        "dilation": layer["dilation"],
                    }
                )
            self.blocks.append((tl, (t(ts)[:, None], t(tb)[:, None]), conv1d(*transit, 1)))
        self.out_bn = (t(net.out_bn[0])[:, None], t(net.out_bn[1])[:, None])

    def trunk(self, feats: np.ndarray) -> np.ndarray:
        """As :meth:`CamPlus.trunk <audiolens.models.campplus.CamPlus.trunk>`.

        Parameters
        ----------
        feats : np.ndarray [shape=(n, n_frames, 80)] mean-removed filter bank frames

        Returns
        -------
        H : np.ndarray [shape=(n, 512, (n_frames + 1) // 2)] float32
        """
        torch = self.torch
        F = torch.nn.functional
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(feats, dtype=np.float32)).to(self.device)
            x = x.transpose(1, 2)[:, None]
            for part in self.head:
                if part[0] == "conv":
                    _, W, b, stride = part
                    x = F.relu(F.conv2d(x, W, b, stride=(stride, 1), padding=1))
                else:
                    _, (W1, b1), (W2, b2), short, stride = part
                    h = F.relu(F.conv2d(x, W1, b1, stride=(stride, 1), padding=1))
                    h = F.conv2d(h, W2, b2, padding=1)
                    if short is not None:
                        Ws, bs = short
                        h = h + F.conv2d(x, Ws[:, :, :, None], bs, stride=(stride, 1))
                    else:
                        h = h + x
                    x = F.relu(h)
            B, C, Fq, T = x.shape
            x = x.reshape(B, C * Fq, T)
            W, b = self.tdnn
            x = F.relu(F.conv1d(x, W, b, stride=2, padding=2))
            for layers, (ts, tb), (Wt, bt) in self.blocks:
                for layer in layers:
                    x = torch.cat([x, self._dense_layer(x, layer)], dim=1)
                x = F.conv1d(F.relu(x * ts + tb), Wt, bt)
            s, b = self.out_bn
            return F.relu(x * s + b).float().cpu().numpy()

    def _dense_layer(self, x: Any, layer: dict) -> Any:
        F = self.torch.nn.functional
        s, b = layer["bn1"]
        W, bias = layer["linear1"]
        h = F.relu(F.conv1d(F.relu(x * s + b), W, bias))
        W, bias = layer["local"]
        d = layer["dilation"]
        local = F.conv1d(h, W, bias, padding=d, dilation=d)
        T = h.shape[2]
        seg = F.avg_pool1d(h, _SEGMENT, _SEGMENT, ceil_mode=True)
        seg = seg.repeat_interleave(_SEGMENT, dim=2)[:, :, :T]
        context = h.mean(dim=2, keepdim=True) + seg
        W1, b1 = layer["ctx1"]
        W2, b2 = layer["ctx2"]
        gate = F.conv1d(F.relu(F.conv1d(context, W1, b1)), W2, b2)
        return local * self.torch.sigmoid(gate)


_LOCK = threading.Lock()
_CACHE: dict[str, TorchCamPlus] = {}


def load_torch_campplus(device: Device | str = "cpu") -> TorchCamPlus:
    """The CAM++ trunk on ``device`` (a :class:`~audiolens.devices.Device` or a torch device
    name), loaded once per process and device.

    Raises
    ------
    ModelNotFound
        when the weights are not found (see :func:`~audiolens.models.campplus.find_weights`)
    """
    name = device if isinstance(device, str) else device.name
    with _LOCK:
        if name not in _CACHE:
            _CACHE[name] = TorchCamPlus(load_campplus(), name)
        return _CACHE[name]
