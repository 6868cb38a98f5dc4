"""Memory bounded whatever a header says (issue 16, point 1).

A FLAC whose STREAMINFO claims 5 s but that holds an hour of audio (557 KB of silence) made
the quality task decode the hour into memory (2.5 GB); a header is now never trusted for a
buffer: the file is measured by streaming it and analysed as the long file it is, under an
address-space limit far below what the old decode needed. No file is decoded past
``$AUDIOLENS_MAX_HOURS``. The beat tracker streams a long file without its spectrogram.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from audiolens_testkit import ffmpeg, requires_ffmpeg

import audiolens
from audiolens.audio import load
from audiolens.errors import AudioTooLong, ParameterError
from audiolens.runner import analyze
from audiolens.store import Store


def _lying_flac(folder: Path, *, seconds: int = 3600, claims: float = 5.0) -> Path:
    """A stereo 44.1 kHz FLAC of ``seconds`` of silence whose header claims ``claims`` s."""
    path = folder / "liar.flac"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=44100:cl=stereo", "-t", str(seconds), str(path))
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # STREAMINFO first
    n = int(claims * 44100)  # total samples: 36 bits from the low 4 of STREAMINFO byte 13
    data[8 + 13] = (data[8 + 13] & 0xF0) | (n >> 32)
    data[8 + 14 : 8 + 18] = (n & 0xFFFFFFFF).to_bytes(4, "big")
    path.write_bytes(bytes(data))
    assert audiolens.probe(path).duration == pytest.approx(claims)
    return path


_BOUNDED = """
import json, resource, sys
import audiolens, audiolens.tasks.quality, numpy, scipy.signal, soxr
from audiolens.runner import analyze
from audiolens.store import Store

def vm_bytes():
    for line in open("/proc/self/status"):
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024

limit = vm_bytes() + {extra} * 2**20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
s = analyze([sys.argv[1]], tasks=("quality",), db=sys.argv[2], workers=1, progress=False)
with Store(sys.argv[2]) as store:
    row = next(store.rows())
print(json.dumps({{"status": row.status, "error": row.error, "warnings": row.warnings}}))
"""


@requires_ffmpeg
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc for VmSize")
def test_a_header_that_lies_about_the_length_does_not_size_the_buffers(tmp_path):
    liar = _lying_flac(tmp_path)
    assert liar.stat().st_size < 2_000_000
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(audiolens.__file__)))
    env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = "1"  # thread stacks: address space
    script = textwrap.dedent(_BOUNDED.format(extra=600))  # the old decode needed 2.5 GB
    done = subprocess.run(
        [sys.executable, "-c", script, str(liar), str(tmp_path / "r.sqlite")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    row = json.loads(done.stdout.strip().splitlines()[-1])
    assert row["status"] == "ok", row["error"]
    assert any(
        "holds 3600.00 s of audio though its header claims 5.00 s" in w for w in row["warnings"]
    )


@requires_ffmpeg
def test_no_decode_goes_past_the_limit_on_any_file(tmp_path, monkeypatch):
    liar = _lying_flac(tmp_path, seconds=400)
    monkeypatch.setenv("AUDIOLENS_MAX_HOURS", "0.05")  # 180 s
    with pytest.raises(AudioTooLong, match=r"holds more than 180 s of audio.*AUDIOLENS_MAX_HOURS"):
        load(liar)
    with pytest.raises(AudioTooLong):
        for _ in audiolens.audio.stream(liar):
            pass
    summary = analyze([liar], tasks=("quality", "beats"), db=tmp_path / "r.sqlite", workers=1)
    assert summary.failed == 1
    with Store(tmp_path / "r.sqlite") as store:
        rows = list(store.rows())
    assert [r.status for r in rows] == ["failed", "failed"]
    assert all("liar.flac: holds more than 180 s of audio" in r.error for r in rows)
    monkeypatch.setenv("AUDIOLENS_MAX_HOURS", "0.5")  # the limit is the user's to choose
    assert len(load(liar, sr=8000).samples[0]) == 400 * 8000


def test_a_bad_limit_is_refused_before_the_run(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDIOLENS_MAX_HOURS", "-3")
    with pytest.raises(ParameterError, match="AUDIOLENS_MAX_HOURS='-3' must be a positive"):
        analyze([tmp_path], db=tmp_path / "r.sqlite")


@requires_ffmpeg
def test_a_file_longer_than_claimed_is_streamed_by_the_tasks_that_stream(tmp_path):
    from audiolens.audio.request import decode_request
    from audiolens.tasks.beats import BeatsTask
    from audiolens.tasks.quality import QualityTask

    liar = _lying_flac(tmp_path, seconds=700)  # claims 5 s: beats would load it whole
    info = audiolens.probe(liar)
    for task in (BeatsTask(), QualityTask()):
        item = decode_request(liar, info, task.request(info), replan=task.request)
        assert item.info.duration == pytest.approx(700.0)
        assert sum(a.samples.shape[-1] for a in item.pieces) < 200 * 44100
        assert any("though its header claims 5.00 s" in w for w in item.warnings)
    assert item.pieces and item.stream is None  # quality: windows of the true length
    beats = decode_request(liar, info, BeatsTask().request(info), replan=BeatsTask().request)
    assert beats.stream is not None and not beats.pieces


def test_the_beat_network_streams_in_bounded_memory():
    from audiolens.tasks.beats.activation import load_net

    net = load_net()
    rng = np.random.default_rng(0)
    piece = rng.standard_normal((81, 15000)).astype(np.float32)
    whole = np.concatenate([piece] * 4, axis=1)
    odd = [whole[:, :77], whole[:, 77:30001], whole[:, 30001:45000], whole[:, 45000:]]
    assert np.array_equal(net.stream(odd), net(whole))  # the same as in one piece
    peaks = []
    for n in (4, 16):  # 10 and 40 minutes of frames
        tracemalloc.start()
        act = net.stream(piece for _ in range(n))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert act.shape == (2, n * 15000)
    grown = peaks[1] - peaks[0]
    # 30 more minutes cost their activations (1.4 MB) and little else, not their
    # spectrogram (58 MB)
    assert grown < 12 * 15000 * 2 * 4 + 4e6, peaks
