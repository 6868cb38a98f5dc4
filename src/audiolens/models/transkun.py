"""Transkun 2.0 (Yan and Duan) as an event engine for the ``notes`` task: piano to notes.

Transkun is a transformer over a multi-window log-Mel spectrogram whose output layer is a
neural semi-CRF: for each of 88 keys and two pedals (sustain, CC64, and soft, CC67) it scores
every (onset frame, offset frame) interval of a 16 s segment, and the best set of
non-overlapping intervals is found by dynamic programming. A velocity and a sub-frame
correction of each end are then read from the features at the interval's two ends.

The weights ship inside the ``transkun`` wheel (MIT, ``transkun/pretrained/2.0.pt`` and
``2.0.conf``); install it WITHOUT its dependencies (torchaudio, tensorboard, seaborn,
mir_eval, ... are not needed)::

    pip install 'audiolens[torch]'              # PyTorch
    pip install --no-deps transkun==2.0.1       # its model file and network classes

or point ``AUDIOLENS_TRANSKUN_MODEL`` (or ``model_path=``) at a folder holding ``2.0.pt``
and ``2.0.conf`` (or at the ``.pt`` file, with its ``.conf`` beside it). The checkpoint is read
with ``torch.load(weights_only=True)`` (tensors only, no code).

What is ours and what is Transkun's: the network's layers (its backbone transformer and the
interval scorer) are Transkun's own ``nn.Module`` classes, built from the shipped
``2.0.conf`` and loaded strictly from the checkpoint; reimplementing them would only add a way
to differ from the weights. The front end (framing, gain normalisation, the six windows, the
power spectra, the Mel filterbank, the log) is :mod:`audiolens.dsp` (checked against the
filterbank and windows stored in the checkpoint), and the semi-CRF decoding, the reading of
velocities and refined ends, and the joining of segments are written here: the decoding runs
the dynamic programme for every key of every segment of a batch at once and follows the
back-pointers with vectorised jumps, where Transkun's own steps through every frame of every
key in a TorchScript loop. The notes are the ones Transkun's ``transcribe`` gives (its 16 s
segments every 8 s, each segment's decoding starting where the previous one's notes ended).

Segments of several files go through the network together (``segment_batch`` at a time), the
dynamic programme runs on the same device, and gradient checkpointing (which Transkun's
backbone keeps on even for inference) is off. Three changes of layout, not of arithmetic,
make the network faster on a CPU: its attention gets 4-D inputs, so that PyTorch's fused
kernel runs instead of one that materialises every attention matrix; its linear layers get
contiguous inputs; and the interval scores are made in one tensor, laid out for the dynamic
programme. On CPUs with native bfloat16 the network runs under bfloat16 autocast (see
``precision``).
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import MissingDependency, ModelNotFound, ParameterError

if TYPE_CHECKING:  # pragma: no cover
    from ..devices import Device

__all__ = [
    "ENV_VAR",
    "INSTALL_HINT",
    "PEDALS",
    "Transkun",
    "TranskunDecoder",
    "cpu_has_bfloat16",
    "find_model",
    "interval_scores",
    "upstream_model",
    "viterbi_intervals",
]

ENV_VAR = "AUDIOLENS_TRANSKUN_MODEL"
INSTALL_HINT = (
    "install Transkun's package without its dependencies "
    "(pip install 'audiolens[torch]' && pip install --no-deps transkun==2.0.1), "
    f"or set {ENV_VAR} (or pass model_path) to a folder holding its 2.0.pt and 2.0.conf"
)
_RELATIVE = Path("pretrained") / "2.0.pt"
#: the model's output tracks: two pedals (negative: MIDI controller numbers), then A0..C8
TRACKS: tuple[int, ...] = (-64, -67, *range(21, 109))
#: MIDI controller of each pedal track
PEDALS = {-64: 64, -67: 67}


def find_model(model_path: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """Transkun's checkpoint and its configuration: ``(2.0.pt, 2.0.conf)``.

    Looks, in order, at ``model_path``, ``$AUDIOLENS_TRANSKUN_MODEL``, then the installed
    ``transkun`` package (found without importing it).

    Raises
    ------
    ModelNotFound
        naming every place looked at and how to install the model.
    """
    from .packages import given_model, package_folders

    expected = "a Transkun 2.0.pt with its 2.0.conf beside it"
    found = given_model(model_path, ENV_VAR, _in, expected=expected, hint=INSTALL_HINT)
    if found is not None:
        return found
    looked = []
    for folder in package_folders("transkun"):
        looked.append(str(folder / _RELATIVE))
        found = _in(folder / _RELATIVE)
        if found is not None:
            return found
    where = f" (looked at {', '.join(looked)})" if looked else " (the package is not installed)"
    raise ModelNotFound(f"Transkun's 2.0.pt was not found{where}; {INSTALL_HINT}")


@functools.lru_cache(maxsize=1)
def cpu_has_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices natively (x86 AVX512-BF16 or AMX-BF16,
    read from ``/proc/cpuinfo`` once per process; False where that cannot be read)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = line.split(":", 1)[-1].split()
                    return "avx512_bf16" in flags or "amx_bf16" in flags
    except OSError:
        pass
    return False


def _in(path: Path) -> tuple[Path, Path] | None:
    pt = path if path.is_file() else path / "2.0.pt"
    if not pt.is_file():
        pt = path / _RELATIVE
    conf = pt.with_suffix(".conf")
    return (pt, conf) if pt.is_file() and conf.is_file() else None


def _config(conf_path: Path) -> dict[str, Any]:
    try:
        conf = json.loads(conf_path.read_text(encoding="utf-8"))["Model"]["config"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelNotFound(f"{conf_path} is not a Transkun model configuration: {exc}") from exc
    return dict(conf)


def _network(conf: dict[str, Any]) -> Any:
    """Transkun's network (its own layer classes) with our front end's parameters beside it."""
    import torch
    from torch import nn

    try:
        from transkun.LayersTransformer import Backbone, ScaledInnerProductIntervalScorer
        from transkun.Util import GaussianWindows
    except ImportError as exc:
        raise MissingDependency(
            f"the transkun engine needs the transkun package; {INSTALL_HINT}"
        ) from exc

    class _Spectrum(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("win", torch.zeros(conf["windowSize"]))
            self.winGen = GaussianWindows(conf["nExtraWins"], conf["windowSize"])

    class _FrontEnd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            n_bins = conf["windowSize"] // 2 + 1
            self.register_buffer("freq2mels", torch.zeros(n_bins, conf["n_mels"]))
            self.spectrogramExtractor = _Spectrum()

    def mlp(width: int, hidden: int, out: int) -> nn.Module:
        return nn.Sequential(
            nn.Linear(width, hidden), nn.GELU(), nn.Dropout(0.0), nn.Linear(hidden, out)
        )

    class _Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            size = conf["baseSize"] * conf["scoringExpansionFactor"]
            self.framewiseFeatureExtractor = _FrontEnd()
            self.scorer = ScaledInnerProductIntervalScorer(size, 1, dropoutProb=0.0)
            self.velocityPredictor = mlp(3 * size, conf["velocityPredictorHiddenSize"], 128)
            self.refinedOFPredictor = mlp(3 * size, conf["refinedOFPredictorHiddenSize"], 4)
            self.backbone = Backbone(
                inputSize=conf["nExtraWins"] + 1,
                baseSize=conf["baseSize"],
                posEmbedInitGamma=conf["posEmbedInitGamma"],
                nHead=conf["nHead"],
                fourierSize=conf["fourierSize"],
                hiddenFactor=conf["hiddenFactor"],
                hiddenFactorAttn=conf["hiddenFactorAttn"],
                expansionFactor=conf["scoringExpansionFactor"],
                nLayers=conf["nLayers"],
                dropoutProb=0.0,
                enabledAttn=conf["enabledAttn"],
                useGradientCheckpoint=False,
                downsampleF=conf["downsampleF"],
            )

    return _Net()


def load_network(model_path: str | os.PathLike | None = None) -> tuple[Any, dict[str, Any]]:
    """Transkun's network with its weights (eval mode, on the CPU) and its configuration."""
    try:
        import torch
    except ImportError as exc:
        raise MissingDependency(f"the transkun engine needs PyTorch; {INSTALL_HINT}") from exc
    pt, conf_path = find_model(model_path)
    conf = _config(conf_path)
    net = _network(conf)
    try:
        checkpoint = torch.load(pt, map_location="cpu", weights_only=True)
        state = checkpoint.get("best_state_dict", checkpoint.get("state_dict"))
        net.load_state_dict(state, strict=True)
    except (OSError, RuntimeError, AttributeError, KeyError, TypeError) as exc:
        raise ModelNotFound(f"{pt} is not a Transkun checkpoint for {conf_path}: {exc}") from exc
    net.eval()
    _for_inference(net)
    return net, conf


