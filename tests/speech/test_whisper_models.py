"""Which Whisper model a folder holds (read from its ``model.bin`` header), a folder that holds
another size than the one asked for, and a missing faster-whisper said first."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest

from audiolens.cli import main
from audiolens.errors import MissingDependency, ParameterError
from audiolens.models.whisper import ModelShape, model_shape, resolve_model


def _fake_model(folder: Path, width: int, enc: int, dec: int, mels: int, vocab: int) -> Path:
    """A model folder whose ``model.bin`` has a Whisper header (CTranslate2 binary version 6)
    with the variables that tell the architecture, and no data."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")

    def string(text: str) -> bytes:
        return struct.pack("<H", len(text) + 1) + text.encode() + b"\0"

    variables = {
        "encoder/conv1/weight": (width, mels, 3),
        "decoder/embeddings/weight": (vocab, width),
    }
    for part, layers in (("encoder", enc), ("decoder", dec)):
        variables[f"{part}/layer_norm/gamma"] = (width,)
        for i in range(layers):
            variables[f"{part}/layer_{i}/ffn/linear_0/weight"] = (4 * width, width)
    data = struct.pack("<I", 6) + string("WhisperSpec") + struct.pack("<II", 3, len(variables))
    for name, shape in variables.items():
        data += string(name) + struct.pack(f"<B{len(shape)}I", len(shape), *shape)
        data += struct.pack("<BI", 0, 4) + b"\0\0\0\0"
    (folder / "model.bin").write_bytes(data + struct.pack("<I", 0))
    return folder


def test_the_base_model_is_read_as_base(whisper_base):
    shape = model_shape(whisper_base)
    assert shape == ModelShape(512, 6, 6, 80, 51865)
    assert shape.names == ("base",) and shape.multilingual
    assert model_shape(whisper_base / "model.bin") == shape


@pytest.mark.parametrize(
    ("arch", "names"),
    [
        ((384, 4, 4, 80, 51864), ("tiny.en",)),
        ((768, 12, 12, 80, 51865), ("small",)),
        ((1280, 32, 32, 80, 51865), ("large-v1", "large-v2")),
        ((1280, 32, 32, 128, 51866), ("large-v3", "large")),
        ((1280, 32, 4, 128, 51866), ("turbo", "large-v3-turbo")),
        ((1280, 32, 2, 128, 51866), ("distil-large-v3", "distil-large-v3.5")),
        ((768, 12, 2, 80, 51864), ("distil-small.en",)),
    ],
)
def test_sizes_are_told_apart(tmp_path, arch, names):
    shape = model_shape(_fake_model(tmp_path / "m", *arch))
    assert shape == ModelShape(*arch)
    assert set(shape.names) == set(names)


def test_what_is_not_a_whisper_model_has_no_shape(tmp_path):
    (tmp_path / "text.bin").write_text("not a model at all")
    (tmp_path / "empty.bin").write_bytes(b"")
    model = _fake_model(tmp_path / "m", 512, 6, 6, 80, 51865)
    (tmp_path / "cut.bin").write_bytes((model / "model.bin").read_bytes()[:60])
    for name in ("text.bin", "empty.bin", "cut.bin", "absent.bin"):
        assert model_shape(tmp_path / name) is None, name
    # unreadable: the name cannot be checked, so the folder is not refused
    (model / "model.bin").write_bytes(b"\x07\x00\x00\x00junk")
    assert resolve_model("small", model_dir=model) == model


