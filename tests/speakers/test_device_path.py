"""The speakers task on a torch device (torch on the CPU, and CUDA where there is one):
silero VAD and resemblyzer's encoder by PyTorch, the encoder's windows batched across files.

Bounds (measured on the machine they were written on):

- VAD probabilities, torch against ONNX Runtime: within ``VAD_TOL`` = 5e-5 (measured 1.9e-6
  on the evaluation conversations and JFK; 1.45e-5 on an AMD EPYC, whose ONNX Runtime float32
  kernels round differently);
- embeddings, torch against numpy: within ``EMB_TOL`` = 1e-5 (measured 5.6e-7), also for
  windows of unequal length sharing one call (measured 4.7e-7);
- turns and speakers: identical on the three evaluation conversations, counted and told.
"""

from __future__ import annotations

import numpy as np
import pytest

from audiolens.devices import Device, resolve_device
from audiolens.errors import ModelNotFound

pytest.importorskip("torch")
pytest.importorskip("onnx")
pytestmark = pytest.mark.usefixtures("models")

VAD_TOL = 5e-5
EMB_TOL = 1e-5
CONVERSATIONS = ["pyannote_sample", "pyannote_ami_tst00", "pyannote_ami_dev00"]


@pytest.fixture(scope="module", params=["torch", "cuda"])
def dev(request) -> Device:
    """torch on the CPU (CI), and CUDA where torch sees a GPU (benchmarks/gpu_check.sh)."""
    from audiolens.errors import DeviceError

    try:
        return resolve_device(request.param)
    except DeviceError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def conversations(eval_dir, load16) -> dict[str, np.ndarray]:
    return {n: load16(eval_dir / "diarization" / f"{n}.wav") for n in CONVERSATIONS}


def _probs(vad, y: np.ndarray, block: int | None = None) -> np.ndarray:
    blocks = [y] if block is None else [y[i : i + block] for i in range(0, y.size, block)]
    return np.concatenate([vad.feed(b) for b in blocks] + [vad.flush()])


def test_torch_vad_equals_onnx(conversations, eval_dir, load16, dev):
    from audiolens.models.vad import SileroVAD
    from audiolens.models.vad_torch import TorchVAD

    clips = [*conversations.values(), load16(eval_dir / "speech" / "jfk.flac")]
    for y in clips:
        ref = _probs(SileroVAD(), y)
        got = _probs(TorchVAD(dev), y)
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=0, atol=VAD_TOL)
        # the state carries over blocks of any size, as the ONNX model's does
        np.testing.assert_allclose(_probs(TorchVAD(dev), y, block=12345), got, rtol=0, atol=1e-6)
        assert ((got >= 0.5) == (ref >= 0.5)).all()


def test_torch_vad_reads_only_sequence_models(tmp_path, dev):
    from audiolens.models.vad import find_model
    from audiolens.models.vad_torch import TorchVAD

    streaming = find_model().parent / "silero_vad.onnx"  # one call per frame, another layout
    if not streaming.is_file():
        pytest.skip("silero-vad's streaming export is not installed")
    with pytest.raises(ModelNotFound, match="not laid out as silero VAD's sequence model"):
        TorchVAD(dev, str(streaming))
    # the task then runs that model by ONNX Runtime on the CPU, and says so
    from audiolens.models.vad import VadOptions
    from audiolens.tasks.speakers import PipelineSettings, SpeakersTask

    task = SpeakersTask(settings=PipelineSettings(vad=VadOptions(model_path=str(streaming))))
    assert task._device_vad(dev) is None
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelNotFound, match=r"junk\.onnx"):
        TorchVAD(dev, str(junk))


def test_torch_encoder_equals_numpy(conversations, dev):
    from audiolens.models.voice_encoder import load_voice_encoder, mel_frames
    from audiolens.models.voice_encoder_torch import load_torch_encoder

    M = mel_frames(conversations["pyannote_sample"], center=False)
    mels = np.stack([M[o : o + 150] for o in range(0, M.shape[0] - 150, 50)])
    ours = load_torch_encoder(dev)
    np.testing.assert_allclose(
        ours.embed_windows(list(mels)), load_voice_encoder().embed_mels(mels), atol=EMB_TOL
    )
    # windows of unequal length in one call: each as if alone; no frames: zeros
    mixed = [mels[0], mels[1][:73], mels[2], mels[3][:20], np.zeros((0, 40), np.float32)]
    got = ours.embed_windows(mixed)
    alone = [load_voice_encoder().embed_mels(m[None])[0] for m in mixed[:4]]
    np.testing.assert_allclose(got[:4], np.stack(alone), atol=EMB_TOL)
    assert not got[4].any()


