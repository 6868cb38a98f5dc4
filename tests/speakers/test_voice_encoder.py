"""resemblyzer's speaker encoder in numpy: parity with the torch original, weights loading."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from audiolens.errors import ModelNotFound
from audiolens.models import packages
from audiolens.models import voice_encoder as ve
from audiolens.models._torch_pickle import UnsafeCheckpoint, load_checkpoint

ENCODER_TOL = 1e-4  # absolute, on L2-normalised embeddings (measured 5.8e-7)


def _resemblyzer():
    """resemblyzer's own torch VoiceEncoder and its audio module (imported file by file)."""
    pytest.importorskip("torch")
    pytest.importorskip("librosa")
    pytest.importorskip("webrtcvad")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from resemblyzer import audio
        from resemblyzer.voice_encoder import VoiceEncoder
    return VoiceEncoder, audio


@pytest.mark.usefixtures("models")
def test_parity_with_resemblyzer_torch(eval_dir, load16):
    import torch

    VoiceEncoder, audio = _resemblyzer()
    y = load16(eval_dir / "speech" / "librispeech_2412-153948-0000.flac")[: 16000 * 6]
    ours_mel = ve.mel_frames(y)
    ref_mel = audio.wav_to_mel_spectrogram(y)
    assert ours_mel.shape == ref_mel.shape
    assert np.max(np.abs(ours_mel - ref_mel)) <= 1e-5 * np.max(ref_mel)
    starts = range(0, ours_mel.shape[0] - 160, 70)
    mels = np.stack([ref_mel[s : s + 160] for s in starts])
    ref = VoiceEncoder(device="cpu", verbose=False)
    with torch.no_grad():
        expected = ref(torch.from_numpy(mels)).numpy()
    got = ve.load_voice_encoder().embed_mels(mels)
    assert got.shape == expected.shape == (len(starts), 256)
    assert np.max(np.abs(got - expected)) <= ENCODER_TOL
    # and resemblyzer's whole-utterance embedding from our features
    wav_ref = ref.embed_utterance(y)
    partial = got.mean(0)
    assert float(partial @ wav_ref / np.linalg.norm(partial)) > 0.99


@pytest.mark.usefixtures("models")
def test_encoder_batch_independent_and_short_windows():
    enc = ve.load_voice_encoder()
    assert enc is ve.load_voice_encoder()  # loaded once per process
    rng = np.random.default_rng(1)
    mels = rng.random((3, 50, 40)).astype(np.float32)
    together = enc.embed_mels(mels)
    alone = np.stack([enc.embed_mels(m[None])[0] for m in mels])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    assert enc.embed_mels(np.zeros((0, 160, 40))).shape == (0, 256)


def test_checkpoint_reader_matches_torch(tmp_path):
    torch = pytest.importorskip("torch")
    state = {
        "a": torch.arange(12, dtype=torch.float32).reshape(3, 4),
        "b": torch.arange(12, dtype=torch.float32).reshape(3, 4).t(),  # strided view
        "c": torch.tensor([1, 2, 3], dtype=torch.int64),
    }
    path = tmp_path / "tiny.pt"
    torch.save({"model_state": state, "step": 3}, path)
    got = load_checkpoint(path)
    assert got["step"] == 3
    for key, value in state.items():
        np.testing.assert_array_equal(got["model_state"][key], value.numpy())


@pytest.mark.usefixtures("models")
def test_reads_resemblyzer_legacy_checkpoint():
    state = load_checkpoint(ve.find_weights())["model_state"]
    assert state["lstm.weight_ih_l0"].shape == (1024, 40)
    assert state["linear.weight"].dtype == np.float32


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


def test_unpickler_refuses_unexpected_globals(tmp_path):
    # legacy layout: the very first pickle already names os.system
    legacy = tmp_path / "evil_legacy.pt"
    legacy.write_bytes(pickle.dumps(_Evil(), protocol=2))
    with pytest.raises(UnsafeCheckpoint, match="refusing to load"):
        load_checkpoint(legacy)
    # zip layout
    evil_zip = tmp_path / "evil.pt"
    with zipfile.ZipFile(evil_zip, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"x": _Evil()}, protocol=2))
    with pytest.raises(UnsafeCheckpoint, match=r"os|posix|system"):
        load_checkpoint(evil_zip)
    # a class that is not a tensor helper, even a harmless one
    other = tmp_path / "other.pt"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"x": Path("/")}, protocol=2))
    with pytest.raises(UnsafeCheckpoint):
        load_checkpoint(other)


def test_missing_weights(tmp_path, monkeypatch):
    with pytest.raises(ModelNotFound, match=r"resemblyzer==0\.1\.4"):
        ve.load_voice_encoder(tmp_path / "none.pt")
    monkeypatch.setattr(packages, "package_folders", lambda name: [])
    with pytest.raises(ModelNotFound, match="pip install --no-deps resemblyzer"):
        ve.find_weights()
    not_pt = tmp_path / "x.pt"
    not_pt.write_bytes(b"hello world")
    with pytest.raises(ModelNotFound, match=r"x\.pt"):
        load_checkpoint(not_pt)
