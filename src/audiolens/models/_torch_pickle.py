"""Read a PyTorch checkpoint (``torch.save``) into numpy arrays, without torch.

A checkpoint is a pickle whose tensors refer to raw "storages" kept beside it: in the legacy
format (torch < 1.6) as records after the pickle in the same file, in the zip format as files
``<archive>/data/<key>`` in a zip. The pickle names a few torch callables to rebuild tensors
and storages; :class:`_Unpickler` maps exactly those to numpy and refuses every other global,
so loading a file can never run code from it.

A file is data from anywhere, so nothing in it is trusted:

- every tensor's size, stride and offset are checked against the storage it views before a
  byte is read (no element may lie past the storage's end; no tensor or storage above
  :data:`MAX_BYTES`), and a storage's record must hold as many bytes as the pickle says;
- the BUILD opcode (set an object's state) is allowed only on a state dict (an
  ``OrderedDict`` the file made itself, given plain attributes such as torch's ``_metadata``),
  never on the reader's own objects (its storage types, its functions);
- whatever else goes wrong (a call with the wrong arguments, a truncated pickle, a damaged
  zip) is a :class:`~audiolens.errors.ModelNotFound` naming the file, on one line.
"""

from __future__ import annotations

import math
import os
import pickle
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, ClassVar

import numpy as np

from ..errors import AudiolensError, ModelNotFound, _show_path
from .hub import one_line

__all__ = ["MAX_BYTES", "UnsafeCheckpoint", "load_checkpoint"]

#: the most bytes one storage or one tensor of a checkpoint may take (resemblyzer's: 17 MB)
MAX_BYTES = 2**31
_MAX_DIMS = 32

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
    """A checkpoint asks the unpickler for something other than tensors and dicts, or its
    tensors reach outside their storages."""


class _Refused(Exception):
    """What the reader refuses, before the file's name is put in front (an UnsafeCheckpoint)."""


class _StorageType:
    """Stands for ``torch.FloatStorage`` and friends inside the pickle (no state to change)."""

    __slots__ = ("dtype", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]


class _Storage:
    """A storage the pickle named: its key, and its elements (None in a legacy file's first
    pass, where the records come after the pickle)."""

    __slots__ = ("data", "key")

    def __init__(self, key: str, data: np.ndarray | None) -> None:
        self.key, self.data = key, data


class _Pending:
    """A tensor of a legacy checkpoint whose storage comes after the pickle."""

    def __init__(self, key: str, offset: int, size: tuple[int, ...], stride: tuple[int, ...]):
        self.key, self.offset, self.size, self.stride = key, offset, size, stride


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _layout(offset: Any, size: Any, stride: Any) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    """The tensor's offset, size and stride, checked to be counts (not yet against a storage)."""
    if not _is_count(offset):
        raise _Refused(f"a tensor's storage offset {offset!r} is not a count")
    if not (isinstance(size, tuple | list) and isinstance(stride, tuple | list)):
        raise _Refused(f"a tensor's size {size!r} or stride {stride!r} is not a tuple")
    if len(size) != len(stride) or len(size) > _MAX_DIMS:
        raise _Refused(f"a tensor of size {tuple(size)!r} has stride {tuple(stride)!r}")
    if not all(_is_count(v) for v in (*size, *stride)):
        raise _Refused(f"a tensor's size {tuple(size)!r} or stride {tuple(stride)!r} is negative")
    return offset, tuple(size), tuple(stride)


def _view(
    storage: np.ndarray, offset: int, size: tuple[int, ...], stride: tuple[int, ...]
) -> np.ndarray:
    """The tensor ``size``/``stride`` at ``offset`` in ``storage``, copied to be contiguous,
    once every element it names is known to lie inside the storage."""
    native = storage.dtype.newbyteorder("=")
    count = math.prod(size)
    if count * storage.dtype.itemsize > MAX_BYTES:
        raise _Refused(f"a tensor of size {size} takes more than {MAX_BYTES} bytes")
    if count == 0:
        if offset > storage.size:
            raise _Refused(f"an empty tensor at offset {offset} of a storage of {storage.size}")
        return np.zeros(size, dtype=native)
    end = offset + sum((n - 1) * s for n, s in zip(size, stride)) + 1
    if end > storage.size:
        raise _Refused(
            f"a tensor of size {size} and stride {stride} at offset {offset} reaches element "
            f"{end} of a storage of {storage.size}"
        )
    item = storage.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[offset:],
        shape=size,
        strides=tuple(s * item if n > 1 else 0 for n, s in zip(size, stride)),
        writeable=False,
    )
    return np.array(view, dtype=native)


