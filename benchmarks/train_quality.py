"""Train the content model of the ``quality`` task and write ``quality_model.npz``.

Usage::

    python benchmarks/quality_corpus.py            # make the corpus (encodes audio itself)
    python benchmarks/train_quality.py             # train on its train split, write the model

Only the corpus's *train* split is used (sources are split, never files), so the benchmark's
test split holds sources the model never saw. Trains extremely randomized trees with
scikit-learn (``pip install 'audiolens[train]'``); the written model is plain numpy arrays.
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

from _quality_data import CORPUS, content_label, features_for, read_manifest
from audiolens.tasks.quality import lower_quality_mass
from audiolens.tasks.quality.features import FEATURE_NAMES
from audiolens.tasks.quality.model import CONTENT_CLASSES, MODEL_PATH, QualityModel

#: files whose 12-16 kHz band is below this level give no evidence: the features' per-bin
#: power of 16-bit quantization noise is 10*log10((2/2**16)**2 / 12 * 1536) = -69 dB, and
#: content less than 9 dB above that floor is too faint to show a codec's marks
EVIDENCE_DB = -60.0


def _fit(x: np.ndarray, y: np.ndarray, seed: int, trees: int):
    from sklearn.ensemble import ExtraTreesClassifier

    clf = ExtraTreesClassifier(
        n_estimators=trees, min_samples_leaf=2, max_features="sqrt", random_state=seed, n_jobs=2
    )
    labels, counts = np.unique(y, return_counts=True)
    weight = dict(zip(labels, len(y) / (len(labels) * counts)))  # balance the classes
    return clf.fit(x, y, sample_weight=np.array([weight[v] for v in y]))


def _to_model(clf, thresholds, origin) -> QualityModel:
    """Flatten a fitted scikit-learn forest into :class:`QualityModel` arrays."""
    order = [list(clf.classes_).index(c) for c in CONTENT_CLASSES]
    feats, thrs, lefts, rights, values, roots = [], [], [], [], [], []
    offset = 0
    for est in clf.estimators_:
        t = est.tree_
        leaf = t.children_left < 0
        roots.append(offset)
        feats.append(np.where(leaf, -1, t.feature))
        thrs.append(t.threshold)
        lefts.append(np.where(leaf, 0, t.children_left) + offset)
        rights.append(np.where(leaf, 0, t.children_right) + offset)
        v = t.value[:, 0, :][:, order]
        values.append(v / np.maximum(v.sum(axis=1, keepdims=True), 1e-12))
        offset += t.node_count
    return QualityModel(
        CONTENT_CLASSES,
        FEATURE_NAMES,
        np.array(roots),
        np.concatenate(feats),
        np.concatenate(thrs),
        np.concatenate(lefts),
        np.concatenate(rights),
        np.concatenate(values),
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


def _lossless_threshold(p_lossless: np.ndarray, p_lossy: np.ndarray, keep: float) -> float:
    """The lowest lossless probability still called lossless: the highest threshold that keeps
    at least ``keep`` of the lossless files (out of fold, with evidence) lossless, at most 0.5.
    Prints the trade-off at a few thresholds."""
    if not p_lossless.size:
        return 0.5
    t = float(min(0.5, np.quantile(p_lossless, 1.0 - keep)))
    for v in sorted({0.02, 0.05, 0.1, 0.2, 0.3, t}):
        print(
            f"  lossless threshold {v:.3f}: lossless kept {np.mean(p_lossless >= v):.4f}, "
            f"lossy content caught {np.mean(p_lossy < v):.4f}"
        )
    return t


def _lower_threshold(rows, oof: np.ndarray, evidence: np.ndarray) -> float:
    """How sure the content must be that an MP3 came from a lower class to call it a transcode:
    high enough that out of fold at most 1% of genuine LAME files with evidence are flagged."""
    genuine, upscaled = [], []
    for i, r in enumerate(rows):
        if not r["kind"].startswith("mp3_") or not evidence[i]:
            continue
        claim = "320" if r["verdict"] == "transcode" else r["bitrate_class"]
        mass = lower_quality_mass(claim, dict(zip(CONTENT_CLASSES, oof[i])))
        (genuine if r["verdict"] == "lossy" else upscaled).append(mass)
    t = max(0.5, float(np.quantile(genuine, 0.99))) if genuine else 0.5
    found = np.mean(np.array(upscaled) >= t) if upscaled else float("nan")
    print(
        f"transcode threshold {t:.3f}: out of fold, upscaled MP3s found {found:.4f}, "
        f"genuine MP3s flagged {np.mean(np.array(genuine) >= t):.4f}"
    )
    return t


#: fewest verdicts per calibration bin: a share of right verdicts from fewer is too noisy
CALIB_BIN = 40
#: the one-sigma lower quantile of a bin's share right that its confidence claims
CALIB_QUANTILE = 0.1587


def _split_weight(row: dict[str, str]) -> float:
    """How many test-split files one training file stands for: train sources get half of the
    fake-lossless FLACs (``quality_corpus.source_specs``), test sources all of them, so each
    counts twice for the calibration to see the test split's share of fakes among FLACs."""
    return 2.0 if row["verdict"] == "transcode" and row["container"] == "flac" else 1.0


