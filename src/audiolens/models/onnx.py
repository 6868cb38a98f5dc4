"""ONNX Runtime sessions: one per model and worker process, providers chosen by device.

``onnxruntime`` (CPU) or ``onnxruntime-gpu`` (CUDA) is an optional dependency, imported only
here and only when a session is made. Threads: a session uses as many intra-op threads as this
process may use (the runner's workers limit themselves through ``OMP_NUM_THREADS``; the main
process uses every core), so several worker processes do not oversubscribe the machine.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import MissingDependency, ModelNotFound, _show_path

if TYPE_CHECKING:  # pragma: no cover
    from ..devices import Device

__all__ = ["make_session", "not_a_model", "onnx_threads", "providers_for", "session_options"]

logger = logging.getLogger("audiolens")


def _ort(extra: str = "notes") -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise MissingDependency(
            f"this model runs on ONNX Runtime, which is not installed: "
            f"pip install 'audiolens[{extra}]'"
            + (f" (or 'audiolens[{extra}-gpu]' for CUDA)" if extra == "notes" else "")
        ) from exc
    return onnxruntime


def onnx_threads() -> int:
    """Intra-op threads for a session in this process.

    ``OMP_NUM_THREADS`` when set (the runner sets it in its worker processes), else the CPUs
    this process may run on.
    """
    value = os.environ.get("OMP_NUM_THREADS", "")
    if value.isdigit() and int(value) > 0:
        return int(value)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def session_options(ort: Any, threads: int | None = None, *, spin: bool = True) -> Any:
    """``onnxruntime.SessionOptions`` as every session here uses them: ``threads`` intra-op
    threads (None: :func:`onnx_threads`), one inter-op thread, sequential, warnings off.

    Parameters
    ----------
    ort : the imported ``onnxruntime`` module
    threads : intra-op threads, or None
    spin : whether idle intra-op threads spin waiting for work (ONNX Runtime's default); off
        for models called between numpy work or beside another model, where spinning threads
        take the cores that work needs
    """
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads if threads else onnx_threads()
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    if not spin:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


def providers_for(device: Device, available: list[str]) -> list[str]:
    """Execution providers for ``device``, best first, among the ``available`` ones.

    CUDA devices use ``CUDAExecutionProvider`` when onnxruntime-gpu provides it; everything
    else (and CUDA without onnxruntime-gpu) runs on ``CPUExecutionProvider``.
    """
    if device.name.startswith("cuda") and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def make_session(path: str | os.PathLike, device: Device, *, extra: str = "notes") -> Any:
    """An ``onnxruntime.InferenceSession`` for the model file at ``path`` on ``device``.

    Raises
    ------
    MissingDependency
        when onnxruntime is not installed (the message names the extra to install)
    ModelNotFound
        when ``path`` is not a file, or ONNX Runtime cannot load it (not an ONNX model, a
        damaged one, an operator it lacks); the message names the file
    """
    ort = _ort(extra)
    path = Path(path)
    if not path.is_file():
        raise ModelNotFound(f"no ONNX model file at {path}")
    available = list(ort.get_available_providers())
    providers = providers_for(device, available)
    if device.name.startswith("cuda") and providers[0] != "CUDAExecutionProvider":
        logger.warning(
            "ONNX Runtime has no CUDA provider here (install 'audiolens[%s-gpu]'); "
            "running the model on the CPU",
            extra,
        )
    opts = session_options(ort)
    options: list[dict[str, Any]] = [{} for _ in providers]
    if providers[0] == "CUDAExecutionProvider":
        index = int(device.name.split(":")[1]) if ":" in device.name else 0
        options[0] = {"device_id": index}
    try:
        return ort.InferenceSession(
            str(path), sess_options=opts, providers=providers, provider_options=options
        )
    except Exception as exc:  # onnxruntime's own types (InvalidProtobuf, Fail, ...)
        raise not_a_model(path, exc) from None


#: what onnxruntime prefixes its messages with: ``[ONNXRuntimeError] : 7 : INVALID_PROTOBUF :``
_ORT_PREFIX = re.compile(r"^\[ONNXRuntimeError\] : \d+ : (\w+) : (?:Load model from .* failed:)?")


def not_a_model(path: str | os.PathLike, exc: BaseException) -> ModelNotFound:
    """The error for a model file that a runtime cannot load, naming the file and the cause.

    Parameters
    ----------
    path : the model file
    exc : what the runtime (onnxruntime, or the ``onnx`` package) raised

    Returns
    -------
    error : a :class:`~audiolens.errors.ModelNotFound` whose message is one line
    """
    text = " ".join(str(exc).split()) or type(exc).__name__
    match = _ORT_PREFIX.match(text)
    code = match.group(1) if match else type(exc).__name__
    detail = text[match.end() :].strip() if match else text
    unreadable = code in {"INVALID_PROTOBUF", "NO_MODEL", "DecodeError", "InvalidProtobuf"}
    what = "is not an ONNX model" if unreadable else "cannot be loaded as an ONNX model"
    return ModelNotFound(f"{_show_path(path)}: {what} ({detail or code})")