def _rebuild_tensor_v2(
    storage: Any,
    offset: Any,
    size: Any,
    stride: Any,
    requires_grad: bool = False,
    hooks: Any = None,
    metadata: Any = None,
) -> np.ndarray | _Pending:
    """A tensor as a numpy array (a legacy file's: a :class:`_Pending` until its storage)."""
    if not isinstance(storage, _Storage):
        raise _Refused(f"a tensor's storage is a {type(storage).__name__}, not a storage")
    layout = _layout(offset, size, stride)
    if storage.data is None:  # legacy format: the storage is read after the pickle
        return _Pending(storage.key, *layout)
    return _view(storage.data, *layout)


def _rebuild_parameter(data: Any, requires_grad: bool = False, hooks: Any = None) -> Any:
    if not isinstance(data, np.ndarray):
        raise _Refused(f"a parameter holds a {type(data).__name__}, not a tensor")
    return data


_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(name) for name in _STORAGE_DTYPES},
}


class _Unpickler(pickle._Unpickler):
    """Unpickles tensors as numpy arrays; ``load_storage(type, key, numel)`` gives storages.

    The pure-Python unpickler, so that BUILD can be checked (:meth:`load_build`); the
    pickles of a checkpoint are small, the tensors' bytes are not in them.
    """

    dispatch: ClassVar[dict[int, Callable[..., Any]]] = dict(pickle._Unpickler.dispatch)

    def __init__(
        self, fh: IO[bytes], load_storage: Callable[[_StorageType, str, int], np.ndarray | None]
    ) -> None:
        super().__init__(fh)
        self._load_storage = load_storage
        self._storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except (KeyError, TypeError):
            raise _Refused(
                f"refusing to load {module!s:.80}.{name!s:.80}: a weights file may only hold "
                "tensors, numbers, strings and dicts"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
            raise _Refused(f"unexpected persistent id {pid!r:.200}")
        kind, key, numel = pid[1], pid[2], pid[4]
        if not isinstance(kind, _StorageType):
            raise _Refused(f"unexpected storage type {kind!r:.80}")
        if not isinstance(key, str) or not _is_count(numel):
            raise _Refused(f"a storage's key {key!r:.80} or length {numel!r:.80} is not valid")
        if numel * kind.dtype.itemsize > MAX_BYTES:
            raise _Refused(f"storage {key} of {numel} elements takes more than {MAX_BYTES} bytes")
        if len(pid) == 6 and pid[5] is not None:
            raise _Refused(f"storage {key} is a view of another (torch < 0.4), not supported")
        if key not in self._storages:
            self._storages[key] = _Storage(key, self._load_storage(kind, key, numel))
        return self._storages[key]

    def load_build(self) -> None:
        """BUILD: only plain attributes (torch's ``_metadata``) on an OrderedDict."""
        state, inst = self.stack[-1], self.stack[-2]
        if type(inst) is not OrderedDict:
            raise _Refused(f"refusing a BUILD on a {type(inst).__name__}: only a state dict's")
        if not (
            isinstance(state, dict)
            and all(isinstance(k, str) and not k.startswith("__") for k in state)
        ):
            raise _Refused("refusing a BUILD with a state other than plain attributes")
        self.stack.pop()
        inst.__dict__.update(state)

    dispatch[pickle.BUILD[0]] = load_build


def load_checkpoint(path: str | os.PathLike) -> Any:
    """The object a ``torch.save`` file holds, with every tensor as a numpy array.

    Both the legacy format (torch < 1.6, e.g. resemblyzer's ``pretrained.pt``) and the zip
    format are read. Only ``collections.OrderedDict``, torch's tensor/parameter rebuild
    functions and its storage types may appear in the pickle (see the module docstring for
    what else is checked).

    Raises
    ------
    ModelNotFound
        when the file is missing, not a torch checkpoint, or damaged (one line naming the file)
    UnsafeCheckpoint
        (a ModelNotFound) when it names any other Python object, sets state on anything but a
        state dict, or has a tensor reaching outside its storage
    """
    path = Path(path)
    if not path.is_file():
        raise ModelNotFound(f"no weights file at {_show_path(path)}")
    try:
        if zipfile.is_zipfile(path):
            return _load_zip(path)
        return _load_legacy(path)
    except _Refused as exc:
        raise UnsafeCheckpoint(f"{_show_path(path)}: {' '.join(str(exc).split())}") from None
    except AudiolensError:
        raise
    except Exception as exc:  # anything else the file's bytes caused: never a bare error
        raise ModelNotFound(
            f"{_show_path(path)}: not a usable torch checkpoint ({one_line(exc)})"
        ) from None


def _load_zip(path: Path) -> Any:
    with zipfile.ZipFile(path) as z:
        names = [n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if not names:
            raise _Refused("a zip without data.pkl is not a torch checkpoint")
        root = names[0][: -len("data.pkl")]

        def storage(kind: _StorageType, key: str, numel: int) -> np.ndarray:
            try:
                info = z.getinfo(f"{root}data/{key}")
            except KeyError:
                raise _Refused(f"storage {key} has no record in the zip") from None
            nbytes = numel * kind.dtype.itemsize
            if info.file_size < nbytes:
                raise _Refused(
                    f"storage {key} holds {info.file_size} bytes, its type and length say {nbytes}"
                )
            with z.open(info) as fh:
                raw = fh.read(nbytes)
            return np.frombuffer(raw, dtype=kind.dtype, count=numel)

        with z.open(names[0]) as fh:
            return _Unpickler(fh, storage).load()


def _load_legacy(path: Path) -> Any:
    with open(path, "rb") as fh:
        magic = _Unpickler(fh, _no_storage).load()
        if magic != _LEGACY_MAGIC:
            raise ModelNotFound(
                f"{_show_path(path)}: not a torch checkpoint (magic number {magic!r:.40})"
            )
        _Unpickler(fh, _no_storage).load()  # protocol version
        _Unpickler(fh, _no_storage).load()  # system info
        wanted: dict[str, _StorageType] = {}

        def record(kind: _StorageType, key: str, numel: int) -> None:
            wanted[key] = kind
            return None  # the tensor is rebuilt once the records are read

        # first pass: the object with placeholder storages, then the records in key order
        obj = _Unpickler(fh, record).load()
        keys = _Unpickler(fh, _no_storage).load()
        if not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
            raise _Refused("the storage keys after the object are not a list of strings")
        data: dict[str, np.ndarray] = {}
        for key in keys:
            kind = wanted.get(key, _ALLOWED[("torch", "ByteStorage")])
            count = int(np.frombuffer(fh.read(8), dtype="<i8")[0])
            if count < 0 or count * kind.dtype.itemsize > MAX_BYTES:
                raise _Refused(f"storage {key} claims {count} elements")
            raw = fh.read(count * kind.dtype.itemsize)
            if len(raw) != count * kind.dtype.itemsize:
                raise _Refused(f"truncated checkpoint (storage {key})")
            data[key] = np.frombuffer(raw, dtype=kind.dtype)
    return _fill(obj, data)


def _no_storage(kind: _StorageType, key: str, numel: int) -> np.ndarray:
    raise _Refused(f"unexpected tensor storage {key} outside the checkpoint's object")


def _fill(obj: Any, data: dict[str, np.ndarray]) -> Any:
    """Rebuild the tensors of a legacy checkpoint (``_Pending`` records) from its storages."""
    if isinstance(obj, _Pending):
        if obj.key not in data:
            raise _Refused(f"storage {obj.key} has no record after the pickle")
        return _view(data[obj.key], obj.offset, obj.size, obj.stride)
    if isinstance(obj, dict):
        filled = type(obj)((k, _fill(v, data)) for k, v in obj.items())
        if isinstance(obj, OrderedDict):  # a state dict's attributes (torch's _metadata)
            filled.__dict__.update(vars(obj))
        return filled
    if isinstance(obj, list):
        return [_fill(v, data) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_fill(v, data) for v in obj)
    return obj
