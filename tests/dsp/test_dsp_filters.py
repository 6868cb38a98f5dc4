"""Mel (librosa) and logarithmic (madmom) filterbanks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from audiolens.dsp import (
    LogFilterbankOptions,
    hz_to_mel,
    log_filterbank,
    log_filterbank_frequencies,
    log_frequencies,
    mel_filterbank,
    mel_frequencies,
    mel_to_hz,
)
from audiolens.errors import ParameterError

librosa = pytest.importorskip("librosa")

MEL_CONFIGS = [
    {"sr": 22050, "n_fft": 2048},
    {"sr": 16000, "n_fft": 512, "n_mels": 40, "htk": True},
    {"sr": 44100, "n_fft": 4096, "n_mels": 96, "fmin": 30.0, "fmax": 16000.0},
    {"sr": 22050, "n_fft": 1024, "n_mels": 64, "norm": None},
    {"sr": 22050, "n_fft": 1024, "n_mels": 64, "norm": 1.0, "htk": True},
    {"sr": 22050, "n_fft": 1024, "n_mels": 64, "norm": 2.0},
    {"sr": 22050, "n_fft": 1023, "n_mels": 64, "norm": np.inf, "fmax": 20000.0},
]


def _ids(cfg: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in cfg.items())


@pytest.mark.parametrize("cfg", MEL_CONFIGS, ids=_ids)
def test_mel_filterbank_matches_librosa(cfg, peak_close, tol):
    ours = mel_filterbank(**cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa warns about empty filters for the last cfg
        ref = librosa.filters.mel(**cfg, dtype=np.float64)
    assert ours.dtype == np.float64
    peak_close(ours, ref, tol.f64, "mel filterbank")


@pytest.mark.parametrize("htk", [False, True])
def test_mel_scale_matches_librosa(htk):
    hz = np.array([0.0, 20.0, 440.0, 999.9, 1000.0, 1000.1, 8000.0, 22050.0])
    np.testing.assert_allclose(hz_to_mel(hz, htk=htk), librosa.hz_to_mel(hz, htk=htk), rtol=1e-12)
    mels = hz_to_mel(hz, htk=htk)
    np.testing.assert_allclose(mel_to_hz(mels, htk=htk), hz, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(
        mel_to_hz(mels, htk=htk), librosa.mel_to_hz(mels, htk=htk), rtol=1e-12
    )
    np.testing.assert_allclose(
        mel_frequencies(n_mels=40, fmin=25.0, fmax=9000.0, htk=htk),
        librosa.mel_frequencies(n_mels=40, fmin=25.0, fmax=9000.0, htk=htk),
        rtol=1e-12,
    )
    assert float(hz_to_mel(1000.0, htk=htk)) == pytest.approx(
        float(librosa.hz_to_mel(1000.0, htk=htk))
    )


def test_filterbanks_return_fresh_arrays():
    a = mel_filterbank(sr=8000, n_fft=256, n_mels=10)
    a[:] = 0
    assert mel_filterbank(sr=8000, n_fft=256, n_mels=10).max() > 0
    b = log_filterbank()
    b[:] = 0
    assert log_filterbank().max() > 0
    c = mel_filterbank(sr=8000, n_fft=256, n_mels=10, like=np.zeros(1, dtype=np.float32))
    assert c.dtype == np.float32 and c.flags.writeable
    c[:] = 0
    assert log_filterbank(like=np.zeros(1)).max() > 0


def test_filterbanks_on_torch(torch_case, peak_close):
    like = torch_case.tensor(np.zeros(3))
    fb = mel_filterbank(sr=22050, n_fft=1024, n_mels=40, like=like)
    assert fb.dtype == torch_case.dtype
    ref = mel_filterbank(sr=22050, n_fft=1024, n_mels=40)
    peak_close(torch_case.numpy(fb), ref, torch_case.tol, "torch mel filterbank")
    fb = log_filterbank(like=like)
    peak_close(torch_case.numpy(fb), log_filterbank(), torch_case.tol, "torch log filterbank")


def test_log_frequencies_are_midi_notes():
    freqs = log_frequencies(bands_per_octave=12, fmin=30.0, fmax=17000.0, fref=440.0)
    midi = np.arange(23, 23 + len(freqs))  # B0 = MIDI 23 is 30.87 Hz, the first above 30 Hz
    np.testing.assert_allclose(freqs, 440.0 * 2.0 ** ((midi - 69) / 12.0), rtol=1e-13)
    assert freqs[0] >= 30.0 and freqs[-1] <= 17000.0
    assert 440.0 * 2 ** ((midi[-1] + 1 - 69) / 12) > 17000.0


def _naive_log_filterbank(sr, frame_size, bpo, fmin, fmax, fref, unique):
    """Brute force: nearest bin by argmin (ties upward), triangles written bin by bin."""
    bin_freqs = np.arange(frame_size // 2) * sr / frame_size
    bins = []
    for f in log_frequencies(bands_per_octave=bpo, fmin=fmin, fmax=fmax, fref=fref):
        dist = np.abs(bin_freqs - f)
        bins.append(int(np.flatnonzero(dist == dist.min())[-1]))
    if unique:
        bins = sorted(set(bins))
    rows = []
    for start, centre, stop in zip(bins, bins[1:], bins[2:]):
        if stop - start < 2:
            centre, stop = start, start + 1
        row = np.zeros(len(bin_freqs))
        for k in range(start, stop):
            if k < centre:
                row[k] = (k - start) / (centre - start)
            else:
                row[k] = (stop - k) / (stop - centre)
        rows.append(row / row.sum())
    return np.array(rows)


@pytest.mark.parametrize(
    ("sr", "frame_size", "bpo", "fmin", "fmax", "unique"),
    [
        (44100, 2048, 12, 30.0, 17000.0, True),
        (44100, 1024, 6, 30.0, 17000.0, True),
        (44100, 4096, 24, 30.0, 15000.0, True),
        (22050, 2048, 12, 30.0, 11000.0, False),
    ],
)
def test_log_filterbank_against_naive(sr, frame_size, bpo, fmin, fmax, unique, tol):
    ours = log_filterbank(
        sr=sr,
        frame_size=frame_size,
        bands_per_octave=bpo,
        fmin=fmin,
        fmax=fmax,
        unique_filters=unique,
    )
    ref = _naive_log_filterbank(sr, frame_size, bpo, fmin, fmax, 440.0, unique)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=tol.f64)
    np.testing.assert_allclose(ours.sum(axis=1), 1.0, rtol=1e-12)


def test_log_filterbank_defaults_have_81_bands_and_peak_frequencies():
    fb = log_filterbank()
    assert fb.shape == (81, 1024)
    peaks = np.argmax(fb, axis=1) * 44100 / 2048
    np.testing.assert_allclose(log_filterbank_frequencies(), peaks)
    madmom = log_filterbank_frequencies(as_madmom=True)
    assert np.all((madmom == peaks) | (madmom == peaks - 44100 / 2048))


def test_log_filterbank_options_equal_keywords():
    options = LogFilterbankOptions(sr=22050, frame_size=1024, fmin=40, unique_filters=False)
    assert options.sr == 22050.0 and isinstance(options.sr, float)
    assert options == LogFilterbankOptions(sr=22050.0, frame_size=1024, fmin=40.0, unique_filters=0)
    keywords = {"sr": 22050, "frame_size": 1024, "fmin": 40, "unique_filters": False}
    np.testing.assert_array_equal(log_filterbank(options), log_filterbank(**keywords))
    np.testing.assert_array_equal(
        log_filterbank_frequencies(options, as_madmom=True),
        log_filterbank_frequencies(as_madmom=True, **keywords),
    )
    # keywords replace the fields of the options
    np.testing.assert_array_equal(
        log_filterbank(options, fmin=30.0, unique_filters=True),
        log_filterbank(sr=22050, frame_size=1024),
    )
    with pytest.raises(ParameterError, match="fref=0 must be a positive finite number"):
        LogFilterbankOptions(fref=0)
    with pytest.raises(TypeError, match="n_fft"):
        log_filterbank(n_fft=1024)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: mel_filterbank(sr=0, n_fft=512), "sr=0 must be a positive finite number"),
        (lambda: mel_filterbank(sr=8000, n_fft=512, n_mels=0), "n_mels=0 must be a positive"),
        (lambda: mel_filterbank(sr=8000, n_fft=512, fmin=5000), "fmin=5000 must be a number"),
        (lambda: mel_filterbank(sr=8000, n_fft=512, fmin=-1), "fmin=-1 must be a number >= 0"),
        (lambda: mel_filterbank(sr=8000, n_fft=512, norm="l2"), "norm='l2' is not supported"),
        (lambda: log_filterbank(bands_per_octave=0), "bands_per_octave=0 must be a positive"),
        (lambda: log_filterbank(fmin=100.0, fmax=50.0), "fmin=100.0 must be below fmax=50.0"),
        (lambda: log_filterbank(fmin=30.0, fmax=35.0), "covers 2 distinct FFT bins"),
        (lambda: log_filterbank(frame_size=-2), "frame_size=-2 must be a positive integer"),
    ],
)
def test_filterbank_bad_parameters(call, message):
    with pytest.raises(ParameterError, match=message):
        call()
