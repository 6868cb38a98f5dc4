"""The beets plugin with a real beets library in a temporary folder: import tagged files, run
``beet audiolens``, read the fields back with ``beet ls -f``, rerun, --force, --write, a file
that fails, a missing file, and analysis on import."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from audiolens_testkit import ffmpeg, run_module, write_wav

import audiolens

pytest.importorskip("beets")

SRC = os.path.dirname(os.path.dirname(audiolens.__file__))
EXAMPLES = Path(SRC).parent / "examples"
FIELDS = (
    "$title|$is_transcoded|$original_format|$audiolens_verdict|$initial_key|$bpm|"
    "$rg_track_gain|$rg_track_peak|$rg_album_gain|$rg_album_peak|$r128_track_gain"
)


def beet(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    run = run_module("beets", *args, cwd=home, drop=("BEETS",), timeout=600, BEETSDIR=str(home))
    assert not check or run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    return run


def listing(home: Path, query: str = "") -> dict[str, dict[str, str]]:
    out = beet(home, "ls", "-f", FIELDS, *([query] if query else [])).stdout
    names = ["title", "transcoded", "format", "verdict", "key", "bpm", "rg_track_gain",
             "rg_track_peak", "rg_album_gain", "rg_album_peak", "r128_track_gain"]  # fmt: skip
    return {
        line.split("|")[0]: dict(zip(names, line.split("|")))
        for line in out.splitlines()
        if line.strip()
    }


def tagged(src: Path, dst: Path, title: str, album: str, *args: str) -> None:
    ffmpeg("-i", str(src), *args, "-metadata", f"title={title}", "-metadata", "artist=Band",
           "-metadata", f"album={album}", str(dst))  # fmt: skip


@pytest.fixture
def library(tmp_path: Path) -> Path:
    home = tmp_path / "beets"
    singles, album = tmp_path / "in" / "singles", tmp_path / "in" / "album"
    for d in (home, singles, album):
        d.mkdir(parents=True)
    tagged(EXAMPLES / "song_lossless.flac", singles / "real.flac", "Real", "S1", "-c", "copy")
    fake = EXAMPLES / "song_fake_lossless_from_mp3_128.flac"
    tagged(fake, singles / "fake.flac", "Fake", "S2", "-c", "copy")
    tagged(EXAMPLES / "song_mp3_v0.mp3", singles / "v0.mp3", "V0", "S3", "-c", "copy")
    tagged(EXAMPLES / "song_lossless.flac", singles / "aac.m4a", "AAC", "S4",
           "-c:a", "aac", "-b:a", "192k")  # fmt: skip
    tagged(EXAMPLES / "song_lossless.flac", singles / "opus.opus", "Opus", "S5",
           "-c:a", "libopus", "-b:a", "96k")  # fmt: skip
    for i, db in enumerate((0, -6, -12), 1):
        tagged(EXAMPLES / "song_lossless.flac", album / f"t{i}.flac", f"T{i}", "Album",
               "-af", f"volume={db}dB", "-metadata", f"track={i}")  # fmt: skip
    (home / "config.yaml").write_text(
        f"directory: {home / 'music'}\nlibrary: {home / 'library.db'}\nplugins: audiolens\n"
        "import:\n  copy: yes\n  write: no\n  autotag: no\n  quiet: yes\n"
        "audiolens:\n  workers: 1\n"
    )
    beet(home, "import", "-A", "-q", "-s", str(singles))
    beet(home, "import", "-A", "-q", str(album))
    return home


@pytest.mark.slow
def test_a_real_beets_library(library: Path):
    home = library
    first = beet(home, "audiolens")
    assert "8 files: 8 analyzed, 0 skipped, 0 failed" in first.stdout
    items = listing(home)
    assert set(items) == {"Real", "Fake", "V0", "AAC", "Opus", "T1", "T2", "T3"}
    # bitrater's fields, with its names and types: the fake FLAC is a transcode from 128
    assert items["Fake"]["transcoded"] == "True" and items["Fake"]["format"] == "128"
    assert items["Fake"]["verdict"] == "transcode"
    assert items["Real"]["transcoded"] == "False" and items["Real"]["format"] == "LOSSLESS"
    assert beet(home, "ls", "-f", "$title", "is_transcoded:true").stdout.split() == ["Fake"]
    # key, tempo (an integer), ReplayGain 2.0 gains; R128 for Opus instead
    direct = audiolens.loudness(EXAMPLES / "song_lossless.flac")
    # (beet ls shows floats to 0.1)
    assert float(items["Real"]["rg_track_gain"]) == pytest.approx(direct.track_gain_db, abs=0.051)
    assert items["Real"]["key"] == audiolens.key(EXAMPLES / "song_lossless.flac").key
    assert items["Real"]["bpm"].isdigit() and int(items["Real"]["bpm"]) > 0
    opus = items["Opus"]
    assert opus["rg_track_gain"] in ("", "0.0")  # beets shows an empty float as 0.0
    r128 = float(opus["r128_track_gain"])  # to -23 LUFS, 5 dB under ReplayGain's -18
    assert r128 == pytest.approx(float(items["Real"]["rg_track_gain"]) - 5.0, abs=0.3)
    # one album gain for the album's three tracks, 6 dB apart
    gains = {float(items[t]["rg_album_gain"]) for t in ("T1", "T2", "T3")}
    assert len(gains) == 1
    track = [float(items[t]["rg_track_gain"]) for t in ("T1", "T2", "T3")]
    assert track[1] - track[0] == pytest.approx(6.0, abs=0.15)
    assert track[0] < gains.pop() < track[2]
    assert float(items["T1"]["rg_album_peak"]) == pytest.approx(float(items["T1"]["rg_track_peak"]))

    # again: nothing redone; --force: everything
    assert "0 analyzed, 8 skipped" in beet(home, "audiolens").stdout
    assert "8 analyzed, 0 skipped" in beet(home, "audiolens", "--force", "-t", "loudness").stdout

    # --write puts the tags into the file
    beet(home, "audiolens", "-t", "key,beats", "--write", "title:Real")
    from mediafile import MediaFile

    path = next((home / "music").rglob("*Real*.flac"))
    tags = MediaFile(str(path))
    assert tags.initial_key == items["Real"]["key"] and tags.bpm == int(items["Real"]["bpm"])

    # a file that fails and a missing one: each named, the others stored, exit status 1
    broken = next((home / "music").rglob("*V0*.mp3"))
    broken.write_bytes(b"not audio at all" * 100)
    missing = next((home / "music").rglob("*AAC*.m4a"))
    missing.unlink()
    run = beet(home, "audiolens", "--force", "-t", "loudness", check=False)
    assert run.returncode == 1
    assert "V0.mp3" in run.stderr and "missing" in run.stderr and "AAC.m4a" in run.stderr
    assert "2 of 8 items could not be analysed" in run.stderr
    assert "7 files: 6 analyzed, 0 skipped, 1 failed" in run.stdout


@pytest.mark.slow
def test_analysis_on_import(library: Path, tmp_path: Path):
    home = library
    config = home / "config.yaml"
    config.write_text(config.read_text() + "  auto: yes\n  tasks: [quality, loudness]\n")
    new = tmp_path / "in" / "new"
    new.mkdir()
    sr = 44100
    t = np.arange(sr * 8) / sr
    x = (0.1 * np.sin(2 * np.pi * 997 * t)).astype(np.float32)
    src = write_wav(tmp_path / "tone.wav", np.stack([x, x]), sr)
    tagged(src, new / "tone.flac", "Tone", "New", "-c:a", "flac")
    beet(home, "import", "-A", "-q", "-s", str(new))
    items = listing(home, "title:Tone")
    # a pure tone has nothing above 12 kHz: no evidence for or against its lossless container
    assert items["Tone"]["verdict"] == "unknown" and items["Tone"]["format"] == "LOSSLESS"
    # a -20 dBFS stereo sine near 1 kHz measures -20 LUFS: a gain of +2 dB
    assert float(items["Tone"]["rg_track_gain"]) == pytest.approx(2.0, abs=0.1)
    assert shutil.which("ffmpeg")
