"""Choosing the hardware: the only module that asks for CUDA or MPS.

``device="auto"`` resolves, at call time, to CUDA, then MPS, then CPU. The environment variable
``AUDIOLENS_DEVICE`` (and the CLI's ``--device``) overrides ``"auto"``. A :class:`Device` says
which array backend runs the DSP (``"numpy"`` or ``"torch"``), on which torch device, and in
which precision.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from .errors import DeviceError, MissingDependency, ParameterError

__all__ = [
    "Device",
    "available_devices",
    "ensure_torch",
    "free_memory",
    "full_float32",
    "halve_on_oom",
    "out_of_memory",
    "resolve_device",
    "torch_threads",
]

logger = logging.getLogger("audiolens")
T = TypeVar("T")

DeviceName = Literal["auto", "cpu", "numpy", "cuda", "mps"]
_PATTERN = re.compile(r"^(auto|cpu|numpy|torch|torch:cpu|cuda(:\d+)?|mps)$")


@dataclass(frozen=True)
class Device:
    """A resolved compute device.

    Attributes
    ----------
    name : the torch device name (``"cpu"``, ``"cuda:0"``, ``"mps"``); :attr:`label` is what
        users see and results store
    backend : ``"numpy"`` (numpy/scipy, the reference) or ``"torch"``
    precision : ``"float64"`` or ``"float32"``, the dtype used for DSP on this device
    """

    name: str
    backend: Literal["numpy", "torch"]
    precision: Literal["float32", "float64"]

    @property
    def label(self) -> str:
        """What users see and results store: ``"cpu"`` (numpy), ``"torch:cpu"``, ``"cuda:0"``,
        ``"mps"``."""
        return "torch:cpu" if self.backend == "torch" and self.name == "cpu" else self.name

    def __str__(self) -> str:
        return self.label

    @property
    def torch_device(self):
        """The ``torch.device`` (torch backend only)."""
        import torch

        return torch.device(self.name)


def _torch_installed() -> bool:
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):  # a broken install or an import hook that refuses it
        return False


def _gpu_driver_present() -> bool:
    """Cheap check, before importing torch, that a CUDA/ROCm driver could be there at all."""
    import sys

    if not sys.platform.startswith("linux"):
        return True  # Windows: no cheap check; macOS never has CUDA but is caught by torch
    return any(
        os.path.exists(p) for p in ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/kfd")
    )


def _cuda_count() -> int:
    if not _torch_installed() or not _gpu_driver_present():
        return 0
    import torch

    try:
        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # pragma: no cover - broken drivers
        return 0


def _mps_ok() -> bool:
    import platform
    import sys

    if not _torch_installed() or sys.platform != "darwin" or platform.machine() != "arm64":
        return False
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(device: str | Device | None = "auto") -> Device:
    """Turn a device request into a :class:`Device`.

    Parameters
    ----------
    device : "auto", "cpu", "numpy", "torch", "torch:cpu", "cuda", "cuda:N", "mps", a Device,
        or None (same as "auto"). ``"cpu"`` and ``"numpy"`` run the numpy/scipy reference
        path; ``"torch"``/``"torch:cpu"`` run the torch backend on the CPU. ``"auto"`` is
        replaced by ``$AUDIOLENS_DEVICE`` when that is set, and otherwise picks CUDA, then MPS,
        then the CPU.

    Returns
    -------
    device : Device

    Raises
    ------
    ParameterError
        for a name that is not one of the above.
    DeviceError
        when the device asked for is not there (no CUDA GPU, no MPS, index out of range).
    MissingDependency
        when a torch device is asked for and torch is not installed.
    """
    if isinstance(device, Device):
        return device
    req = (device or "auto").strip().lower()
    if req == "auto":
        req = os.environ.get("AUDIOLENS_DEVICE", "").strip().lower() or "auto"
    if not _PATTERN.match(req):
        raise ParameterError(
            f"device={device!r} is not a device; use auto, cpu, torch, cuda, cuda:N or mps"
        )
    if req == "auto":
        if _cuda_count():
            return Device("cuda:0", "torch", "float32")
        if _mps_ok():
            return Device("mps", "torch", "float32")
        return Device("cpu", "numpy", "float64")
    if req in ("cpu", "numpy"):
        return Device("cpu", "numpy", "float64")
    if not _torch_installed():
        raise MissingDependency(
            f"device={req!r} needs PyTorch: pip install 'audiolens[torch]' (or use device='cpu')"
        )
    if req in ("torch", "torch:cpu"):
        return Device("cpu", "torch", "float64")
    if req.startswith("cuda"):
        n = _cuda_count()
        index = int(req.split(":")[1]) if ":" in req else 0
        if n == 0:
            raise DeviceError(f"device={req!r}: no CUDA GPU is available to PyTorch")
        if index >= n:
            raise DeviceError(f"device={req!r}: only {n} CUDA device(s), cuda:0..cuda:{n - 1}")
        return Device(f"cuda:{index}", "torch", "float32")
    if not _mps_ok():
        raise DeviceError("device='mps': Apple MPS is not available on this machine")
    return Device("mps", "torch", "float32")


def available_devices() -> list[dict[str, str]]:
    """List the devices audiolens can use here, for ``audiolens devices``.

    Returns
    -------
    devices : list of dicts with ``name``, ``backend``, ``precision`` and ``detail``
    """
    import platform

    out = [
        {
            "name": "cpu",
            "backend": "numpy",
            "precision": "float64",
            "detail": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        }
    ]
    if not _torch_installed():
        out.append(
            {
                "name": "torch",
                "backend": "-",
                "precision": "-",
                "detail": "not installed: pip install 'audiolens[torch]'",
            }
        )
        return out
    import torch

    out.append(
        {
            "name": "torch:cpu",
            "backend": "torch",
            "precision": "float64",
            "detail": f"torch {torch.__version__}",
        }
    )
    for i in range(_cuda_count()):
        props = torch.cuda.get_device_properties(i)
        out.append(
            {
                "name": f"cuda:{i}",
                "backend": "torch",
                "precision": "float32",
                "detail": f"{props.name}, {props.total_memory / 2**30:.0f} GiB",
            }
        )
    if _mps_ok():
        out.append(
            {"name": "mps", "backend": "torch", "precision": "float32", "detail": "Apple Metal"}
        )
    return out


def ensure_torch() -> None:
    """Raise :class:`MissingDependency` unless torch can be imported."""
    if not _torch_installed():
        raise MissingDependency("the torch backend needs PyTorch: pip install 'audiolens[torch]'")


@contextlib.contextmanager
def blas_threads(threads: int | None) -> Iterator[None]:
    """Hold the BLAS to ``threads`` threads inside the block, then restore it.

    Small matrix products (a few thousand rows by tens of columns) gain nothing from more BLAS
    threads, and on a busy machine the extra threads spin on each other: the loudness meter's
    true peak ran 1.8x slower with OpenBLAS's two threads on two loaded cores. ``None`` (or no
    ``threadpoolctl``) leaves the BLAS as it is. About 20 us per use.
    """
    controller = _blas_controller() if threads is not None else None
    if controller is None:
        yield
        return
    with controller.limit(limits=threads, user_api="blas"):
        yield


@functools.cache
def _blas_controller() -> Any:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()


def out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` says that memory ran out: a :class:`MemoryError`, PyTorch's
    ``OutOfMemoryError`` (CUDA, MPS), CTranslate2's or ONNX Runtime's message."""
    text = str(exc).lower()
    return isinstance(exc, MemoryError) or "out of memory" in text or "cuda_error_out" in text


