"""The beats of many songs in batched torch calls (the path of ``device="cuda"``), run by
torch on the CPU: each song's spectrogram, activations and beats equal those it gets alone."""

from __future__ import annotations

import numpy as np
import pytest
from _beats_kit import SR, groove
from audiolens_testkit import eval_root

from audiolens.audio import Audio, AudioInfo
from audiolens.devices import Device, resolve_device
from audiolens.tasks.base import TaskInput, read_input
from audiolens.tasks.beats import BeatsTask, batched
from audiolens.tasks.beats.activation import CHUNK, load_net
from audiolens.tasks.beats.batched import DeviceBatches, chunks
from audiolens.tasks.beats.features import logspec

torch = pytest.importorskip("torch")

TORCH = Device("cpu", "torch", "float32")  # what a GPU runs: float32
SPEC = "logspec/44100/2048/100"
#: torch on the CPU always; CUDA where torch sees a GPU (benchmarks/gpu_check.sh runs these)
DEVICES = [
    pytest.param(TORCH, id="torch-cpu"),
    *(
        [pytest.param(Device("cuda:0", "torch", "float32"), id="cuda")]
        if torch.cuda.is_available()
        else []
    ),
]


def as_input(y: np.ndarray, path: str) -> TaskInput:
    info = AudioInfo(
        path=path,
        container="wav",
        codec="pcm_s16le",
        sample_rate=SR,
        channels=1,
        duration=y.size / SR,
        bit_rate=SR * 16,
        bit_depth=16,
        lossless=True,
    )
    return TaskInput(info=info, pieces=[Audio(y[None, :], SR, info)])