def _attention(self: Any, query: Any, key: Any = None, value: Any = None) -> Any:
    """Transkun's ``MultiHeadAttentionKernel.forward`` (exact attention) with 4-D inputs to
    ``scaled_dot_product_attention``: its leading dimensions (batch, and frequency or time)
    folded into one, so that PyTorch's fused CPU kernel runs (it takes 4-D inputs only; on
    Transkun's 5-D ones it falls back to materialising every attention matrix)."""
    import torch.nn.functional as F

    key = query if key is None else key
    value = key if value is None else value
    h, d = self.num_heads, self.head_dim

    def heads(x: Any, weight: Any) -> Any:  # [..., L, E] -> [N, heads, L, head_dim]
        x = (x.contiguous() @ weight).unflatten(-1, (h, d)).transpose(-2, -3)
        return x.reshape(-1, h, x.shape[-2], d)

    lead = query.shape[:-2]
    out = F.scaled_dot_product_attention(
        heads(query, self.q_proj_weight),
        heads(key, self.k_proj_weight),
        heads(value, self.v_proj_weight),
    )
    out = out.reshape(*lead, h, out.shape[-2], d).transpose(-2, -3).flatten(-2, -1)
    return self.out_proj(out)


def _linear(self: Any, x: Any) -> Any:
    """``nn.Linear`` on a contiguous input: Transkun's time blocks get a transposed tensor,
    which ``F.linear`` would otherwise multiply as a batch of matrices, with a copy of the
    weight per batch row."""
    import torch.nn.functional as F

    return F.linear(x.contiguous(), self.weight, self.bias)


