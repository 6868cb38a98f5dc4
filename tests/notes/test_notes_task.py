"""The notes task's plumbing: the engine contract, cross-file batching, streaming, bad input,
the command line and the collection runner."""

from __future__ import annotations

import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf
from _notes_kit import ToneEngine, requires_model
from audiolens_testkit import eval_root

import audiolens.tasks.notes as notes_mod
from audiolens.cli import main
from audiolens.devices import resolve_device
from audiolens.errors import MissingDependency, ModelNotFound, ParameterError
from audiolens.tasks.base import read_input as _read
from audiolens.tasks.notes import NotesOptions, NotesTask, transcribe
from audiolens.tasks.notes.engine import merge_event_windows

CPU = resolve_device("cpu")
EVAL = eval_root()


def tone_file(path: Path, hz: float, seconds: float, sr: int = 8000, amp: float = 0.5) -> Path:
    t = np.arange(int(seconds * sr)) / sr
    sf.write(path, (amp * np.sin(2 * np.pi * hz * t)).astype(np.float32), sr)
    return path


def run_tone(paths, **kw):
    task = NotesTask(engine=ToneEngine(), **kw)
    return task, task.run([_read(p, task) for p in paths], device=CPU)


# -- the engine contract, with a fake frame engine ---------------------------------------------


def test_a_tone_becomes_its_note(tmp_path):
    _, (res,) = run_tone([tone_file(tmp_path / "a.wav", 440.0, 3.0)])
    assert res.duration == pytest.approx(3.0)
    assert {n.pitch for n in res.notes} == {69}
    longest = max(res.notes, key=lambda n: n.offset - n.onset)
    assert longest.onset < 0.2 and longest.offset > 2.7
    assert res.engine == "tone-test"


def test_windows_of_several_files_share_model_calls_and_change_nothing(tmp_path):
    files = [
        tone_file(tmp_path / "a.wav", 220.0, 1.5),
        tone_file(tmp_path / "b.wav", 440.0, 0.4),
        tone_file(tmp_path / "c.wav", 880.0, 5.1),
    ]
    task, together = run_tone(files, window_batch=3)
    alone = [run_tone([f], window_batch=1)[1][0] for f in files]
    assert [r.to_dict() for r in together] == [r.to_dict() for r in alone]
    per_file = [
        len(list(notes_mod.window_stream([np.zeros(int(d * 8000))], ToneEngine())))
        for d in (1.5, 0.4, 5.1)
    ]
    assert task.engine.calls == [3] * (sum(per_file) // 3) + (
        [sum(per_file) % 3] if sum(per_file) % 3 else []
    )
    assert per_file[0] % 3 != 0  # so one call held windows of two files


def test_streamed_and_whole_decodes_give_the_same_notes(tmp_path, monkeypatch):
    f = tmp_path / "chord.wav"
    sr = 8000
    t = np.arange(int(7.3 * sr)) / sr
    x = 0.3 * np.sin(2 * np.pi * 261.6 * t) + 0.3 * np.sin(2 * np.pi * 392.0 * t) * (t > 2)
    sf.write(f, x.astype(np.float32), sr)
    _, (whole,) = run_tone([f])
    monkeypatch.setattr(notes_mod, "STREAM_ABOVE_S", 1.0)
    monkeypatch.setattr(notes_mod, "BLOCK_S", 0.77)
    task = NotesTask(engine=ToneEngine())
    item = _read(f, task)
    assert item.stream is not None and item.pieces == []
    (streamed,) = task.run([item], device=CPU)
    assert streamed.to_dict() == whole.to_dict()


class CoarseToneEngine(ToneEngine):
    """ToneEngine at 2 frames/s, so an hour of activations is small and the audio dominates."""

    frame_hop = 4000
    frames_per_window = 10
    edge_frames = 1
    window = 40000
    dft_size = 64


