"""The numpy network of the beat activation against the same layers run by PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from _beats_kit import groove

from audiolens.errors import ModelNotFound
from audiolens.tasks.beats.activation import SILENT_REACH, audible, input_features, load_net
from audiolens.tasks.beats.features import logspec
from audiolens.tasks.beats.track import track


def torch_net_and_file(tmp_path, channels=6, dilations=(1, 2, 4, 8)):
    torch = pytest.importorskip("torch")
    from torch import nn

    torch.manual_seed(0)
    inp = nn.Conv1d(162, channels, 1)
    convs = [nn.Conv1d(channels, channels, 3, dilation=d, padding=d) for d in dilations]
    out = nn.Conv1d(channels, 2, 1)
    rng = np.random.default_rng(0)
    mean = rng.normal(0, 1, 162).astype(np.float32)
    std = rng.uniform(0.5, 2, 162).astype(np.float32)
    weights = {
        "mean": mean,
        "std": std,
        "dilations": np.array(dilations, dtype=np.int32),
        "inp_w": inp.weight.detach().numpy()[:, :, 0],
        "inp_b": inp.bias.detach().numpy(),
        "out_w": out.weight.detach().numpy()[:, :, 0],
        "out_b": out.bias.detach().numpy(),
    }
    for i, c in enumerate(convs):
        weights[f"conv{i}_w"] = c.weight.detach().numpy()
        weights[f"conv{i}_b"] = c.bias.detach().numpy()
    path = tmp_path / "net.npz"
    np.savez(path, **weights)

    def forward(S: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(((input_features(S, standardize=False) - mean) / std).T[None])
        with torch.no_grad():
            h = nn.functional.elu(inp(x))
            for c in convs:
                h = h + nn.functional.elu(c(h))
            return torch.sigmoid(out(h))[0].numpy()

    return path, forward


def test_numpy_network_equals_torch(tmp_path):
    path, forward = torch_net_and_file(tmp_path)
    S = np.abs(np.random.default_rng(1).normal(0, 1, (81, 700))).astype(np.float32)
    ours = load_net(path)(S)
    assert ours.shape == (2, 700)
    np.testing.assert_allclose(ours, forward(S), atol=2e-6)


@pytest.mark.parametrize("frames", [1, 3, 40, 300])
def test_numpy_network_equals_torch_when_dilations_outreach_the_input(tmp_path, frames):
    """Dilations as long as the input or longer (a short clip through the shipped shape):
    the taps that fall outside see zeros, as in PyTorch's padded convolution."""
    path, forward = torch_net_and_file(tmp_path, dilations=(1, 4, 32, 256))
    S = np.abs(np.random.default_rng(frames).normal(0, 1, (81, frames))).astype(np.float32)
    np.testing.assert_allclose(load_net(path)(S), forward(S), atol=2e-6)


def test_input_features_are_the_spectrogram_and_its_rise():
    S = np.zeros((81, 5), dtype=np.float32)
    S[3, 2] = 1.0
    x = input_features(S, standardize=False)
    assert x.shape == (5, 162)
    assert x[2, 3] == 1.0 and x[2, 81 + 3] == 1.0  # the onset
    assert x[3, 81 + 3] == 0.0  # a fall is not a rise


def test_no_activation_and_no_beats_where_the_audio_is_silent():
    """Digital silence and a -90 dBFS floor around a groove: 0 there, beats only in the groove;
    -60 dBFS noise is sound."""
    y, _, _ = groove(120.0, 12.0)
    rng = np.random.default_rng(3)
    floor = (rng.standard_normal(4 * 44100) * 10 ** (-90 / 20)).astype(np.float32)
    S = logspec(np.concatenate([np.zeros(4 * 44100, np.float32), y, floor]))
    act = load_net()(S)
    # the frames see 1024 samples (2.3 frames) on each side, and the mask reaches SILENT_REACH
    first, last = 400 - SILENT_REACH - 3, 400 + len(y) // 441 + SILENT_REACH + 3
    assert act[:, :first].max() == 0 and act[:, last + 1 :].max() == 0
    assert act[0, first:last].max() > 0.5
    found = track(S)
    assert len(found.beats) > 15 and found.beats[0] > 3.9 and found.beats[-1] < 16.1
    noise = rng.standard_normal(44100).astype(np.float32) * 10 ** (-60 / 20)
    assert audible(logspec(noise)).all() and not audible(logspec(floor)).any()
    assert audible(np.zeros((81, 0))).shape == (0,)


def test_shipped_network_loads_and_handles_empty_input():
    net = load_net()
    assert net(np.zeros((81, 0), dtype=np.float32)).shape == (2, 0)
    act = net(np.zeros((81, 300), dtype=np.float32))
    assert act.shape == (2, 300) and np.all((act >= 0) & (act <= 1))


def test_a_missing_weights_file_is_named(tmp_path):
    with pytest.raises(ModelNotFound, match="missing"):
        load_net(tmp_path / "nothing.npz")