def _for_inference(net: Any) -> None:
    """Run the backbone's attention and linear layers as :func:`_attention` and
    :func:`_linear` do: the same arithmetic in a faster layout (the notes do not change; the
    tests compare them with Transkun's own ``transcribe``)."""
    import types

    from torch import nn

    for m in net.backbone.modules():
        if type(m).__name__ == "MultiHeadAttentionKernel" and m.kernel is None:
            m.forward = types.MethodType(_attention, m)
        elif isinstance(m, nn.Linear):
            m.forward = types.MethodType(_linear, m)


def upstream_model(model_path: str | os.PathLike | None = None) -> Any:
    """Transkun's own ``TransKun`` model with the checkpoint, to compare with (tests and
    benchmarks); its ``transcribe`` is Transkun's own.

    Transkun's ``MelSpectrum`` imports torchaudio only to fill its Mel filterbank buffer,
    which the checkpoint then overwrites: where torchaudio is missing, a stand-in module that
    gives a zero buffer is put in ``sys.modules`` while the model is built, and taken out
    again. Needs what ``transkun.ModelTransformer`` imports (mir_eval, pretty_midi).
    """
    import importlib.util
    import sys
    import types

    import torch

    pt, conf_path = find_model(model_path)
    stub = importlib.util.find_spec("torchaudio") is None and "torchaudio" not in sys.modules
    if stub:
        ta, fn = types.ModuleType("torchaudio"), types.ModuleType("torchaudio.functional")
        fn.melscale_fbanks = lambda n_freqs, f_min, f_max, n_mels, sample_rate, **_: torch.zeros(
            n_freqs, n_mels
        )
        ta.functional = fn
        sys.modules.update({"torchaudio": ta, "torchaudio.functional": fn})
    try:
        from transkun.ModelTransformer import TransKun

        conf = TransKun.Config()
        conf.__dict__.update(_config(conf_path))
        model = TransKun(conf=conf)
    finally:
        if stub:
            sys.modules.pop("torchaudio", None)
            sys.modules.pop("torchaudio.functional", None)
    state = torch.load(pt, map_location="cpu", weights_only=True)["state_dict"]
    model.load_state_dict(state)
    return model.eval()


