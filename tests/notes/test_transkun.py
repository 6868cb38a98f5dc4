"""The ``transkun`` engine of the notes task against Transkun 2.0.1's own code, on real audio.

Parity runs Transkun's own ``TransKun.transcribe`` (built by
``audiolens.models.transkun.upstream_model``: its network, front end, TorchScript semi-CRF
decoding and segment joining) beside our engine with short windows (4 s every 2 s,
which Transkun's ``transcribe`` takes as ``segmentSizeInSecond``/``stepInSecond``) so that it
stays fast on a CPU: the notes, pedals and velocities must be the same. Transkun's
``MelSpectrum`` imports torchaudio only to fill its Mel filterbank buffer, which loading the
checkpoint overwrites; a stand-in module that gives a zero buffer lets it load without
torchaudio, and the checkpoint's filterbank is what runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _notes_kit import requires_transkun
from audiolens_testkit import eval_root

from audiolens.errors import ModelNotFound, ParameterError
from audiolens.tasks.notes import NotesOptions, NotesTask, Pedal
from audiolens.tasks.notes.engine import SegmentEngine, overlapping_windows

torch = pytest.importorskip("torch")


pytestmark = requires_transkun

EVAL = eval_root() / "music_transcription"
PIANO = EVAL / "madmom_stereo_sample.wav"
SEG, HOP = 4.0, 2.0


def _audio(path: Path) -> np.ndarray:
    from audiolens.audio import load

    return np.asarray(load(path, sr=44100).samples, dtype=np.float32)


def _rows(events) -> list[tuple[float, float, int, int]]:
    return sorted((round(a, 5), round(b, 5), int(p), int(v)) for a, b, p, v in events)


@pytest.fixture(scope="module")
def theirs():
    from audiolens.models.transkun import upstream_model

    return upstream_model()


@pytest.fixture(scope="module")
def engine():
    from audiolens.models.transkun import Transkun

    return Transkun(segment_s=SEG, hop_s=HOP, segment_batch=3, precision="float32")


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[Path]:
    """The madmom piano recording and its first 2.5 s (a second file for the batch)."""
    import soundfile as sf

    cut = tmp_path_factory.mktemp("transkun") / "madmom_cut.wav"
    x = _audio(PIANO)
    sf.write(cut, x[:, : int(2.5 * 44100)].T, 44100, subtype="FLOAT")
    return [PIANO, cut]


@pytest.fixture(scope="module")
def ours(engine, clips, tmp_path_factory):
    """Both clips through the task in one batch: windows of both files share forward passes."""
    from audiolens.devices import resolve_device
    from audiolens.tasks.base import read_input

    out = tmp_path_factory.mktemp("transkun_midi")
    task = NotesTask(engine=engine, out_dir=out)
    return task.run([read_input(p, task) for p in clips], device=resolve_device("cpu"))


def test_front_end_is_the_checkpoints(engine, theirs):
    """Our windows and Mel filterbank (audiolens.dsp) against the ones the checkpoint holds,
    and our features against Transkun's MelSpectrum on a real window."""
    from transkun.Util import makeFrame

    from audiolens.devices import resolve_device

    dev = resolve_device("cpu")
    engine.load(dev)
    fe = theirs.framewiseFeatureExtractor
    wins = torch.cat([fe.spectrogramExtractor.win[None], fe.spectrogramExtractor.winGen.get().t()])
    assert torch.allclose(engine._consts["windows"], wins, atol=1e-6)
    basis = engine._consts["basis"]
    assert basis.shape == fe.freq2mels.shape == (2049, 229)
    assert float((basis - fe.freq2mels).abs().max()) < 5e-5  # torchaudio's float32 rounding

    x = _audio(PIANO)[:, : engine.window]
    window = np.zeros((x.shape[0], engine.window), np.float32)
    window[:, : x.shape[1]] = x
    ours = engine.features(window, device=dev)
    frames = makeFrame(torch.from_numpy(window), 1024, 4096)[None]
    frames = (frames - frames.mean(dim=[1, 2, 3], keepdim=True)) / (
        frames.std(dim=[1, 2, 3], keepdim=True) + 1e-8
    )
    with torch.no_grad():
        ref = fe(frames)[0, 0]
    assert ours.shape == ref.shape == (engine.window // 1024 + 2, 229, 6)
    assert float(ref.abs().max()) > 1.0
    assert float((ours - ref).abs().max()) < 2e-4


def test_same_notes_as_transkun_transcribe(theirs, clips, ours):
    for path, res in zip(clips, ours):
        x = torch.from_numpy(_audio(path).T.copy())
        with torch.no_grad():
            ref = theirs.transcribe(x, stepInSecond=HOP, segmentSizeInSecond=SEG)
        want = _rows((n.start, n.end, n.pitch, n.velocity) for n in ref)
        got = _rows(
            [(n.onset, n.offset, n.pitch, n.velocity) for n in res.notes]
            + [(p.onset, p.offset, -p.control, p.value) for p in res.pedals]
        )
        assert len(want) >= 3
        assert got == want, path.name


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """The piano recording with Transkun's own 16 s windows (what users get)."""
    from audiolens.tasks.notes import transcribe

    out = tmp_path_factory.mktemp("transkun_full")
    return transcribe(PIANO, options=NotesOptions(engine="transkun"), device="cpu", out_dir=out)


@pytest.mark.slow
def test_accuracy_on_the_real_piano_recording(full):
    from mir_eval.transcription import precision_recall_f1_overlap

    truth = np.loadtxt(EVAL / "madmom_stereo_sample.notes", ndmin=2)
    ref_i = np.stack([truth[:, 0], truth[:, 0] + truth[:, 2]], axis=1)
    ref_p = 440.0 * 2 ** ((truth[:, 1] - 69) / 12)
    res = full
    est_i = np.array([[n.onset, n.offset] for n in res.notes])
    est_p = 440.0 * 2 ** ((np.array([n.pitch for n in res.notes]) - 69) / 12)
    f = precision_recall_f1_overlap(ref_i, ref_p, est_i, est_p, offset_ratio=None)[2]
    assert f >= 0.9
    assert all(1 <= n.velocity <= 127 for n in res.notes)
    assert len({n.velocity for n in res.notes}) > 1  # velocities are read, not constant


@pytest.mark.slow
def test_pedals_are_in_the_midi_file_and_the_record(full):
    import mido

    res = full
    assert res.pedals and all(isinstance(p, Pedal) and p.control == 64 for p in res.pedals)
    mid = mido.MidiFile(res.midi_path)
    t, changes = 0.0, []
    for msg in mido.merge_tracks(mid.tracks):
        t += mido.tick2second(msg.time, mid.ticks_per_beat, 500000)
        if msg.type == "control_change" and msg.control == 64:
            changes.append((round(t, 2), msg.value))
    want = []
    for p in res.pedals:
        want += [(round(p.onset, 2), p.value), (round(p.offset, 2), 0)]
    assert changes == want
    record = res.to_dict()
    assert record["engine"].startswith("transkun/2.0")
    assert record["pedals"][0]["control"] == 64
    assert {"onset", "offset", "pitch", "velocity"} <= set(record["notes"][0])


def test_decoding_is_transkuns_viterbi():
    """Our vectorised dynamic programme and path following against Transkun's TorchScript
    ``viterbiBackward`` on random interval scores, from random forced start frames."""
    from transkun.CRF.NeuralSemiCRFInterval import viterbiBackward

    from audiolens.models.transkun import follow_paths, viterbi_intervals

    gen = torch.Generator().manual_seed(0)
    for t, n in ((2, 4), (3, 1), (40, 30), (97, 12)):
        score = torch.randn(t, t, n, generator=gen) * 2 - 0.5
        start = torch.randint(0, max(t // 2, 1), (n,), generator=gen).tolist()
        want = viterbiBackward(score, torch.zeros(max(t - 1, 0), n), start)
        for ours in (score.permute(2, 1, 0), score.permute(2, 1, 0).numpy()):  # [k, b, e]
            jump, single = viterbi_intervals(ours)
            assert follow_paths(jump, single, start) == [list(p) for p in want]


def test_windows_do_not_depend_on_the_blocks():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 1000)).astype(np.float32)
    whole = list(overlapping_windows([x], window=300, hop=128, lead=172))
    split = list(
        overlapping_windows([x[:, :1], x[:, 1:450], x[:, 450:]], window=300, hop=128, lead=172)
    )
    assert len(whole) == len(split) == int(np.ceil((1000 + 2 * 172) / 128))
    assert all(np.array_equal(a, b) for a, b in zip(whole, split))
    assert np.array_equal(whole[0][:, 172:], x[:, :128])
    assert not whole[-1].any()
    assert len(list(overlapping_windows([], window=300, hop=128, lead=172))) == 3


def test_options_model_and_version(tmp_path):
    from audiolens.models.transkun import Transkun, find_model

    with pytest.raises(ParameterError, match="engine='mt3'"):
        NotesOptions(engine="mt3")
    with pytest.raises(ModelNotFound, match=str(tmp_path)):
        find_model(tmp_path)
    with pytest.raises(ParameterError, match="segment_s"):
        Transkun(segment_s=4, hop_s=5)
    task = NotesTask(options=NotesOptions(engine="transkun"))
    assert isinstance(task.engine, SegmentEngine)
    assert task.version != NotesTask().version  # stored results of one engine never stand in


@pytest.mark.slow
def test_half_precision_gives_the_same_notes(engine, ours):
    """The network under bfloat16 autocast (what precision="auto" does on a CPU with native
    bfloat16, and "bfloat16" anywhere) finds the same notes and velocities on the piano
    recording as float32."""
    from dataclasses import replace

    from audiolens.devices import resolve_device
    from audiolens.tasks.base import read_input

    half = replace(engine, precision="bfloat16")
    task = NotesTask(engine=half)
    res = task.run([read_input(PIANO, task)], device=resolve_device("cpu"))[0]
    assert half.provider == "cpu torch.bfloat16"
    key = [(round(n.onset, 2), n.pitch, n.velocity) for n in ours[0].notes]
    assert key and [(round(n.onset, 2), n.pitch, n.velocity) for n in res.notes] == key


def test_precision_per_device(monkeypatch):
    """auto: bfloat16 only on a CPU with native bfloat16; float16 never on a CPU."""
    import audiolens.models.transkun as tk

    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    for native in (True, False):
        monkeypatch.setattr(tk, "cpu_has_bfloat16", lambda native=native: native)
        auto = tk.Transkun()
        assert auto._dtype(cpu) == (torch.bfloat16 if native else torch.float32)
        assert auto._dtype(gpu) == torch.float32
    assert tk.Transkun(precision="float16")._dtype(cpu) == torch.float32
    assert tk.Transkun(precision="float16")._dtype(gpu) == torch.float16
    assert tk.Transkun(precision="bfloat16")._dtype(cpu) == torch.bfloat16
    assert tk.Transkun(precision="float32")._dtype(cpu) == torch.float32
    assert isinstance(tk.cpu_has_bfloat16(), bool)
