"""Streaming decode: ``stream()`` gives, block by block, exactly what ``load()`` gives.

Put end to end, the blocks of ``stream(path, sr=sr, mono=mono)`` must be the samples of
``load(path, sr=sr, mono=mono)``: bit-identical at the file's rate, and with resampling of
the same length and within 1e-5 (soxr's streaming resampler gives the one-shot's values).
Bad files fail the same way as ``load``, before any block where the file cannot be opened;
the file is closed when the blocks run out or the generator is closed; and the samples held
while streaming a long file stay a few blocks, never the whole signal.
"""

from __future__ import annotations

import gc
import inspect
import logging
import math
import os
import tracemalloc
import wave
from pathlib import Path

import numpy as np
import pytest
from audiolens_testkit import eval_root, make_audio, requires_ffmpeg, zero_frames_wav

from audiolens.audio import AudioInfo, load, probe, stream
from audiolens.audio import source as audio_mod
from audiolens.errors import DecodeError, ParameterError

SECONDS = 3.0
SLAKH = eval_root() / "music_transcription" / "slakh_Track01876_S00.flac"

#: (sr, mono) pairs every format is streamed with
SETTINGS = [(None, False), (22050, True), (16000, False)]
#: seconds per block: dividing the length, not dividing it, below a codec frame, above it all
BLOCKS = [0.5, 0.7, 0.01, 30.0]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """(fmt, channels) -> path: 3 s of tones, made once per module."""
    folder = tmp_path_factory.mktemp("stream")
    cache: dict[tuple[str, int], Path] = {}

    def get(fmt: str, channels: int = 2) -> Path:
        if (fmt, channels) not in cache:
            cache[fmt, channels] = make_audio(folder, fmt, seconds=SECONDS, channels=channels).path
        return cache[fmt, channels]

    return get


def _joined(path, **kwargs) -> tuple[np.ndarray, list]:
    blocks = list(stream(path, **kwargs))
    return np.concatenate([b.samples for b in blocks], axis=1), blocks


def _check_blocks(blocks: list, rate: int, block: float, channels: int, info: AudioInfo) -> None:
    """Every block but the last has round(block * rate) samples; offsets follow on."""
    n = max(1, round(block * rate))
    start = 0
    for i, b in enumerate(blocks):
        assert b.samples.dtype == np.float32 and b.samples.flags.c_contiguous
        assert b.samples.shape[0] == channels and b.sample_rate == rate
        width = b.samples.shape[1]
        assert 0 < width <= n
        if i < len(blocks) - 1:
            assert width == n
        assert b.offset == pytest.approx(start / rate, abs=1e-12)
        assert b.info == info
        start += width


# -- the same samples as load() --------------------------------------------------------------


@requires_ffmpeg
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize(
    "fmt", ["wav_s16", "wav_u8", "flac16", "flac24", "alac16", "mp3_cbr", "aac", "vorbis", "opus"]
)
def test_blocks_join_into_what_load_gives(made, fmt, channels):
    path = made(fmt, channels)
    info = probe(path)
    for sr, mono in SETTINGS:
        ref = load(path, sr=sr, mono=mono).samples
        rate = sr or info.sample_rate
        for block in BLOCKS:
            joined, blocks = _joined(path, sr=sr, mono=mono, block=block)
            assert joined.shape == ref.shape, (sr, mono, block)
            if sr is None:
                assert np.array_equal(joined, ref), (sr, mono, block)
            else:
                assert np.abs(joined - ref).max() <= 1e-5, (sr, mono, block)
            _check_blocks(blocks, rate, block, 1 if mono else channels, info)
            if block == 0.5:  # 22050 or 11025 samples: the length is a whole number of blocks
                assert (
                    len(blocks) == 6 and blocks[-1].samples.shape[1] == blocks[0].samples.shape[1]
                )
            if block == 30.0:
                assert len(blocks) == 1


@requires_ffmpeg
def test_native_rate_mono_is_bit_identical(made):
    path = made("flac16", 2)
    for sr in (None, 44100):  # sr equal to the file's rate resamples nothing
        ref = load(path, sr=sr, mono=True).samples
        joined, _ = _joined(path, sr=sr, mono=True, block=0.3)
        assert np.array_equal(joined, ref)


def test_a_real_recording_with_resampling():
    ref = load(SLAKH, sr=22050, mono=True).samples
    joined, blocks = _joined(SLAKH, sr=22050, mono=True, block=30.0)
    assert joined.shape == ref.shape
    assert np.abs(joined - ref).max() <= 1e-5
    assert len(blocks) == math.ceil(ref.shape[1] / (30 * 22050))


@requires_ffmpeg
def test_given_info_is_attached(made):
    path = made("wav_s16")
    mine = AudioInfo(
        path="elsewhere.wav", container="wav", codec="pcm_s16le", sample_rate=44100,
        channels=2, duration=3.0, bit_rate=0, bit_depth=16, lossless=True,
    )  # fmt: skip
    blocks = list(stream(path, info=mine, block=1.0))
    assert all(b.info is mine for b in blocks)


# -- opening, closing ------------------------------------------------------------------------


def _open_fds_on(path: Path) -> int:
    fd_dir = Path("/proc/self/fd")
    count = 0
    for fd in fd_dir.iterdir():
        try:
            if os.readlink(fd) == str(path):
                count += 1
        except OSError:
            pass
    return count


