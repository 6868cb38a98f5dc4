"""The PyTorch runner of ONNX graphs against ONNX Runtime, on tiny graphs built here and on
basic-pitch's model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _notes_kit import requires_model

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

from audiolens_testkit import eval_root  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from audiolens.devices import Device, resolve_device  # noqa: E402
from audiolens.errors import ParameterError  # noqa: E402
from audiolens.models.onnx_torch import TorchGraph  # noqa: E402

CPU = resolve_device("cpu")
EVAL = eval_root()


def _save(tmp_path: Path, nodes, inits, inp_shape, out_names) -> Path:
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, inp_shape)],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in out_names],
        initializer=[numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    model.ir_version = 8
    path = tmp_path / "tiny.onnx"
    onnx.save(model, path)
    return path


def test_tiny_graph_matches_onnxruntime(tmp_path):
    rng = np.random.default_rng(0)
    i64 = np.int64
    inits = {
        "w": rng.standard_normal((4, 2, 3, 5)).astype(np.float32),
        "b": rng.standard_normal(4).astype(np.float32),
        "w1": rng.standard_normal((3, 7, 7)).astype(np.float32),
        "shape": np.array([0, -1, 6], dtype=i64),
        "pads": np.array([0, 0, 1, 2, 0, 0, 1, 3], dtype=i64),
        "rpads": np.array([0, 0, 4, 0, 0, 5], dtype=i64),
        "starts": np.array([1], dtype=i64),
        "ends": np.array([-1], dtype=i64),
        "axes": np.array([3], dtype=i64),
        "uaxes": np.array([1], dtype=i64),
        "raxes": np.array([2], dtype=i64),
        "half": np.array(0.5, dtype=np.float32),
    }
    nodes = [
        helper.make_node("Pad", ["x", "pads"], ["p"], mode="constant"),
        helper.make_node("Conv", ["p", "w", "b"], ["c"], pads=[1, 2, 0, 1], strides=[1, 2]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Slice", ["r", "starts", "ends", "axes"], ["s"]),
        helper.make_node("Transpose", ["s"], ["t"], perm=[0, 2, 3, 1]),
        helper.make_node("Mul", ["t", "half"], ["m"]),
        helper.make_node("Sigmoid", ["m"], ["sg"]),
        helper.make_node("ReduceSum", ["sg", "raxes"], ["rs"], keepdims=0),
        helper.make_node("Log", ["rs"], ["lg"]),
        helper.make_node("Reshape", ["x", "shape"], ["xr"]),
        helper.make_node("ReduceMax", ["xr"], ["mx"], axes=[2], keepdims=1),
        helper.make_node("Sub", ["xr", "mx"], ["d"]),
        helper.make_node("Pad", ["d", "rpads"], ["rp"], mode="reflect"),
        helper.make_node("Unsqueeze", ["rp", "uaxes"], ["u"]),
        helper.make_node("Neg", ["u"], ["n"]),
        helper.make_node("Concat", ["n", "u"], ["cat"], axis=1),
        helper.make_node("Reshape", ["cat", "shape"], ["o2"]),
        helper.make_node("Conv", ["rs", "w1"], ["o3"], pads=[3, 3]),
    ]
    path = _save(tmp_path, nodes, inits, [3, 2, 6, 9], ["lg", "o2", "o3"])
    x = rng.standard_normal((3, 2, 6, 9)).astype(np.float32)
    ref = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    with torch.inference_mode():
        got = TorchGraph(path)(torch.from_numpy(x))
    assert len(got) == len(ref)
    for r, g in zip(ref, got):
        assert g.shape == r.shape
        np.testing.assert_allclose(g.numpy(), r, rtol=1e-5, atol=1e-5)


def test_unsupported_operators_are_named_when_loading(tmp_path):
    nodes = [helper.make_node("Erf", ["x"], ["y"])]
    path = _save(tmp_path, nodes, {}, [2], ["y"])
    with pytest.raises(NotImplementedError, match="'Erf'"):
        TorchGraph(path)


def test_runtime_choice():
    from audiolens.models.basic_pitch import BasicPitch, BasicPitchTorch, make_engine

    assert type(make_engine("auto", CPU)) is BasicPitch
    assert type(make_engine("onnxruntime", CPU)) is BasicPitch
    assert type(make_engine("torch", CPU)) is BasicPitchTorch
    mps = Device("mps", "torch", "float32")
    assert type(make_engine("auto", mps)) is BasicPitchTorch
    with pytest.raises(ParameterError, match="tensorflow"):
        make_engine("tensorflow", CPU)


@requires_model
def test_basic_pitch_through_torch_matches_onnxruntime():
    from audiolens.models.basic_pitch import BasicPitch, BasicPitchTorch
    from audiolens.tasks.notes import file_activations, transcribe

    clip = EVAL / "music_transcription" / "guitarset_00_BN1-129-Eb_comp_mic.wav"
    a = file_activations(clip, device="cpu", engine=BasicPitch())
    b = file_activations(clip, device="cpu", engine=BasicPitchTorch())
    for name in ("note", "onset", "contour"):
        assert np.abs(getattr(a, name) - getattr(b, name)).max() < 2e-5
    ours = transcribe(clip, device="cpu", runtime="torch")
    ref = transcribe(clip, device="cpu", runtime="onnxruntime")
    assert [n.to_dict() for n in ours.notes] == [n.to_dict() for n in ref.notes]
    assert ours.engine.endswith("(torch:cpu)") and "CPUExecutionProvider" in ref.engine
