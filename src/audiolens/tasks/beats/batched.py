"""The beats of a batch of songs in batched calls on a torch device (CUDA, MPS or the CPU).

**Spectrograms.** Several songs' log-filtered spectrograms come from one call: the signals,
zero-padded to the longest, are the rows of one tensor. The padding changes no frame of a
shorter song: madmom's centred frames read zeros past a signal's end anyway
(:func:`~audiolens.dsp.madmom_frames`), so song ``k``'s first ``ceil(n_k / 441)`` frames are
the frames it has alone.

**The network.** The songs' frames go through the activation network together, each song (or
chunk of a song) a row of one padded tensor, with a mask: after every layer the frames outside
the row's song are set to zero. Alone, each dilated convolution reads zeros past the song's
ends (its zero padding); the mask gives it the same zeros, so no output frame of a song sees
another song or the padding, and each song's activations equal the per-file ones
(:meth:`~.activation.BeatNet.stream`). Songs longer than ``CHUNK + 2 * reach`` frames go in
the same chunks as per file: :data:`~.activation.CHUNK` frames with the network's reach (the
sum of its dilations: every frame an output depends on) of context on each side.

**Batches.** Songs are sorted by length and as many go in one call as fit a budget of frames
taken from the device's free memory (:func:`~audiolens.devices.free_memory`; a fixed budget
where it is not known). A call that runs out of memory is halved and retried
(:func:`~audiolens.devices.halve_on_oom`), and the later calls on that device keep the smaller
budget.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...devices import Device
from ...dsp import log_filtered_spectrogram
from .activation import CHUNK, BeatNet, audible, input_features
from .features import _HOP, FPS, FRAME_SIZE, SAMPLE_RATE

__all__ = ["FRAME_BYTES", "DeviceBatches", "chunks"]

#: device memory per spectrogram frame in a call (CUDA runs all frames of a call at once):
#: the windowed frame (2048 float32), its spectrum (1025 complex64), magnitudes, the
#: filterbank's output and the network's layers (24 channels), with room to spare
FRAME_BYTES = 48 * 1024
#: frames per call where free memory is not known (the CPU, MPS): 11 minutes of audio
DEFAULT_FRAMES = 1 << 16
#: the budget's bounds on CUDA: at least one 10-minute song (the longest not streamed), at
#: most 2**22 frames (11.6 hours)
MIN_FRAMES, MAX_FRAMES = 60_000, 1 << 22


def chunks(n: int, reach: int) -> list[tuple[int, int, int, int]]:
    """How the per-file network cuts ``n`` frames (:meth:`~.activation.BeatNet.stream`).

    Returns
    -------
    pieces : ``(lo, hi, a, b)`` per piece: frames ``lo .. hi - 1`` go in, and the outputs of
        frames ``a .. b - 1`` are kept (``lo <= a < b <= hi``)
    """
    if n <= CHUNK + 2 * reach:
        return [(0, n, 0, n)]
    return [
        (max(a - reach, 0), min(a + CHUNK + reach, n), a, min(a + CHUNK, n))
        for a in range(0, n, CHUNK)
    ]


def _groups(lengths: Sequence[int], budget: int) -> list[list[int]]:
    """Indices of ``lengths`` (all > 0) in groups, longest first: each group's padded size
    (count x its longest) within ``budget`` (a longer item goes alone), and no item shorter
    than half its group's longest (so padding at most doubles the work)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    groups: list[list[int]] = []
    for i in order:
        longest = lengths[groups[-1][0]] if groups else 0
        if groups and (len(groups[-1]) + 1) * longest <= budget and 2 * lengths[i] >= longest:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