# -- the semi-CRF's dynamic programme ---------------------------------------------------------


def interval_scores(scorer: Any, ctx: Any) -> Any:
    """The semi-CRF's interval scores, as Transkun's ``ScaledInnerProductIntervalScorer``
    computes them, in one tensor of the full size (it makes five) laid out for
    :func:`viterbi_intervals`.

    Parameters
    ----------
    scorer : Transkun's scorer (its ``map`` layer is used)
    ctx : torch.Tensor [shape=(B, tracks, T, D)], the backbone's output

    Returns
    -------
    score : torch.Tensor [shape=(B * tracks, T, T)], float32
        ``score[k, b, e]``: the inner product of frame ``b``'s and frame ``e``'s projections
        on track ``k`` of window ``k // tracks``, scaled by ``1 / sqrt(D)`` and by the length
        ``|e - b|``; a one-frame event's own score on the diagonal
    """
    import torch

    size = scorer.size * scorer.expansionFactor
    q, k, diag = scorer.map(ctx).split([size, size, 1], dim=-1)
    s = k @ (q / math.sqrt(size)).transpose(-1, -2)  # [B, tracks, T(b), T(e)]
    t = s.shape[-1]
    frames = torch.arange(t, device=s.device)
    s.mul_((frames[:, None] - frames[None, :]).abs())
    s.diagonal(dim1=-2, dim2=-1).add_(diag.squeeze(-1).to(s.dtype))
    return s.flatten(0, 1).float()


def viterbi_intervals(score: Any) -> tuple[np.ndarray, np.ndarray]:
    """The dynamic programme of the semi-CRF over intervals, for many tracks at once.

    Parameters
    ----------
    score : np.ndarray or torch.Tensor [shape=(n, T, T)]
        ``score[k, b, e]``: the score of an interval from frame ``b`` to frame ``e`` on
        track ``k`` (``e == b``: a one-frame event, kept when its score is positive); the
        score of frames outside every interval is 0. (Transkun's own decoder takes the
        same scores as ``[e, b, k]``.)

    Returns
    -------
    jump : np.ndarray [shape=(T - 1, n)], int
        ``jump[p, k]``: where the best path from frame ``p`` on goes: ``-1`` to skip frame
        ``p``, else ``e - p - 1`` for an interval ``(p, e)``
    single : np.ndarray [shape=(T, n)], bool: one-frame events (positive diagonal)
    """
    import array_api_compat

    if not isinstance(score, np.ndarray) and str(getattr(score, "device", "")) == "cpu":
        score = score.numpy()  # numpy runs these small steps faster than torch on a CPU
    xp = array_api_compat.array_namespace(score)
    n, t, _ = score.shape
    dev = array_api_compat.device(score)
    diag = xp.stack([score[:, p, p] for p in range(t)], axis=1) if t else score[:, :, 0]
    gain = xp.where(diag > 0, diag, xp.zeros_like(diag))  # [n, T]
    q = xp.zeros_like(diag)  # q[:, p]: the best score from frame p on
    q[:, t - 1] = gain[:, t - 1]
    jump = xp.full((max(t - 1, 0), n), -1, dtype=xp.int64, device=dev)
    for p in range(t - 2, -1, -1):
        # every interval (p, e): its score plus the best from e on; skipping p wins ties
        cand = q[:, p + 1 :] + score[:, p, p + 1 :]
        best, which = xp.max(cand, axis=1), xp.argmax(cand, axis=1)
        take = best > q[:, p + 1]
        jump[p, ...] = xp.where(take, which, jump[p])
        q[:, p] = xp.where(take, best, q[:, p + 1]) + gain[:, p]
    return np.asarray(array_api_compat.to_device(jump, "cpu")), np.asarray(
        array_api_compat.to_device(xp.permute_dims(diag > 0, (1, 0)), "cpu")
    )


