"""Hostile torch checkpoints (issue 16, point 6): no read outside a storage, no BUILD on the
reader's own objects, the package's error naming the file, weights never from the current folder.

The checkpoints are written here by hand (pickle opcodes, zip or legacy layout), so the tests
need no torch.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from audiolens.errors import ModelNotFound
from audiolens.models import voice_encoder as ve
from audiolens.models._torch_pickle import UnsafeCheckpoint, load_checkpoint

# --- a tiny pickle writer: protocol 2 opcodes, enough for torch's tensor records ---------------


def _str(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def _int(n: int) -> bytes:
    raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw  # LONG1: any size, any sign


def _tuple(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"


def _global(module: str, name: str) -> bytes:
    return f"c{module}\n{name}\n".encode()


def _tensor(
    *, offset=0, size=(6,), stride=(1,), numel=6, key="0", kind="FloatStorage", legacy=False
) -> bytes:
    """``torch._utils._rebuild_tensor_v2(<storage key>, offset, size, stride, False, {})``."""
    pid = [_str("storage"), _global("torch", kind), _str(key), _str("cpu"), _int(numel)]
    if legacy:
        pid.append(b"N")  # no view metadata
    return (
        _global("torch._utils", "_rebuild_tensor_v2")
        + _tuple(
            _tuple(*pid) + b"Q",
            _int(offset) if isinstance(offset, int) else _str(str(offset)),
            _tuple(*(_int(s) for s in size)),
            _tuple(*(_int(s) for s in stride)),
            b"\x89",
            _global("collections", "OrderedDict") + b")R",
        )
        + b"R"
    )


def _dict(**items: bytes) -> bytes:
    return b"}(" + b"".join(_str(k) + v for k, v in items.items()) + b"u"


def _pickle(body: bytes) -> bytes:
    return b"\x80\x02" + body + b"."


def _zip_checkpoint(path: Path, body: bytes, storages: dict[str, bytes] | None = None) -> Path:
    """A zip-format checkpoint: ``archive/data.pkl`` and ``archive/data/<key>`` records."""
    if storages is None:
        storages = {"0": np.arange(6, dtype="<f4").tobytes()}
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", _pickle(body))
        for key, raw in storages.items():
            z.writestr(f"archive/data/{key}", raw)
    return path


def _legacy_checkpoint(path: Path, body: bytes, values: np.ndarray) -> Path:
    """A legacy (torch < 1.6) checkpoint: magic, protocol, system info, object, keys, records."""
    parts = [
        pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2),
        pickle.dumps(1001, protocol=2),
        pickle.dumps({"little_endian": True}, protocol=2),
        _pickle(body),
        pickle.dumps(["0"], protocol=2),
        struct.pack("<q", values.size) + values.astype("<f4").tobytes(),
    ]
    path.write_bytes(b"".join(parts))
    return path


def test_the_hand_written_checkpoints_load(tmp_path):
    # the writer above makes checkpoints the reader takes: the hostile ones below differ
    # from these in one field only
    plain = load_checkpoint(_zip_checkpoint(tmp_path / "a.pt", _dict(w=_tensor())))
    np.testing.assert_array_equal(plain["w"], np.arange(6, dtype=np.float32))
    view = _dict(w=_tensor(offset=1, size=(2, 2), stride=(1, 2)))
    got = load_checkpoint(_zip_checkpoint(tmp_path / "b.pt", view))["w"]
    np.testing.assert_array_equal(got, [[1, 3], [2, 4]])
    scalar = _dict(w=_tensor(offset=5, size=(), stride=()))
    last = load_checkpoint(_zip_checkpoint(tmp_path / "c.pt", scalar))
    assert last["w"] == 5.0
    empty = _dict(w=_tensor(offset=6, size=(0, 3), stride=(3, 1)))
    assert load_checkpoint(_zip_checkpoint(tmp_path / "d.pt", empty))["w"].shape == (0, 3)
    legacy = _legacy_checkpoint(
        tmp_path / "e.pt", _dict(w=_tensor(size=(3,), stride=(2,), legacy=True)), np.arange(6.0)
    )
    np.testing.assert_array_equal(load_checkpoint(legacy)["w"], [0, 2, 4])
    # torch's state dicts carry their _metadata with a BUILD on the OrderedDict: allowed
    state = (
        _global("collections", "OrderedDict")
        + b")R("
        + _str("w")
        + _tensor()
        + b"u"
        + _dict(_metadata=_dict(lstm=_dict(version=_int(1))))
        + b"b"
    )
    got = load_checkpoint(_zip_checkpoint(tmp_path / "f.pt", state))
    assert list(got) == ["w"] and got._metadata == {"lstm": {"version": 1}}


@pytest.mark.parametrize(
    ("layout", "why"),
    [
        pytest.param({"size": (2,), "stride": (2**40,)}, "reaches element", id="huge-stride"),
        pytest.param({"size": (2**62, 2), "stride": (0, 1)}, "more than", id="huge-size"),
        pytest.param({"offset": 100}, "reaches element 106 ", id="offset-past-the-end"),
        pytest.param({"offset": 1}, "reaches element 7 of a storage of 6", id="one-too-many"),
        pytest.param({"offset": -3, "size": (2,)}, "offset -3 is not", id="negative-offset"),
        pytest.param({"size": (3,), "stride": (-1,)}, "negative", id="negative-stride"),
        pytest.param({"size": (-2,)}, "negative", id="negative-size"),
        pytest.param({"size": (2, 2), "stride": (1,)}, "has stride", id="size-stride-mismatch"),
        pytest.param(
            {"offset": 6, "size": (), "stride": ()}, "reaches element 7", id="scalar-past-the-end"
        ),
        pytest.param({"offset": 7, "size": (0,)}, "empty tensor at offset 7", id="empty-past-end"),
        pytest.param({"numel": 1000}, "holds 24 bytes", id="storage-longer-than-its-record"),
        pytest.param({"numel": -1}, "length -1", id="negative-numel"),
    ],
)
def test_tensors_outside_their_storage_are_refused(tmp_path, layout, why):
    path = _zip_checkpoint(tmp_path / "hostile.pt", _dict(w=_tensor(**layout)))
    with pytest.raises(UnsafeCheckpoint, match=r"hostile\.pt: ") as info:
        load_checkpoint(path)
    assert why in str(info.value) and "\n" not in str(info.value)


def test_legacy_tensors_outside_their_storage_are_refused(tmp_path):
    for n, layout in enumerate(({"offset": 100}, {"size": (2,), "stride": (2**40,)})):
        body = _dict(w=_tensor(legacy=True, **layout))
        path = _legacy_checkpoint(tmp_path / f"legacy{n}.pt", body, np.arange(6.0))
        with pytest.raises(UnsafeCheckpoint, match=rf"legacy{n}\.pt: .*reaches element"):
            load_checkpoint(path)


def test_build_only_on_a_state_dict(tmp_path):
    float_storage = _global("torch", "FloatStorage")
    attacks = {
        # change the storage type the reader shares between loads
        "type": float_storage + _dict(dtype=_str("<f8")) + b"b0" + _dict(w=_tensor()),
        # replace the defaults of the reader's own rebuild function
        "function": _global("torch._utils", "_rebuild_tensor_v2")
        + b"N"
        + _dict(__defaults__=_tuple(_int(1)))
        + b"\x86b0"
        + _dict(w=_tensor()),
        # slot state or a dunder on a state dict
        "slots": _global("collections", "OrderedDict") + b")RN" + _dict(x=_int(1)) + b"\x86b",
        "dunder": _global("collections", "OrderedDict") + b")R" + _dict(__class__=_int(1)) + b"b",
        # a BUILD on a plain dict (no attributes) or a list
        "dict": b"}" + _dict(x=_int(1)) + b"b",
    }
    for name, body in attacks.items():
        path = _zip_checkpoint(tmp_path / f"{name}.pt", body)
        with pytest.raises(UnsafeCheckpoint, match=rf"{name}\.pt: .*BUILD"):
            load_checkpoint(path)
    # nothing the attacks tried stuck: a later honest load reads float32 as before
    honest = load_checkpoint(_zip_checkpoint(tmp_path / "honest.pt", _dict(w=_tensor())))
    assert honest["w"].dtype == np.float32
    np.testing.assert_array_equal(honest["w"], np.arange(6))


def test_bad_calls_and_damage_are_the_package_error(tmp_path):
    rebuild = _global("torch._utils", "_rebuild_tensor_v2")
    cases = {
        "no-arguments": rebuild + b")R",
        "storage-type-called": _global("torch", "FloatStorage") + b")R",
        "string-offset": _dict(w=_tensor(offset="zero")),
        "not-a-storage": rebuild + _tuple(_str("x"), _int(0), _tuple(), _tuple(), b"\x89") + b"R",
        "unknown-storage-key": _dict(w=_tensor(key="9")),
        "storage-type-not-a-type": _dict(w=_tensor(kind="Tensor")),
        "truncated-pickle": _dict(w=_tensor())[:-20],
        "stack-underflow": b"R",
    }
    for name, body in cases.items():
        path = _zip_checkpoint(tmp_path / f"{name}.pt", body)
        with pytest.raises(ModelNotFound, match=rf"{name}\.pt") as info:
            load_checkpoint(path)
        assert "\n" not in str(info.value), name
    # a storage record whose CRC does not match (a damaged zip)
    path = _zip_checkpoint(tmp_path / "crc.pt", _dict(w=_tensor()))
    raw = bytearray(path.read_bytes())
    at = raw.find(np.arange(6, dtype="<f4").tobytes())
    raw[at + 4] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ModelNotFound, match=r"crc\.pt"):
        load_checkpoint(path)
    # the voice encoder says the same through its own loader
    with pytest.raises(ModelNotFound, match=r"no-arguments\.pt"):
        ve.load_voice_encoder(tmp_path / "no-arguments.pt")


def _plant_packages(folder: Path) -> None:
    """Packages in ``folder`` named like the ones whose files hold model weights."""
    hostile = _zip_checkpoint(folder / "x.pt", _dict(w=_tensor(size=(2,), stride=(2**40,))))
    planted = {
        "resemblyzer/pretrained.pt": hostile.read_bytes(),
        "silero_vad/data/silero_vad_16k_sequence.onnx": b"not onnx",
        "basic_pitch/saved_models/icassp_2022/nmp.onnx": b"not onnx",
    }
    for name, data in planted.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        (target.parents[len(Path(name).parts) - 2] / "__init__.py").touch()
        target.write_bytes(data)


def test_weights_are_never_looked_up_in_the_current_folder(tmp_path, monkeypatch):
    _plant_packages(tmp_path)
    src = Path(ve.__file__).parents[2]
    env = {**os.environ, "PYTHONPATH": str(src)}
    # ``python -m audiolens`` puts the current folder first on sys.path
    proc = subprocess.run(
        [sys.executable, "-m", "audiolens", "models", "--format", "json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    listed = {m["model"]: m for m in json.loads(proc.stdout)["models"]}
    for name in ("resemblyzer voice encoder", "silero VAD", "basic-pitch nmp.onnx"):
        where = listed[name]["path"] or listed[name]["detail"]
        assert str(tmp_path) not in where, (name, where)
    # and in this process, with the current folder on sys.path as '' (python -c, the REPL)
    from audiolens.models import basic_pitch, vad

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", ["", str(tmp_path), *sys.path])
    for find in (ve.find_weights, vad.find_model, basic_pitch.find_model):
        try:
            found = str(find())
        except ModelNotFound as exc:
            found = str(exc)
        assert str(tmp_path) not in found and not found.startswith(("resemblyzer", "silero")), (
            find,
            found,
        )
