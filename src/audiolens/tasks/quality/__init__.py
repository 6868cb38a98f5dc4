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
from .features import (
    EDGE_DROP_DB,
    FEATURE_NAMES,
    FEATURE_VERSION,
    QUANT_FLOOR_DB,
    SpectralSummary,
    Stretches,
    content_edge,
    host_measures,
    summarize_batch,
)
from .model import QualityModel, load_model

__all__ = [
    "BITRATE_CLASSES",
    "QualityResult",
    "QualityTask",
    "codec_flicker",
    "codec_grid",
    "codec_lattice",
    "codec_wall",
    "container_class",
    "expected_lowpass",
    "lower_quality_mass",
    "quality",
    "raw_verdict",
    "read_input",
    "upscale_edge",
]

Verdict = Literal["lossless", "lossy", "transcode", "unknown"]
BITRATE_CLASSES: tuple[str, ...] = ("128", "V2", "192", "V0", "256", "320", "lossless")
_MP3_CLASSES = ("128", "V2", "192", "V0", "256", "320")
_RANK = {"128": 0, "V2": 1, "192": 1, "V0": 2, "256": 3, "320": 4, "lossless": 5}
_CLASS_KBPS = {"128": 128, "V2": 190, "192": 192, "V0": 245, "256": 256, "320": 320}

#: LAME's low-pass in Hz by CBR/ABR bitrate (its ``optimum_bandwidth`` table) and by VBR
#: quality (``-V 0`` ... ``-V 9``), for MP3s whose LAME tag does not record it
_LAME_CBR_LOWPASS = (
    (96, 15100),
    (112, 15600),
    (128, 17000),
    (160, 17500),
    (192, 18600),
    (224, 19400),
    (256, 19700),
    (320, 20500),
)
_LAME_VBR_LOWPASS = (19500, 19000, 18600, 18000, 17500, 16000, 15600, 14900, 12500, 10000)
#: the lowest low-pass (Hz) the encoders of other codecs use at these bitrates and above
#: (kb/s): Opus is full-band (20 kHz) from 48 kb/s; AAC encoders (FFmpeg, FDK, Apple) keep
#: >= 19.5 kHz at 256 kb/s. Vorbis has no such claim: libvorbis drops faint high content by
#: itself, well under its nominal low-pass (genuine q5-q7 files of quiet music showed edges
#: at earlier encoders' low-passes in the training corpus)
_CODEC_LOWPASS = {"opus": (48, 20000), "aac": (240, 19500)}
#: low-pass frequencies (Hz) of the MP3 encodes an upscale comes from: LAME 128-256 kb/s CBR
#: and ABR, and VBR -V 0 to -V 4 (both of LAME's VBR tables)
_ORIGIN_LOWPASS = (17000, 17500, 18000, 18500, 18600, 19000, 19400, 19500, 19700)
#: a content edge found this far over a nominal low-pass still is that low-pass (the filter's
#: transition band ends above its nominal frequency)
_EDGE_SLACK_HZ = 450.0
#: how far content must sit over the floor under an upscale's edge (dB), the same as for the
#: features' edges; weaker falls count only over the first decode's rounding noise (see
#: :func:`_rounding_floor_edge`): genuine MP3s of dark music have 12-18 dB edges of their own
UPSCALE_DROP_DB = EDGE_DROP_DB
#: ... and this far under it (LAME 128 kb/s content ends near 16.85 kHz, under its 17 kHz)
_EDGE_BELOW_HZ = 400.0
#: content that stops this far below what the container's encoder would keep came from an
#: earlier, lower encoding (issue 13)
UPSCALE_GAP_HZ = 1500.0

#: files up to this long are analysed whole; longer ones in WINDOWS stretches of WINDOW_S
WHOLE_FILE_S = 30.0
WINDOWS = 8
WINDOW_S = 2.5