def _next_jump(jump: np.ndarray) -> np.ndarray:
    """``nxt[p, k]``: the first frame ``>= p`` where track ``k`` starts an interval (T - 1:
    none)."""
    t1 = jump.shape[0]
    idx = np.where(jump >= 0, np.arange(t1)[:, None], t1)
    return np.minimum.accumulate(idx[::-1], axis=0)[::-1]


def follow_paths(
    jump: np.ndarray, single: np.ndarray, start: Sequence[int]
) -> list[list[tuple[int, int]]]:
    """The intervals of each track's best path from frame ``start[k]`` (as the back-pointers of
    :func:`viterbi_intervals` give them), in order: one-frame events ``(p, p)`` and intervals
    ``(b, e)``."""
    t = single.shape[0]
    nxt = _next_jump(jump) if t > 1 else np.zeros((0, single.shape[1]), dtype=np.int64)
    out: list[list[tuple[int, int]]] = []
    for k in range(single.shape[1]):
        path: list[tuple[int, int]] = []
        j = int(start[k])
        col, sgl = nxt[:, k], single[:, k]
        while j < t - 1:
            p = int(col[j])
            stop = min(p, t - 2)  # frames j..stop are visited (p: an interval starts there)
            for s in np.flatnonzero(sgl[j : stop + 1]).tolist():
                path.append((j + s, j + s))
            if p >= t - 1:
                break
            e = int(jump[p, k]) + p + 1
            path.append((p, e))
            j = e
        if t and sgl[t - 1]:
            path.append((t - 1, t - 1))
        out.append(path)
    return out


# -- the engine -------------------------------------------------------------------------------


@dataclass
class _Event:
    start: float
    end: float
    pitch: int
    velocity: int
    has_onset: bool
    has_offset: bool


@dataclass
class Encoded:
    """The network's output for one window: its features per track and the back-pointers of
    the semi-CRF's best paths (see :func:`viterbi_intervals`)."""

    ctx: Any  # torch [tracks, T, D]
    jump: np.ndarray  # [T - 1, tracks]
    single: np.ndarray  # [T, tracks]


