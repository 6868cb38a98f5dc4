"""Read a PyTorch checkpoint (``torch.save``) into numpy arrays, without torch.

A checkpoint is a pickle whose tensors refer to raw "storages" kept beside it: in the legacy
format (torch < 1.6) as records after the pickle in the same file, in the zip format as files
``<archive>/data/<key>`` in a zip. The pickle names a few torch callables to rebuild tensors
and storages; :class:`_Unpickler` maps exactly those to numpy and refuses every other global,
so loading a file can never run code from it.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..errors import ModelNotFound

__all__ = ["UnsafeCheckpoint", "load_checkpoint"]

#: numpy dtypes of the torch storage types a checkpoint may name
_STORAGE_DTYPES: dict[str, np.dtype] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class UnsafeCheckpoint(ModelNotFound):
    """A checkpoint asks the unpickler for something other than tensors and dicts."""


class _StorageType:
    """Stands for ``torch.FloatStorage`` and friends inside the pickle."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]


def _rebuild_tensor_v2(
    storage: np.ndarray,
    offset: int,
    size: tuple[int, ...],
    stride: tuple[int, ...],
    requires_grad: bool = False,
    hooks: Any = None,
    metadata: Any = None,
) -> np.ndarray:
    """A tensor as a numpy array: a strided view of its storage, copied to be contiguous."""
    if isinstance(storage, _StorageRef):  # legacy format: the storage is read after the pickle
        return _Pending(storage.key, offset, size, stride)
    item = storage.dtype.itemsize
    if not size:
        return np.array(storage[offset], dtype=storage.dtype)
    view = np.lib.stride_tricks.as_strided(
        storage[offset:],
        shape=tuple(size),
        strides=tuple(s * item for s in stride),
        writeable=False,
    )
    return np.array(view, dtype=storage.dtype.newbyteorder("="))


def _rebuild_parameter(data: np.ndarray, requires_grad: bool = False, hooks: Any = None) -> Any:
    return data


_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(name) for name in _STORAGE_DTYPES},
}


class _Unpickler(pickle.Unpickler):
    """Unpickles tensors as numpy arrays; ``load_storage(type, key, numel)`` gives storages."""

    def __init__(
        self, fh: IO[bytes], load_storage: Callable[[_StorageType, str, int], np.ndarray], name: str
    ) -> None:
        super().__init__(fh)
        self._load_storage = load_storage
        self._storages: dict[str, np.ndarray] = {}
        self._name = name

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafeCheckpoint(
                f"{self._name}: refusing to load {module}.{name}: a weights file may only hold "
                "tensors, numbers, strings and dicts"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise UnsafeCheckpoint(f"{self._name}: unexpected persistent id {pid!r}")
        kind, key, numel = pid[1], str(pid[2]), int(pid[4])
        if not isinstance(kind, _StorageType):
            raise UnsafeCheckpoint(f"{self._name}: unexpected storage type {kind!r}")
        if key not in self._storages:
            self._storages[key] = self._load_storage(kind, key, numel)
        return self._storages[key]


def load_checkpoint(path: str | os.PathLike) -> Any:
    """The object a ``torch.save`` file holds, with every tensor as a numpy array.

    Both the legacy format (torch < 1.6, e.g. resemblyzer's ``pretrained.pt``) and the zip
    format are read. Only ``collections.OrderedDict``, torch's tensor/parameter rebuild
    functions and its storage types may appear in the pickle.

    Raises
    ------
    ModelNotFound
        when the file is missing or not a torch checkpoint
    UnsafeCheckpoint
        (a ModelNotFound) when it names any other Python object
    """
    path = Path(path)
    if not path.is_file():
        raise ModelNotFound(f"no weights file at {path}")
    if zipfile.is_zipfile(path):
        return _load_zip(path)
    return _load_legacy(path)


def _load_zip(path: Path) -> Any:
    with zipfile.ZipFile(path) as z:
        names = [n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if not names:
            raise ModelNotFound(f"{path}: a zip without data.pkl is not a torch checkpoint")
        root = names[0][: -len("data.pkl")]

        def storage(kind: _StorageType, key: str, numel: int) -> np.ndarray:
            raw = z.read(f"{root}data/{key}")
            return np.frombuffer(raw, dtype=kind.dtype, count=numel)

        with z.open(names[0]) as fh:
            return _Unpickler(fh, storage, str(path)).load()


def _load_legacy(path: Path) -> Any:
    with open(path, "rb") as fh:
        try:
            magic = _Unpickler(fh, _no_storage, str(path)).load()
        except (pickle.UnpicklingError, EOFError, ValueError) as exc:
            raise ModelNotFound(f"{path}: not a torch checkpoint ({exc})") from None
        if magic != _LEGACY_MAGIC:
            raise ModelNotFound(f"{path}: not a torch checkpoint (magic number {magic!r})")
        _Unpickler(fh, _no_storage, str(path)).load()  # protocol version
        _Unpickler(fh, _no_storage, str(path)).load()  # system info
        wanted: dict[str, tuple[_StorageType, int]] = {}

        def record(kind: _StorageType, key: str, numel: int) -> Any:
            wanted[key] = (kind, numel)
            return _StorageRef(key)  # the tensor is rebuilt once the records are read

        # first pass: the object with placeholder storages, then the records in key order
        placeholders = _Unpickler(fh, record, str(path))
        obj = placeholders.load()
        keys = _Unpickler(fh, _no_storage, str(path)).load()
        data: dict[str, np.ndarray] = {}
        for key in keys:
            count = int(np.frombuffer(fh.read(8), dtype="<i8")[0])
            kind = wanted.get(key, (_ALLOWED[("torch", "ByteStorage")], count))[0]
            raw = fh.read(count * kind.dtype.itemsize)
            if len(raw) != count * kind.dtype.itemsize:
                raise ModelNotFound(f"{path}: truncated checkpoint (storage {key})")
            data[key] = np.frombuffer(raw, dtype=kind.dtype)
    return _fill(obj, data)


def _no_storage(kind: _StorageType, key: str, numel: int) -> np.ndarray:
    raise UnsafeCheckpoint(f"unexpected tensor storage {key} outside the checkpoint's object")


def _fill(obj: Any, data: dict[str, np.ndarray]) -> Any:
    """Rebuild the tensors of a legacy checkpoint (``_Pending`` records) from its storages."""
    if isinstance(obj, _Pending):
        return _rebuild_tensor_v2(data[obj.key], obj.offset, obj.size, obj.stride)
    if isinstance(obj, dict):
        return type(obj)((k, _fill(v, data)) for k, v in obj.items())
    if isinstance(obj, list):
        return [_fill(v, data) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_fill(v, data) for v in obj)
    return obj


class _Pending:
    """A tensor of a legacy checkpoint whose storage comes after the pickle."""

    def __init__(self, key: str, offset: int, size: tuple[int, ...], stride: tuple[int, ...]):
        self.key, self.offset, self.size, self.stride = key, offset, tuple(size), tuple(stride)


class _StorageRef:
    """A storage of a legacy checkpoint, named by its key (its data follows the pickle)."""

    def __init__(self, key: str) -> None:
        self.key = key
