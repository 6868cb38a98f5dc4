"""The ``loudness`` task: EBU R128 loudness and ReplayGain 2.0 gains of a file, and of an album.

Per file: the integrated loudness (ITU-R BS.1770-4: K-weighting at the file's own rate, 400 ms
blocks every 100 ms, gated at -70 LUFS and 10 LU under the mean), the loudness range (EBU
Tech 3342), the sample peak and the true peak (4x oversampled), and ReplayGain 2.0's track
gain (to -18 LUFS) and peak. Channels are weighted as BS.1770 says (1.41 for the surround
channels, the LFE left out), from the file's layout, mono to 7.1.

An album's loudness is the gated loudness of all its tracks' blocks together (not the mean of
the tracks' loudness): each result keeps a histogram of its blocks in 0.1 LU bins
(``histogram``), and :func:`album_loudness` gates their sum. The album's peak is the largest of
its tracks' peaks.

How: :mod:`.meter` reads the signal block by block, keeping only filter states and 100 ms
energies; long files are streamed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ...audio import AudioInfo
from ...devices import Device
from ...errors import ParameterError
from ..base import AudioRequest, Result, TaskInput, read_input
from .meter import (
    HISTOGRAM_STEP,
    LoudnessMeter,
    Measurement,
    channel_weights,
    gated_loudness,
    k_weighting,
    loudness_range,
)

__all__ = [
    "REPLAYGAIN_REFERENCE",
    "AlbumLoudness",
    "LoudnessMeter",
    "LoudnessResult",
    "LoudnessTask",
    "Measurement",
    "album_loudness",
    "channel_weights",
    "gated_loudness",
    "k_weighting",
    "loudness",
    "loudness_range",
    "measure",
]

PathLike = str | bytes | os.PathLike

#: LUFS: ReplayGain 2.0's reference loudness (a track at -18 LUFS has a gain of 0 dB)
REPLAYGAIN_REFERENCE = -18.0
#: files longer than this (seconds) are streamed rather than decoded whole
STREAM_ABOVE_S = 600.0
#: seconds of audio per decoded block when streaming
BLOCK_S = 60.0


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(float(value), digits)


def _gain(lufs: float | None) -> float | None:
    return None if lufs is None else round(REPLAYGAIN_REFERENCE - lufs, 2)


@dataclass
class LoudnessResult(Result):
    """The answer of the ``loudness`` task for one file.

    Attributes
    ----------
    integrated_lufs : integrated loudness [LUFS]; None for silence or under 0.4 s of audio
    lra_lu : loudness range [LU] (0 under 3 s of audio)
    true_peak_dbtp : true peak [dBTP] (None for digital silence)
    sample_peak_dbfs : sample peak [dBFS] (None for digital silence)
    track_gain_db : ReplayGain 2.0 track gain [dB]: -18 LUFS minus the integrated loudness
    track_peak : the true peak as a fraction of full scale (ReplayGain's peak; 1.0 = 0 dBTP)
    duration : seconds measured
    histogram : the 400 ms blocks above -70 LUFS in 0.1 LU bins, for album loudness:
        ``{"start": LUFS of the first bin's lower edge, "step": 0.1, "counts": [...]}``

    Loudness values are held to 0.01 LU / dB, the peak to 6 decimals.
    """

    task: ClassVar[str] = "loudness"
    integrated_lufs: float | None
    lra_lu: float
    true_peak_dbtp: float | None
    sample_peak_dbfs: float | None
    track_gain_db: float | None
    track_peak: float
    duration: float
    histogram: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_measurement(cls, m: Measurement) -> LoudnessResult:
        """The result of a meter's measurement."""
        start, counts = m.histogram()
        return cls(
            integrated_lufs=_round(m.integrated),
            lra_lu=round(m.lra, 2),
            true_peak_dbtp=_round(m.true_peak_db),
            sample_peak_dbfs=_round(m.sample_peak_db),
            track_gain_db=_gain(m.integrated),
            track_peak=round(m.true_peak, 6),
            duration=round(m.seconds, 3),
            histogram={"start": start, "step": HISTOGRAM_STEP, "counts": counts},
        )


@dataclass(frozen=True)
class AlbumLoudness:
    """The loudness of a group of files taken as one programme (an album).

    Attributes
    ----------
    integrated_lufs : the gated loudness of all the tracks' blocks together (None when every
        track is silent)
    gain_db : ReplayGain 2.0 album gain [dB] (-18 LUFS minus ``integrated_lufs``)
    peak : the largest track peak (fraction of full scale)
    tracks : how many tracks it was measured over
    """

    integrated_lufs: float | None
    gain_db: float | None
    peak: float
    tracks: int

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict."""
        return {
            "integrated_lufs": self.integrated_lufs,
            "gain_db": self.gain_db,
            "peak": self.peak,
            "tracks": self.tracks,
        }


def album_loudness(results: Iterable[LoudnessResult | Mapping[str, Any]]) -> AlbumLoudness:
    """The album loudness, gain and peak of several tracks' results.

    Parameters
    ----------
    results : each track's :class:`LoudnessResult`, or its ``to_dict()`` record (as the
        results store keeps it)

    Returns
    -------
    album : AlbumLoudness
        the gated loudness of the blocks of every track together (BS.1770 over the whole
        album, from the tracks' 0.1 LU block histograms), its ReplayGain 2.0 gain, and the
        largest track peak
    """
    levels: list[np.ndarray] = []
    counts: list[np.ndarray] = []
    peak, n = 0.0, 0
    for r in results:
        record = r.to_dict() if isinstance(r, LoudnessResult) else r
        hist = record.get("histogram") or {}
        c = np.asarray(hist.get("counts") or [], dtype=np.float64)
        if c.size:
            step = float(hist.get("step", HISTOGRAM_STEP))
            start = float(hist["start"])
            levels.append(start + (np.arange(c.size) + 0.5) * step)
            counts.append(c)
        peak = max(peak, float(record.get("track_peak") or 0.0))
        n += 1
    if not n:
        raise ParameterError("album_loudness needs at least one track's result")
    integrated = None
    if levels:
        energies = 10.0 ** ((np.concatenate(levels) + 0.691) / 10.0)
        integrated = gated_loudness(energies, counts=np.concatenate(counts))
    return AlbumLoudness(
        integrated_lufs=_round(integrated),
        gain_db=_gain(integrated),
        peak=round(peak, 6),
        tracks=n,
    )


def measure(item: TaskInput) -> Measurement:
    """Meter one decoded (or streamed) input: all its channels at its own rate."""

    def compute(it: TaskInput) -> Measurement:
        meter: LoudnessMeter | None = None
        for audio in it.blocks():
            if meter is None:
                meter = LoudnessMeter(
                    sr=audio.sample_rate, channels=audio.channels, layout=it.info.layout
                )
            meter.add(audio.samples)
        if meter is None:  # nothing decoded: an empty file
            meter = LoudnessMeter(
                sr=it.info.sample_rate, channels=max(1, it.info.channels), layout=it.info.layout
            )
        return meter.measure()

    return item.feature("loudness/bs1770", compute)


class LoudnessTask:
    """The ``loudness`` task for the runner (see :mod:`audiolens.tasks.base`)."""

    name = "loudness"
    version = 1

    def request(self, info: AudioInfo) -> AudioRequest:
        """Every channel at the file's own rate; streamed in blocks when the file is long."""
        long = info.duration is None or not info.duration <= STREAM_ABOVE_S
        return AudioRequest(sr=None, mono=False, block=BLOCK_S if long else None)

    def run(self, batch: Sequence[TaskInput], *, device: Device) -> list[LoudnessResult]:
        """Measure a batch of files; one LoudnessResult per input, in order (on the CPU)."""
        return [LoudnessResult.from_measurement(measure(item)) for item in batch]


def loudness(path: PathLike, *, device: str | Device = "auto") -> LoudnessResult:
    """EBU R128 loudness, loudness range, peaks and ReplayGain 2.0 track gain of one file.

    Parameters
    ----------
    path : an audio file in any format FFmpeg reads (any rate, mono to 7.1)
    device : recorded only: the meter runs on the CPU

    Returns
    -------
    result : LoudnessResult
        ``integrated_lufs``, ``lra_lu``, ``true_peak_dbtp``, ``sample_peak_dbfs``,
        ``track_gain_db``, ``track_peak``; :func:`album_loudness` of several results gives
        the album gain

    Raises
    ------
    DecodeError
        when the file cannot be read as audio (the message names the file and the problem)
    """
    from ...devices import resolve_device

    task = LoudnessTask()
    return task.run([read_input(path, task)], device=resolve_device(device))[0]
