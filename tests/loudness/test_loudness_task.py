"""The ``loudness`` task on real files: against pyloudnorm, streamed or whole, any layout, in the
runner, the exports and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from audiolens_testkit import ffmpeg, write_wav

import audiolens
import audiolens.tasks.loudness as loudness_mod
from audiolens.cli import main
from audiolens.store import Store, export

REAL = [
    "transcode/madmom_stereo_sample.flac",
    "transcode/madmom_stereo_sample.m4a",
    "speech/jfk.flac",
    "music_transcription/slakh_Track01876_S00.flac",
    "beats/ballroom_Media-105901.wav",
    "music_transcription/vocadito_1.wav",
    "speech/fw_multilingual.mp3",
]


@pytest.mark.parametrize("name", REAL)
def test_integrated_loudness_equals_pyloudnorm_on_real_files(name, eval_dir):
    import pyloudnorm

    path = eval_dir / name
    audio = audiolens.load(path)
    # pyloudnorm's "DeMan" filter is BS.1770's at any rate (its default is an approximation);
    # pyloudnorm also counts the last partial block, so the two differ by a hair at most
    ref = pyloudnorm.Meter(audio.sample_rate, filter_class="DeMan").integrated_loudness(
        audio.samples.T.astype(np.float64)
    )
    r = audiolens.loudness(path)
    assert r.integrated_lufs == pytest.approx(ref, abs=0.05)
    assert r.track_gain_db == pytest.approx(-18.0 - r.integrated_lufs, abs=0.011)
    assert r.sample_peak_dbfs == pytest.approx(20 * np.log10(np.abs(audio.samples).max()), abs=0.01)
    assert r.true_peak_dbtp >= r.sample_peak_dbfs
    assert r.true_peak_dbtp - r.sample_peak_dbfs < 1.0


def test_a_streamed_long_file_measures_as_decoded_whole(eval_dir, monkeypatch):
    path = eval_dir / "transcode/madmom_stereo_sample.flac"
    whole = audiolens.loudness(path)
    monkeypatch.setattr(loudness_mod, "STREAM_ABOVE_S", 1.0)
    monkeypatch.setattr(loudness_mod, "BLOCK_S", 3.3)
    streamed = audiolens.loudness(path)
    assert streamed.to_dict() == whole.to_dict()


def test_layouts_from_the_file_weigh_the_channels(tmp_path):
    # the same 1 kHz tone in every channel of a 5.1 file: L R C count 1, Ls Rs 1.41, LFE 0
    sr = 48000
    t = np.arange(sr * 5) / sr
    x = 10 ** (-30 / 20) * np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    src = write_wav(tmp_path / "mono.wav", x[None, :], sr)
    out = tmp_path / "six.flac"
    joins = "".join(f"[a{i}]" for i in range(6))
    ffmpeg("-i", str(src), "-filter_complex",
           f"[0]asplit=6{joins};{joins}join=inputs=6:channel_layout=5.1(side)",
           "-c:a", "flac", "-sample_fmt", "s32", str(out))  # fmt: skip
    assert audiolens.probe(out).layout == ("FL", "FR", "FC", "LFE", "SL", "SR")
    r = audiolens.loudness(out)
    expected = -30.0 - 3.01 + 10 * np.log10(3 + 2 * 1.41)  # a sine's mean square is A^2 / 2
    assert r.integrated_lufs == pytest.approx(expected, abs=0.05)


def test_silence_gives_no_loudness_and_no_gain(tmp_path):
    path = write_wav(tmp_path / "silence.wav", np.zeros((2, 48000 * 2), np.float32), 48000)
    r = audiolens.loudness(path)
    assert r.integrated_lufs is None and r.track_gain_db is None and r.true_peak_dbtp is None
    assert r.track_peak == 0.0 and r.histogram["counts"] == []
    assert json.loads(json.dumps(r.to_dict()))["integrated_lufs"] is None


def test_analyze_stores_and_exports_the_loudness_fields(tmp_path, eval_dir):
    db = tmp_path / "r.sqlite"
    src = eval_dir / "transcode/madmom_stereo_sample.flac"
    summary = audiolens.analyze([src], tasks="loudness", db=db, workers=1, progress=False)
    assert summary.done == 1 and summary.ok
    text = export(db, "json", task="loudness")
    (rec,) = json.loads(text)
    direct = audiolens.loudness(src).to_dict()
    for field in ("integrated_lufs", "lra_lu", "true_peak_dbtp", "track_gain_db", "track_peak"):
        assert rec[field] == direct[field]
    with Store(db) as store:
        (row,) = [r for r in store.rows() if r.task == "loudness"]
    album = audiolens.album_loudness([row.result])
    assert album.integrated_lufs == pytest.approx(direct["integrated_lufs"], abs=0.05)


def test_cli_loudness_and_album_per_folder(tmp_path, eval_dir, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    sr = 44100
    t = np.arange(sr * 6) / sr
    for folder, levels in ((a, (-20.0, -26.0)), (b, (-14.0,))):
        folder.mkdir()
        for i, db in enumerate(levels):
            x = 10 ** (db / 20) * np.sin(2 * np.pi * 997 * t)
            write_wav(folder / f"t{i}.wav", np.stack([x, x]).astype(np.float32), sr)
    files = [str(p) for p in sorted(tmp_path.rglob("*.wav"))]
    assert main(["loudness", *files, "--album", "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    tracks = [r for r in records if "path" in r]
    albums = {r["album"]: r for r in records if "album" in r}
    assert len(tracks) == 3 and len(albums) == 2
    assert tracks[0]["integrated_lufs"] == pytest.approx(-20.0, abs=0.1)
    assert albums[str(b)]["gain_db"] == pytest.approx(-18.0 + 14.0, abs=0.1)
    assert albums[str(a)]["tracks"] == 2
    # the album is all blocks of both tracks gated together: the quieter one still counts
    assert -23.0 < albums[str(a)]["integrated_lufs"] < -20.0
    assert main(["loudness", files[0]]) == 0
    line = capsys.readouterr().out
    assert "-20.00 LUFS" in line and "dBTP" in line and "gain +2.00 dB" in line
    assert main(["loudness", files[0], str(tmp_path / "missing.wav")]) == 1