def halve_on_oom(
    batch: Sequence[T],
    run: Callable[[Sequence[T]], None],
    *,
    on_halve: Callable[[int], None] | None = None,
) -> None:
    """``run(batch)``; when it runs out of memory, the two halves of ``batch``, each in turn
    (halved again as needed, down to one item).

    Parameters
    ----------
    batch : the items of one model call (windows, files)
    run : consumes a batch (keeps its results itself)
    on_halve : told the new size each time a batch is halved, so the caller's later batches
        start at that size

    Raises
    ------
    the error of ``run`` when it is not about memory, or when one item alone runs out.
    """
    try:
        run(batch)
        return
    except (RuntimeError, MemoryError) as exc:
        if len(batch) == 1 or not out_of_memory(exc):
            raise
    # out of the except block: the error, its traceback and the failed call's frames (its
    # device buffers) are gone before the halves run
    half = len(batch) // 2
    logger.warning("out of memory with %d items per batch: trying %d", len(batch), half)
    if on_halve is not None:
        on_halve(half)
    halve_on_oom(batch[:half], run, on_halve=on_halve)
    halve_on_oom(batch[half:], run, on_halve=on_halve)


def free_memory(device: Device) -> int | None:
    """Bytes free on ``device`` now (CUDA: ``torch.cuda.mem_get_info``), or None where it is
    not known (the CPU, MPS)."""
    if not device.name.startswith("cuda"):
        return None
    import torch

    free, _total = torch.cuda.mem_get_info(torch.device(device.name))
    return int(free)


@contextlib.contextmanager
def full_float32(device: Device) -> Iterator[None]:
    """Inside the block, cuDNN's convolutions and LSTMs on ``device`` compute float32 in full
    (IEEE) precision, not TF32; the flags are restored when the block ends.

    PyTorch lets cuDNN use TF32 (10-bit mantissa) for float32 convolutions and RNNs by
    default on Ampere and later GPUs: about 1e-3 relative error, enough to move a VAD
    probability across its threshold, where the CPU reference is float32. Nothing changes on
    other devices (the CPU and MPS have no TF32).
    """
    if not device.name.startswith("cuda"):
        yield
        return
    import torch

    cudnn = torch.backends.cudnn
    parts = [getattr(cudnn, "conv", None), getattr(cudnn, "rnn", None)]
    if all(hasattr(p, "fp32_precision") for p in parts):  # torch >= 2.9's API
        saved = [p.fp32_precision for p in parts]
        try:
            for p in parts:
                p.fp32_precision = "ieee"
            yield
        finally:
            for p, value in zip(parts, saved):
                p.fp32_precision = value
        return
    saved_flag = cudnn.allow_tf32  # older torch: one flag for both
    try:
        cudnn.allow_tf32 = False
        yield
    finally:
        cudnn.allow_tf32 = saved_flag


@contextlib.contextmanager
def torch_threads(device: Device, threads: int) -> Iterator[None]:
    """Inside the block, PyTorch computes with ``threads`` intra-op threads when ``device`` is
    the CPU; the count is restored when the block ends (about 1 us). Nothing changes on an
    accelerator.

    For small recurrent models (silero VAD, the speaker encoder) whose steps are too small to
    share: on 2 busy cores, torch's default 2 threads ran the VAD over 30 s of audio in 3-5 s
    and the encoder over 57 windows in 1.6-3.3 s, against 0.04 s and 0.5 s with 1 thread
    (threads spinning on each other, as :func:`blas_threads` says of the BLAS).
    """
    if device.backend != "torch" or device.name != "cpu":
        yield
        return
    import torch

    saved = torch.get_num_threads()
    if saved == threads:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved)
