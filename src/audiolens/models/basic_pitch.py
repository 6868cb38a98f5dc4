"""Spotify's basic-pitch (ICASSP 2022) as a frame engine for the ``notes`` task.

The weights are the ONNX file that the ``basic-pitch`` wheel ships
(``basic_pitch/saved_models/icassp_2022/nmp.onnx``, Apache-2.0). They are found WITHOUT
importing basic-pitch (whose ``__init__`` imports TensorFlow when it is there): the package's
folder comes from :func:`~audiolens.models.packages.package_folders` (the installed packages,
never the current folder). Install it without its TensorFlow dependency::

    pip install 'audiolens[notes]'              # onnxruntime
    pip install --no-deps basic-pitch==0.4.0    # only for its model file

or point ``AUDIOLENS_BASIC_PITCH_MODEL`` (or ``model_path=``) at a copy of ``nmp.onnx``.

The model takes mono audio at 22050 Hz in windows of 43844 samples and gives, per window, 172
frames (hop 256 samples, 86.13 frames/s) of note and onset activations (88 piano keys, A0-C8)
and a pitch contour (264 bins, thirds of a semitone from A0).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ModelNotFound, ParameterError

if TYPE_CHECKING:  # pragma: no cover
    from ..devices import Device

__all__ = ["ENV_VAR", "INSTALL_HINT", "BasicPitch", "BasicPitchTorch", "find_model", "make_engine"]

ENV_VAR = "AUDIOLENS_BASIC_PITCH_MODEL"
INSTALL_HINT = (
    "install the basic-pitch package without its TensorFlow dependency "
    "(pip install 'audiolens[notes]' && pip install --no-deps basic-pitch==0.4.0), "
    f"or set {ENV_VAR} (or pass model_path) to a copy of its nmp.onnx"
)
_RELATIVE = Path("saved_models") / "icassp_2022" / "nmp.onnx"
_INPUT = "serving_default_input_2:0"
_OUTPUTS = ("StatefulPartitionedCall:1", "StatefulPartitionedCall:2", "StatefulPartitionedCall:0")


def find_model(model_path: str | os.PathLike | None = None) -> Path:
    """The basic-pitch ONNX model file to use.

    Looks, in order, at ``model_path``, ``$AUDIOLENS_BASIC_PITCH_MODEL``, then the installed
    ``basic_pitch`` package (found without importing it). A folder is searched for
    ``nmp.onnx`` (also under ``saved_models/icassp_2022``).

    Raises
    ------
    ModelNotFound
        naming every place looked at and how to install the model.
    """
    from .packages import given_model, package_folders

    found = given_model(
        model_path, ENV_VAR, _in, expected="a basic-pitch nmp.onnx file", hint=INSTALL_HINT
    )
    if found is not None:
        return found
    looked: list[str] = []
    for folder in package_folders("basic_pitch"):
        candidate = folder / _RELATIVE
        looked.append(str(candidate))
        if candidate.is_file():
            return candidate
    where = f" (looked at {', '.join(looked)})" if looked else " (the package is not installed)"
    raise ModelNotFound(f"the basic-pitch model nmp.onnx was not found{where}; {INSTALL_HINT}")


def _in(path: Path) -> Path | None:
    if path.is_file():
        return path
    for candidate in (path / "nmp.onnx", path / _RELATIVE):
        if candidate.is_file():
            return candidate
    return None


@dataclass
class BasicPitch:
    """basic-pitch's model behind the frame-engine contract of :mod:`audiolens.tasks.notes`.

    The ONNX session is made on first use (once per process) and kept.

    Parameters
    ----------
    model_path : the ``nmp.onnx`` file or a folder holding it; None looks it up
        (see :func:`find_model`)
    """

    model_path: str | os.PathLike | None = None
    name: str = "basic-pitch/icassp_2022"
    sample_rate: int = 22050
    window: int = 43844
    frame_hop: int = 256
    frames_per_window: int = 172
    edge_frames: int = 15
    pitch_bins: int = 88
    contour_bins_per_semitone: int = 3
    lowest_pitch: int = 21
    _session: Any = field(default=None, init=False, repr=False, compare=False)
    _device: str | None = field(default=None, init=False, repr=False, compare=False)
    provider: str = field(default="", init=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:  # sessions never travel between processes
        state = dict(self.__dict__)
        state["_session"] = None
        state["_device"] = None
        return state

    def load(self, device: Device) -> None:
        """Make the ONNX Runtime session for ``device`` (once; again if the device changes)."""
        if self._session is not None and self._device == device.name:
            return
        from .onnx import make_session

        self._session = make_session(find_model(self.model_path), device)
        self._device = device.name
        self.provider = self._session.get_providers()[0]

    def run(self, windows: np.ndarray, *, device: Device) -> dict[str, np.ndarray]:
        """Activations of a batch of windows.

        Parameters
        ----------
        windows : np.ndarray [shape=(n, 43844)], float32 mono audio at 22050 Hz
        device : where to run

        Returns
        -------
        activations : dict with ``"note"`` and ``"onset"`` [shape=(n, 172, 88)] and
            ``"contour"`` [shape=(n, 172, 264)], float32 in 0-1
        """
        self.load(device)
        x = np.ascontiguousarray(windows, dtype=np.float32)[:, :, np.newaxis]
        note, onset, contour = self._session.run(list(_OUTPUTS), {_INPUT: x})
        return {"note": note, "onset": onset, "contour": contour}


@dataclass
class BasicPitchTorch(BasicPitch):
    """The same basic-pitch model run by PyTorch (CPU, CUDA or MPS) instead of ONNX Runtime.

    The ONNX file's weights are compiled into torch operations by
    :class:`~audiolens.models.onnx_torch.TorchGraph`. This is the way to run the model on a
    GPU without onnxruntime-gpu (and on Apple's MPS); its activations agree with ONNX
    Runtime's to about 1e-6, so the notes are the same. On a CPU, ONNX Runtime is as fast or
    faster and is what ``runtime="auto"`` uses.
    """

    _graph: Any = field(default=None, init=False, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_graph"] = None
        return state

    @staticmethod
    def _torch_device(device: Device) -> str:
        return device.name if device.name.startswith(("cuda", "mps")) else "cpu"

    def load(self, device: Device) -> None:
        """Compile the graph for ``device`` (once; again if the device changes)."""
        if self._graph is not None and self._device == device.name:
            return
        from .onnx_torch import TorchGraph

        self._graph = TorchGraph(find_model(self.model_path), self._torch_device(device))
        self._device = device.name
        self.provider = f"torch:{self._torch_device(device)}"

    def run(self, windows: np.ndarray, *, device: Device) -> dict[str, np.ndarray]:
        """As :meth:`BasicPitch.run`, computed with PyTorch on ``device``."""
        import torch

        self.load(device)
        x = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32)[:, :, np.newaxis])
        with torch.inference_mode():
            outs = dict(zip(self._graph.outputs, self._graph(x.to(self._graph.device))))
        note, onset, contour = (outs[name].float().cpu().numpy() for name in _OUTPUTS)
        return {"note": note, "onset": onset, "contour": contour}


def make_engine(
    runtime: str = "auto", device: Device | None = None, model_path: str | os.PathLike | None = None
) -> BasicPitch:
    """basic-pitch on the runtime asked for.

    ``"auto"`` uses ONNX Runtime, except on a GPU that onnxruntime cannot drive here (MPS,
    or CUDA without onnxruntime-gpu) when PyTorch is installed: then PyTorch runs it.
    """
    if runtime not in ("auto", "onnxruntime", "torch"):
        raise ParameterError(
            f"runtime={runtime!r} is not known; use 'auto', 'onnxruntime' or 'torch'"
        )
    if runtime == "auto":
        runtime = "torch" if device is not None and _gpu_needs_torch(device) else "onnxruntime"
    cls = BasicPitchTorch if runtime == "torch" else BasicPitch
    return cls(model_path=model_path)


def _gpu_needs_torch(device: Device) -> bool:
    if device.name == "cpu" or device.backend != "torch":
        return False
    if device.name.startswith("cuda"):
        try:
            import onnxruntime

            if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
                return False
        except ImportError:
            pass
    return (
        importlib.util.find_spec("torch") is not None
        and importlib.util.find_spec("onnx") is not None
    )
