"""The MP3 granule grid (``audiolens.tasks.quality.mp3grid``): the filter bank against the
standard's procedure, the zeros of a real LAME encode found on its grid only (in its decode,
in a lossless file made from it, and under a later 320 kb/s encode), and never in audio that
did not go through MP3."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import audiolens
from audiolens.tasks.quality.mp3grid import (
    GRID_OFFSETS,
    _bank,
    _subbands,
    _window,
    grid_share,
    hybrid_lines,
)
from conftest import eval_root

EVAL = eval_root()
CPU = audiolens.resolve_device("cpu")
GUITAR = EVAL / "beats" / "guitarset_00_BN1-129-Eb_comp_mic.wav"
needs_tools = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("lame") is None, reason="needs ffmpeg and lame"
)


def _naive_subbands(x: np.ndarray, blocks: int) -> np.ndarray:
    """ISO/IEC 11172-3's analysis sub-band filter, step by step (its flow chart, Figure
    3-C.1): shift 32 new samples into the 512-sample buffer X (newest at X[0]), window with
    C, add the 8 partial sums Y, matrix into 32 sub-band samples."""
    c, *_ = _bank()
    buf = np.zeros(512)
    out = []
    for t in range(blocks):
        buf[32:] = buf[:-32].copy()
        buf[:32] = x[32 * t : 32 * t + 32][::-1]
        z = c * buf
        y = np.array([sum(z[i + 64 * j] for j in range(8)) for i in range(64)])
        s = [
            sum(np.cos((2 * k + 1) * (i - 16) * np.pi / 64) * y[i] for i in range(64))
            for k in range(32)
        ]
        out.append(s)
    return np.array(out)


def test_window_holds_the_standards_values():
    # ISO/IEC 11172-3 Table 3-B.3, D[i] to 9 decimals, at a few places
    d = _window() / 65536.0
    for i, v in ((0, 0.0), (1, -0.000015259), (64, 0.003250122), (128, 0.031082153)):
        assert abs(d[i] - v) < 5e-10, i
    for i, v in ((255, -1.144287109), (256, 1.144989014), (448, 0.003250122), (511, 0.000015259)):
        assert abs(d[i] - v) < 5e-10, i


def test_polyphase_filter_matches_the_standards_procedure():
    x = np.random.default_rng(0).standard_normal(32 * 40)
    naive = _naive_subbands(x, 40)
    # _subbands' block t ends at x[first + 32 t]; the naive one's block t at x[32 t + 31]
    fast = _subbands(x, 511)
    np.testing.assert_allclose(fast, naive[15 : 15 + fast.shape[0]], atol=1e-12)


def test_a_tone_lands_in_its_own_line():
    sr, f = 44100, 5000.0
    x = np.sin(2 * np.pi * f * np.arange(sr) / sr)
    lines = hybrid_lines(x, 0)
    peak = int(np.argmax(np.mean(lines**2, axis=0)))
    assert abs(peak - f / (sr / 2 / 576)) <= 1.0  # 38.3 Hz a line at 44.1 kHz


def test_rounding_noise_level_is_that_of_16_bit_noise_in_the_lines():
    q = 2.0**-15 / np.sqrt(12.0)
    x = np.random.default_rng(1).standard_normal(44100 * 4) * q
    np.testing.assert_allclose(np.std(hybrid_lines(x, 0)), _bank()[-1], rtol=0.05)


def test_no_grid_in_noise_or_too_little_audio():
    x = np.round(np.random.default_rng(2).standard_normal(44100 * 5) * 3000) / 32768
    assert abs(grid_share([x], starts=[0])) < 0.01
    assert grid_share([x[:1000]], starts=[0]) == 0.0


@pytest.mark.parametrize(
    "name", ["transcode/madmom_stereo_sample.flac", "beats/ballroom_Media-105901.wav"]
)
def test_no_grid_in_real_recordings_that_never_were_mp3(name):
    a = audiolens.load(EVAL / name, mono=True)
    assert abs(grid_share([a.samples], starts=[0])) < 0.02


#: every real lossless recording of the test data (none went through MP3)
LOSSLESS = sorted(p for p in EVAL.rglob("*") if p.suffix in (".wav", ".flac"))


@pytest.mark.parametrize("path", LOSSLESS, ids=[p.stem for p in LOSSLESS])
def test_no_grid_in_any_real_lossless_recording(path):
    # the Harvard sentences are 1.8-2.9 s at 16 kHz: few lines, so the zero share wanders by
    # about 0.01 from grid to grid; a grid must beat every reference grid to count
    from audiolens.tasks.quality import GRID_MIN, QualityTask, read_input
    from audiolens.tasks.quality.features import summarize_batch

    task = QualityTask()
    summary = summarize_batch([task.stretches(read_input(path, task))], device=CPU)[0]
    assert summary.mp3_grid < GRID_MIN


def _run(*cmd: str) -> None:
    subprocess.run(list(cmd), check=True)


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> dict[str, Path]:
    """A real recording through LAME: 128 kb/s, its decode in FLAC, a 320 kb/s encode of that
    decode (an upscale), and a genuine 320 kb/s encode of the recording."""
    d = tmp_path_factory.mktemp("mp3grid")
    src = d / "src.wav"
    _run("ffmpeg", "-v", "error", "-y", "-i", str(GUITAR), "-ac", "2", str(src))
    out = {"src": src}
    _run("lame", "--quiet", "-b", "128", str(src), str(d / "b128.mp3"))
    _run("ffmpeg", "-v", "error", "-y", "-i", str(d / "b128.mp3"), str(d / "b128.wav"))
    _run("ffmpeg", "-v", "error", "-y", "-i", str(d / "b128.wav"), str(d / "b128.flac"))
    _run("lame", "--quiet", "-b", "320", str(d / "b128.wav"), str(d / "up320.mp3"))
    _run("lame", "--quiet", "-b", "320", str(src), str(d / "b320.mp3"))
    for name in ("b128.mp3", "b128.flac", "up320.mp3", "b320.mp3"):
        out[name] = d / name
    return out


def _share(path: Path, start: int = 0) -> float:
    x = np.ravel(audiolens.load(path, mono=True).samples)
    return grid_share([x[start:]], starts=[start])


@needs_tools
def test_a_lame_encode_shows_its_grid_in_its_decode_and_a_flac_of_it(chain):
    assert _share(chain["src"]) < 0.02
    for name in ("b128.mp3", "b128.flac"):
        on = _share(chain[name])
        # the same samples, read as if they began 7 samples later in the file: off the grid
        x = np.ravel(audiolens.load(chain[name], mono=True).samples)
        off = grid_share([x], starts=[7])
        # a quiet recording: 0.09-0.11 here, where LAME 128 kb/s zeroes fewer lines than
        # in loud music (0.3-0.7)
        assert on > 0.05 and off < on / 4, (name, on, off)


@needs_tools
def test_a_320_upscale_of_a_128_keeps_the_first_grid_and_a_genuine_320_does_not(chain):
    up, genuine = _share(chain["up320.mp3"]), _share(chain["b320.mp3"])
    assert up > 0.05
    assert up > 4 * genuine, (up, genuine)


@needs_tools
def test_grid_found_through_stretches_of_the_file(chain):
    x = np.ravel(audiolens.load(chain["b128.flac"], mono=True).samples)
    pieces = [x[30001:120000], x[200003:260000]]
    assert grid_share(pieces, starts=[30001, 200003]) > 0.05


def test_the_grids_are_lames_gapless_one_and_the_one_that_kept_both_delays():
    assert GRID_OFFSETS[0] == 528 and (GRID_OFFSETS[0] + 576 + 529) % 576 == GRID_OFFSETS[1]
