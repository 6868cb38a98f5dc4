"""The AAC quantization lattice (``audiolens.tasks.quality.lattice``): the MDCT against its
definition, the lattice found in AAC decodes (built here, and real FFmpeg encodes of real
recordings), and never in audio that did not go through AAC."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import audiolens
from audiolens.tasks.quality import LATTICE_MIN
from audiolens.tasks.quality.lattice import _windows, lattice_share, mdct
from conftest import eval_root

EVAL = eval_root()
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")
N = 1024


def _naive_mdct(z: np.ndarray) -> np.ndarray:
    n, k = np.arange(2 * N), np.arange(N)
    return z @ np.cos(np.pi / N * (n[:, None] + 0.5 + N / 2) * (k[None, :] + 0.5))


def test_mdct_matches_its_definition():
    z = np.random.default_rng(0).standard_normal((3, 2 * N))
    np.testing.assert_allclose(mdct(z), _naive_mdct(z), atol=1e-9)


def test_windows_are_princen_bradley():
    # w[n]^2 + w[n + N]^2 = 1: what makes the MDCT of a decode give its coefficients back
    for w in _windows():
        np.testing.assert_allclose(w[:N] ** 2 + w[N:] ** 2, 1.0, atol=1e-12)


def _aac_like(frames: int, *, seed: int, window: int = 1) -> np.ndarray:
    """What an AAC decoder outputs for random quantized values: per 32-coefficient band one
    gain, values ``|q| ** (4/3) * gain``, the inverse MDCT overlap-added on a grid starting at
    the first sample, stored in 16 bits. [frames * 1024] samples."""
    rng = np.random.default_rng(seed)
    w = _windows()[window]
    n, k = np.arange(2 * N), np.arange(N)
    basis = np.cos(np.pi / N * (n[:, None] + 0.5 + N / 2) * (k[None, :] + 0.5))
    out = np.zeros((frames + 1) * N)
    for f in range(frames):
        q = rng.integers(-6, 7, size=N) * (rng.random(N) < 0.8)
        gain = np.repeat(2.0 ** rng.uniform(-5, -2, size=N // 32), 32)
        coef = np.sign(q) * np.abs(q) ** (4.0 / 3.0) * gain
        out[f * N : f * N + 2 * N] += w * (basis @ coef) * 2.0 / N
    return np.round(out[N : frames * N] * 32767) / 32767


def test_lattice_found_on_the_grid_only():
    x = _aac_like(120, seed=1)
    assert lattice_share([x], starts=[N], sr=44100) >= 0.9  # the file's grid, as decoded
    # the same samples read as a stretch starting 3 samples later in the file: off the grid
    assert lattice_share([x], starts=[N + 3], sr=44100) < LATTICE_MIN
    # Apple's and Fraunhofer's priming: the grid starts 64 samples before a multiple of 1024
    assert lattice_share([x], starts=[N - 64], sr=48000) >= 0.9
    # rates without the 32-wide band table, and too little audio: no answer
    assert lattice_share([x], starts=[N], sr=32000) == 0.0
    assert lattice_share([x[: 2 * N]], starts=[N], sr=44100) == 0.0  # 15 bands


def test_lattice_found_through_stretches_and_the_sine_window():
    x = _aac_like(200, seed=2, window=0)
    file = np.concatenate([np.zeros(N), x])  # the grid starts at the file's first sample
    pieces = [file[5000:90000], file[120000:190000]]
    assert lattice_share(pieces, starts=[5000, 120000], sr=44100) >= 0.9


@pytest.mark.parametrize(
    "name", ["transcode/madmom_stereo_sample.flac", "beats/ballroom_Media-105901.wav"]
)
def test_no_lattice_in_real_recordings_that_never_were_aac(name):
    a = audiolens.load(EVAL / name, mono=True)
    assert lattice_share([a.samples[0]], starts=[0], sr=a.sample_rate) < LATTICE_MIN / 3


def test_no_lattice_in_noise_stored_in_16_bits():
    x = np.round(np.random.default_rng(3).standard_normal(44100 * 5) * 0.05 * 32767) / 32767
    assert lattice_share([x], starts=[0], sr=44100) < LATTICE_MIN / 3


def test_lattice_in_the_real_aac_decode_of_a_real_piano():
    # shared/eval's AAC 128 kb/s of madmom's piano (encoded by FFmpeg's Lavf), decoded to WAV
    a = audiolens.load(EVAL / "transcode" / "madmom_stereo_sample_decoded_from_aac.wav", mono=True)
    assert lattice_share([a.samples[0]], starts=[0], sr=a.sample_rate) >= 3 * LATTICE_MIN


@needs_ffmpeg
def test_flac_from_ffmpeg_aac_256_is_a_transcode_from_aac(tmp_path: Path):
    # FFmpeg's AAC at 256 kb/s keeps the whole band: no wall, no bands switched off; the
    # lattice is the one mark it leaves
    src = EVAL / "transcode" / "madmom_stereo_sample.flac"
    m4a, flac = tmp_path / "piano.m4a", tmp_path / "piano.flac"
    run = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i"]
    subprocess.run([*run, str(src), "-c:a", "aac", "-b:a", "256k", str(m4a)], check=True)
    subprocess.run([*run, str(m4a), "-c:a", "flac", "-sample_fmt", "s16", str(flac)], check=True)
    fake = audiolens.quality(flac, device="cpu")
    assert fake.verdict == "transcode"
    assert fake.origin is not None and fake.origin["codec"] == "aac"
    assert audiolens.quality(src, device="cpu").verdict != "transcode"
