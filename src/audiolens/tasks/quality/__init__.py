"""The ``quality`` task: is this file really lossless, and what was it encoded from?

For each file it gives a ``verdict`` (``lossless``, ``lossy``, or ``transcode`` when the
container claims better than the content: an MP3 320 or a FLAC made from a 128 kb/s MP3), the
7-class answer of bitrater (``bitrate_class``: 128, V2, 192, V0, 256, 320, lossless), the lossy
``origin`` (codec and estimated bitrate), the spectral ``cutoff_hz`` and a ``confidence``.

How: the container's claims (codec, bitrate, the LAME tag of an MP3) say what the file should
be; a small model over the spectrum of a few stretches of the file (:mod:`.features`,
:mod:`.model`) says what its content sounds like it came from; the verdict compares the two.
Only those stretches are decoded, so a long file costs little more than a short one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np

from ...audio import AudioInfo, PathLike
from ...devices import Device, resolve_device
from ..base import AudioRequest, Result, TaskInput
from ..shown import fraction
from .features import FEATURE_NAMES, SpectralSummary, summarize
from .model import QualityModel, load_model

__all__ = [
    "BITRATE_CLASSES",
    "QualityResult",
    "QualityTask",
    "container_class",
    "lower_quality_mass",
    "quality",
    "read_input",
]

Verdict = Literal["lossless", "lossy", "transcode"]
BITRATE_CLASSES: tuple[str, ...] = ("128", "V2", "192", "V0", "256", "320", "lossless")
_MP3_CLASSES = ("128", "V2", "192", "V0", "256", "320")
_RANK = {"128": 0, "V2": 1, "192": 1, "V0": 2, "256": 3, "320": 4, "lossless": 5}
_CLASS_KBPS = {"128": 128, "V2": 190, "192": 192, "V0": 245, "256": 256, "320": 320}

#: files up to this long are analysed whole; longer ones in WINDOWS stretches of WINDOW_S
WHOLE_FILE_S = 30.0
WINDOWS = 8
WINDOW_S = 2.5


@dataclass
class QualityResult(Result):
    """The answer of the ``quality`` task for one file.

    Attributes
    ----------
    verdict : "lossless", "lossy" or "transcode"
    bitrate_class : bitrater's 7 classes: "128", "V2", "192", "V0", "256", "320", "lossless";
        for a lossy file that is not an MP3, the LAME class whose spectrum is closest
    origin : for lossy and transcoded files, ``{"codec": ..., "bitrate_kbps": ...}`` of the
        lossy encoding the content came from; None for lossless
    cutoff_hz : the spectral low-pass frequency (the Nyquist frequency when there is none)
    confidence : in [0, 1], how sure the verdict is
    claimed : what the container says: codec, kbps, VBR, LAME class
    content : what the content sounds like, the model's most likely class and its probability
    """

    task: ClassVar[str] = "quality"
    verdict: Verdict
    bitrate_class: str
    origin: dict[str, object] | None
    cutoff_hz: float
    confidence: float
    claimed: dict[str, object] = field(default_factory=dict)
    content: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.cutoff_hz = round(float(self.cutoff_hz), 1)
        self.confidence = fraction(self.confidence)


def container_class(info: AudioInfo) -> str | None:
    """bitrater's class that the container claims for an MP3 (None for other codecs).

    Uses the LAME tag when there is one (VBR quality or CBR/ABR bitrate), else the bitrate.
    """
    if info.lossless:
        return "lossless"
    if info.codec != "mp3":
        return None
    lame = info.lame
    if lame is not None and lame.vbr_method.startswith("vbr") and lame.vbr_quality is not None:
        q = lame.vbr_quality
        return "V0" if q <= 1 else "V2" if q <= 3 else "128"
    kbps = _claimed_kbps(info)
    if lame is not None and lame.is_vbr and lame.vbr_method.startswith("vbr"):
        return "V0" if kbps >= 220 else "V2" if kbps >= 150 else "128"
    return min(("128", "192", "256", "320"), key=lambda c: abs(_CLASS_KBPS[c] - kbps))


def _claimed_kbps(info: AudioInfo) -> float:
    if info.codec == "mp3" and info.duration > 0:
        if info.lame is not None and info.lame.bytes:
            return info.lame.bytes * 8 / info.duration / 1000.0
        if info.vbr:
            return info.size * 8 / info.duration / 1000.0
    if info.bit_rate:
        return info.bit_rate / 1000.0
    return info.size * 8 / info.duration / 1000.0 if info.duration > 0 else 0.0


def _claims(info: AudioInfo) -> dict[str, object]:
    return {
        "codec": info.codec,
        "bitrate_kbps": round(_claimed_kbps(info)),
        "vbr": info.vbr,
        "lossless": info.lossless,
        "class": container_class(info),
        "encoder": info.lame.encoder if info.lame else None,
    }


def _origin(model: QualityModel, cls: str, cutoff: float) -> dict[str, object]:
    if cls in _CLASS_KBPS:
        return {"codec": "mp3", "bitrate_kbps": _CLASS_KBPS[cls]}
    return {"codec": cls, "bitrate_kbps": model.estimate_kbps(cls, cutoff / 1000.0)}


def decide(
    info: AudioInfo, summary: SpectralSummary, proba: np.ndarray, model: QualityModel
) -> QualityResult:
    """Turn the container's claims and the content model's probabilities into a result."""
    p = dict(zip(model.classes, (float(v) for v in proba)))
    content = max(p, key=p.__getitem__)
    mp3_like = max(_MP3_CLASSES, key=p.__getitem__)
    claimed = _claims(info)
    evidence = summary.frames > 0 and bool(
        summary.features[FEATURE_NAMES.index("hf_abs_db")] >= model.thresholds["evidence_db"]
    )
    unsure = 0.5 if summary.frames else 0.0  # the container's word alone
    common = {
        "cutoff_hz": round(summary.cutoff_hz, 1),
        "claimed": claimed,
        "content": {"class": content, "p": round(p[content], 4), "evidence": evidence},
    }
    if info.lossless:
        p_lossless = p["lossless"]
        t = model.thresholds["lossless"]
        if not evidence or p_lossless >= t:
            # without evidence (silence, nothing above 12 kHz) nothing contradicts the container
            conf = 0.5 + 0.5 * (p_lossless - t) / max(1.0 - t, 1e-9) if evidence else unsure
            return QualityResult("lossless", "lossless", None, confidence=conf, **common)
        lossy = max((c for c in model.classes if c != "lossless"), key=p.__getitem__)
        origin = _origin(model, lossy, summary.cutoff_hz)
        conf = 0.5 + 0.5 * (t - p_lossless) / max(t, 1e-9)
        return QualityResult("transcode", mp3_like, origin, confidence=conf, **common)
    own = {"codec": info.codec, "bitrate_kbps": claimed["bitrate_kbps"]}
    claim = container_class(info)
    # AAC, Vorbis, Opus, ...: lossy by format, and a transcode if it sounds like a worse MP3
    rank_as = claim or min(_MP3_CLASSES, key=lambda c: abs(_CLASS_KBPS[c] - own["bitrate_kbps"]))
    p_lower = lower_quality_mass(rank_as, p) if evidence else 0.0
    if p_lower >= model.thresholds["lower"]:
        src = max((c for c in _MP3_CLASSES if _RANK[c] < _RANK[rank_as]), key=p.__getitem__)
        origin = _origin(model, src, summary.cutoff_hz)
        return QualityResult("transcode", src, origin, confidence=p_lower, **common)
    conf = 1.0 - p_lower if evidence else unsure
    return QualityResult("lossy", claim or mp3_like, own, confidence=conf, **common)


def lower_quality_mass(claim: str, p: dict[str, float]) -> float:
    """How strongly the content says it came from an MP3 class below ``claim``.

    The probability of the MP3 classes ranked below the claimed one, counted only when the
    single most likely class is one of them (so a file whose content best matches its claim is
    never called a transcode); 0.0 otherwise.

    Parameters
    ----------
    claim : the class the container claims ("128" ... "320")
    p : content class -> probability, as the model gives them
    """
    lower = [c for c in _MP3_CLASSES if _RANK[c] < _RANK[claim]]
    if not lower or max(p, key=p.__getitem__) not in lower:
        return 0.0
    return float(sum(p[c] for c in lower))


class QualityTask:
    """Task object for the runner (see :mod:`audiolens.tasks.base`)."""

    name = "quality"
    version = 2  # 2: confidence to 4 decimals

    def __init__(self, model_path: str | None = None) -> None:
        self._model_path = model_path

    @property
    def model(self) -> QualityModel:
        """The content model, loaded once per process."""
        return load_model(self._model_path)

    def request(self, info: AudioInfo) -> AudioRequest:
        """Mono, native rate; the whole file when short, else evenly spread stretches."""
        return AudioRequest(sr=None, mono=True, windows=plan_windows(info.duration))

    def features(self, item: TaskInput, device: Device) -> SpectralSummary:
        """The spectral summary of one decoded input."""
        pieces = [a.samples for a in item.pieces]
        return summarize(pieces, sr=item.pieces[0].sample_rate, device=device)

    def run(self, batch: Sequence[TaskInput], *, device: Device) -> list[QualityResult]:
        """Analyze a batch of files; one QualityResult per input."""
        model = self.model
        if model.feature_names != FEATURE_NAMES:
            raise RuntimeError("quality model was trained on other features; retrain it")
        summaries = [self.features(item, device) for item in batch]
        proba = model.predict_proba(np.stack([s.features for s in summaries]))
        return [decide(item.info, s, pr, model) for item, s, pr in zip(batch, summaries, proba)]


def plan_windows(duration: float) -> tuple[tuple[float, float], ...] | None:
    """Which stretches of a file of ``duration`` seconds the task reads (None: all of it)."""
    if duration <= WHOLE_FILE_S:
        return None
    lo, hi = 0.05 * duration, 0.95 * duration - WINDOW_S
    starts = np.linspace(lo, hi, WINDOWS)
    return tuple((round(float(s), 3), WINDOW_S) for s in starts)


def read_input(path: PathLike, task: QualityTask | None = None) -> TaskInput:
    """Probe a file and decode what the quality task asks of it (only that is decoded)."""
    from ...audio import probe
    from ...audio.request import decode_request

    task = task or QualityTask()
    info = probe(path)
    return decode_request(info.path, info, task.request(info), replan=task.request)


def quality(
    path: PathLike, *, device: str | Device = "auto", model_path: str | None = None
) -> QualityResult:
    """Tell whether one file is really lossless, lossy, or a transcode.

    Parameters
    ----------
    path : an audio file in any format FFmpeg reads
    device : "auto", "cpu", "torch", "cuda", "mps" (see :func:`audiolens.resolve_device`)
    model_path : a model trained by ``benchmarks/train_quality.py`` instead of the shipped one

    Returns
    -------
    result : QualityResult

    Raises
    ------
    DecodeError
        when the file cannot be read as audio (the message names the file and the problem).
    """
    task = QualityTask(model_path)
    return task.run([read_input(path, task)], device=resolve_device(device))[0]
