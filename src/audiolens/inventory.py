"""Which models audiolens finds on this machine, and where (``audiolens models``).

Every model is located with the lookup its task uses (:func:`~audiolens.models.whisper.
resolve_model`, :func:`~audiolens.models.basic_pitch.find_model`, ...), so what is listed is what
a run would use. Nothing is loaded and the network is never touched: the Hugging Face cache is
read, the hub is not asked. A missing model carries the lookup's own message: where it looked
and how to bring the model onto this machine.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import AudiolensError

__all__ = ["ModelEntry", "Runtime", "hub_settings", "list_models", "runtime"]


@dataclass(frozen=True)
class Runtime:
    """A package a model runs on.

    Attributes
    ----------
    name : the distribution's name (``onnxruntime``)
    installed : whether Python can import it here (found without importing it)
    version : its installed version, when known
    install : the command that installs it
    optional : True for a runtime used only in some cases (``note`` says which)
    note : when an optional runtime is used
    """

    name: str
    installed: bool
    version: str | None
    install: str
    optional: bool = False
    note: str = ""


@dataclass(frozen=True)
class ModelEntry:
    """One model and where it was found.

    Attributes
    ----------
    model : what the model is called (``whisper base``, ``basic-pitch nmp.onnx``)
    task : the task (and option) that uses it
    path : where it was found; None when it is missing
    detail : for a missing model, where the lookup looked and how to get the model
    runtimes : what it needs to run
    """

    model: str
    task: str
    path: str | None
    detail: str = ""
    runtimes: tuple[Runtime, ...] = field(default_factory=tuple)

    @property
    def found(self) -> bool:
        """Whether the model was found."""
        return self.path is not None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (with ``found``)."""
        out = asdict(self)
        out["found"] = self.found
        out["runtimes"] = [asdict(r) for r in self.runtimes]
        return out


def runtime(
    name: str, *, module: str, install: str, optional: bool = False, note: str = ""
) -> Runtime:
    """Whether the package ``name`` (imported as ``module``) is installed, without importing it."""
    try:
        installed = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        installed = False
    version = None
    if installed:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            version = None
    return Runtime(name, installed, version, install, optional, note)


def _onnxruntime(extra: str) -> Runtime:
    return runtime("onnxruntime", module="onnxruntime", install=f"pip install 'audiolens[{extra}]'")


def _located(
    model: str, task: str, find: Callable[[], Path], runtimes: tuple[Runtime, ...]
) -> ModelEntry:
    """``find()``'s path, or its error's message (where it looked and what to do)."""
    try:
        return ModelEntry(model, task, str(find()), "", runtimes)
    except AudiolensError as exc:
        return ModelEntry(model, task, None, str(exc), runtimes)


def _whisper(model_dir: str | os.PathLike | None) -> list[ModelEntry]:
    """One entry per Whisper model found (names that resolve to one folder share it), or one
    missing entry with the lookup's message for ``base``."""
    from .models.whisper import MODELS, resolve_model

    install = "pip install 'audiolens[speech]'"
    runtimes = (
        runtime("faster-whisper", module="faster_whisper", install=install),
        runtime("ctranslate2", module="ctranslate2", install=install),
    )
    names: dict[str, list[str]] = {}
    for name in MODELS:
        try:
            path = resolve_model(name, model_dir=model_dir, download=False)
        except AudiolensError:
            continue
        names.setdefault(str(path), []).append(name)
    if names:
        return [
            ModelEntry(f"whisper {', '.join(found)}", "speech", path, "", runtimes)
            for path, found in names.items()
        ]
    return [
        _located(
            "whisper",
            "speech",
            lambda: resolve_model("base", model_dir=model_dir, download=False),
            runtimes,
        )
    ]


def _basic_pitch() -> ModelEntry:
    from .models.basic_pitch import find_model

    runtimes = (
        _onnxruntime("notes"),
        runtime(
            "torch",
            module="torch",
            install="pip install 'audiolens[torch]'",
            optional=True,
            note="runs it on GPUs onnxruntime cannot drive (MPS, CUDA without onnxruntime-gpu)",
        ),
    )
    return _located("basic-pitch nmp.onnx", "notes", find_model, runtimes)


def _silero() -> ModelEntry:
    from .models.vad import find_model

    return _located("silero VAD", "speakers, speech", find_model, (_onnxruntime("speakers"),))


def _resemblyzer() -> ModelEntry:
    from .models.voice_encoder import find_weights

    return _located("resemblyzer voice encoder", "speakers (encoder ge2e)", find_weights, ())


def _campplus() -> ModelEntry:
    from .models.campplus import find_weights

    return _located("CAM++ speaker encoder", "speakers", find_weights, ())


def _segmentation() -> ModelEntry:
    from .models.segmentation import find_segmentation_model

    name = "pyannote-segmentation-3.0"
    return _located(
        f"segmentation {name}",
        "speakers --segmentation-model",
        lambda: find_segmentation_model(name, download=False),
        (_onnxruntime("speakers"),),
    )


def _shipped(model: str, task: str, path: Path) -> ModelEntry:
    if path.is_file():
        return ModelEntry(model, task, str(path))
    return ModelEntry(
        model, task, None, f"{path} is missing from this install: reinstall audiolens"
    )


def list_models(*, model_dir: str | os.PathLike | None = None) -> list[ModelEntry]:
    """Every model audiolens uses, found (with its path) or missing (with how to get it).

    Parameters
    ----------
    model_dir : the folder of Whisper models a run would get as ``--model-dir``

    Returns
    -------
    entries : Whisper (one entry per model found), basic-pitch, silero VAD, CAM++,
        resemblyzer, the speaker segmentation model, and the beats, bar cue and quality models
        that ship in audiolens
    """
    from .tasks.beats.activation import MODEL_PATH as BEATS
    from .tasks.beats.cues import CUES_PATH
    from .tasks.quality.model import MODEL_PATH as QUALITY

    return [
        *_whisper(model_dir),
        _basic_pitch(),
        _silero(),
        _campplus(),
        _resemblyzer(),
        _segmentation(),
        _shipped("beats network", "beats, structure", BEATS),
        _shipped("bar cues", "beats, structure", CUES_PATH),
        _shipped("quality classifier", "quality", QUALITY),
    ]


def hub_settings() -> dict[str, Any]:
    """The Hugging Face hub as the lookups see it, without asking it anything.

    Returns
    -------
    settings : ``endpoint``, ``downloads`` (False when ``HF_HUB_OFFLINE`` is set; when True, a
        download is still tried only if the hub answers) and ``cache`` (the hub cache folder,
        None without huggingface_hub)
    """
    from .models.hub import downloads_allowed, hub_endpoint

    try:
        from huggingface_hub import constants

        cache: str | None = str(constants.HF_HUB_CACHE)
    except ImportError:
        cache = None
    return {"endpoint": hub_endpoint(), "downloads": downloads_allowed(None), "cache": cache}
