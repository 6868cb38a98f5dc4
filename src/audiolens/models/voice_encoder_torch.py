"""Resemblyzer's speaker encoder run by PyTorch on a device (CUDA, MPS or the CPU).

The same network and weights as :class:`~audiolens.models.voice_encoder.VoiceEncoder` (the
numpy reference, which stays the default): resemblyzer's ``pretrained.pt`` read without torch
(:func:`~audiolens.models.voice_encoder.read_state`), put into a ``torch.nn.LSTM`` of 3
layers and 256 units, a linear layer, a ReLU and an L2 normalisation, all float32. A batch
of windows of any lengths is one call: windows of unequal length are padded and packed
(``pack_padded_sequence``), so each one's embedding is the final hidden state of its own last
frame, as if it ran alone. On CUDA the LSTM is cuDNN's, in full float32, not TF32
(:func:`~audiolens.devices.full_float32`); on the CPU, torch computes with one thread during
a call (:func:`~audiolens.devices.torch_threads`).

:func:`window_batch` sizes a call from the device's free memory; the caller halves it and
retries on out-of-memory (:func:`~audiolens.devices.halve_on_oom`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..devices import Device, ensure_torch, free_memory, full_float32, torch_threads
from ..errors import ModelNotFound, ParameterError
from .voice_encoder import N_MELS, find_weights, read_state

__all__ = ["WINDOW_BYTES", "TorchVoiceEncoder", "load_torch_encoder", "window_batch"]

_HIDDEN = 256
_LAYERS = 3
#: device memory one 1.5 s window takes in a call, an upper estimate: its Mel input (24 KB),
#: each layer's outputs (150 frames x 256 floats, 150 KB each), padding and cuDNN's workspace
WINDOW_BYTES = 1 << 20
MIN_BATCH, MAX_BATCH = 16, 4096
CPU_BATCH = 64  #: windows per call on the CPU (where free memory is not asked)


def window_batch(device: Device) -> int:
    """Windows per encoder call on ``device``: half its free memory over
    :data:`WINDOW_BYTES`, within 16..4096; :data:`CPU_BATCH` where free memory is not known
    (the CPU, MPS)."""
    free = free_memory(device)
    if free is None:
        return CPU_BATCH
    return int(np.clip(free // 2 // WINDOW_BYTES, MIN_BATCH, MAX_BATCH))


class TorchVoiceEncoder:
    """The speaker encoder on a torch device.

    Parameters
    ----------
    state : resemblyzer's ``model_state`` as numpy arrays
    device : a torch device (float32 whatever its DSP precision)
    """

    def __init__(self, state: dict[str, np.ndarray], device: Device) -> None:
        ensure_torch()
        import torch

        self.torch = torch
        self.device = device
        dev = device.torch_device
        self.lstm = torch.nn.LSTM(N_MELS, _HIDDEN, num_layers=_LAYERS, batch_first=True)
        self.linear = torch.nn.Linear(_HIDDEN, _HIDDEN)
        names = [f"lstm.{n}" for n, _ in self.lstm.named_parameters()]
        names += [f"linear.{n}" for n, _ in self.linear.named_parameters()]
        missing = [n for n in names if n not in state]
        if missing:
            raise ModelNotFound(f"the voice encoder weights lack {missing[0]}")
        with torch.no_grad():
            for module, prefix in ((self.lstm, "lstm"), (self.linear, "linear")):
                for name, param in module.named_parameters():
                    value = np.asarray(state[f"{prefix}.{name}"], dtype=np.float32)
                    if value.shape != tuple(param.shape):
                        raise ModelNotFound(
                            f"the voice encoder weight {prefix}.{name} has shape {value.shape}, "
                            f"not {tuple(param.shape)}"
                        )
                    param.copy_(torch.from_numpy(value.copy()))
        self.lstm.to(dev).eval()
        self.linear.to(dev).eval()

    def embed_windows(self, windows: Sequence[np.ndarray]) -> np.ndarray:
        """Embeddings of Mel windows, in one device call.

        Parameters
        ----------
        windows : sequence of np.ndarray [shape=(n_frames_i, 40)], the windows' Mel frames
            (:func:`~audiolens.models.voice_encoder.mel_frames` rows); lengths may differ

        Returns
        -------
        E : np.ndarray [shape=(len(windows), 256)] float32
            Non-negative, L2-normalised embeddings (zeros for a window of silence or of no
            frames), equal to :meth:`VoiceEncoder.embed_mels
            <audiolens.models.voice_encoder.VoiceEncoder.embed_mels>` to float32 rounding.
        """
        out = np.zeros((len(windows), _HIDDEN), dtype=np.float32)
        lengths = np.array([np.shape(w)[0] for w in windows], dtype=np.int64)
        if any(np.ndim(w) != 2 or np.shape(w)[1] != N_MELS for w in windows):
            raise ParameterError(f"each window must have shape (frames, {N_MELS})")
        keep = np.nonzero(lengths > 0)[0]
        if not keep.size:
            return out
        x = np.zeros((keep.size, int(lengths.max()), N_MELS), dtype=np.float32)
        for row, k in enumerate(keep):
            x[row, : lengths[k]] = windows[k]
        out[keep] = self._run(x, lengths[keep])
        return out

    def _run(self, x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        torch = self.torch
        with torch.inference_mode(), full_float32(self.device), torch_threads(self.device, 1):
            seq: Any = torch.from_numpy(x).to(self.device.torch_device)
            if (lengths != lengths[0]).any():
                seq = torch.nn.utils.rnn.pack_padded_sequence(
                    seq, torch.from_numpy(lengths), batch_first=True, enforce_sorted=False
                )
            _, (h, _) = self.lstm(seq)
            raw = torch.relu(self.linear(h[-1]))
            norm = torch.linalg.vector_norm(raw, dim=1, keepdim=True)
            return (raw / torch.clamp(norm, min=1e-12)).cpu().numpy().astype(np.float32)


_LOCK = threading.Lock()
_CACHE: dict[tuple[str, str], TorchVoiceEncoder] = {}


def load_torch_encoder(device: Device, path: str | os.PathLike | None = None) -> TorchVoiceEncoder:
    """The encoder on ``device``, loaded once per process, weights file and device.

    Parameters
    ----------
    device : a torch device
    path : a ``pretrained.pt``; None looks in the installed resemblyzer package

    Raises
    ------
    MissingDependency
        when torch is not installed
    ModelNotFound
        when no weights are found (the message says where it looked and how to install them)
    """
    ensure_torch()
    target = Path(path) if path is not None else find_weights()
    if not target.is_file():
        raise ModelNotFound(f"no voice encoder weights at {target}")
    key = (str(target.resolve()), device.name)
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = TorchVoiceEncoder(read_state(target), device)
        return _CACHE[key]