@pytest.mark.parametrize("device", DEVICES)
def test_spectrograms_of_songs_of_any_length_equal_each_alone(device):
    y, _, _ = groove(120.0, 9.0)
    signals = [y, np.zeros(0, np.float32), y[:100], y[: 441 * 3 + 7], y[:88200], y[: 3 * SR]]
    batches = DeviceBatches()
    batches._fits[device.name] = 2000  # frames per call: several calls, some of two songs
    got = batches.spectrograms(signals, device=device)
    for s, S in zip(signals, got):
        assert S.shape == (81, -(-s.size // 441)) and S.dtype == np.float32
        if s.size:
            np.testing.assert_allclose(S, logspec(s, device=device), atol=1e-6)
            np.testing.assert_allclose(S, logspec(s), atol=2e-6)  # the numpy reference


@pytest.mark.parametrize("device", DEVICES)
def test_activations_of_a_batch_equal_the_numpy_network_per_song(device):
    net = load_net()
    long = CHUNK + 2 * net.reach + 500  # cut in chunks, as the per-file network cuts it
    assert len(chunks(long, net.reach)) == 2
    rng = np.random.default_rng(3)
    lengths = (700, 1, long, 0, 400, 2500, 600, 2000, 5)  # padded in calls of 1 to 3 songs
    specs = [rng.uniform(0, 1.5, (81, n)).astype(np.float32) for n in lengths]
    batches = DeviceBatches()
    batches._fits[device.name] = 40_000
    got = batches.activations(specs, net=net, device=device)
    for S, act in zip(specs, got):
        assert act.shape == (2, S.shape[1])
        if S.shape[1]:
            np.testing.assert_allclose(act, net(S), atol=2e-6)


@pytest.mark.parametrize("device", DEVICES)
def test_a_batch_of_real_recordings_gives_each_files_beats(device):
    root = eval_root()
    paths = [
        root / "beats" / "ballroom_Media-105901.wav",
        root / "beats" / "madmom_sample.wav",
        root / "music_transcription" / "guitarset_00_BN1-129-Eb_comp_mic.wav",
    ]
    task = BeatsTask()
    ref = [task.run([read_input(p, task)], device=resolve_device("cpu"))[0] for p in paths]
    items = [read_input(p, task) for p in paths]
    got = task.run(items, device=device)
    for r, g in zip(ref, got):
        assert g.beats == r.beats and g.positions == r.positions
        assert (g.meter, g.tempo) == (r.meter, r.tempo)
        assert g.confidence == pytest.approx(r.confidence, abs=1e-6)
    assert all(SPEC in it.features for it in items)  # kept for structure


def test_out_of_memory_halves_the_calls_and_changes_no_result(monkeypatch):
    """A call of more than one song "runs out of memory": each song goes alone, the results
    are those of the batch, and the device's budget drops to one song's frames."""
    ys = [groove(bpm, 6.0, seed=k)[0] for k, bpm in enumerate((96.0, 120.0, 132.0))]
    task = BeatsTask()
    calm = task.run([as_input(y, f"{k}.wav") for k, y in enumerate(ys)], device=TORCH)
    spec, forward = batched.log_filtered_spectrogram, DeviceBatches._forward
    sizes = []

    def tight_spec(x, **kw):
        sizes.append(x.shape[0])
        if x.shape[0] > 1:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return spec(x, **kw)

    def tight_forward(self, net, xs, device):
        if len(xs) > 1:
            raise RuntimeError("CUDA out of memory. Tried to allocate 1.00 GiB")
        return forward(self, net, xs, device)

    monkeypatch.setattr(batched, "log_filtered_spectrogram", tight_spec)
    monkeypatch.setattr(DeviceBatches, "_forward", tight_forward)
    task = BeatsTask()
    tight = task.run([as_input(y, f"{k}.wav") for k, y in enumerate(ys)], device=TORCH)
    assert sizes[0] == 3 and sizes.count(1) == 3
    assert [r.beats for r in tight] == [r.beats for r in calm]
    assert [r.positions for r in tight] == [r.positions for r in calm]
    assert task.batches._fits[TORCH.name] <= 601  # one 6 s song's frames per call from now on


def test_a_streamed_input_keeps_the_per_file_path():
    y, _, _ = groove(120.0, 8.0)

    class Blocks:
        def __iter__(self):
            for i in range(0, y.size, 100_000):
                yield Audio(y[None, i : i + 100_000], SR, item.info)

    item = as_input(y, "whole.wav")
    streamed = TaskInput(info=item.info, pieces=[], stream=Blocks())  # type: ignore[arg-type]
    a, b = BeatsTask().run([item, streamed], device=TORCH)
    assert SPEC not in streamed.features  # streamed: activations only, never the spectrogram
    assert a.beats == b.beats and a.positions == b.positions


def test_budget_from_free_device_memory(monkeypatch):
    assert DeviceBatches().budget(TORCH) == batched.DEFAULT_FRAMES  # free memory not known
    cuda = Device("cuda:0", "torch", "float32")
    monkeypatch.setattr("audiolens.devices.free_memory", lambda d: 8 * 2**30)
    assert DeviceBatches().budget(cuda) == 8 * 2**30 // 2 // batched.FRAME_BYTES
    monkeypatch.setattr("audiolens.devices.free_memory", lambda d: 2**20)
    assert DeviceBatches().budget(cuda) == batched.MIN_FRAMES  # one 10-minute song at least


def test_the_runners_device_path_gives_the_cpu_pools_beats_and_sections(tmp_path, monkeypatch):
    """``analyze`` on an accelerator (torch on the CPU standing in for CUDA): workers decode,
    the feed sends batches to the device thread, beats and structure share one batched
    spectrogram and network call per batch; every row equals the numpy run's."""
    import audiolens.runner.api as api
    from audiolens.runner import analyze
    from audiolens.store import Store

    root = eval_root()
    paths = [
        root / "beats" / "ballroom_Media-105901.wav",
        root / "beats" / "madmom_sample.wav",
        root / "music_transcription" / "guitarset_00_BN1-129-Eb_comp_mic.wav",
    ]
    calls = []
    spectrograms = DeviceBatches.spectrograms

    def counted(self, signals, *, device):
        calls.append(len(signals))
        return spectrograms(self, signals, device=device)

    monkeypatch.setattr(DeviceBatches, "spectrograms", counted)
    monkeypatch.setattr(api, "_uses_accelerator", lambda device: device.backend == "torch")

    def rows(device, db):
        summary = analyze(
            paths, tasks="beats,structure", db=db, device=device, workers=1, progress=False
        )
        assert (summary.done, summary.failed) == (3, 0)
        with Store(db) as store:
            return {(r.path, r.task): (r.result, r.device) for r in store.rows()}

    ref = rows("cpu", tmp_path / "cpu.sqlite")
    got = rows(TORCH, tmp_path / "torch.sqlite")
    assert calls == [3]  # one batch of three songs; structure reused beats' features
    assert {k: v[0] for k, v in got.items()} == {k: v[0] for k, v in ref.items()}
    assert {v[1] for v in got.values()} == {"torch:cpu"}
