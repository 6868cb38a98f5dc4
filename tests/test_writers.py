"""Writers cannot be redirected (issue 16, point 3).

Every output goes through :mod:`audiolens.writing`: a temporary file made exclusively under an
unpredictable name, renamed into place. A symlink planted at a name a writer used to write
through (``.song.json.tmp``, ``.song.beats.<pid>.tmp``, ``talk.srt.partial``, ...) or at the
final name never leads a write to the link's target: the final name is replaced.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from audiolens_testkit import make_audio, requires_ffmpeg

from audiolens import writing
from audiolens.writing import replace_into, write_file

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="symlinks")

PIDS = range(os.getpid() - 50, os.getpid() + 2000)  # where old writers' pid names fall


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    return victim


def _plant(victim: Path, *links: Path) -> None:
    for link in links:
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            link.symlink_to(victim)


def _intact(victim: Path, target: Path) -> None:
    assert victim.read_text() == "precious\n"
    assert target.is_file() and not target.is_symlink()


def test_a_symlink_at_the_final_name_is_replaced_not_followed(tmp_path):
    victim = _victim(tmp_path)
    target = tmp_path / "out" / "song.json"
    _plant(victim, target)
    write_file(target, "{}\n")
    _intact(victim, target)
    assert target.read_text() == "{}\n"


def test_the_temporary_name_is_random_and_never_follows_a_link(tmp_path, monkeypatch):
    victim = _victim(tmp_path)
    tokens = iter(["0123456789abcdef", "fedcba9876543210"])
    monkeypatch.setattr(writing.secrets, "token_hex", lambda n: next(tokens))
    _plant(victim, tmp_path / ".a.txt.0123456789abcdef.tmp")  # someone guessed the first name
    with replace_into(tmp_path / "a.txt") as fh:
        fh.write("new\n")
    _intact(victim, tmp_path / "a.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".a.txt.0123456789abcdef.tmp",
        "a.txt",
        "victim.txt",
    ]


def test_a_failed_write_leaves_the_old_file_and_no_litter(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), replace_into(target) as fh:
        fh.write("half")
        raise RuntimeError("stop")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def _beats_result():
    from audiolens.tasks.beats.types import BeatsResult

    return BeatsResult(
        beats=[0.5, 1.0],
        positions=[1, 2],
        downbeats=[0.5],
        tempo=120.0,
        meter=2,
        tempo_curve=[[1.0, 120.0]],
        confidence=0.9,
        duration=2.0,
    )


def test_text_writers_ignore_planted_links(tmp_path):
    from audiolens.cli._common import write_json
    from audiolens.tasks.beats import write_beats_file
    from audiolens.tasks.speakers.rttm import write_rttm
    from audiolens.tasks.speech.types import SpeechResult
    from audiolens.tasks.speech.writers import write_transcript

    victim = _victim(tmp_path)
    out = tmp_path / "out"
    pid_names = [f".song.beats.{p}.tmp" for p in PIDS] + [f".talk.rttm.{p}.tmp" for p in PIDS]
    _plant(
        victim,
        out / ".song.json.tmp",
        out / "talk.srt.partial",
        out / "talk.vtt",  # a link at a final name too
        *(out / n for n in pid_names),
    )
    write_json(out / "song.json", {"a": 1})
    write_beats_file(_beats_result(), out / "song.beats")
    write_rttm([], out / "talk.rttm")
    speech = SpeechResult(text="hi", language="en", segments=[])
    for ext in ("srt", "vtt"):
        write_transcript(speech, out / f"talk.{ext}")
    for name in ("song.json", "song.beats", "talk.rttm", "talk.srt", "talk.vtt"):
        _intact(victim, out / name)
    assert (out / "song.beats").read_text() == "0.500\t1\n1.000\t2\n"


@requires_ffmpeg
def test_binary_writers_ignore_planted_links(tmp_path):
    from audiolens.tasks.beats.click import write_audio
    from audiolens.tasks.notes.midi import write_midi

    victim = _victim(tmp_path)
    out = tmp_path / "out"
    _plant(
        victim,
        *(out / f".click.{p}.tmp.wav" for p in PIDS),
        out / "song.mid",
    )
    x = (0.1 * np.sin(np.arange(4410) * 0.1)).astype(np.float32)
    write_audio(out / "click.wav", x, sr=44100)
    write_midi([], out / "song.mid")
    _intact(victim, out / "click.wav")
    _intact(victim, out / "song.mid")
    assert (out / "click.wav").read_bytes()[:4] == b"RIFF"


@requires_ffmpeg
def test_cli_beats_json_and_quality_plot_ignore_planted_links(tmp_path):
    pytest.importorskip("matplotlib")
    from audiolens.cli import main

    victim = _victim(tmp_path)
    song = make_audio(tmp_path / "in", "flac16", seconds=2.0, name="song").path
    out, plots = tmp_path / "out", tmp_path / "plots"
    _plant(victim, out / ".song.json.tmp", plots / "song.quality.png")
    assert main(["beats", str(song), "-o", str(out)]) == 0
    assert main(["quality", str(song), "--plot", str(plots)]) == 0
    _intact(victim, out / "song.json")
    _intact(victim, plots / "song.quality.png")
    assert (plots / "song.quality.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out.iterdir()) == [".song.json.tmp", "song.beats", "song.json"]
    assert [p.name for p in plots.iterdir()] == ["song.quality.png"]


def test_joined_model_file_with_a_wrong_digest_writes_nothing(tmp_path):
    from audiolens.errors import ModelNotFound
    from audiolens.models.whisper import join_model_parts

    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"x" * 10)
    b.write_bytes(b"y" * 10)
    victim = _victim(tmp_path)
    _plant(victim, tmp_path / "m" / "model.bin.partial")
    with pytest.raises(ModelNotFound):
        join_model_parts([a, b], into=tmp_path / "m", sha256="0" * 64)
    assert not (tmp_path / "m" / "model.bin").exists()
    join_model_parts([a, b], into=tmp_path / "m")
    _intact(victim, tmp_path / "m" / "model.bin")
    assert (tmp_path / "m" / "model.bin").read_bytes() == b"x" * 10 + b"y" * 10
