"""Train the content model of the ``quality`` task and write ``quality_model.npz``.

Usage::

    python benchmarks/quality_corpus.py            # make the corpus (encodes audio itself)
    python benchmarks/train_quality.py             # train on its train split, write the model

Only the corpus's *train* split is used (sources are split, never files), so the benchmark's
test split holds sources the model never saw. Needs scikit-learn (``pip install
'audiolens[train]'``); the written model is plain numpy arrays.
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from _quality_data import CORPUS, content_label, features_for, read_manifest
from audiolens.tasks.quality.features import FEATURE_NAMES
from audiolens.tasks.quality.model import CONTENT_CLASSES, MODEL_PATH, QualityModel


def _fit(x: np.ndarray, y: np.ndarray, seed: int):
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(
        hidden_layer_sizes=(96, 48),
        alpha=1e-3,
        max_iter=600,
        early_stopping=False,
        random_state=seed,
    )
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    clf.fit((x - mean) / scale, y)
    return clf, mean, scale


def _to_model(clf, mean, scale, thresholds, origin) -> QualityModel:
    order = [list(clf.classes_).index(c) for c in CONTENT_CLASSES]
    weights = [w.copy() for w in clf.coefs_]
    biases = [b.copy() for b in clf.intercepts_]
    weights[-1], biases[-1] = weights[-1][:, order], biases[-1][order]
    return QualityModel(
        CONTENT_CLASSES,
        FEATURE_NAMES,
        mean,
        scale,
        tuple(weights),
        tuple(biases),
        thresholds,
        origin,
    )


def _origin_table(rows, feats) -> dict[str, np.ndarray]:
    cut = FEATURE_NAMES.index("cutoff_khz")
    by: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        codec = r.get("origin_codec", "")
        if codec in ("aac", "vorbis", "opus") and r["path"] in feats and r.get("origin_kbps"):
            by[codec][int(float(r["origin_kbps"]))].append(feats[r["path"]][cut])
    return {
        c: np.array([[k, float(np.median(v))] for k, v in sorted(t.items())]) for c, t in by.items()
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", type=Path, default=CORPUS / "manifest.csv")
    ap.add_argument("--out", type=Path, default=MODEL_PATH)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--folds", type=int, default=4)
    args = ap.parse_args(argv)

    rows = [r for r in read_manifest(args.manifest) if r["split"] == "train"]
    feats = features_for([r["path"] for r in rows], CORPUS / "features.npz")
    rows = [r for r in rows if r["path"] in feats]
    x = np.stack([feats[r["path"]] for r in rows])
    y = np.array([content_label(r) for r in rows])
    groups = np.array([r["source_id"] for r in rows])
    print(f"train: {len(rows)} files from {len(set(groups))} sources; {Counter(y)}")

    # out-of-fold probabilities by source, to choose the decision thresholds honestly
    sources = sorted(set(groups))
    rng = np.random.default_rng(args.seed)
    fold_of = dict(zip(rng.permutation(sources), np.arange(len(sources)) % args.folds))
    fold = np.array([fold_of[g] for g in groups])
    oof = np.zeros((len(rows), len(CONTENT_CLASSES)))
    for k in range(args.folds):
        tr, te = fold != k, fold == k
        clf, mean, scale = _fit(x[tr], y[tr], args.seed)
        m = _to_model(clf, mean, scale, {}, {})
        oof[te] = m.predict_proba(x[te])
    pred = np.array(CONTENT_CLASSES)[oof.argmax(axis=1)]
    print(f"out-of-fold content accuracy: {np.mean(pred == y):.4f}")
    # lossless threshold: the smallest that keeps true lossless files lossless 99.75% of the time
    p_ll = oof[:, CONTENT_CLASSES.index("lossless")]
    is_ll = y == "lossless"
    t_ll = float(min(0.5, np.quantile(p_ll[is_ll], 0.0025) * 0.9)) if is_ll.any() else 0.5
    caught = np.mean(p_ll[~is_ll] < t_ll)
    print(
        f"lossless threshold {t_ll:.3f}: lossy content caught {caught:.4f}, "
        f"lossless kept {np.mean(p_ll[is_ll] >= t_ll):.4f}"
    )

    clf, mean, scale = _fit(x, y, args.seed)
    model = _to_model(
        clf, mean, scale, {"lossless": t_ll, "lower": 0.5}, _origin_table(rows, feats)
    )
    model.save(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