def _binned_isotonic(raw: np.ndarray, right: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """A monotone map raw -> share right, as a ``(2, k)`` table for ``np.interp``.

    Raw confidences are sorted into bins of at least ``CALIB_BIN`` verdicts (equal raw values
    are never split); each bin claims the share right its verdicts support at one sigma:
    the lower ``CALIB_QUANTILE`` quantile of Beta(right + 1, wrong + 1) over its weighted
    counts (no bin claims 0 or 1 from a finite sample, and a small bin claims less, since a
    confident wrong verdict costs a user more than a cautious right one). An isotonic fit
    weighted by bin size makes the map non-decreasing. The table's x values are the bins'
    mean raw confidences.
    """
    from scipy.stats import beta
    from sklearn.isotonic import IsotonicRegression

    order = np.argsort(raw, kind="stable")
    raw, right, weight = raw[order], right[order], weight[order]
    centers, rates, sizes = [], [], []
    start = 0
    while start < raw.size:
        stop = min(start + CALIB_BIN, raw.size)
        while stop < raw.size and raw[stop] == raw[stop - 1]:
            stop += 1
        if raw.size - stop < CALIB_BIN // 2:
            stop = raw.size  # fold a small remainder into the last bin
        sel = slice(start, stop)
        w = weight[sel]
        centers.append(float(np.average(raw[sel], weights=w)))
        good = float(np.sum(w * right[sel]))
        rates.append(float(beta.ppf(CALIB_QUANTILE, good + 1.0, float(w.sum()) - good + 1.0)))
        sizes.append(float(w.sum()))
        start = stop
    iso = IsotonicRegression(y_min=0.0, y_max=1.0).fit(centers, rates, sample_weight=sizes)
    return np.stack([np.array(centers), iso.predict(centers)])


def _calibration(rows, x, meta, oof, model: QualityModel) -> dict[str, np.ndarray]:
    """Isotonic maps from raw to calibrated confidence, per kind of verdict.

    Every training file gets the verdict the task would give it from its out-of-fold
    probabilities (so from a model that never saw its source); per kind of verdict,
    :func:`_binned_isotonic` of "the verdict was right" on the raw confidence gives the map.
    Kinds with fewer than 20 verdicts keep their raw confidence.

    The "lossless" curve is learnt as if the AAC lattice (``codec_lattice``) and the MP3 grid
    (``codec_grid``) were not there: every training AAC encode with content shows its
    lattice, but real recordings through AAC at high bitrates often do not (a mono guitar at
    256 kb/s is quantized too finely for its lattice to stand out of 16-bit rounding), and a
    quiet recording through LAME at a high bitrate may leave too few zeros for the grid, so a
    "lossless" answer stays as cautious as the content alone makes it.
    """
    from audiolens.audio import probe
    from audiolens.tasks.quality import raw_verdict
    from audiolens.tasks.quality.features import SpectralSummary

    cut = FEATURE_NAMES.index("cutoff_khz")
    grid = FEATURE_NAMES.index("mp3_grid")
    by: dict[str, tuple[list[float], list[bool], list[float]]] = defaultdict(lambda: ([], [], []))
    for i, r in enumerate(rows):
        info = probe(r["path"])
        summary = SpectralSummary(
            x[i],
            x[i, cut] * 1000.0,
            0.0,
            np.zeros(0),
            np.zeros(0),
            int(meta[i, 1]),
            meta[i, 2],
            meta[i, 3],
            mp3_grid=float(x[i, grid]),
        )
        edge = None if np.isnan(meta[i, 0]) else float(meta[i, 0])
        rv = raw_verdict(info, summary, oof[i], model, edge=edge)
        verdicts = [rv]
        if rv.kind in ("lattice", "grid"):
            plain = replace(summary, lattice=0.0, mp3_grid=0.0)
            verdicts.append(raw_verdict(info, plain, oof[i], model, edge=edge))
        for v in verdicts:
            if v.kind != "unknown":
                by[v.kind][0].append(v.raw)
                by[v.kind][1].append(v.verdict == r["verdict"])
                by[v.kind][2].append(_split_weight(r))
    out = {}
    for kind, (raw, right, weight) in sorted(by.items()):
        raw_a, right_a, w = np.array(raw), np.array(right, dtype=float), np.array(weight)
        share = float(np.sum(w * right_a) / np.sum(w))
        print(f"calibration {kind:10s}: {len(raw)} verdicts, {share:.4f} right (weighted)")
        if len(raw) < 20:
            continue
        out[kind] = _binned_isotonic(raw_a, right_a, w)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", type=Path, default=CORPUS / "manifest.csv")
    ap.add_argument("--out", type=Path, default=MODEL_PATH)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--trees", type=int, default=120)
    ap.add_argument(
        "--lossless-keep",
        type=float,
        default=0.99,
        help="share of lossless training files (out of fold) the lossless threshold keeps",
    )
    args = ap.parse_args(argv)

    rows = [r for r in read_manifest(args.manifest) if r["split"] == "train"]
    feats = features_for([r["path"] for r in rows], CORPUS / "features.npz", meta=True)
    rows = [r for r in rows if r["path"] in feats]
    n_feat = len(FEATURE_NAMES)
    x = np.stack([feats[r["path"]][:n_feat] for r in rows])
    meta = np.stack([feats[r["path"]][n_feat:] for r in rows])
    feats = {p: v[:n_feat] for p, v in feats.items()}
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
        oof[te] = _to_model(_fit(x[tr], y[tr], args.seed, args.trees), {}, {}).predict_proba(x[te])
    pred = np.array(CONTENT_CLASSES)[oof.argmax(axis=1)]
    print(f"out-of-fold content accuracy: {np.mean(pred == y):.4f}")
    # lossless threshold: keep every out-of-fold lossless file with evidence lossless, with margin
    p_ll = oof[:, CONTENT_CLASSES.index("lossless")]
    evidence = x[:, FEATURE_NAMES.index("hf_abs_db")] >= EVIDENCE_DB
    is_ll = (y == "lossless") & evidence
    t_ll = _lossless_threshold(p_ll[is_ll], p_ll[(y != "lossless") & evidence], args.lossless_keep)
    caught = np.mean(p_ll[(y != "lossless") & evidence] < t_ll)
    print(
        f"lossless threshold {t_ll:.3f}: out of fold, lossy content caught {caught:.4f}, "
        f"lossless kept {np.mean(p_ll[is_ll] >= t_ll):.4f} (files with evidence)"
    )

    t_lower = _lower_threshold(rows, oof, evidence)
    model = _to_model(
        _fit(x, y, args.seed, args.trees),
        {"lossless": t_ll, "lower": t_lower, "evidence_db": EVIDENCE_DB},
        _origin_table(rows, feats),
    )
    model = replace(model, calibration=_calibration(rows, x, meta, oof, model))
    model.save(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