def test_embeddings_and_turns_equal_the_cpu_path(conversations, dev):
    from audiolens.models.vad_torch import TorchVAD
    from audiolens.models.voice_encoder_torch import load_torch_encoder
    from audiolens.tasks.speakers import PipelineSettings, SpeakersOptions
    from audiolens.tasks.speakers.embed import (
        EmbedSettings,
        EmbedStream,
        EncoderQueue,
        embed_stream,
    )
    from audiolens.tasks.speakers.pipeline import diarize_embedded

    settings = PipelineSettings(embed=EmbedSettings(encoder="ge2e"))
    for name, y in conversations.items():
        blocks = [y[i : i + 160000] for i in range(0, y.size, 160000)]  # 10 s blocks
        ref = embed_stream(blocks, settings=settings.embed, vad_options=settings.vad)
        stream = EmbedStream(
            settings=settings.embed,
            vad_options=settings.vad,
            vad=TorchVAD(dev),
            sink=EncoderQueue(load_torch_encoder(dev), size=64),
        )
        for b in blocks:
            stream.feed(b)
        got = stream.finish()
        np.testing.assert_array_equal(got.starts, ref.starts, err_msg=name)
        np.testing.assert_allclose(got.embeddings, ref.embeddings, atol=EMB_TOL, err_msg=name)
        np.testing.assert_allclose(got.probabilities, ref.probabilities, atol=VAD_TOL)
        for options in (SpeakersOptions(), SpeakersOptions(num_speakers=2)):
            a = diarize_embedded(ref, options, settings)
            b = diarize_embedded(got, options, settings)
            assert (b.turns, b.speakers) == (a.turns, a.speakers), name


def test_campplus_embeddings_and_turns_equal_the_cpu_path(conversations, dev):
    """CAM++ (the default encoder) by torch on the device: the numpy path's embeddings to
    float32 rounding, and its turns."""
    from audiolens.models.campplus_torch import load_torch_campplus
    from audiolens.models.vad_torch import TorchVAD
    from audiolens.tasks.speakers import PipelineSettings, SpeakersOptions
    from audiolens.tasks.speakers.embed import EmbedStream, embed_stream
    from audiolens.tasks.speakers.pipeline import diarize_embedded

    settings = PipelineSettings()
    assert settings.embed.encoder == "campplus"
    for name, y in conversations.items():
        blocks = [y[i : i + 160000] for i in range(0, y.size, 160000)]
        ref = embed_stream(blocks, settings=settings.embed, vad_options=settings.vad)
        stream = EmbedStream(
            settings=settings.embed,
            vad_options=settings.vad,
            vad=TorchVAD(dev),
            trunk=load_torch_campplus(dev).trunk,
        )
        for b in blocks:
            stream.feed(b)
        got = stream.finish()
        np.testing.assert_array_equal(got.starts, ref.starts, err_msg=name)
        np.testing.assert_allclose(got.embeddings, ref.embeddings, atol=1e-4, err_msg=name)
        for options in (SpeakersOptions(), SpeakersOptions(num_speakers=2)):
            a = diarize_embedded(ref, options, settings)
            b = diarize_embedded(got, options, settings)
            assert (b.turns, b.speakers) == (a.turns, a.speakers), name