@dataclass
class Transkun:
    """Transkun 2.0 behind the segment-engine contract of :mod:`audiolens.tasks.notes.engine`.

    The network is loaded on first use (once per process) and kept.

    Parameters
    ----------
    model_path : a folder with ``2.0.pt`` and ``2.0.conf`` (or the ``.pt``); None looks it up
        (see :func:`find_model`)
    precision : ``"float32"``, or ``"bfloat16"`` / ``"float16"`` for the network's layers
        (under autocast; the front end and the decoding stay in float32; ``"float16"`` on a
        GPU only, float32 on the CPU); ``"auto"``: bfloat16 on a CPU that computes it
        natively (AVX512-BF16 or AMX), float32 elsewhere. On such a CPU bfloat16 runs the
        network 1.5x faster and finds the same notes (``benchmarks/bench_notes.py``).
    segment_batch : windows per forward pass; None picks 1 on CPU (larger batches ran
        slower there), 16 on GPUs
    segment_s, hop_s : seconds per window and between windows (Transkun's 16 and 8; shorter
        windows are faster on short clips, which the tests use)
    """

    model_path: str | os.PathLike | None = None
    precision: str = "auto"
    segment_batch: int | None = None
    segment_s: float = 16.0
    hop_s: float = 8.0
    name: str = "transkun/2.0"
    sample_rate: int = 44100
    frame_hop: int = 1024
    window: int = field(default=0, init=False)  # samples per window: 705600 (16 s)
    hop: int = field(default=0, init=False)  # 353280 (8 s rounded up to whole frames)
    lead: int = field(default=0, init=False)  # zeros before (and after) the signal: 352800
    keeps_channels: bool = True
    provider: str = field(default="", init=False, compare=False)
    _net: Any = field(default=None, init=False, repr=False, compare=False)
    _conf: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    _consts: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.precision not in ("auto", "float32", "float16", "bfloat16"):
            raise ParameterError(
                f"precision={self.precision!r} is not known; use 'auto', 'float32', "
                "'float16' or 'bfloat16'"
            )
        sb = self.segment_batch
        if sb is not None and (isinstance(sb, bool) or not isinstance(sb, int) or sb < 1):
            raise ParameterError(f"segment_batch={sb!r} must be a positive integer")
        ok = isinstance(self.segment_s, (int, float)) and isinstance(self.hop_s, (int, float))
        if not ok or not 0 < self.hop_s <= self.segment_s or self.segment_s < 1:
            raise ParameterError(
                f"segment_s={self.segment_s!r}, hop_s={self.hop_s!r}: need 0 < hop_s <= "
                "segment_s and segment_s >= 1 second"
            )
        fs, fh = self.sample_rate, self.frame_hop
        self.window = math.ceil(self.segment_s * fs)
        self.hop = math.ceil(self.hop_s * fs / fh) * fh
        self.lead = math.ceil((self.segment_s - self.hop_s) * fs)

    def __getstate__(self) -> dict[str, Any]:  # networks never travel between processes
        state = dict(self.__dict__)
        state["_net"] = None
        state["_consts"] = {}
        return state

    # -- loading ------------------------------------------------------------------------------

    def load(self, device: Device) -> None:
        """Load the network onto ``device`` (once; moved if the device changes)."""
        import torch

        dev = device.torch_device() if device.backend == "torch" else torch.device("cpu")
        if self._net is None:
            self._net, self._conf = load_network(self.model_path)
        if self._consts.get("device") != dev:
            self._net.to(dev)
            dtype = self._dtype(dev)
            self._consts = self._front_end(dev)
            self.provider = str(dev) + ("" if dtype == torch.float32 else f" {dtype}")

    def _dtype(self, dev: Any) -> Any:
        import torch

        if self.precision == "auto":
            native = dev.type == "cpu" and cpu_has_bfloat16()
            return torch.bfloat16 if native else torch.float32
        if self.precision == "bfloat16":
            return torch.bfloat16
        if self.precision == "float16" and dev.type != "cpu":
            return torch.float16
        return torch.float32

    def _front_end(self, dev: Any) -> dict[str, Any]:
        """The windows and the Mel filterbank, from :mod:`audiolens.dsp` (float32, on ``dev``)."""
        import torch

        from ..dsp import get_window, mel_filterbank
        from ..dsp.multiwin import gaussian_windows

        conf = self._conf
        n = conf["windowSize"]
        gen = self._net.framewiseFeatureExtractor.spectrogramExtractor.winGen
        centers = torch.sigmoid(gen.center.detach().float().cpu()).numpy()
        widths = torch.sigmoid(gen.sigma.detach().float().cpu()).numpy()
        wins = np.concatenate(
            [get_window("hann", n)[None], gaussian_windows(n, centers=centers, widths=widths)]
        )
        basis = mel_filterbank(
            sr=conf["fs"],
            n_fft=n,
            n_mels=conf["n_mels"],
            fmin=conf["f_min"],
            fmax=conf["f_max"],
            htk=True,
            norm=None,
        )
        return {
            "device": dev,
            "windows": torch.as_tensor(wins, dtype=torch.float32, device=dev),
            "basis": torch.as_tensor(basis.T, dtype=torch.float32, device=dev),
            "tracks": torch.tensor(TRACKS, device=dev),
        }

    # -- the network --------------------------------------------------------------------------

    def batch_size(self, device: Device) -> int:
        """Windows per forward pass."""
        if self.segment_batch is not None:
            return self.segment_batch
        return 16 if device.backend == "torch" and device.name != "cpu" else 1

    def features(self, window: np.ndarray, *, device: Device) -> Any:
        """The model's input for one window of audio.

        Parameters
        ----------
        window : np.ndarray [shape=(channels, window)], float32 at 44100 Hz

        Returns
        -------
        features : torch.Tensor [shape=(frames, 229, 6)] (691 frames for 16 s)
            log-Mel energies of the six windows' power spectra, averaged over channels, of
            gain-normalised frames
        """
        import torch

        from ..dsp.multiwin import centered_frames, log_compress, multi_window_power

        self.load(device)
        c = self._consts
        x = torch.as_tensor(np.asarray(window, dtype=np.float32), device=c["device"])
        frames = centered_frames(
            x, frame_length=self._conf["windowSize"], hop_length=self.frame_hop
        )
        frames = (frames - frames.mean()) / (frames.std() + 1e-8)
        power = multi_window_power(frames, windows=c["windows"]).mean(dim=0)  # [T, bins, 6]
        mel = (power.transpose(-1, -2) @ c["basis"]).transpose(-1, -2)
        return log_compress(mel, eps=1e-5)

    def encode(self, windows: Sequence[np.ndarray], *, device: Device) -> list[Encoded]:
        """Run windows (of any files) through the network together.

        Parameters
        ----------
        windows : arrays [shape=(channels, window)], float32 at 44100 Hz (the channel count
            may differ between windows)

        Returns
        -------
        encoded : one :class:`Encoded` per window, for :class:`TranskunDecoder`
        """
        import torch

        self.load(device)
        net = self._net
        with torch.inference_mode():
            feats = torch.stack([self.features(w, device=device) for w in windows])
            dev = self._consts["device"]
            dtype = self._dtype(dev)
            # half precision: the network's layers under autocast, weights kept in float32
            with torch.autocast(dev.type, dtype=dtype, enabled=dtype != torch.float32):
                ctx = net.backbone(feats, outputIndices=self._consts["tracks"])
                score = interval_scores(net.scorer, ctx)
            jump, single = viterbi_intervals(score)
            del score
            ctx = ctx.float()
        n = len(TRACKS)
        return [
            Encoded(
                ctx=ctx[i], jump=jump[:, i * n : (i + 1) * n], single=single[:, i * n : (i + 1) * n]
            )
            for i in range(len(windows))
        ]

    def attributes(
        self, enc: Encoded, intervals: list[list[tuple[int, int]]]
    ) -> tuple[list[int], list[list[float]], list[list[bool]]]:
        """Velocity, refined (onset, offset) in frames and the presence of each end, for the
        intervals of each track (in order)."""
        import torch

        net = self._net
        sym = [k for k, path in enumerate(intervals) for _ in path]
        ends = torch.tensor(
            [iv for path in intervals for iv in path], dtype=torch.long, device=enc.ctx.device
        )
        sym_t = torch.tensor(sym, dtype=torch.long, device=enc.ctx.device)
        with torch.inference_mode():
            a, b = enc.ctx[sym_t, ends[:, 0]], enc.ctx[sym_t, ends[:, 1]]
            x = torch.cat([a, b, a * b], dim=-1)
            velocity = net.velocityPredictor(x).argmax(dim=-1)
            value, presence = net.refinedOFPredictor(x).chunk(2, dim=-1)
            mean = torch.distributions.ContinuousBernoulli(logits=value).mean
            shift = torch.clamp((mean - 0.5) / 0.99, -0.5, 0.5)
        return velocity.cpu().tolist(), shift.cpu().tolist(), (presence > 0).cpu().tolist()

    def decoder(self) -> TranskunDecoder:
        """A decoder for one file's windows, fed in order."""
        return TranskunDecoder(self)