@dataclass
class QualityResult(Result):
    """The answer of the ``quality`` task for one file.

    Attributes
    ----------
    verdict : "lossless", "lossy", "transcode", or "unknown" for a lossless container whose
        content gives no evidence either way (silence, or nothing above 12 kHz)
    bitrate_class : bitrater's 7 classes: "128", "V2", "192", "V0", "256", "320", "lossless";
        for a lossy file that is not an MP3, the LAME class whose spectrum is closest
    origin : for lossy and transcoded files, ``{"codec": ..., "bitrate_kbps": ...}`` of the
        lossy encoding the content came from; None for lossless
    cutoff_hz : the spectral low-pass frequency (the Nyquist frequency when there is none)
    confidence : in [0, 1], calibrated on held-out sources: of the verdicts given with
        confidence c, about c were right (0 for ``unknown``)
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

    Uses the LAME tag when there is one (VBR quality or CBR/ABR bitrate), else the bitrate;
    a VBR ("Xing") header without LAME's VBR fields is judged as VBR by its mean bitrate.
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
    # a VBR header whose method is unknown: FFmpeg writes one when it remuxes a VBR MP3
    # (``-c copy``, to retag it), keeping the frames but not LAME's VBR fields
    if (
        lame is not None
        and lame.is_vbr
        and (lame.vbr_method.startswith("vbr") or lame.vbr_method == "unknown")
    ):
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


def expected_lowpass(info: AudioInfo) -> float | None:
    """The low-pass (Hz) the container's own lossy encoding would have; None when unknown.

    MP3: the LAME tag's low-pass field, else LAME's table for the bitrate or VBR quality.
    Opus, Vorbis and AAC: their encoders' lowest low-pass at the claimed bitrate (see
    ``_CODEC_LOWPASS``); None below those bitrates and for lossless files.
    """
    if info.lossless:
        return None
    kbps = _claimed_kbps(info)
    if info.codec == "mp3":
        lame = info.lame
        if lame is not None and lame.lowpass_hz > 0:
            return float(lame.lowpass_hz)
        if lame is not None and lame.vbr_method.startswith("vbr") and lame.vbr_quality is not None:
            return float(_LAME_VBR_LOWPASS[min(max(lame.vbr_quality, 0), 9)])
        if kbps < 90:
            return None
        return float(min(_LAME_CBR_LOWPASS, key=lambda r: abs(r[0] - kbps))[1])
    floor = _CODEC_LOWPASS.get(info.codec)
    if floor is None or kbps < floor[0]:
        return None
    return float(floor[1])


def upscale_edge(info: AudioInfo, summary: SpectralSummary) -> float | None:
    """Where the content stops, when that is clearly below the container's own low-pass.

    The content edge below the expected low-pass (:func:`features.content_edge`) must be
    >= ``UPSCALE_GAP_HZ`` below it, fall >= ``UPSCALE_DROP_DB`` within 1 kHz (an encoder's
    filter, not an instrument's roll-off) and sit where an earlier LAME encode of 128 kb/s or
    more puts its low-pass (``_ORIGIN_LOWPASS``, from ``_EDGE_BELOW_HZ`` under to twice
    ``_EDGE_SLACK_HZ`` over it).
    Or, with a gentler fall (10 dB), when the band above the edge is the first decode's
    rounding noise (:func:`_rounding_floor_edge`). Returns the edge in Hz, or None when the
    content reaches what the container keeps.
    """
    lowpass = expected_lowpass(info)
    if lowpass is None or not summary.frames or lowpass >= summary.freqs[-1]:
        return None
    floor_edge = _rounding_floor_edge(summary, lowpass)
    if floor_edge is not None:
        return floor_edge
    edge, drop, width = content_edge(
        summary.ltas_db, summary.freqs, lowpass, min_drop_db=UPSCALE_DROP_DB
    )
    gap = lowpass + _EDGE_SLACK_HZ - edge
    if gap < UPSCALE_GAP_HZ or drop < UPSCALE_DROP_DB or width > 1000.0:
        return None
    # an earlier MP3's own low-pass: LAME's 17-19.5 kHz settings (128 kb/s and up); LAME also
    # drops faint content above ~16 kHz itself (its sfb21 band), so lower edges are no proof
    origins = [lp for lp in _ORIGIN_LOWPASS if lp <= lowpass - UPSCALE_GAP_HZ]
    if not any(-_EDGE_BELOW_HZ <= edge - lp <= 2 * _EDGE_SLACK_HZ for lp in origins):
        return None
    return edge


#: the band between an upscale's edge and its container's low-pass holds the first decode's
#: 16-bit rounding noise: this flat (dB std across bins), this near the floor (dB, below/over)
_FLOOR_FLAT_DB = 1.0
_FLOOR_RANGE_DB = (9.0, 3.0)
#: lowest edge such a floor may start at (Hz): LAME's own sfb21 cut sits near 16 kHz
_FLOOR_EDGE_MIN_HZ = 15500.0


def _rounding_floor_edge(summary: SpectralSummary, lowpass: float) -> float | None:
    """An upscale's edge proven by what lies above it: the earlier decode's rounding noise.

    When the content stops at ``edge`` and everything from there to the container's own
    low-pass is flat noise at the 16-bit rounding floor, the file was encoded from a 16-bit
    decode of something that stopped at ``edge``: a genuine encode of dark music leaves that
    band empty (the encoder zeroes what it cannot hear) or uneven. A 10 dB fall suffices here.
    On the corpus it fired for 29 of 496 upscales and none of 1,740 genuine lossy files.
    """
    edge, drop, width = content_edge(summary.ltas_db, summary.freqs, lowpass, min_drop_db=10.0)
    if drop < 10.0 or width > 1000.0 or edge < _FLOOR_EDGE_MIN_HZ:
        return None
    if lowpass + _EDGE_SLACK_HZ - edge < UPSCALE_GAP_HZ:
        return None
    band = (summary.freqs >= edge + 300.0) & (summary.freqs < lowpass - 600.0)
    if band.sum() < 16:
        return None
    level = summary.ltas_db[band]
    low, high = QUANT_FLOOR_DB - _FLOOR_RANGE_DB[0], QUANT_FLOOR_DB + _FLOOR_RANGE_DB[1]
    if float(np.std(level)) > _FLOOR_FLAT_DB or not low <= float(np.mean(level)) <= high:
        return None
    return edge


def _class_for_edge(edge: float) -> str:
    """The MP3 class whose LAME low-pass a content edge matches best."""
    nominal = {"128": 17000, "V2": 18600, "V0": 19500, "256": 19700, "320": 20500}
    return min(nominal, key=lambda c: abs(nominal[c] + _EDGE_SLACK_HZ - edge))


@dataclass(frozen=True)
class RawVerdict:
    """A verdict before calibration: what :func:`decide` would say, and how sure it is raw.

    ``kind`` names the calibration curve that applies: "lossless" (a lossless container kept,
    its content reaching where the high-bitrate codecs cut) and "lossless_short" (kept, its
    content stopping below that, so no such codec is ruled out),
    "wall" (a lossless container showing a codec's wall, :func:`codec_wall`), "flicker" (one
    whose bands above 16 kHz switch off as a codec's do, :func:`codec_flicker`), "lattice"
    (one whose MDCT values sit on AAC's quantization lattice, :func:`codec_lattice`), "grid"
    (one whose lines are zero on an MP3 encoder's granule grid, :func:`codec_grid`),
    "grid_upscale" (an MP3 claiming 320 kb/s whose grid holds the zeros of a coarser encode,
    ``UPSCALE_GRID_MIN``),
    "transcode" (an MP3 whose content the model finds worse than its container), "upscale"
    (content that stops below the container's own low-pass), "lossy", "lossy_320" and
    "lossy_320_short" (a lossy file claiming the top MP3 class, where upscales hide, whose
    content reaches its wall or stops short of it), or "unknown" (no evidence).
    """

    verdict: Verdict
    bitrate_class: str
    origin: dict[str, object] | None
    kind: str
    raw: float


def raw_verdict(
    info: AudioInfo,
    summary: SpectralSummary,
    proba: np.ndarray,
    model: QualityModel,
    *,
    edge: float | None,
) -> RawVerdict:
    """The container's claims against the content: the verdict and its raw confidence.

    ``edge`` is :func:`upscale_edge` of the file (None when the content reaches what the
    container keeps).
    """
    p = dict(zip(model.classes, (float(v) for v in proba)))
    mp3_like = max(_MP3_CLASSES, key=p.__getitem__)
    evidence = has_evidence(summary, model)
    if info.lossless:
        p_lossless = p["lossless"]
        t = model.thresholds["lossless"]
        # where the content came from, should it prove lossy: the model's best lossy class
        lossy = max((c for c in model.classes if c != "lossless"), key=p.__getitem__)
        if codec_wall(summary):
            origin = _origin(model, lossy, summary.cutoff_hz)
            return RawVerdict("transcode", mp3_like, origin, "wall", 1.0)
        if codec_flicker(summary):
            origin = _origin(model, lossy, summary.cutoff_hz)
            return RawVerdict("transcode", mp3_like, origin, "flicker", 1.0)
        if codec_lattice(summary):
            aac = "aac" if "aac" in model.classes else lossy
            origin = _origin(model, aac, summary.cutoff_hz)
            return RawVerdict("transcode", mp3_like, origin, "lattice", 1.0)
        if codec_grid(summary):
            origin = _origin(model, mp3_like, summary.cutoff_hz)
            return RawVerdict("transcode", mp3_like, origin, "grid", 1.0)
        if not evidence:
            # silence, or nothing above 12 kHz: nothing for or against the container
            return RawVerdict("unknown", "lossless", None, "unknown", 0.0)
        if p_lossless >= t:
            raw = 0.5 + 0.5 * (p_lossless - t) / max(1.0 - t, 1e-9)
            # content that stops short of where high-bitrate codecs cut (LAME V0 to 320:
            # 19.5-20.5 kHz) cannot rule them out: its own curve, learnt from the lossless
            # answers that were as blind
            kind = "lossless" if summary.cutoff_hz >= _SHORT_HZ else "lossless_short"
            return RawVerdict("lossless", "lossless", None, kind, raw)
        raw = 0.5 + 0.5 * (t - p_lossless) / max(t, 1e-9)
        origin = _origin(model, lossy, summary.cutoff_hz)
        return RawVerdict("transcode", mp3_like, origin, "transcode", raw)
    claimed_kbps = round(_claimed_kbps(info))
    claim = container_class(info)
    # AAC, Vorbis, Opus, ...: lossy by format; ranked as the MP3 class of their bitrate
    rank_as = claim or min(_MP3_CLASSES, key=lambda c: abs(_CLASS_KBPS[c] - claimed_kbps))
    lower = [c for c in _MP3_CLASSES if _RANK[c] < _RANK[rank_as]]
    if edge is not None and lower:
        # the container's claim against the content: an earlier, lower encoding
        by_edge = _class_for_edge(edge)
        src = by_edge if by_edge in lower else max(lower, key=p.__getitem__)
        codecs = {c: p[c] for c in ("aac", "vorbis", "opus")}
        best = max(codecs, key=codecs.__getitem__)
        from_codec = codecs[best] > sum(p[c] for c in _MP3_CLASSES)
        origin = _origin(model, best if from_codec else src, edge)
        return RawVerdict("transcode", src, origin, "upscale", 1.0)
    if rank_as == "320" and info.codec == "mp3" and summary.mp3_grid >= UPSCALE_GRID_MIN:
        # its lines on the encoder's grid hold far more zeros than a 320 kb/s quantizer makes:
        # an earlier, coarser MP3 encode, whatever the content's reach
        src = max(lower, key=p.__getitem__)
        origin = _origin(model, src, summary.cutoff_hz)
        return RawVerdict("transcode", src, origin, "grid_upscale", 1.0)
    # the model's MP3 classes judge MP3s only: an AAC, Vorbis or Opus file is ranked against
    # them by bitrate alone, and the model never saw one made from an earlier encode
    p_lower = lower_quality_mass(rank_as, p) if evidence and info.codec == "mp3" else 0.0
    if p_lower >= model.thresholds["lower"]:
        src = max(lower, key=p.__getitem__)
        origin = _origin(model, src, summary.cutoff_hz)
        return RawVerdict("transcode", src, origin, "transcode", p_lower)
    own = {"codec": info.codec, "bitrate_kbps": claimed_kbps}
    # a file claiming the top MP3 class is where upscales hide: its own calibration curves,
    # one for content that reaches the container's wall and one for content that stops short
    # of it (dark, or an upscale whose first wall was not found): only the first is evidence
    kind = "lossy"
    if rank_as == "320":
        kind = "lossy_320" if _reaches_top(summary) else "lossy_320_short"
    return RawVerdict("lossy", claim or mp3_like, own, kind, 1.0 - p_lower if evidence else 0.5)


#: a lossless file's content whose cutoff is below this shows no high-bitrate codec's wall
_SHORT_HZ = 19000.0

#: 250 Hz bands of the features above every earlier MP3's low-pass and below LAME 320's, and
#: a band every MP3 keeps; content within ``_REACH_DB`` of the latter in the former reaches
#: the top of what a 320 kb/s MP3 keeps
_TOP_BANDS = tuple(FEATURE_NAMES.index(f"band_{f}") for f in (19750, 20000, 20250))
_MID_BANDS = tuple(FEATURE_NAMES.index(f"band_{f}") for f in range(14000, 16000, 250))
_REACH_DB = 25.0


def _reaches_top(summary: SpectralSummary) -> bool:
    """Whether the content reaches above 19.75 kHz at a level near its 14-16 kHz level."""
    f = summary.features
    return bool(f[list(_TOP_BANDS)].mean() - f[list(_MID_BANDS)].mean() >= -_REACH_DB)


#: a codec's wall in a lossless file: where it may sit (Hz), how far the spectrum must drop
#: there (dB), how flat (dB std across bins) and steady (dB, 95th - 50th percentile over
#: frames) the band above must be, and how far over 16-bit rounding noise it may sit (dB).
#: The highest common lossy low-passes are LAME 320 kb/s's (20.5 kHz) and Opus's full band
#: (20 kHz, found at 20.35-20.56 kHz in the training split's FLACs from Opus); the lowest
#: genuine wall of the training split (a render's) sits at 20.70 kHz
_WALL_HZ = (11000.0, 20600.0)
_WALL_STEP_DB = 10.0
_WALL_FLAT_DB = 1.5
_WALL_STEADY_DB = 2.0
_WALL_OVER_FLOOR_DB = 3.0


def codec_wall(summary: SpectralSummary) -> bool:
    """Whether a lossless file shows a lossy decoder's mark: a wall with nothing above it.

    Above a codec's low-pass, a decode to 16 bits holds only its rounding noise: flat across
    bins, steady from frame to frame and at (or, dithered, just over) the 16-bit floor. Music,
    room noise and mastering dither above a natural roll-off are none of these. Checked on
    every lossless file of the training corpus (148 files, 0 fired) and its test split (71, 0).
    Frames where the file clips are left out first (:func:`.features.clipped_frames`): a
    lossy decode stored in 16 bits clips where it overshoots, and each clip sprays noise over
    the band above the wall.
    """
    if not summary.frames:
        return False
    f = summary.features
    return bool(
        _WALL_HZ[0] <= summary.cutoff_hz <= _WALL_HZ[1]
        and f[FEATURE_NAMES.index("step_db")] >= _WALL_STEP_DB
        and f[FEATURE_NAMES.index("above_flat_db")] <= _WALL_FLAT_DB
        and f[FEATURE_NAMES.index("above_var_db")] <= _WALL_STEADY_DB
        and f[FEATURE_NAMES.index("above_abs_db")] <= QUANT_FLOOR_DB + _WALL_OVER_FLOOR_DB
    )


#: a lossless file whose bands above 16 kHz switch off this often (:func:`features.flicker`)
#: was decoded from a lossy encode; set on the training split: 3x the most any of its lossless
#: files showed
FLICKER_MIN = 0.004


def codec_flicker(summary: SpectralSummary) -> bool:
    """Whether a lossless file's bands above 16 kHz switch on and off as a lossy encoder's do.

    This finds the encodes that leave no wall: LAME ``-V0`` has no low-pass at 44.1 kHz and
    libvorbis ``-q 7`` keeps content to 21.5 kHz, but both still zero bands they cannot afford,
    frame by frame (see :func:`features.flicker`).
    """
    return summary.frames > 0 and summary.flicker >= FLICKER_MIN


#: a lossless file with this share of its tested bands on an AAC quantization lattice
#: (:func:`.lattice.lattice_share`) was decoded from AAC; set on the training split: its
#: lossless files reach 0.009 at most, its FLACs from MP3, Vorbis and Opus 0.045, its FLACs
#: from AAC 128-256 kb/s are at or above it 94-100%
LATTICE_MIN = 0.10


def codec_lattice(summary: SpectralSummary) -> bool:
    """Whether a lossless file's MDCT values sit on AAC's quantization lattice.

    This finds the AAC encodes that leave no wall and switch no bands off (FFmpeg's AAC at
    256 kb/s keeps the whole band): the decoder's output, analysed on the encoder's frame grid,
    gives back the quantized values (see :mod:`.lattice`).
    """
    return summary.lattice >= LATTICE_MIN


#: a lossless file with this many more lines zero on an MP3 encoder's granule grid than on
#: any reference grid (:func:`.mp3grid.grid_share`) was decoded from MP3; set on the training
#: split: its 148 lossless files reach 0.003 at most, its 304 FLACs from AAC, Vorbis and Opus
#: 0.002, its 212 FLACs from LAME 128 kb/s to V0 0.0155 at the least. The threshold is that
#: least value rounded down, as far from the files that never were MP3 as the training split
#: allows: shorter files have fewer lines, and their share wanders further by chance (two
#: seconds of 16 kHz speech: up to 0.007)
GRID_MIN = 0.015
#: an MP3 claiming 320 kb/s with this grid share was quantized more coarsely before: the
#: lowest round value over every genuine 320 kb/s encode of the training split (86 files,
#: 0.259 at most); its 320 kb/s upscales of 128 kb/s reach it 99%, of V2 10%, of 192 kb/s 15%
UPSCALE_GRID_MIN = 0.30


def codec_grid(summary: SpectralSummary) -> bool:
    """Whether a lossless file was decoded from an MP3: its lines on an MP3 encoder's
    granule grid hold the zeros that encoder's quantizer made (see :mod:`.mp3grid`). This
    needs no content above any codec's low-pass: dark recordings show it too."""
    return summary.mp3_grid >= GRID_MIN


def has_evidence(summary: SpectralSummary, model: QualityModel) -> bool:
    """Whether the content has energy where codecs leave their marks (12-16 kHz)."""
    hf = summary.features[FEATURE_NAMES.index("hf_abs_db")]
    return summary.frames > 0 and bool(hf >= model.thresholds["evidence_db"])


def decide(
    info: AudioInfo,
    summary: SpectralSummary,
    proba: np.ndarray,
    model: QualityModel,
    *,
    edge: float | None = None,
) -> QualityResult:
    """Turn the container's claims and the content model's probabilities into a result.

    Confidences are calibrated (``model.calibrate``): of the verdicts given with confidence c
    on held-out training sources, about c were right. A lossless container whose content gives
    no evidence either way (nothing where codecs leave their marks) gets ``unknown``.
    """
    p = dict(zip(model.classes, (float(v) for v in proba)))
    content = max(p, key=p.__getitem__)
    rv = raw_verdict(info, summary, proba, model, edge=edge)
    conf = 0.0 if rv.kind == "unknown" else model.calibrate(rv.kind, rv.raw)
    evidence = has_evidence(summary, model)
    return QualityResult(
        rv.verdict,
        rv.bitrate_class,
        rv.origin,
        cutoff_hz=round(summary.cutoff_hz, 1),
        confidence=conf,
        claimed=_claims(info),
        content={"class": content, "p": round(p[content], 4), "evidence": evidence},
    )


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


#: the key of :meth:`QualityTask.prepare`'s measures on a TaskInput
_MEASURED = f"quality/host_measures/{FEATURE_VERSION}"


class QualityTask:
    """Task object for the runner (see :mod:`audiolens.tasks.base`)."""

    name = "quality"
    # 2: confidence to 4 decimals; 3: calibrated, unknown, upscale edges; 4: flicker;
    # 5: the AAC lattice; 6: clipped frames of lossless files left out; 7: "lossless" on
    # content short of 19 kHz calibrated apart, retrained on features read as the task reads;
    # 8: the MP3 granule grid
    version = 8

    def __init__(self, model_path: str | None = None) -> None:
        self._model_path = model_path

    @property
    def model(self) -> QualityModel:
        """The content model, loaded once per process."""
        return load_model(self._model_path)

    def request(self, info: AudioInfo) -> AudioRequest:
        """Native rate; the whole file when short, else evenly spread stretches. Mono for a
        lossy file; every channel of a lossless one, whose clipping is looked for per channel
        (see :func:`.features.clipped_frames`)."""
        windows = plan_windows(info.duration)
        return AudioRequest(sr=None, mono=not info.lossless, windows=windows)

    def stretches(self, item: TaskInput) -> Stretches:
        """What the features read of one decoded input: its pieces, for a lossless file the
        codec marks and the clipped frames too, and for a lossless or MP3 file the MP3 granule
        grid."""
        sr = item.pieces[0].sample_rate
        lossless = item.info.lossless
        return Stretches(
            [a.samples for a in item.pieces],
            sr=sr,
            codec_marks=lossless,
            starts=[round(a.offset * sr) for a in item.pieces],
            skip_clipped=lossless,
            mp3_grid=lossless or item.info.codec == "mp3",
            measured=item.features.get(_MEASURED),
        )

    def prepare(self, item: TaskInput) -> None:
        """What the features measure on the samples (the clipped frames of a lossless file
        and the MP3 grid: :func:`.features.host_measures`), made where the runner decoded the
        file (its CPU workers), so that :meth:`run` on an accelerator leaves only the mono
        mix's frames to the device and this process; kept on ``item``."""
        item.feature(_MEASURED, lambda x: host_measures(self.stretches(x)))

    def features(self, item: TaskInput, device: Device) -> SpectralSummary:
        """The spectral summary of one decoded input."""
        return summarize_batch([self.stretches(item)], device=device)[0]

    def run(self, batch: Sequence[TaskInput], *, device: Device) -> list[QualityResult]:
        """Analyze a batch of files; one QualityResult per input.

        The STFTs of all the batch's stretches run together on the device
        (:func:`.features.summarize_batch`); the model and the verdicts on the host."""
        model = self.model
        if model.feature_names != FEATURE_NAMES:
            raise RuntimeError("quality model was trained on other features; retrain it")
        summaries = summarize_batch([self.stretches(item) for item in batch], device=device)
        proba = model.predict_proba(np.stack([s.features for s in summaries]))
        return [
            decide(item.info, s, pr, model, edge=upscale_edge(item.info, s))
            for item, s, pr in zip(batch, summaries, proba)
        ]


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