def test_a_folder_of_another_size_is_refused(whisper_base, tmp_path, monkeypatch):
    """``--model small --model-dir DIR`` with base in DIR: refused, naming both; base is
    found there; ``$AUDIOLENS_WHISPER_DIR`` and ``DIR/<name>`` are checked alike."""
    monkeypatch.delenv("AUDIOLENS_WHISPER_DIR", raising=False)
    with pytest.raises(ParameterError) as info:
        resolve_model("small", model_dir=whisper_base)
    text = str(info.value)
    assert "model='small'" in text and str(whisper_base) in text
    assert "holds Whisper base" in text and "\n" not in text
    assert resolve_model("base", model_dir=whisper_base) == whisper_base
    # the English-only model is another one
    with pytest.raises(ParameterError, match=r"model='base\.en'.*holds Whisper base \("):
        resolve_model("base.en", model_dir=whisper_base)
    monkeypatch.setenv("AUDIOLENS_WHISPER_DIR", str(whisper_base))
    with pytest.raises(ParameterError, match="holds Whisper base"):
        resolve_model("turbo")
    (tmp_path / "tiny").symlink_to(whisper_base, target_is_directory=True)
    with pytest.raises(ParameterError, match=r"tiny.*holds Whisper base"):
        resolve_model("tiny", model_dir=tmp_path)


def test_cli_refuses_a_folder_of_another_size(whisper_base, speech_dir, tmp_path, capsys):
    clip = speech_dir / "LDC93S1.wav"
    code = main(["speech", str(clip), "--model", "small", "--model-dir", str(whisper_base)])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "model='small'" in err and str(whisper_base) in err and "Whisper base" in err


def test_without_faster_whisper_that_is_said_first(monkeypatch, speech_dir, tmp_path, capsys):
    """faster-whisper missing: the speech task and command say so, not that the model (here
    one that is nowhere) was not found."""
    from audiolens.devices import resolve_device
    from audiolens.tasks.base import read_input
    from audiolens.tasks.speech import SpeechOptions, SpeechTask

    monkeypatch.setitem(sys.modules, "faster_whisper", None)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("AUDIOLENS_WHISPER_DIR", raising=False)
    clip = speech_dir / "LDC93S1.wav"
    task = SpeechTask(options=SpeechOptions(model="tiny"))
    with pytest.raises(
        MissingDependency, match=r"faster-whisper.*pip install 'audiolens\[speech\]'"
    ):
        task.run([read_input(clip, task)], device=resolve_device("cpu"))
    assert main(["speech", str(clip), "--model", "tiny"]) == 2
    err = capsys.readouterr().err
    assert "audiolens[speech]" in err and "not found" not in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"language": "xx"}, "language='xx' is not a language Whisper knows"),
        ({"compute_type": "int3"}, "compute_type='int3' is not known"),
        ({"model": "huge"}, "model='huge' is not a Whisper model name"),
    ],
)
def test_bad_options_are_refused_before_any_model_is_looked_for(options, named, monkeypatch):
    """Told wrong from the options alone, before any lookup: an analyze run stops once, not
    with one failed row per file, and offline the message names the value, not the model."""
    from audiolens.models import whisper
    from audiolens.tasks.speech import SpeechOptions

    def no_lookup(*args, **kwargs):
        raise AssertionError("the model was looked for")

    monkeypatch.setattr(whisper, "resolve_model", no_lookup)
    with pytest.raises(ParameterError, match=named):
        SpeechOptions(**options)


def test_a_file_given_as_the_model_is_not_a_model_folder(tmp_path):
    from audiolens.errors import ModelNotFound
    from audiolens.tasks.speech import SpeechOptions

    text = tmp_path / "notes.txt"
    text.write_text("not a model")
    with pytest.raises(ModelNotFound, match=r"notes\.txt: is a file, not a Whisper model folder"):
        SpeechOptions(model=str(text))
    assert SpeechOptions(language="de", compute_type="int8").language == "de"


def test_compute_type_is_checked_alone(tmp_path, monkeypatch):
    """Checking a compute type looks at no model: a folder named like a model in the working
    directory changes nothing."""
    from audiolens.devices import resolve_device
    from audiolens.models.whisper import compute_type_for

    (tmp_path / "base").mkdir()
    monkeypatch.chdir(tmp_path)
    assert compute_type_for(resolve_device("cpu"), "int8") == "int8"
    with pytest.raises(ParameterError, match="compute_type='int3' is not known"):
        compute_type_for(resolve_device("cpu"), "int3")
