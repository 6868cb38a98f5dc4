"""Train the beat and downbeat activation network of the ``beats`` task.

Data: the ``train`` split of ``benchmarks/_corpus_beats`` (made by ``beats_corpus.py``: rendered
MIDI in 3/4, 4/4 and 6/8, 60-200 BPM, with exact beats and bar positions), plus every piece of
any ``--extra`` corpus made by ``beats_corpus.py --seed 1 --out ...`` (other seeds compose other
pieces). The ``test`` split of ``_corpus_beats`` is never read here.

Input: madmom's log-filtered spectrogram (81 bands, 100 frames/s, ``audiolens.tasks.beats.
features.logspec``) and its positive first difference, each band standardised with the
training set's mean and deviation. Targets per frame: beat (1 at the annotated frame, 0.5 on
its neighbours) and downbeat (the same at bar position 1).

Network (``audiolens.tasks.beats.activation``): a 1x1 convolution to C channels, then a stack
of dilated non-causal convolutions (kernel 3, dilations 1, 2, 4, ... 512: a receptive field of
about 20 s) with residual connections and ELU, then a 1x1 convolution to two sigmoid outputs.
Trained with Adam on random 15 s crops, random gain (a constant added to the log spectrogram)
and a little noise. The weights go to ``src/audiolens/tasks/beats/beat_model.npz`` (float32,
BSD-3-Clause like the package), read by numpy at run time; torch is needed only here.

Usage::

    python benchmarks/beats_corpus.py --jobs 2      # once
    python benchmarks/beats_corpus.py --seed 1 --n 150 --out benchmarks/_corpus_beats_seed1
    python benchmarks/train_beats.py --extra benchmarks/_corpus_beats_seed1 [--epochs 60]

Fine-tuning the shipped network on new material (``beats_real.py``: instrument sets, real
drums, comping without drums, swing, drift, pickups, room and bus), mixed with the rendered
``train`` pieces: ``--init src/audiolens/tasks/beats/beat_model.npz --lr 5e-4 --augment
--extra benchmarks/_corpus_beats_real101``. A corpus holding a ``HELD_OUT`` file (``beats_real.py
--split test``) is refused.

Interpolating two networks' weights (``--interpolate BASE.npz TUNED.npz --alpha A``: each
weight ``(1 - A) * base + A * tuned``; both must share the architecture and the input
standardisation, as a fine-tuned network and the one it started from do) keeps most of what
fine-tuning gained on new material and most of what the base knew (Wortsman et al., "Robust
fine-tuning of zero-shot models", CVPR 2022). The candidate of issue 15, session 14 (not
shipped: see RESULTS.md) was made so::

    python benchmarks/beats_negatives.py                       # speech, noise, free rhythm
    python benchmarks/train_beats.py --init BASE.npz --lr 5e-4 --epochs 30 --channels 24 \
        --holdout 20 --threads 1 --extra benchmarks/_corpus_beats_real101 \
        --extra benchmarks/_corpus_beats_comp303 --extra benchmarks/_corpus_beats_synco404 \
        --extra benchmarks/_corpus_beats_synco404 --extra benchmarks/_corpus_beats_negatives \
        --out TUNED.npz
    python benchmarks/train_beats.py --interpolate BASE.npz TUNED.npz --alpha 0.35

The network shipped since issue 15, session 17: that mix (``BASE2.npz``) fine-tuned again with
tracker modules (``beats_modules.py``: produced game music with an exact beat grid), listed
three times, then mixed with it at 0.65::

    python benchmarks/beats_modules.py --src /usr/share --out benchmarks/_corpus_beats_modules
    python benchmarks/train_beats.py --init BASE2.npz --lr 5e-4 --epochs 36 --channels 24 \
        --holdout 20 --threads 2 --augment --seed 1 --extra benchmarks/_corpus_beats_real101 \
        --extra benchmarks/_corpus_beats_comp303 --extra benchmarks/_corpus_beats_synco404 \
        --extra benchmarks/_corpus_beats_synco404 --extra benchmarks/_corpus_beats_negatives \
        --extra benchmarks/_corpus_beats_modules --extra benchmarks/_corpus_beats_modules \
        --extra benchmarks/_corpus_beats_modules --out TUNED2.npz
    python benchmarks/train_beats.py --interpolate BASE2.npz TUNED2.npz --alpha 0.65

The network shipped since issue 15, session 19: that one (``BASE3.npz``) fine-tuned with the
band recordings of ``beats_charts.py`` (four times), the tracker modules of both builds
(``_corpus_beats_modules2`` twice), slow grooves with busy hi-hats (``beats_real.py --slow``,
twice: without them every fine-tuning read a 70 BPM rock groove at 140) and another 150
rendered pieces, then mixed with it at 0.5 (1504 pieces, 873 min, 26 epochs: 27 min on 2
cores)::

    python benchmarks/beats_real.py --seed 606 --n 120 --slow --out benchmarks/_corpus_beats_slow606
    python benchmarks/beats_corpus.py --seed 1 --n 150 --out benchmarks/_corpus_beats_seed1
    python benchmarks/train_beats.py --init BASE3.npz --lr 3e-4 --epochs 26 --channels 24 \
        --holdout 20 --threads 2 --augment --seed 3 --extra benchmarks/_corpus_beats_real101 \
        --extra benchmarks/_corpus_beats_comp303 --extra benchmarks/_corpus_beats_synco404 \
        --extra benchmarks/_corpus_beats_synco404 --extra benchmarks/_corpus_beats_negatives \
        --extra benchmarks/_corpus_beats_modules --extra benchmarks/_corpus_beats_modules2 \
        --extra benchmarks/_corpus_beats_modules2 --extra benchmarks/_corpus_beats_charts \
        --extra benchmarks/_corpus_beats_charts --extra benchmarks/_corpus_beats_charts \
        --extra benchmarks/_corpus_beats_charts --extra benchmarks/_corpus_beats_slow606 \
        --extra benchmarks/_corpus_beats_slow606 --extra benchmarks/_corpus_beats_seed1 \
        --out TUNED3.npz
    python benchmarks/train_beats.py --interpolate BASE3.npz TUNED3.npz --alpha 0.5
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "_corpus_beats"
OUT = HERE.parent / "src" / "audiolens" / "tasks" / "beats" / "beat_model.npz"
CROP = 1500


def pieces(split: str, holdout: int = 0, corpus: Path = CORPUS) -> list[dict[str, str]]:
    """The manifest rows of a split; ``holdout`` > 0 keeps back the last ``holdout`` rows of
    ``train`` (``split="train"`` gives the rest, ``split="validation"`` those)."""
    with open(corpus / "manifest.csv", newline="") as fh:
        rows = [{**r, "path": str(corpus / r["path"])} for r in csv.DictReader(fh)]
    if split == "validation":
        return [r for r in rows if r["split"] == "train"][-holdout:] if holdout else []
    rows = [r for r in rows if r["split"] == split]
    return rows[:-holdout] if split == "train" and holdout else rows


def _guard(corpus: Path) -> None:
    """Refuse a held-out corpus (``beats_real.py --split test`` leaves a ``HELD_OUT`` file)."""
    if (corpus / "HELD_OUT").exists():
        raise SystemExit(f"{corpus} is a held-out test corpus: never train on it")


def annotated_beats(path: Path) -> np.ndarray:
    """A corpus piece's ``.beats`` file: [shape=(n, 2)] time (s) and bar position; no rows
    when it is empty (a piece without a beat, ``beats_negatives.py``)."""
    text = path.with_suffix(".beats").read_text()
    return np.loadtxt(text.splitlines(), ndmin=2) if text.strip() else np.zeros((0, 2))


def piece_spectrogram(path: Path) -> np.ndarray:
    """The beat front end's log-filtered spectrogram of a corpus piece (mono, 44.1 kHz)."""
    from audiolens import load
    from audiolens.tasks.beats.features import logspec

    return logspec(load(path, sr=44100, mono=True).samples[0])


