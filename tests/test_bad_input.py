"""Bad input: every file a user can point audiolens at gets a clear answer.

A file that cannot give any audio raises :class:`DecodeError` whose message names the file
(newlines and undecodable bytes escaped) and says what is wrong in plain words, with no FFmpeg
error text, errno or traceback chained to it. A damaged file that still decodes in part gives
what decoded, with the problems in ``Audio.extra["warnings"]`` and logged on the
``audiolens`` logger (the decision for truncated files and garbage in the middle). Odd but
valid files (silence, very short, 8 kHz to 192 kHz, 6 channels, 8-bit and float PCM) decode
without complaint. The collection runner turns every failure into a stored ``failed`` row.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from audiolens_testkit import (
    ffmpeg,
    make_audio,
    requires_ffmpeg,
    signal,
    write_wav,
    zero_frames_wav,
)
from scipy.signal import correlate

from audiolens.audio import Audio, load, load_windows, probe
from audiolens.audio import opening as opening_mod
from audiolens.audio import source as source_mod
from audiolens.errors import AudiolensError, DecodeError

pytestmark = requires_ffmpeg


def _check_message(err: DecodeError, name: str | bytes, pattern: str) -> str:
    """The message names the file safely, says ``pattern``, and leaks no FFmpeg internals."""
    msg = str(err)
    assert isinstance(err, AudiolensError)
    assert re.search(pattern, msg), msg
    shown = os.fsdecode(name) if isinstance(name, bytes) else name
    shown = shown.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    for part in re.split(r"[\n\r\t'\"]", shown):  # what is left between escaped characters
        assert part in msg, (part, msg)
    assert "\n" not in msg and "\r" not in msg and "\t" not in msg
    for leak in ("Errno", "avcodec", "av.error", "Traceback", "0x"):
        assert leak not in msg, msg
    assert err.__cause__ is None  # no FFmpeg error chained to it
    assert err.__context__ is None or err.__suppress_context__
    return msg


# -- files that give no audio ----------------------------------------------------------------


def _good(tmp_path: Path, fmt: str = "flac16", seconds: float = 2.0) -> Path:
    return make_audio(tmp_path / "src", fmt, seconds=seconds).path


def _cut(src: Path, dst: Path, size: int) -> Path:
    dst.write_bytes(src.read_bytes()[:size])
    return dst


def _bad_streaminfo(tmp_path):
    data = bytearray(_good(tmp_path).read_bytes())
    data[8:30] = bytes(22)  # block sizes, sample rate, channels, bits: all zero
    out = tmp_path / "bad header.flac"
    out.write_bytes(bytes(data))
    return out


def _empty_track_mkv(tmp_path):
    out = tmp_path / "empty track.mkv"
    ffmpeg(
        "-f", "lavfi", "-i", "color=c=black:s=32x32:r=10:d=1",
        "-f", "lavfi", "-i", "anullsrc=r=44100:cl=stereo",
        "-map", "0:v", "-map", "1:a", "-t", "1", "-af", "atrim=0:0",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "libvorbis", str(out),
    )  # fmt: skip
    return out


def _video_only(tmp_path):
    out = tmp_path / "video only.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "color=c=black:s=32x32:r=10:d=1",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", str(out),
    )  # fmt: skip
    return out


def _text(tmp_path, name="text.mp3", text="hello, I am a text file\nnot music\n"):
    out = tmp_path / name
    out.write_text(text)
    return out


def _random(tmp_path):
    out = tmp_path / "random.wav"
    out.write_bytes(np.random.default_rng(7).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    return out


def _fifo(tmp_path):
    out = tmp_path / "pipe.mp3"
    os.mkfifo(out)
    return out


def _broken_link(tmp_path):
    out = tmp_path / "link.flac"
    out.symlink_to(tmp_path / "nowhere.flac")
    return out


def _directory(tmp_path):
    out = tmp_path / "album.flac"
    out.mkdir()
    (out / "inside.txt").write_text("x")
    return out


def _empty(tmp_path):
    out = tmp_path / "empty.mp3"
    out.write_bytes(b"")
    return out


def _moov_missing(tmp_path):  # an M4A whose index (at the end) was never written
    src = _good(tmp_path, "aac")
    return _cut(src, tmp_path / "cut.m4a", src.stat().st_size // 2)


#: name -> (maker, what the message must say)
NO_AUDIO = {
    "empty": (_empty, r"empty \(0 bytes\)"),
    "text": (_text, r"not an audio file \(it contains text\)"),
    "html": (
        lambda p: _text(p, "page.flac", "<!DOCTYPE html><html><body>404</body></html>"),
        r"contains text",
    ),
    "random-bytes": (_random, r"not a recognised audio or video format"),
    "directory": (_directory, r"is a directory"),
    "fifo": (_fifo, r"not a regular file"),
    "broken-link": (_broken_link, r"broken symbolic link"),
    "missing": (lambda p: p / "missing.flac", r"file not found"),
    "flac-cut-in-header": (
        lambda p: _cut(_good(p), p / "cut.flac", 30),
        r"not a recognised audio or video format, or its header is damaged",
    ),
    "mp3-cut-in-header": (
        lambda p: _cut(_good(p, "mp3_cbr"), p / "cut.mp3", 300),
        r"header is damaged",
    ),
    "wav-cut-in-header": (
        lambda p: _cut(_good(p, "wav_s16"), p / "cut.wav", 30),
        r"header is damaged",
    ),
    "m4a-without-index": (_moov_missing, r"header is damaged"),
    "flac-bad-header": (_bad_streaminfo, r"audio is corrupt: none of its \d+ packet"),
    "wav-zero-frames": (zero_frames_wav, r"audio stream is empty"),
    "mkv-empty-audio-track": (_empty_track_mkv, r"audio stream is empty"),
    "video-without-audio": (_video_only, r"has no audio stream \(only video\)"),
}


@pytest.mark.parametrize("case", sorted(NO_AUDIO))
def test_files_without_audio_raise_decode_error(tmp_path, case):
    make, pattern = NO_AUDIO[case]
    path = make(tmp_path)
    for call in (
        lambda: load(path),
        lambda: load(path, sr=16000, mono=True),
        lambda: load_windows(path, [(0.0, 0.5), (1.0, 0.5)]),
    ):
        with pytest.raises(DecodeError) as exc:
            call()
        _check_message(exc.value, path.name, pattern)
        assert exc.value.path == str(path)
    try:  # probe reads only the header: it may accept a header whose audio is broken
        info = probe(path)
    except DecodeError as err:
        _check_message(err, path.name, r".")
    else:
        assert case in ("flac-bad-header", "wav-zero-frames", "mkv-empty-audio-track")
        assert info.sample_rate > 0


# -- damaged files that still decode in part -------------------------------------------------


@pytest.mark.parametrize("fmt", ["flac16", "mp3_cbr", "mp3_vbr", "wav_s16", "alac16"])
def test_truncated_file_gives_its_first_part_and_a_warning(tmp_path, fmt, caplog):
    src = _good(tmp_path, fmt, seconds=4.0)
    full = load(src).samples
    path = _cut(src, tmp_path / f"half{src.suffix}", src.stat().st_size // 2)
    if fmt == "alac16":  # an MP4 index sits at the end: cut, nothing can be placed
        with pytest.raises(DecodeError, match="header is damaged"):
            load(path)
        return
    with caplog.at_level(logging.WARNING, logger="audiolens"):
        a = load(path)
    n = a.samples.shape[1]
    assert 0.3 * full.shape[1] < n < 0.7 * full.shape[1]
    keep = n - 2304  # the last frame may be cut mid-way
    assert np.array_equal(a.samples[:, :keep], full[:, :keep])
    warnings = a.extra["warnings"]
    assert any(re.search(r"decoded \d\.\d\d s of the 4\.00 s .*truncated", w) for w in warnings)
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert path.name in caplog.records[0].getMessage()


def test_windows_of_a_truncated_file(tmp_path):
    src = _good(tmp_path, "flac16", seconds=4.0)
    full = load(src).samples
    path = _cut(src, tmp_path / "half.flac", src.stat().st_size // 2)
    early, late = load_windows(path, [(0.5, 0.5), (3.5, 0.4)])
    assert np.array_equal(early.samples, full[:, 22050:44100])
    assert late.samples.shape == (2, 0)
    with pytest.raises(DecodeError) as exc:
        load_windows(path, [(3.0, 0.5), (3.5, 0.4)])
    _check_message(exc.value, "half.flac", r"no.* window.*audio ends at \d\.\d\d s.*truncated")


@pytest.mark.parametrize("fmt", ["mp3_cbr", "flac16"])
def test_garbage_in_the_middle_is_skipped_with_a_warning(tmp_path, fmt, caplog):
    src = _good(tmp_path, fmt, seconds=4.0)
    clean = load(src).samples
    data = bytearray(src.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 4000] = np.random.default_rng(1).integers(0, 256, 4000, np.uint8).tobytes()
    path = tmp_path / f"garbage{src.suffix}"
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="audiolens"):
        a = load(path)
    n = clean.shape[1]
    assert 0.8 * n < a.samples.shape[1] <= n
    first = int(0.4 * n)
    assert np.array_equal(a.samples[:, :first], clean[:, :first])
    later = clean[0, int(0.7 * n) : int(0.8 * n)]  # after the damage: still there, earlier
    at = int(np.argmax(correlate(a.samples[0], later, mode="valid")))
    assert int(0.6 * n) < at <= int(0.7 * n)
    assert np.abs(a.samples[0, at : at + later.size] - later).max() < 1e-6
    assert a.extra["warnings"] and caplog.records
    assert "garbage" in caplog.records[0].getMessage()


# -- odd but valid files ---------------------------------------------------------------------


def _silence(tmp_path, fmt):
    return make_audio(tmp_path, fmt, kind="silence", seconds=1.0)


EDGE = {
    "silence-flac": (lambda p: _silence(p, "flac16"), 44100, 2),
    "silence-mp3": (lambda p: _silence(p, "mp3_cbr"), 44100, 2),
    "clip-0.2s-wav": (lambda p: make_audio(p, "wav_s16", seconds=0.2), 44100, 2),
    "clip-0.2s-flac": (lambda p: make_audio(p, "flac16", seconds=0.2), 44100, 2),
    "clip-0.2s-mp3": (lambda p: make_audio(p, "mp3_vbr", seconds=0.2), 44100, 2),
    "clip-0.2s-aac": (lambda p: make_audio(p, "aac", seconds=0.2), 44100, 2),
    "clip-0.2s-opus": (lambda p: make_audio(p, "opus", seconds=0.2), 48000, 2),
    "clip-0.2s-vorbis": (lambda p: make_audio(p, "vorbis", seconds=0.2), 44100, 2),
    "8khz": (lambda p: make_audio(p, "wav_s16", sr=8000, seconds=0.5), 8000, 2),
    "192khz": (lambda p: make_audio(p, "flac24", sr=192000, seconds=0.5), 192000, 2),
    "6-channels": (lambda p: make_audio(p, "flac16", channels=6, seconds=0.5), 44100, 6),
    "8-bit": (lambda p: make_audio(p, "wav_u8", seconds=0.5), 44100, 2),
    "float32": (lambda p: make_audio(p, "wav_f32", seconds=0.5), 44100, 2),
}


@pytest.mark.parametrize("case", sorted(EDGE))
def test_odd_but_valid_files_decode_cleanly(tmp_path, case, caplog):
    make, rate, channels = EDGE[case]
    made = make(tmp_path)
    seconds = made.source.shape[1] / made.sr
    with caplog.at_level(logging.WARNING, logger="audiolens"):
        a = load(made.path)
    assert a.sample_rate == rate and a.samples.shape[0] == channels
    slack = 1024 if "vorbis" in case else 0  # FFmpeg trims no Ogg page that is also the first
    assert 0 <= a.samples.shape[1] - round(seconds * rate) <= slack
    assert a.samples.dtype == np.float32 and np.isfinite(a.samples).all()
    assert a.extra == {} and not caplog.records
    if case.startswith("silence"):
        assert np.abs(a.samples).max() < 1e-4
    else:
        assert np.abs(a.samples).max() > 0.1
    resampled = load(made.path, sr=16000, mono=True).samples
    assert resampled.shape[0] == 1
    assert abs(resampled.shape[1] - a.samples.shape[1] * 16000 / rate) <= 1


# -- files that change under us --------------------------------------------------------------


def test_file_deleted_between_probe_and_load(tmp_path):
    path = _good(tmp_path, "wav_s16")
    assert probe(path).duration == pytest.approx(2.0)
    path.unlink()
    for call in (lambda: load(path), lambda: load_windows(path, [(0.0, 1.0)])):
        with pytest.raises(DecodeError) as exc:
            call()
        _check_message(exc.value, path.name, r"file not found")


def test_file_vanishing_while_being_opened(tmp_path, monkeypatch):
    path = _good(tmp_path, "wav_s16")
    real = source_mod._open

    def vanish(p, head=b""):
        os.unlink(p)
        return real(p, head)

    monkeypatch.setattr(source_mod, "_open", vanish)  # the one _Source opens with
    with pytest.raises(DecodeError) as exc:
        load(path)
    _check_message(exc.value, path.name, r"file not found \(it vanished")


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="root reads any file whatever its permissions; the monkeypatched tests cover it",
)
def test_unreadable_file(tmp_path):
    path = _good(tmp_path, "wav_s16")
    path.chmod(0)
    try:
        with pytest.raises(DecodeError) as exc:
            load(path)
    finally:
        path.chmod(0o644)
    _check_message(exc.value, path.name, r"permission denied")


def test_unreadable_file_when_opening_it(tmp_path, monkeypatch):
    path = _good(tmp_path, "wav_s16")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(opening_mod, "open", denied, raising=False)  # the module's own open()
    with pytest.raises(DecodeError) as exc:
        load(path)
    _check_message(exc.value, path.name, r"permission denied \(the file is not readable\)")


def test_unreadable_file_when_ffmpeg_opens_it(tmp_path, monkeypatch):
    import av

    path = _good(tmp_path, "wav_s16")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(av, "open", denied)
    with pytest.raises(DecodeError) as exc:
        probe(path)
    _check_message(exc.value, path.name, r"permission denied")


def test_folder_without_search_permission(tmp_path, monkeypatch):
    path = _good(tmp_path, "wav_s16")
    real = os.stat

    def stat(p, *args, **kwargs):
        if os.fspath(p) == str(path):
            raise PermissionError(13, "Permission denied")
        return real(p, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(os, "stat", stat)
        with pytest.raises(DecodeError) as exc:
            load(path)
    _check_message(exc.value, path.name, r"permission denied")


# -- names -----------------------------------------------------------------------------------

NAMES = [
    "with spaces  .wav",
    'quote\'s "double".wav',
    "new\nline.wav",
    "tab\tand\rreturn.wav",
    "ünïcödé ✓ 音楽.wav",
    "-starts-with-dash.wav",
    b"latin1 caf\xe9.wav",
    b"\xff\xfe not utf-8.wav",
]


@pytest.mark.parametrize("name", NAMES, ids=lambda n: ascii(n))
def test_any_file_name(tmp_path, name):
    folder = os.fsencode(tmp_path)
    raw = name if isinstance(name, bytes) else name.encode()
    path = folder + b"/" + raw
    x = signal("tones", sr=8000, seconds=0.25)
    with open(path, "wb") as fh:
        write_wav(fh, x, 8000)
    for p in (path, os.fsdecode(path)):
        a = load(p)
        assert a.samples.shape == (2, 2000) and a.info.path == os.fsdecode(path)
        assert probe(p).sample_rate == 8000
    with open(path, "wb") as fh:  # now the same name holds text
        fh.write(b"not audio at all\n")
    with pytest.raises(DecodeError) as exc:
        load(path)
    msg = _check_message(exc.value, os.fsdecode(raw), r"contains text")
    assert msg.isprintable()


# -- the collection runner -------------------------------------------------------------------

try:
    from audiolens import runner
    from audiolens.tasks.base import AudioRequest, Result
except ImportError:  # the runner is written by someone else; until then these tests skip
    runner = None
    Result = object

requires_runner = pytest.mark.skipif(runner is None, reason="audiolens.runner cannot be imported")


@dataclass
class _Seen(Result):
    """What the decoding stage handed the task: enough to check the right audio arrived."""

    task: ClassVar[str] = "seen"
    samples: int
    warnings: list


class _SeenTask:
    """A task that only reports what it was given (no model needed)."""

    name = "seen"
    version = 1

    def request(self, info):
        return AudioRequest(sr=None, mono=True)

    def run(self, batch, *, device):
        out = []
        for item in batch:
            piece: Audio = item.pieces[0]
            out.append(_Seen(piece.samples.shape[1], piece.extra.get("warnings", [])))
        return out


def _library(tmp_path):
    """A folder with two good files and seven that give no audio (and nothing else)."""
    import shutil

    work, lib = tmp_path / "work", tmp_path / "lib"
    lib.mkdir()
    makers = {
        "empty.mp3": _empty,
        "text.mp3": _text,
        "cut.flac": lambda p: _cut(_good(p), p / "cut.flac", 30),
        "bad header.flac": _bad_streaminfo,
        "zero frames.wav": zero_frames_wav,
        "video only.mp4": _video_only,
        "random.wav": _random,
    }
    bad = {}
    for name, make in makers.items():
        folder = work / name
        folder.mkdir(parents=True)
        bad[name] = Path(shutil.copy(make(folder), lib / name))
    good = [
        Path(shutil.copy(_good(work / "a"), lib / "good.flac")),
        Path(shutil.copy(make_audio(work / "b", "mp3_cbr", seconds=1.0).path, lib / "good.mp3")),
    ]
    return lib, good, bad


def _rows(db):
    from audiolens.store import Store

    with Store(db) as store:
        return {os.path.basename(r.path): r for r in store.rows()}


@requires_runner
def test_runner_stores_a_failed_row_per_bad_file_and_keeps_earlier_rows(tmp_path):
    lib, good, bad = _library(tmp_path)
    db = tmp_path / "results.sqlite"
    task = _SeenTask()
    first = runner.analyze(good, tasks=(task,), db=db, workers=1, progress=False)
    assert first.done == 2 and first.failed == 0
    before = _rows(db)
    summary = runner.analyze([lib], tasks=(task,), db=db, workers=1, progress=False)
    rows = _rows(db)
    assert summary.failed == len(bad) and summary.skipped == 2 and not summary.ok
    for name in (g.name for g in good):  # earlier rows are still there, unchanged
        assert rows[name].status == "ok" and rows[name].created == before[name].created
    for name, path in bad.items():
        row = rows[name]
        assert row.status == "failed" and row.result is None
        assert name in row.error, row.error
        assert "Traceback" not in row.error and "Errno" not in row.error
        with pytest.raises(DecodeError) as exc:
            load(path)
        assert exc.value.problem in row.error  # the decoder's own words reach the store


@requires_runner
def test_runner_keeps_partly_decoded_files(tmp_path):
    src = _good(tmp_path, "flac16", seconds=4.0)
    half = _cut(src, tmp_path / "half.flac", src.stat().st_size // 2)
    db = tmp_path / "results.sqlite"
    summary = runner.analyze([half], tasks=(_SeenTask(),), db=db, workers=1, progress=False)
    row = _rows(db)["half.flac"]
    assert summary.total == 1
    if row.status == "ok":  # what decoded is analyzed; the warning travels with the audio
        assert 0 < row.result["samples"] < 4 * 44100
        assert any("truncated" in w for w in row.result["warnings"])
    else:
        assert "half.flac" in row.error


@requires_runner
def test_runner_with_the_quality_task_fails_bad_files_at_decoding(tmp_path):
    _, _, bad = _library(tmp_path)
    db = tmp_path / "results.sqlite"
    runner.analyze(
        [bad["text.mp3"], bad["zero frames.wav"]],
        tasks=("quality",),
        db=db,
        workers=1,
        progress=False,
    )
    rows = _rows(db)
    assert rows["text.mp3"].status == "failed" and "contains text" in rows["text.mp3"].error
    assert "audio stream is empty" in rows["zero frames.wav"].error
