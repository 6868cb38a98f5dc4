"""Silero VAD on ONNX Runtime: probabilities, regions, model lookup."""

from __future__ import annotations

import numpy as np
import pytest

from audiolens.errors import ModelNotFound, ParameterError
from audiolens.models import vad

pytestmark = pytest.mark.usefixtures("models")


@pytest.fixture(scope="module")
def speech(eval_dir, load16):
    return load16(eval_dir / "speech" / "LDC93S1.wav")  # 2.9 s, speech from ~0.2 s to ~2.8 s


def test_speech_has_speech_silence_and_noise_do_not(speech):
    p = vad.frame_probabilities(speech)
    assert p.shape == (-(-speech.size // vad.FRAME),)
    assert p.dtype == np.float32 and p.min() >= 0 and p.max() <= 1
    assert np.mean(p > 0.5) > 0.6
    regions = vad.speech_regions(speech)
    assert regions and regions[0][0] < 0.5 and regions[-1][1] > 2.4
    assert vad.speech_regions(np.zeros(32000, dtype=np.float32)) == []
    noise = np.random.default_rng(0).normal(0, 0.1, 48000).astype(np.float32)
    assert vad.speech_regions(noise) == []
    t = np.arange(48000) / 16000
    tones = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 660 * t)).astype(
        np.float32
    )
    assert sum(b - a for a, b in vad.speech_regions(tones)) < 0.5


def test_blocks_give_the_same_probabilities(speech):
    whole = vad.frame_probabilities(speech)
    blocks = vad.frame_probabilities(speech[i : i + 3001] for i in range(0, speech.size, 3001))
    np.testing.assert_array_equal(whole, blocks)
    assert vad.speech_regions(iter([speech[:20000], speech[20000:]])) == vad.speech_regions(speech)


def test_sequence_and_streaming_exports_agree(speech):
    seq = vad.find_model()
    streaming = seq.with_name("silero_vad.onnx")
    if "sequence" not in seq.name or not streaming.is_file():
        pytest.skip("needs silero-vad's sequence and streaming exports side by side")
    a = vad.frame_probabilities(speech, options=vad.VadOptions(model_path=str(seq)))
    b = vad.frame_probabilities(speech, options=vad.VadOptions(model_path=str(streaming)))
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_regions_match_silero_reference(speech):
    utils = pytest.importorskip("silero_vad.utils_vad")
    p = vad.frame_probabilities(speech)
    for opts in (vad.VadOptions(), vad.VadOptions(threshold=0.3, min_silence=0.3, pad=0.1)):
        ref = utils.get_speech_timestamps_from_probs(
            list(map(float, p)),
            threshold=opts.threshold,
            min_speech_duration_ms=opts.min_speech * 1000,
            min_silence_duration_ms=opts.min_silence * 1000,
            speech_pad_ms=opts.pad * 1000,
            audio_length_samples=speech.size,
        )
        ours = vad.regions_from_probabilities(p, n_samples=speech.size, options=opts)
        expected = [(r["start"] / 16000, r["end"] / 16000) for r in ref]
        assert len(ours) == len(expected)
        for got, want in zip(ours, expected):
            assert got == pytest.approx(want)


def test_short_and_empty_input():
    assert vad.frame_probabilities(np.zeros(0, dtype=np.float32)).size == 0
    assert vad.frame_probabilities(np.zeros(100, dtype=np.float32)).size == 1
    assert vad.speech_regions(np.zeros(100, dtype=np.float32)) == []


def test_bad_options_and_missing_model(tmp_path):
    with pytest.raises(ParameterError, match=r"threshold=1\.5"):
        vad.VadOptions(threshold=1.5)
    with pytest.raises(ParameterError, match="min_silence"):
        vad.VadOptions(min_silence=-1)
    with pytest.raises(ParameterError, match="16000"):
        vad.speech_regions(np.zeros(8000, dtype=np.float32), sr=8000)
    missing = tmp_path / "nope.onnx"
    with pytest.raises(ModelNotFound, match=r"pip install --no-deps silero-vad"):
        vad.find_model(str(missing))
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelNotFound, match=r"bad\.onnx"):
        vad.SileroVAD(str(bad))


def test_lookup_names_every_place(monkeypatch):
    from audiolens.models import packages

    monkeypatch.setattr(packages, "package_folders", lambda name: [])
    with pytest.raises(ModelNotFound) as info:
        vad.find_model()
    text = str(info.value)
    assert "silero_vad" in text and "faster_whisper" in text and "pip install" in text