def load_split(rows: list[dict[str, str]]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(features [frames, 162], targets [frames, 2]) per piece."""
    from audiolens.tasks.beats.activation import input_features
    from audiolens.tasks.beats.features import FPS

    out = []
    for r in rows:
        path = Path(r["path"])
        x = input_features(piece_spectrogram(path), standardize=False)
        ann = annotated_beats(path)
        y = np.zeros((x.shape[0], 2), dtype=np.float32)
        for t, pos in ann:
            i = int(round(t * FPS))
            for d, v in ((-1, 0.5), (1, 0.5), (0, 1.0)):
                if 0 <= i + d < y.shape[0]:
                    y[i + d, 0] = max(y[i + d, 0], v)
                    if int(pos) == 1:
                        y[i + d, 1] = max(y[i + d, 1], v)
        out.append((x, y))
    return out


def _targets(frames: np.ndarray, n: int) -> np.ndarray:
    t = np.zeros(n, dtype=np.float32)
    for i in frames:
        for d, v in ((-1, 0.5), (1, 0.5), (0, 1.0)):
            if 0 <= i + d < n:
                t[i + d] = max(t[i + d], v)
    return t


def pitch_shift(S: np.ndarray, semitones: float) -> np.ndarray:
    """Frames of the 81-band log-filtered spectrogram as if the audio were ``semitones``
    higher: each band takes the value at its centre frequency / 2^(semitones / 12), read by
    linear interpolation along log frequency between the band centres (whole bands from about
    360 Hz up, where the bands are a semitone apart; a blend of the wider bands below). What
    falls outside the bank is 0.

    Parameters
    ----------
    S : np.ndarray [shape=(n_frames, 81)] frames first, as the training features
    """
    from audiolens.dsp import log_filterbank_frequencies

    octaves = np.log2(log_filterbank_frequencies(sr=44100, frame_size=2048))
    src = octaves - semitones / 12.0
    hi = np.clip(np.searchsorted(octaves, src), 1, octaves.size - 1)
    w = np.clip((src - octaves[hi - 1]) / (octaves[hi] - octaves[hi - 1]), 0.0, 1.0)
    out = S[:, hi - 1] * (1 - w) + S[:, hi] * w
    outside = (src < octaves[0] - 1e-9) | (src > octaves[-1] + 1e-9)
    out[:, outside] = 0.0
    return out.astype(S.dtype, copy=False)


def _with_rise(S: np.ndarray) -> np.ndarray:
    """Frames of the spectrogram and its positive first difference (the network's input)."""
    diff = np.zeros_like(S)
    diff[1:] = np.maximum(S[1:] - S[:-1], 0)
    return np.concatenate([S, diff], axis=1)


def crop(
    x: np.ndarray,
    y: np.ndarray,
    rng: np.random.Generator,
    *,
    augment: bool,
    shift: float = 0.0,
):
    """A random CROP-frame training example: features and targets.

    Always: a random gain on the spectrogram and a little noise. With ``augment``: a time
    stretch by 0.8-1.25 (frames interpolated, the positive difference recomputed, the beats
    moved with the frames) and a spectral tilt of up to +-0.15 across the bands. With
    ``shift``: a pitch shift by a uniform -shift to +shift semitones (:func:`pitch_shift`),
    the positive difference recomputed.
    """
    if shift:  # on a window long enough for the stretch below
        width = 2 * CROP if augment else CROP
        a = int(rng.integers(max(x.shape[0] - width, 1)))
        x = _with_rise(pitch_shift(x[a : a + width, :81], float(rng.uniform(-shift, shift))))
        y = y[a : a + width]
    if not augment:  # the crops the shipped network was trained on
        a = rng.integers(max(x.shape[0] - CROP, 1))
        xc, yc = x[a : a + CROP], y[a : a + CROP]
        if xc.shape[0] < CROP:
            pad = CROP - xc.shape[0]
            xc = np.pad(xc, ((0, pad), (0, 0)))
            yc = np.pad(yc, ((0, pad), (0, 0)))
        gain = rng.uniform(-0.3, 0.3)
        xc = xc.copy()
        xc[:, :81] = np.maximum(xc[:, :81] + gain * (xc[:, :81] > 0), 0)
        xc += rng.normal(0, 0.02, xc.shape).astype(np.float32)
        return xc, yc
    r = float(np.exp(rng.uniform(np.log(0.8), np.log(1.25))))
    span = int(np.ceil(CROP * r)) + 1
    a = int(rng.integers(max(x.shape[0] - span, 1)))
    S, t = x[a : a + span, :81], y[a : a + span]
    if S.shape[0] < span:
        S = np.pad(S, ((0, span - S.shape[0]), (0, 0)))
        t = np.pad(t, ((0, span - t.shape[0]), (0, 0)))
    pos = np.arange(CROP) * r
    i0 = np.minimum(pos.astype(int), span - 2)
    w = (pos - i0)[:, None].astype(np.float32)
    S = S[i0] * (1 - w) + S[i0 + 1] * w
    yc = np.stack(
        [_targets(np.round(np.flatnonzero(t[:, k] == 1.0) / r).astype(int), CROP)
         for k in range(2)],
        axis=1,
    )  # fmt: skip
    S = np.maximum(S + rng.uniform(-0.3, 0.3) * (S > 0), 0)
    S = np.maximum(S + rng.uniform(-0.15, 0.15) * np.linspace(-1, 1, 81), 0)
    xc = _with_rise(S).astype(np.float32)
    xc += rng.normal(0, 0.02, xc.shape).astype(np.float32)
    return xc, yc


def build(channels: int, dilations: list[int]):
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inp = nn.Conv1d(162, channels, 1)
            self.convs = nn.ModuleList(
                nn.Conv1d(channels, channels, 3, dilation=d, padding=d) for d in dilations
            )
            self.drop = nn.Dropout(0.1)
            self.out = nn.Conv1d(channels, 2, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = nn.functional.elu(self.inp(x))
            for conv in self.convs:
                h = h + self.drop(nn.functional.elu(conv(h)))
            return self.out(h)

    return Net()


def init_from(net, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Load saved weights (the ``beat_model.npz`` layout) into ``net``; their mean and std."""
    import torch

    w = np.load(path)
    state = {
        "inp.weight": w["inp_w"][:, :, None],
        "inp.bias": w["inp_b"],
        "out.weight": w["out_w"][:, :, None],
        "out.bias": w["out_b"],
    }
    for i in range(len(w["dilations"])):
        state[f"convs.{i}.weight"] = w[f"conv{i}_w"]
        state[f"convs.{i}.bias"] = w[f"conv{i}_b"]
    net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    return w["mean"], w["std"]


def interpolate(base: Path, tuned: Path, alpha: float, out: Path) -> None:
    """Write ``(1 - alpha) * base + alpha * tuned``, weight by weight (see the module docstring)."""
    a, b = np.load(base), np.load(tuned)
    if sorted(a.files) != sorted(b.files):
        raise SystemExit(f"{base} and {tuned} are not the same network")
    mixed = {}
    for k in a.files:
        if a[k].shape != b[k].shape:
            raise SystemExit(f"{base} and {tuned} differ in the shape of {k}")
        if a[k].dtype.kind != "f" or k in ("mean", "std"):
            if not np.array_equal(a[k], b[k]):
                raise SystemExit(f"{base} and {tuned} differ in {k}: interpolate a fine-tuning")
            mixed[k] = a[k]
        else:
            mixed[k] = ((1 - alpha) * a[k].astype(np.float64) + alpha * b[k]).astype(a[k].dtype)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **mixed)
    print(f"wrote {out}: {1 - alpha:g} x {base.name} + {alpha:g} x {tuned.name}")


def main() -> None:
    import sys

    if "--interpolate" in sys.argv:
        ap = argparse.ArgumentParser(description="interpolate two networks' weights")
        ap.add_argument("--interpolate", type=Path, nargs=2, metavar=("BASE", "TUNED"))
        ap.add_argument("--alpha", type=float, required=True, help="the tuned network's share")
        ap.add_argument("--out", type=Path, default=OUT)
        a = ap.parse_args()
        if not 0.0 <= a.alpha <= 1.0:
            raise SystemExit(f"--alpha {a.alpha} must be within 0-1")
        interpolate(*a.interpolate, a.alpha, a.out)
        return
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--channels", type=int, default=20)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument(
        "--extra",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="another corpus made with a different --seed (all its pieces are new, so all "
        "train the network); may be repeated",
    )
    ap.add_argument(
        "--augment",
        action="store_true",
        help="also time-stretch (0.8-1.25) and tilt the spectrum of the training crops",
    )
    ap.add_argument(
        "--pitch-shift",
        type=float,
        default=0.0,
        metavar="SEMITONES",
        help="also shift the pitch of each training crop by a uniform +-SEMITONES (0: off)",
    )
    ap.add_argument(
        "--init",
        type=Path,
        default=None,
        metavar="NPZ",
        help="start from these weights (same channels) and keep their input standardisation: "
        "fine-tuning, e.g. the shipped network on new material",
    )
    ap.add_argument("--lr", type=float, default=2e-3, help="Adam's first learning rate")
    ap.add_argument(
        "--holdout",
        type=int,
        default=0,
        help="keep the last N train pieces out (a validation set for the decoder's settings)",
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch threads (0: torch's default); 1 is ~4x faster on a machine others load",
    )
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    rows = pieces("train", args.holdout)
    for extra in args.extra:
        _guard(extra)
        rows += pieces("train", corpus=extra) + pieces("test", corpus=extra)
    data = load_split(rows)
    allx = np.concatenate([x for x, _ in data])
    mean, std = allx.mean(axis=0), allx.std(axis=0) + 1e-5
    print(
        f"{len(data)} pieces, {allx.shape[0] / 6000:.1f} min, features in "
        f"{time.perf_counter() - t0:.1f} s"
    )
    dilations = [2**i for i in range(10)]
    net = build(args.channels, dilations)
    if args.init is not None:
        mean, std = init_from(net, args.init)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs)
    lossf = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor([[4.0], [12.0]]))
    steps = max(allx.shape[0] // (CROP * args.batch), 1)
    for epoch in range(args.epochs):
        net.train()
        total = 0.0
        for _ in range(steps):
            xs, ys = [], []
            for _ in range(args.batch):
                x, y = data[rng.integers(len(data))]
                xc, yc = crop(x, y, rng, augment=args.augment, shift=args.pitch_shift)
                xs.append((xc - mean) / std)
                ys.append(yc)
            xb = torch.from_numpy(np.stack(xs).transpose(0, 2, 1).astype(np.float32))
            yb = torch.from_numpy(np.stack(ys).transpose(0, 2, 1).astype(np.float32))
            loss = lossf(net(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        sched.step()
        print(
            f"epoch {epoch + 1:3d}  loss {total / steps:.4f}  {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
    sd = net.state_dict()
    weights = {
        "mean": mean.astype(np.float32),
        "std": std.astype(np.float32),
        "dilations": np.array(dilations, dtype=np.int32),
        "inp_w": sd["inp.weight"].numpy()[:, :, 0],
        "inp_b": sd["inp.bias"].numpy(),
        "out_w": sd["out.weight"].numpy()[:, :, 0],
        "out_b": sd["out.bias"].numpy(),
    }
    for i in range(len(dilations)):
        weights[f"conv{i}_w"] = sd[f"convs.{i}.weight"].numpy()
        weights[f"conv{i}_b"] = sd[f"convs.{i}.bias"].numpy()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **{k: np.asarray(v, dtype=v.dtype) for k, v in weights.items()})
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
