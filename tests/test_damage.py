"""Damage travels (issue 16, point 2): a file that decodes only in part is stored ``ok`` WITH
its warnings, with one worker or many; the warnings are exported and shown by the CLI; NaN and
infinite samples are reported, never analysed, and no bare numpy warning reaches stderr."""

from __future__ import annotations

import json
import os
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from audiolens_testkit import make_audio, requires_ffmpeg

import audiolens
from audiolens.audio import load, stream
from audiolens.audio.request import AudioRequest, decode_request
from audiolens.errors import DecodeError
from audiolens.runner import analyze
from audiolens.store import Store, export
from audiolens.store.schema import SCHEMA_VERSION, migrate

pytestmark = requires_ffmpeg


def _float_wav(path: Path, x: np.ndarray, sr: int = 44100) -> Path:
    """A 32-bit float WAV of ``x`` [shape=(n,) or (channels, n)] as given (NaN and
    infinities kept)."""
    x = np.atleast_2d(np.asarray(x, dtype="<f4"))
    ch = x.shape[0]
    data = x.T.tobytes()
    fmt = struct.pack("<HHIIHH", 3, ch, sr, sr * 4 * ch, 4 * ch, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data"
    body += struct.pack("<I", len(data)) + data
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def _cli(*args: object) -> subprocess.CompletedProcess:
    """``python -m audiolens ARGS`` in a new process (stderr as the user sees it)."""
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(audiolens.__file__)))
    return subprocess.run(
        [sys.executable, "-m", "audiolens", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def _hostile(tmp_path: Path) -> dict[str, Path]:
    """Files damaged in the ways the issue found stored ``ok`` without a trace."""
    out = tmp_path / "lib"
    out.mkdir()
    flac = make_audio(tmp_path / "src", "flac16", seconds=6.0).path.read_bytes()
    mp3 = make_audio(tmp_path / "src", "mp3_cbr", seconds=6.0).path.read_bytes()
    files = {
        "half.flac": flac[: len(flac) // 2],
        "half.mp3": mp3[: len(mp3) // 2],
        # 4 KiB of garbage in the middle
        "garbage.flac": flac[: len(flac) // 2] + os.urandom(4096) + flac[len(flac) // 2 :],
    }
    for name, data in files.items():
        (out / name).write_bytes(data)
    # a WAV whose data chunk claims 2^31 - 1 samples and holds one second
    wav = _float_wav(tmp_path / "one.wav", 0.3 * np.sin(np.arange(44100) * 0.06))
    raw = bytearray(wav.read_bytes())
    at = raw.find(b"data")
    raw[at + 4 : at + 8] = struct.pack("<I", (2**31 - 1) * 4 & 0xFFFFFFFF)
    (out / "claims 2^31.wav").write_bytes(bytes(raw))
    return {p.name: p for p in out.iterdir()}


@pytest.mark.parametrize("workers", [1, 2])
def test_damaged_files_are_stored_with_their_warnings_in_every_mode(tmp_path, workers, caplog):
    files = _hostile(tmp_path)
    db = tmp_path / "r.sqlite"
    summary = analyze(list(files.values()), tasks=("quality",), db=db, workers=workers)
    assert summary.failed == 0 and summary.done == len(files)
    assert sorted(os.path.basename(p) for p, _ in summary.damaged) == sorted(files)
    with Store(db) as store:
        rows = {os.path.basename(r.path): r for r in store.rows()}
    for name in files:
        row = rows[name]
        assert row.status == "ok", row.error
        assert row.warnings, name
        assert any("truncated or damaged" in w or "damaged packet" in w for w in row.warnings)
    # the main process logged each once, naming the file, whatever the number of workers
    logged = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    for name in files:
        assert sum(name in m for m in logged) == 1, logged
    records = json.loads(export(db, "json"))
    assert {r["path"].rsplit("/", 1)[1]: bool(r["warnings"]) for r in records} == dict.fromkeys(
        files, True
    )
    header = export(db, "csv").splitlines()[0].split(",")
    assert "warnings" in header


def test_the_cli_shows_warnings_with_several_workers(tmp_path):
    files = _hostile(tmp_path)
    db = tmp_path / "r.sqlite"
    done = _cli("analyze", files["half.flac"], files["half.mp3"], "--workers", "2", "--db", db)
    assert done.returncode == 0, done.stderr
    for name in ("half.flac", "half.mp3"):
        line = next(x for x in done.stderr.splitlines() if name in x)
        assert "warning" in line and "its header claims" in line
    assert "2 with warnings" in done.stderr


def test_a_streamed_input_carries_its_warnings(tmp_path):
    half = _hostile(tmp_path)["half.flac"]
    info = audiolens.probe(half)
    item = decode_request(half, info, AudioRequest(sr=None, mono=True, block=1.0))
    assert item.warnings == []  # nothing read yet
    n = sum(a.samples.shape[1] for a in item.blocks())
    assert 0 < n < 6 * 44100
    assert any("its header claims" in w for w in item.warnings)


def test_a_flac_frame_damaged_inside_is_reported_wherever_the_damage_is(tmp_path):
    # bytes changed inside a frame: FFmpeg decodes some such frames as if sound (the same
    # number of samples, garbage among them) unless it checks the frame's CRC-16
    flac = make_audio(tmp_path / "src", "flac16", seconds=6.0).path.read_bytes()
    for k in range(20):
        raw = bytearray(flac)
        at = len(raw) // 2 + 97 * k
        raw[at : at + 8] = bytes(b ^ 0x5A for b in raw[at : at + 8])
        path = tmp_path / f"flipped{k}.flac"
        path.write_bytes(bytes(raw))
        audio = load(path)
        assert any("truncated or damaged" in w for w in audio.extra.get("warnings", [])), k
        assert audio.samples.shape[1] < 6 * 44100  # the damaged frame is left out, not played


def test_nan_and_infinite_samples_are_reported_and_read_as_silence(tmp_path):
    x = (0.5 * np.sin(np.arange(44100 * 3) * 0.06)).astype(np.float32)
    x[44100:44200] = np.nan
    x[50000:50010] = np.inf
    path = _float_wav(tmp_path / "nan.wav", x)
    audio = load(path)
    assert np.isfinite(audio.samples).all()
    assert np.all(audio.samples[0, 44100:44200] == 0)
    assert any("110 sample value(s) were NaN or infinite" in w for w in audio.extra["warnings"])
    blocks = list(stream(path, block=1.0))
    assert all(np.isfinite(b.samples).all() for b in blocks)
    assert any("NaN" in w for w in blocks[-1].extra["warnings"])


def test_mono_of_nan_channels_is_the_mean_of_the_channels_read_as_silence(tmp_path):
    """A NaN or infinity in one channel is set to 0 in that channel before the mean of the
    channels (not the whole mean set to 0), and counted per channel."""
    t = np.arange(44100 * 3)
    x = np.stack([0.5 * np.sin(t * 0.06), 0.3 * np.sin(t * 0.011)]).astype(np.float32)
    x[0, 44100:44200] = np.nan
    x[1, 50000:50010] = -np.inf
    path = _float_wav(tmp_path / "nan2.wav", x)
    full = load(path).samples
    mono = load(path, mono=True)
    assert np.array_equal(mono.samples[0], full.mean(axis=0, dtype=np.float32))
    assert np.all(mono.samples[0, 44100:44200] == full[1, 44100:44200] / 2)
    assert any("110 sample value(s) were NaN or infinite" in w for w in mono.extra["warnings"])
    clean = _float_wav(tmp_path / "clean2.wav", np.nan_to_num(x, posinf=0.0, neginf=0.0))
    assert not load(clean, mono=True).extra.get("warnings")
    with pytest.raises(DecodeError, match="every sample is NaN or infinite"):
        load(_float_wav(tmp_path / "allnan2.wav", np.full((2, 44100), np.nan)), mono=True)


def test_all_nan_is_no_audio(tmp_path):
    path = _float_wav(tmp_path / "allnan.wav", np.full(44100, np.nan))
    with pytest.raises(DecodeError, match="every sample is NaN or infinite"):
        load(path)


def test_nan_file_through_the_cli_names_the_file_and_no_numpy_warning(tmp_path):
    x = (0.5 * np.sin(np.arange(44100 * 3) * 0.06)).astype(np.float32)
    x[44100:44300] = np.nan
    nan = _float_wav(tmp_path / "nan.wav", x)
    allnan = _float_wav(tmp_path / "allnan.wav", np.full(44100, np.nan))
    db = tmp_path / "r.sqlite"
    done = _cli("analyze", nan, allnan, "--tasks", "quality,beats", "--workers", "1", "--db", db)
    assert done.returncode == 1, done.stderr  # allnan.wav failed: no audio
    assert "RuntimeWarning" not in done.stderr and "invalid value" not in done.stderr
    assert any("nan.wav" in x and "NaN" in x for x in done.stderr.splitlines())
    with Store(tmp_path / "r.sqlite") as store:
        rows = {(os.path.basename(r.path), r.task): r for r in store.rows()}
    assert rows[("nan.wav", "quality")].status == "ok"
    assert rows[("allnan.wav", "quality")].status == "failed"
    assert "NaN" in rows[("allnan.wav", "beats")].error


def test_migration_to_warnings_keeps_old_rows(tmp_path):
    path = tmp_path / "v2.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, target=2) == [1, 2]
    conn.execute(
        "INSERT INTO results (path, task, task_version, status, created, result) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (b"/m/a.wav", "quality", 2, "ok", 1.0, '{"v": 1}'),
    )
    conn.close()
    with Store(path) as store:
        assert store.schema_version == SCHEMA_VERSION >= 3
        row = store.get("/m/a.wav", "quality")
        assert row.result == {"v": 1} and row.warnings == []