@requires_ffmpeg
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
def test_the_file_is_closed_when_done_closed_early_or_dropped(made):
    path = made("flac16").resolve()
    gen = stream(path, block=0.5)
    assert inspect.isgenerator(gen)
    assert _open_fds_on(path) == 1  # opened now, before any block
    first = next(gen)
    assert first.samples.shape == (2, 22050)
    gen.close()  # early
    assert _open_fds_on(path) == 0
    blocks = list(stream(path, block=0.5))  # to the end
    assert len(blocks) == 6 and _open_fds_on(path) == 0
    gen = stream(path)  # never started: closed when it is collected
    assert _open_fds_on(path) == 1
    del gen
    gc.collect()
    assert _open_fds_on(path) == 0


@requires_ffmpeg
def test_close_calls_for_every_ending(made, monkeypatch):
    closed = []
    real = audio_mod._Source.close
    monkeypatch.setattr(audio_mod._Source, "close", lambda self: closed.append(1) or real(self))
    path = made("wav_s16")
    gen = stream(path, block=0.1)
    next(gen)
    next(gen)
    gen.close()
    assert closed
    closed.clear()
    for _ in stream(path, block=1.0):
        pass
    assert closed


# -- bad input -------------------------------------------------------------------------------


def _missing(tmp_path: Path) -> Path:
    return tmp_path / "missing.flac"


def _directory(tmp_path: Path) -> Path:
    out = tmp_path / "album.flac"
    out.mkdir()
    return out


def _text(tmp_path: Path) -> Path:
    out = tmp_path / "notes.wav"
    out.write_text("hello, I am a text file\nnot music\n")
    return out


def _empty(tmp_path: Path) -> Path:
    out = tmp_path / "empty.mp3"
    out.write_bytes(b"")
    return out


@pytest.mark.parametrize(
    ("make", "pattern"),
    [
        (_missing, r"file not found"),
        (_directory, r"is a directory"),
        (_text, r"not an audio file \(it contains text\)"),
        (_empty, r"empty \(0 bytes\)"),
    ],
)
def test_files_that_cannot_be_opened_raise_before_any_block(tmp_path, make, pattern):
    path = make(tmp_path)
    with pytest.raises(DecodeError, match=pattern) as exc:
        stream(path)  # the call itself, not the first next()
    assert path.name in str(exc.value) and exc.value.path == str(path)
    with pytest.raises(DecodeError, match=pattern):
        load(path)


def test_a_file_without_samples_raises_like_load(tmp_path):
    path = zero_frames_wav(tmp_path)
    with pytest.raises(DecodeError, match="audio stream is empty") as loaded:
        load(path)
    for kwargs in ({}, {"sr": 16000, "mono": True}):
        gen = stream(path, **kwargs)  # the header opens fine: nothing to decode shows later
        with pytest.raises(DecodeError, match="audio stream is empty") as exc:
            next(gen)
        assert str(exc.value) == str(loaded.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"block": 0},
        {"block": -1.0},
        {"block": float("nan")},
        {"block": float("inf")},
        {"block": True},
        {"block": "10"},
        {"sr": 0},
        {"sr": 16000.0},
    ],
)
def test_bad_parameters_raise_parameter_error(tmp_path, kwargs):
    path = tmp_path / "x.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(1600))
    with pytest.raises(ParameterError, match=next(iter(kwargs))):
        stream(path, **kwargs)


@requires_ffmpeg
@pytest.mark.parametrize("fmt", ["flac16", "mp3_cbr", "wav_s16"])
def test_a_truncated_file_gives_what_decodes_and_warns_once(tmp_path, fmt, caplog):
    src = make_audio(tmp_path / "src", fmt, seconds=4.0).path
    path = tmp_path / f"half{src.suffix}"
    path.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    ref = load(path)
    assert ref.extra["warnings"]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="audiolens"):
        joined, blocks = _joined(path, block=0.25)
    assert np.array_equal(joined, ref.samples)
    assert blocks[-1].extra["warnings"] == ref.extra["warnings"]
    assert all(not b.extra for b in blocks[:-1])
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert path.name in caplog.records[0].getMessage()
    resampled, _ = _joined(path, sr=22050, mono=True, block=0.25)
    ref = load(path, sr=22050, mono=True).samples
    assert resampled.shape == ref.shape and np.abs(resampled - ref).max() <= 1e-5


# -- memory ----------------------------------------------------------------------------------


def test_memory_stays_a_few_blocks_on_a_long_file(tmp_path):
    """20 minutes of 44.1 kHz noise: the peak while streaming is a few blocks, not the file."""
    import av  # noqa: F401  (imported now, so that their imports are not counted)
    import soundfile as sf
    import soxr  # noqa: F401

    path = tmp_path / "long.wav"
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", samplerate=44100, channels=1, subtype="PCM_16") as f:
        for _ in range(20):
            f.write(rng.integers(-8000, 8000, 60 * 44100, dtype=np.int16))
    whole = 20 * 60 * 22050 * 4  # bytes of the decoded signal at the output rate (float32)
    block_bytes = 10 * 22050 * 4

    tracemalloc.start()
    try:
        n = blocks = 0
        for b in stream(path, sr=22050, mono=True, block=10):
            n += b.samples.shape[1]
            blocks += 1
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        load(path, sr=22050, mono=True)  # tracemalloc sees numpy's buffers: load holds it all
        _, load_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert n == 20 * 60 * 22050 and blocks == 120
    assert load_peak > whole
    assert peak < 0.25 * whole  # measured: 2.9 MB of 106 MB
    assert peak < 6 * block_bytes  # the caller's block, the one being filled, what is pending