@dataclass
class DeviceBatches:
    """Spectrograms and beat activations of many songs in batched calls on torch devices.

    One per task instance: it keeps, per device, the frame budget that fits (lowered when a
    call runs out of memory) and the network's weights on that device.
    """

    _fits: dict[str, int] = field(default_factory=dict)
    _weights: dict[str, tuple[BeatNet, dict[str, Any]]] = field(default_factory=dict, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (sent to a worker process) without the tensors: a worker makes its own."""
        return {"_fits": dict(self._fits), "_weights": {}}

    def budget(self, device: Device) -> int:
        """Frames per call on ``device``: the fitted budget, else from its free memory."""
        from ...devices import free_memory

        if device.name in self._fits:
            return self._fits[device.name]
        free = free_memory(device)
        if free is None:
            return DEFAULT_FRAMES
        return int(np.clip(free // 2 // FRAME_BYTES, MIN_FRAMES, MAX_FRAMES))

    def _calls(
        self,
        lengths: Sequence[int],
        device: Device,
        run: Callable[[Sequence[int]], None],
    ) -> None:
        """``run(group)`` for groups of items that fit the budget; halved on out-of-memory."""
        from ...devices import halve_on_oom

        for group in _groups(lengths, self.budget(device)):
            longest = lengths[group[0]]

            def fit(n: int, longest: int = longest) -> None:
                self._fits[device.name] = max(1, n * longest)

            halve_on_oom(group, run, on_halve=fit)

    def spectrograms(self, signals: Sequence[np.ndarray], *, device: Device) -> list[np.ndarray]:
        """:func:`~.features.logspec` of each mono 44.1 kHz signal, in batched calls.

        Parameters
        ----------
        signals : np.ndarray [shape=(n_k,)] float32, any lengths
        device : a torch device

        Returns
        -------
        S : list of np.ndarray [shape=(81, ceil(n_k / 441))] float32, in the order given
        """
        import torch

        ys = [np.asarray(y, dtype=np.float32).reshape(-1) for y in signals]
        out: list[np.ndarray] = [np.zeros((81, 0), dtype=np.float32) for _ in ys]
        live = [i for i, y in enumerate(ys) if y.size]

        def run(group: Sequence[int]) -> None:
            idx = [live[g] for g in group]
            x = torch.zeros((len(idx), max(ys[i].size for i in idx)), device=device.torch_device)
            for row, i in enumerate(idx):
                x[row, : ys[i].size] = torch.from_numpy(ys[i]).to(device.torch_device)
            S = log_filtered_spectrogram(x, sr=SAMPLE_RATE, frame_size=FRAME_SIZE, fps=FPS)
            S = S.to("cpu").numpy()
            for row, i in enumerate(idx):
                frames = -(-ys[i].size // _HOP)
                out[i] = np.ascontiguousarray(S[row, :, :frames], dtype=np.float32)

        self._calls([ys[i].size // _HOP + 1 for i in live], device, run)
        return out

    def activations(
        self, specs: Sequence[np.ndarray], *, net: BeatNet, device: Device
    ) -> list[np.ndarray]:
        """The network's beat and downbeat activations of each spectrogram, in batched calls.

        Parameters
        ----------
        specs : np.ndarray [shape=(81, n_k)] log-filtered spectrograms, any lengths
        net : the activation network
        device : a torch device

        Returns
        -------
        act : list of np.ndarray [shape=(2, n_k)] float32 in 0-1, equal to ``net(S_k)``
        """
        feats = [input_features(S, net=net) if S.shape[-1] else None for S in specs]
        out = [np.zeros((2, S.shape[-1]), dtype=np.float32) for S in specs]
        pieces = [
            (k, *piece)
            for k, x in enumerate(feats)
            if x is not None
            for piece in chunks(x.shape[0], net.reach)
        ]

        def run(group: Sequence[int]) -> None:
            rows = [pieces[g] for g in group]
            act = self._forward(net, [feats[k][lo:hi] for k, lo, hi, _, _ in rows], device)
            for (k, lo, _, a, b), y in zip(rows, act):
                out[k][:, a:b] = y[:, a - lo : b - lo]

        self._calls([hi - lo for _, lo, hi, _, _ in pieces], device, run)
        return [act * audible(S) for act, S in zip(out, specs)]

    def _forward(self, net: BeatNet, xs: Sequence[np.ndarray], device: Device) -> list[np.ndarray]:
        """The network on feature rows ``(n_k, 162)`` padded into one batch; masked so that
        every row sees zeros past its end, as alone (see the module docstring)."""
        import torch
        from torch.nn import functional as F

        w = self._on_device(net, device)
        dev = device.torch_device
        width = max(x.shape[0] for x in xs)
        x = torch.zeros((len(xs), width, xs[0].shape[1]), device=dev)
        valid = torch.zeros((len(xs), 1, width), device=dev)
        for row, xk in enumerate(xs):
            x[row, : xk.shape[0]] = torch.from_numpy(xk).to(dev)
            valid[row, :, : xk.shape[0]] = 1.0
        with torch.no_grad():
            h = F.elu(F.conv1d(x.transpose(1, 2), w["inp_w"], w["inp_b"])) * valid
            for d, cw, cb in w["convs"]:
                h = (h + F.elu(F.conv1d(h, cw, cb, padding=d, dilation=d))) * valid
            act = torch.sigmoid(F.conv1d(h, w["out_w"], w["out_b"])).to("cpu").numpy()
        return [act[row, :, : xk.shape[0]] for row, xk in enumerate(xs)]

    def _on_device(self, net: BeatNet, device: Device) -> dict[str, Any]:
        """The network's weights as torch tensors on ``device`` (made once per device)."""
        import torch

        held = self._weights.get(device.name)
        if held is None or held[0] is not net:
            dev = device.torch_device

            def t(a: np.ndarray) -> Any:
                return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(dev)

            held = (
                net,
                {
                    "inp_w": t(net.inp_w[:, :, None]),
                    "inp_b": t(net.inp_b),
                    "convs": [(d, t(cw), t(cb)) for d, cw, cb in net.convs],
                    "out_w": t(net.out_w[:, :, None]),
                    "out_b": t(net.out_b),
                },
            )
            self._weights[device.name] = held
        return held[1]