def test_an_hour_streams_through_in_bounded_memory(tmp_path, monkeypatch):
    sr, hour = 8000, 3600
    path = tmp_path / "hour.wav"
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", sr, 1, "PCM_16") as out:
        for _ in range(hour // 60):
            out.write((0.1 * rng.standard_normal(60 * sr)).astype(np.float32))
    decoded_bytes = hour * sr * 4  # the whole file as float32
    task = NotesTask(engine=CoarseToneEngine(), window_batch=16)
    item = _read(path, task)
    assert item.stream is not None
    tracemalloc.start()
    try:
        (res,) = task.run([item], device=CPU)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert res.duration == pytest.approx(hour)
    assert peak < 0.25 * decoded_bytes, f"peak {peak / 1e6:.0f} MB"


class WindowNoteEngine:
    """A fake event engine: one note (pitch 60) over each window that holds sound."""

    name = "events-test"
    sample_rate = 8000
    window = 8000

    def run_events(self, windows, *, device):
        return [[(0.0, 1.0, 60, 90)] if np.abs(w).max() > 0.01 else [] for w in windows]


def test_an_event_engine_plugs_in_and_its_window_notes_are_joined(tmp_path):
    f = tone_file(tmp_path / "a.wav", 261.6, 3.5)
    task = NotesTask(engine=WindowNoteEngine())
    (res,) = task.run([_read(f, task)], device=CPU)
    assert [(n.onset, n.offset, n.pitch) for n in res.notes] == [(0.0, 4.0, 60)]


def test_merge_event_windows_joins_only_notes_cut_by_the_boundary():
    merged = merge_event_windows(
        [[(0.5, 2.0, 60, 80), (1.0, 1.5, 64, 70)], [(0.0, 0.5, 60, 80), (0.3, 0.9, 64, 70)]],
        window_seconds=2.0,
    )
    assert merged == [(0.5, 2.5, 60, 80), (1.0, 1.5, 64, 70), (2.3, 2.9, 64, 70)]


def test_bad_task_arguments_are_refused():
    with pytest.raises(ParameterError, match="window_batch"):
        NotesTask(engine=ToneEngine(), window_batch=0)
    with pytest.raises(ParameterError, match="NotesOptions"):
        NotesTask(engine=ToneEngine(), options={"onset_threshold": 0.5})
    with pytest.raises(ParameterError, match="onset_threshold"):
        NotesOptions(onset_threshold=1.5)
    with pytest.raises(ParameterError, match="min_hz"):
        NotesOptions(min_hz=500, max_hz=100)
    with pytest.raises(ParameterError, match="neither"):
        NotesTask(engine=object()).run([], device=CPU)


# -- the model's setup -------------------------------------------------------------------------


def test_a_missing_model_says_how_to_install_it(monkeypatch, tmp_path):
    from audiolens.models import basic_pitch, packages

    monkeypatch.delenv(basic_pitch.ENV_VAR, raising=False)
    monkeypatch.setattr(packages, "package_folders", lambda name: [])
    with pytest.raises(ModelNotFound, match=r"pip install --no-deps basic-pitch==0\.4\.0"):
        basic_pitch.find_model()
    monkeypatch.setenv(basic_pitch.ENV_VAR, str(tmp_path / "nowhere.onnx"))
    with pytest.raises(ModelNotFound, match=r"nowhere\.onnx"):
        basic_pitch.find_model()
    with pytest.raises(ModelNotFound, match="not a basic-pitch"):
        basic_pitch.find_model(tmp_path)


def test_missing_onnxruntime_names_the_extra(monkeypatch, tmp_path):
    from audiolens.models.onnx import make_session

    model = tmp_path / "nmp.onnx"
    model.write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingDependency, match=r"audiolens\[notes\]"):
        make_session(model, CPU)


