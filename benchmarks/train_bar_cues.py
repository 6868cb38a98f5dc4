"""Train the two beat-synchronous cue models of the ``beats`` task (``audiolens.tasks.beats.cues``).

Data: every piece of the training corpora (``--corpus DIR[:WEIGHT]``, repeatable; a corpus
with a ``HELD_OUT`` file is refused, and of ``_corpus_beats`` only its ``train`` rows less the
last 20, which ``bench_beat_models.py --validation`` scores as rendered val). Each piece goes
through the shipped front end and network once (the spectrogram, the activations and the
frame summary, :func:`audiolens.tasks.beats.cues.frame_cues`); its annotated beats give:

- the downbeat model's rows: the cues of each annotated beat with the downbeat activation,
  labelled 1 at bar position 1 (pieces under 100 BPM also as tracked in eighths: the beats and
  their midpoints, labelled at the downbeats, as the tracker may give them);
- the beat model's rows: the cues of the beats and of the midpoints between them (no
  activation: the model is a second opinion on the network's beat), labelled 1 at the beats.

Each piece weighs the same whatever its length (times its corpus's weight). Each model is
the mean of ``--ensemble`` (2) one-hidden-layer networks (32 ELU units, dropout 0.2, Adam, weight
decay 1e-4) trained from seeds 0, 1, ...; the weights go to
``src/audiolens/tasks/beats/bar_cues.npz`` (float32, BSD-3-Clause like the package), read by
numpy at run time; torch is needed only here. The shipped models (issue 15, session 20)::

    python benchmarks/train_bar_cues.py --corpus benchmarks/_corpus_beats \
        --corpus benchmarks/_corpus_beats_real101 --corpus benchmarks/_corpus_beats_modules \
        --corpus benchmarks/_corpus_beats_modules2 --corpus benchmarks/_corpus_beats_synco404 \
        --corpus benchmarks/_corpus_beats_comp303 --corpus benchmarks/_corpus_beats_charts:3
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

OUT = HERE.parent / "src" / "audiolens" / "tasks" / "beats" / "bar_cues.npz"
HIDDEN = 32
EPOCHS = {"downbeat": 30, "beat": 20}
#: pieces slower than this are also given to the downbeat model as tracked in eighths
SLOW_BPM = 100.0


def rows_of(corpus: Path) -> list[Path]:
    """The audio files of a corpus that may be trained on."""
    from train_beats import CORPUS, _guard, pieces

    _guard(corpus)
    holdout = 20 if corpus.resolve() == CORPUS.resolve() else 0
    rows = pieces("train", holdout, corpus)
    if corpus.resolve() != CORPUS.resolve():
        rows += pieces("test", 0, corpus)
    return [Path(r["path"]) for r in rows]


def piece_rows(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    """(inputs, labels) of one piece for each model; None without bars."""
    from audiolens.tasks.beats.activation import load_net
    from audiolens.tasks.beats.cues import beat_cues, frame_cues, in_context
    from audiolens.tasks.beats.features import FPS
    from train_beats import annotated_beats, piece_spectrogram

    ann = annotated_beats(path)
    if ann.shape[0] < 8 or ann.shape[1] < 2 or not (ann[:, 1] == 1).any():
        return None
    S = piece_spectrogram(path)
    act, cues = load_net()(S), frame_cues(S)
    frames = np.round(ann[:, 0] * FPS).astype(np.int64)
    ok = (frames >= 0) & (frames < S.shape[1])
    frames, down = frames[ok], (ann[ok, 1] == 1).astype(np.float32)
    step = np.concatenate([[True], np.diff(frames) > 1])
    frames, down = frames[step], down[step]
    if frames.size < 8:
        return None
    mid = (frames[:-1] + frames[1:]) // 2
    grid = np.sort(np.concatenate([frames, mid]))
    on = np.zeros(grid.size, np.float32)
    on[0::2] = 1.0
    xs = [in_context(beat_cues(cues, frames, downbeat=act[1]))]
    ys = [down]
    if 60.0 / np.median(np.diff(frames / FPS)) < SLOW_BPM:
        eighths = np.zeros(grid.size, np.float32)
        eighths[0::2] = down
        xs.append(in_context(beat_cues(cues, grid, downbeat=act[1])))
        ys.append(eighths)
    return {
        "downbeat": (np.concatenate(xs).astype(np.float32), np.concatenate(ys)),
        "beat": (in_context(beat_cues(cues, grid)).astype(np.float32), on),
    }


def train_one(X: np.ndarray, y: np.ndarray, w: np.ndarray, *, epochs: int, seed: int):
    """One network: returns (w1 [H, D], b1 [H], w2 [H], b2 scalar)."""
    import torch

    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(X.shape[1], HIDDEN),
        torch.nn.ELU(),
        torch.nn.Dropout(0.2),
        torch.nn.Linear(HIDDEN, 1),
    )
    opt = torch.optim.Adam(net.parameters(), lr=2e-3, weight_decay=1e-4)
    Xt, yt, wt = (torch.from_numpy(a.astype(np.float32)) for a in (X, y, w))
    for _ in range(epochs):
        perm = torch.randperm(X.shape[0])
        for i in range(0, X.shape[0], 512):
            b = perm[i : i + 512]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                net(Xt[b])[:, 0], yt[b], reduction="none"
            )
            loss = (loss * wt[b]).sum() / wt[b].sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    sd = {k: v.detach().numpy() for k, v in net.state_dict().items()}
    return sd["0.weight"], sd["0.bias"], sd["3.weight"][0], float(sd["3.bias"][0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", action="append", required=True, help="DIR or DIR:WEIGHT")
    ap.add_argument("--ensemble", type=int, default=2)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    todo: list[tuple[Path, float]] = []
    for spec in args.corpus:
        folder, _, weight = spec.partition(":")
        todo += [(p, float(weight or 1)) for p in rows_of(Path(folder))]
    data: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {"downbeat": [], "beat": []}
    with ProcessPoolExecutor(args.jobs) as pool:
        for (_, weight), rows in zip(todo, pool.map(piece_rows, [p for p, _ in todo])):
            for name, (X, y) in (rows or {}).items():
                data[name].append((X, y, np.full(y.size, weight * 60.0 / y.size)))
    print(f"{len(todo)} pieces, {len(data['beat'])} with bars")
    out: dict[str, np.ndarray] = {}
    for name, parts in data.items():
        X, y, w = (np.concatenate(a) for a in zip(*parts))
        nets = [train_one(X, y, w, epochs=EPOCHS[name], seed=s) for s in range(args.ensemble)]
        for k, stacked in zip(("w1", "b1", "w2", "b2"), zip(*nets)):
            out[f"{name}_{k}"] = np.asarray(stacked, dtype=np.float32)
        prior = float(np.average(y, weights=w))
        out[f"{name}_base"] = np.float32(np.log(prior / (1.0 - prior)) if name == "downbeat" else 0)
        print(f"{name}: {X.shape[0]} rows of {X.shape[1]}, prior {prior:.3f}")
    np.savez(args.out, **out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