def test_task_batches_windows_across_files(eval_dir, dev, monkeypatch):
    """``run`` on a batch (GE2E, no segmentation model): every file's windows go through
    shared encoder calls, and each file's result is the CPU path's."""
    from audiolens.tasks.base import read_input
    from audiolens.tasks.speakers import PipelineSettings, SpeakersOptions, SpeakersTask
    from audiolens.tasks.speakers.embed import EmbedSettings

    task = SpeakersTask(
        options=SpeakersOptions(segmentation_model="none"),
        settings=PipelineSettings(embed=EmbedSettings(encoder="ge2e")),
    )
    paths = [eval_dir / "diarization" / f"{n}.wav" for n in CONVERSATIONS]
    cpu = task.run([read_input(p, task) for p in paths], device=resolve_device("cpu"))
    queues = []
    make = task.queue

    def spy(device):
        queues.append(make(device))
        return queues[-1]

    monkeypatch.setattr(task, "queue", spy)
    # a device with room for 1024 windows a call: the three files' ~170 windows are one call
    monkeypatch.setattr("audiolens.models.voice_encoder_torch.window_batch", lambda d: 1024)
    got = task.run([read_input(p, task) for p in paths], device=dev)
    assert [(r.turns, r.speakers) for r in got] == [(r.turns, r.speakers) for r in cpu]
    (queue,) = queues  # one queue for the batch, shared by the three files' streams
    assert queue.size == 1024 and queue.calls == 1


def test_queue_halves_on_out_of_memory(conversations, dev):
    from audiolens.models.voice_encoder import load_voice_encoder, mel_frames
    from audiolens.models.voice_encoder_torch import load_torch_encoder
    from audiolens.tasks.speakers.embed import EncoderQueue

    real = load_torch_encoder(dev)
    seen = []

    class Small:
        """An encoder whose device holds 8 windows a call."""

        def embed_windows(self, windows):
            seen.append(len(windows))
            if len(windows) > 8:
                raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return real.embed_windows(windows)

    told = []
    queue = EncoderQueue(Small(), size=32, on_halve=told.append)
    M = mel_frames(conversations["pyannote_ami_dev00"], center=False)
    mels = np.stack([M[o : o + 150] for o in range(0, 40 * 50, 50)])
    first, second = queue.submit(mels[:30]), queue.submit(mels[30:])
    queue.flush()
    ref = load_voice_encoder().embed_mels(mels)
    np.testing.assert_allclose(np.concatenate([first, second]), ref, atol=EMB_TOL)
    # 32 failed, then its halves were halved again; the windows after them went at 8 at once
    assert queue.size == 8 and told[:2] == [16, 8] and set(told) == {16, 8}
    assert seen[:3] == [32, 16, 8] and seen[-2:] == [8, 8]


def test_queue_reraises_other_errors():
    from audiolens.tasks.speakers.embed import EncoderQueue

    class Broken:
        def embed_windows(self, windows):
            raise RuntimeError("cuDNN error: CUDNN_STATUS_EXECUTION_FAILED")

    queue = EncoderQueue(Broken(), size=4)
    queue.submit(np.zeros((2, 150, 40), np.float32))
    with pytest.raises(RuntimeError, match="CUDNN_STATUS"):
        queue.flush()


def test_full_float32_holds_cudnn_to_ieee_and_restores():
    torch = pytest.importorskip("torch")
    from audiolens.devices import full_float32

    cudnn = torch.backends.cudnn
    if not hasattr(getattr(cudnn, "rnn", None), "fp32_precision"):
        pytest.skip("this torch has only the legacy TF32 flag")
    before = (cudnn.conv.fp32_precision, cudnn.rnn.fp32_precision)
    with full_float32(Device("cuda:0", "torch", "float32")):
        assert (cudnn.conv.fp32_precision, cudnn.rnn.fp32_precision) == ("ieee", "ieee")
    assert (cudnn.conv.fp32_precision, cudnn.rnn.fp32_precision) == before
    with full_float32(Device("cpu", "torch", "float64")):  # nothing changes off CUDA
        assert (cudnn.conv.fp32_precision, cudnn.rnn.fp32_precision) == before


def test_torch_threads_holds_the_cpu_to_one_thread_and_restores():
    torch = pytest.importorskip("torch")
    from audiolens.devices import torch_threads

    before = torch.get_num_threads()
    with torch_threads(Device("cpu", "torch", "float64"), 1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with torch_threads(Device("cuda:0", "torch", "float32"), 1):  # an accelerator: untouched
        assert torch.get_num_threads() == before


def test_no_vad_installed_fails_with_the_install_hint(monkeypatch, dev):
    """Without silero's model the device path fails as the CPU path does (no fallback)."""
    from audiolens.models import packages
    from audiolens.tasks.speakers import SpeakersTask

    monkeypatch.setattr(packages, "package_folders", lambda name: [])
    with pytest.raises(ModelNotFound, match="pip install --no-deps silero-vad"):
        SpeakersTask()._device_vad(dev)