class TranskunDecoder:
    """Turns one file's encoded windows, in order, into notes (Transkun's ``transcribe``).

    Each window's decoding starts, on every track, where the previous window's last finished
    interval ended; notes cut by a window's end are joined with their continuation in the
    next window, and a note whose onset a later window sees again is replaced by that
    window's reading.
    """

    def __init__(self, engine: Transkun) -> None:
        self.engine = engine
        hop_frames = engine.hop // engine.frame_hop
        self._hop_frames = hop_frames
        lead_s = engine.segment_s - engine.hop_s
        self._start = [math.floor(lead_s * engine.sample_rate / engine.frame_hop)] * len(TRACKS)
        self._by_pitch: dict[int, list[_Event]] = {}
        self._windows = 0

    def feed(self, enc: Encoded) -> None:
        """Decode the next window of the file."""
        eng = self.engine
        paths = follow_paths(enc.jump, enc.single, self._start)
        last_frame = round(eng.window / eng.frame_hop)
        begin = self._windows * eng.hop / eng.sample_rate - (eng.segment_s - eng.hop_s)
        self._windows += 1
        frame_s = eng.frame_hop / eng.sample_rate
        events: list[_Event] = []
        ends = [0] * len(TRACKS)
        if any(paths):
            velocity, shift, present = eng.attributes(enc, paths)
            i = 0
            for k, path in enumerate(paths):
                last_end = 0.0
                for b, e in path:
                    start = max((b + shift[i][0]) * frame_s, last_end)
                    end = max((e + shift[i][1]) * frame_s, start + 1e-8)
                    last_end = end
                    has_on = b > 0 or present[i][0]
                    has_off = e < last_frame or present[i][1]
                    events.append(_Event(start, end, TRACKS[k], int(velocity[i]), has_on, has_off))
                    if has_off:
                        ends[k] = e
                    i += 1
            events.sort(key=lambda ev: (ev.start, ev.end, ev.pitch))
        self._start = [max(e - self._hop_frames, 0) for e in ends]
        for ev in events:
            ev.start = max(ev.start + begin, 0.0)
            ev.end = max(ev.end + begin, ev.start)
            self._join(ev)

    def _join(self, ev: _Event) -> None:
        seen = self._by_pitch.setdefault(ev.pitch, [])
        if seen and ev.start < seen[-1].end:
            if ev.has_onset:
                seen[-1] = ev
            else:
                seen[-1].has_offset = ev.has_offset
                seen[-1].end = max(ev.end, seen[-1].end)
            return
        if ev.has_onset:
            seen.append(ev)

    def finish(self) -> list[tuple[float, float, int, int]]:
        """The file's notes and pedal events as ``(onset_s, offset_s, pitch, velocity)``
        sorted by time; a pedal has pitch ``-64`` (sustain) or ``-67`` (soft)."""
        done: list[_Event] = []
        for seen in self._by_pitch.values():
            if seen:
                seen[-1].has_offset = True
            done.extend(ev for ev in seen if ev.has_offset)
        done.sort(key=lambda ev: (ev.start, ev.end, ev.pitch))
        last: dict[int, _Event] = {}
        for ev in done:  # a note ends where the next note of its pitch starts
            prev = last.get(ev.pitch)
            if prev is not None and prev.end > ev.start:
                prev.end = ev.start
            last[ev.pitch] = ev
        return [(ev.start, ev.end, ev.pitch, ev.velocity) for ev in done if ev.start < ev.end]