def test_cuda_without_onnxruntime_gpu_runs_on_the_cpu():
    from audiolens.devices import Device
    from audiolens.models.onnx import providers_for

    cuda = Device("cuda:1", "torch", "float32")
    assert providers_for(cuda, ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    both = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert providers_for(cuda, both) == both
    assert providers_for(CPU, both) == ["CPUExecutionProvider"]


# -- bad input with the real model -------------------------------------------------------------


@requires_model
def test_silence_gives_an_empty_midi_file(tmp_path):
    f = tmp_path / "silence.wav"
    sf.write(f, np.zeros(5 * 22050, np.float32), 22050)
    res = transcribe(f, device="cpu", out_dir=tmp_path / "out")
    assert res.notes == [] and res.duration == pytest.approx(5.0)
    mid = mido.MidiFile(res.midi_path)
    assert not [m for m in mid if m.type == "note_on"]


@requires_model
def test_noise_gives_few_notes(tmp_path):
    f = tmp_path / "noise.wav"
    rng = np.random.default_rng(0)
    sf.write(f, (0.3 * rng.standard_normal(10 * 22050)).astype(np.float32), 22050)
    assert len(transcribe(f, device="cpu").notes) <= 5  # music of this length has 50+


@requires_model
def test_speech_gives_far_fewer_notes_than_music():
    speech = transcribe(EVAL / "speech" / "jfk.flac", device="cpu")
    music = transcribe(EVAL / "music_transcription" / "guitarset_00_BN1-129-Eb_comp_mic.wav")
    speech_rate = len(speech.notes) / speech.duration
    assert speech_rate <= 2.5 and speech_rate < len(music.notes) / music.duration / 3


@requires_model
@pytest.mark.parametrize("sr", [8000, 22050, 44100, 96000])
def test_any_rate_is_resampled_and_a_half_second_clip_works(tmp_path, sr):
    res = transcribe(tone_file(tmp_path / f"a{sr}.wav", 440.0, 0.5, sr=sr), device="cpu")
    assert res.duration == pytest.approx(0.5, abs=1e-3)
    assert [n.pitch for n in res.notes] == [69]


@requires_model
def test_a_broken_file_is_a_decode_error_naming_it(tmp_path):
    from audiolens.errors import DecodeError

    bad = tmp_path / "song.mp3"
    bad.write_text("not audio")
    with pytest.raises(DecodeError, match=r"song\.mp3"):
        transcribe(bad, device="cpu")


# -- command line and collections --------------------------------------------------------------


@requires_model
def test_cli_writes_midi_and_json_and_reports_bad_files(tmp_path, capsys):
    good = tone_file(tmp_path / "a.wav", 440.0, 1.0, sr=22050)
    bad = tmp_path / "b.flac"
    bad.write_bytes(b"")
    out = tmp_path / "out"
    code = main(["notes", str(good), str(bad), "-o", str(out), "--plot", str(tmp_path / "png")])
    captured = capsys.readouterr()
    assert code == 1 and "b.flac" in captured.err
    assert (out / "a.mid").is_file() and (tmp_path / "png" / "a.notes.png").is_file()
    data = json.loads((out / "a.json").read_text())
    assert [n["pitch"] for n in data] == [69] and set(data[0]) == {
        "onset",
        "offset",
        "pitch",
        "velocity",
    }
    assert "1 notes" in captured.out


def test_cli_help_and_bad_options(capsys):
    assert main(["notes", "--help"]) == 0
    assert "--onset-threshold" in capsys.readouterr().out
    assert main(["notes", "x.wav", "--onset-threshold", "2"]) == 2


def test_cli_missing_model_is_a_setup_error(tmp_path, capsys):
    code = main(["notes", str(tmp_path / "a.wav"), "--model", str(tmp_path / "none.onnx")])
    assert code == 2 and "none.onnx" in capsys.readouterr().err


@requires_model
def test_collection_run_stores_notes_and_midi_paths_like_transcribe(tmp_path):
    from audiolens.runner import analyze
    from audiolens.store import Store

    clips = [
        EVAL / "music_transcription" / "madmom_stereo_sample.flac",
        EVAL / "beats" / "madmom_sample.wav",
        tmp_path / "broken.wav",
    ]
    clips[2].write_bytes(b"RIFF")
    db = tmp_path / "r.sqlite"
    task = NotesTask(out_dir=tmp_path / "midi")
    summary = analyze(clips, tasks=[task], db=db, workers=2, progress=False)
    assert (summary.done, summary.failed) == (2, 1)
    with Store(db) as store:
        rows = {Path(r.path).name: r for r in store.rows(task="notes")}
    assert rows["broken.wav"].status == "failed" and "broken.wav" in rows["broken.wav"].error
    for clip in clips[:2]:
        row = rows[clip.name]
        assert row.status == "ok" and Path(row.result["midi_path"]).is_file()
        want = [n.to_dict() for n in transcribe(clip, device="cpu").notes]
        assert row.result["notes"] == want and len(want) > 0
    again = analyze(clips[:2], tasks=[task], db=db, workers=1, progress=False)
    assert again.skipped == 2


def test_importing_the_task_does_not_import_onnxruntime_or_basic_pitch():
    code = (
        "import sys, audiolens, audiolens.tasks.notes, audiolens.cli.notes;"
        "print('onnxruntime' in sys.modules, 'basic_pitch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_silent_windows_skip_the_model_and_change_nothing(tmp_path):
    sr = 8000
    t = np.arange(2 * sr) / sr
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    x = np.concatenate([np.zeros(6 * sr), tone, np.zeros(6 * sr), tone]).astype(np.float32)
    f = tmp_path / "gaps.wav"
    sf.write(f, x, sr, subtype="FLOAT")
    skipping = NotesTask(engine=ToneEngine())
    (a,) = skipping.run([_read(f, skipping)], device=CPU)
    plain = NotesTask(engine=ToneEngine())
    plain.skip_silence = False
    (b,) = plain.run([_read(f, plain)], device=CPU)
    assert a.to_dict() == b.to_dict() and [n.pitch for n in a.notes] == [69, 69]
    sent = sum(skipping.engine.calls) - 1  # minus the one all-zero window it computed
    assert sent < sum(plain.engine.calls) - 8


class _SmallDevice(ToneEngine):
    """The tone engine on a device that holds at most ``fits`` windows per call."""

    def __init__(self, fits: int) -> None:
        super().__init__()
        self.fits = fits

    def run(self, windows, *, device):
        if windows.shape[0] > self.fits:
            self.calls.append(-int(windows.shape[0]))  # refused
            raise RuntimeError(f"CUDA out of memory: {windows.shape[0]} windows")
        return super().run(windows, device=device)


def test_out_of_memory_halves_the_window_batch_and_changes_nothing(tmp_path):
    files = [
        tone_file(tmp_path / "a.wav", 220.0, 4.5),
        tone_file(tmp_path / "b.wav", 440.0, 6.1),
    ]
    _, alone = run_tone(files, window_batch=1)
    task = NotesTask(engine=_SmallDevice(fits=2), window_batch=8)
    squeezed = task.run([_read(p, task) for p in files], device=CPU)
    assert [r.to_dict() for r in squeezed] == [r.to_dict() for r in alone]
    refused = [-c for c in task.engine.calls if c < 0]
    assert refused[:2] == [8, 4] and max(c for c in task.engine.calls) <= 2
    # the task remembers what fits: a second batch of files asks for 2 windows at once
    task.engine.calls.clear()
    task.run([_read(files[0], task)], device=CPU)
    assert task.engine.calls and max(task.engine.calls) == 2 and min(task.engine.calls) > 0


def test_other_model_errors_are_not_retried(tmp_path):
    class Broken(ToneEngine):
        def run(self, windows, *, device):
            self.calls.append(int(windows.shape[0]))
            raise RuntimeError("bad input shape")

    task = NotesTask(engine=Broken(), window_batch=4)
    with pytest.raises(RuntimeError, match="bad input"):
        task.run([_read(tone_file(tmp_path / "a.wav", 440.0, 3.0), task)], device=CPU)
    assert len(task.engine.calls) == 1


@pytest.mark.parametrize(("free_gib", "windows"), [(10, 204), (0.1, 8), (1000, 512)])
def test_cuda_window_batch_comes_from_free_memory(monkeypatch, free_gib, windows):
    import audiolens.devices as devices

    monkeypatch.setattr(devices, "free_memory", lambda device: int(free_gib * 2**30))
    cuda = devices.Device("cuda:0", "torch", "float32")
    task = NotesTask(engine=ToneEngine())
    assert task._batch_size(cuda) == windows  # half the free memory, 25 MiB a window
    assert NotesTask(engine=ToneEngine(), window_batch=3)._batch_size(cuda) == 3
    assert task._batch_size(CPU) == 8
