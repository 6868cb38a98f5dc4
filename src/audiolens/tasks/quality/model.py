"""The learned part of the ``quality`` task: a forest of decision trees over :mod:`.features`.

It is trained by ``benchmarks/train_quality.py`` (extremely randomized trees, scikit-learn) on
audio that script's corpus encodes itself, and ships as ``quality_model.npz`` beside this
module: plain arrays (every tree's nodes, thresholds and leaf class probabilities, the class
names, decision thresholds), evaluated here with numpy, so it loads without torch or
scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from ...errors import ModelNotFound

__all__ = ["CONTENT_CLASSES", "MODEL_PATH", "QualityModel", "load_model"]

#: what the content of a file sounds like it came from
CONTENT_CLASSES: tuple[str, ...] = (
    "lossless",
    "128",
    "V2",
    "192",
    "V0",
    "256",
    "320",
    "aac",
    "vorbis",
    "opus",
)
MODEL_PATH = Path(__file__).with_name("quality_model.npz")


#: calibration curves split off an older one: the older one serves models without them
_SPLIT_FROM = {"lossless_short": "lossless"}


@dataclass(frozen=True)
class QualityModel:
    """A forest of binary decision trees, all nodes of all trees in flat arrays.

    Node ``i`` tests ``x[feature[i]] <= threshold[i]`` and goes to ``left[i]`` or ``right[i]``
    (indices into the same arrays); a leaf has ``feature[i] == -1`` and class probabilities
    ``value[i]``. ``roots`` holds each tree's first node. The forest's answer is the mean of its
    trees' leaf probabilities.

    Attributes
    ----------
    classes : class names, in the order of ``value``'s columns
    feature_names : the features it was trained on, in order
    roots : np.ndarray [shape=(n_trees,)]
    feature, left, right : np.ndarray [shape=(n_nodes,)], int
    threshold : np.ndarray [shape=(n_nodes,)], float
    value : np.ndarray [shape=(n_nodes, n_classes)]
    thresholds : decision thresholds chosen at training time (see the task)
    origin_cutoffs : per lossy codec, (kbps, median cutoff in kHz) rows seen in training
    calibration : per kind of verdict ("lossless", "transcode", "upscale", "lossy"), a
        ``(2, k)`` array of raw confidences and the share of verdicts right at each (an
        isotonic fit on out-of-fold predictions); kinds without one are left as they are
    """

    classes: tuple[str, ...]
    feature_names: tuple[str, ...]
    roots: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    thresholds: dict[str, float]
    origin_cutoffs: dict[str, np.ndarray]
    calibration: dict[str, np.ndarray] = field(default_factory=dict)

    def calibrate(self, kind: str, raw: float) -> float:
        """The calibrated confidence of a verdict of ``kind`` given with raw confidence ``raw``.

        A kind split off another (``"lossless_short"`` from ``"lossless"``) uses the other's
        curve in a model trained before the split."""
        table = self.calibration.get(kind, self.calibration.get(_SPLIT_FROM.get(kind, "")))
        if table is None or table.shape[-1] == 0:
            return float(min(max(raw, 0.0), 1.0))
        return float(np.clip(np.interp(raw, table[0], table[1]), 0.0, 1.0))

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities.

        Parameters
        ----------
        x : np.ndarray [shape=(n, n_features)]

        Returns
        -------
        p : np.ndarray [shape=(n, n_classes)], rows sum to 1
        """
        x = np.nan_to_num(np.atleast_2d(np.asarray(x, dtype=np.float64)), nan=0.0)
        n = x.shape[0]
        # every (sample, tree) pair walks down at once, one level per step
        node = np.broadcast_to(self.roots, (n, self.roots.size)).copy()
        rows = np.arange(n)[:, None]
        for _ in range(256):
            feat = self.feature[node]
            inner = feat >= 0
            if not inner.any():
                break
            go_left = x[rows, np.where(inner, feat, 0)] <= self.threshold[node]
            node = np.where(inner, np.where(go_left, self.left[node], self.right[node]), node)
        p = self.value[node].astype(np.float64).mean(axis=1)
        return p / p.sum(axis=1, keepdims=True)

    def estimate_kbps(self, codec: str, cutoff_khz: float) -> int | None:
        """The training bitrate of ``codec`` whose typical cutoff is nearest ``cutoff_khz``."""
        table = self.origin_cutoffs.get(codec)
        if table is None or table.size == 0:
            return None
        i = int(np.argmin(np.abs(table[:, 1] - cutoff_khz)))
        return int(table[i, 0])

    def save(self, path: str | Path) -> None:
        """Write the model as a compressed ``.npz`` (no pickles)."""
        names = sorted(self.thresholds)
        arrays: dict[str, np.ndarray] = {
            "classes": np.array(self.classes),
            "feature_names": np.array(self.feature_names),
            "roots": self.roots.astype(np.int32),
            "feature": self.feature.astype(np.int16),
            "threshold": self.threshold.astype(np.float64),
            "left": self.left.astype(np.int32),
            "right": self.right.astype(np.int32),
            "value": self.value.astype(np.float16),
            "threshold_names": np.array(names),
            "threshold_values": np.array([self.thresholds[k] for k in names]),
        }
        for codec, table in self.origin_cutoffs.items():
            arrays[f"origin_{codec}"] = table
        for kind, table in self.calibration.items():
            arrays[f"calib_{kind}"] = np.asarray(table, dtype=np.float64)
        from ...writing import replace_into

        with replace_into(path, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> QualityModel:
        """Read a model written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as z:
            return cls(
                classes=tuple(str(c) for c in z["classes"]),
                feature_names=tuple(str(c) for c in z["feature_names"]),
                roots=z["roots"].astype(np.intp),
                feature=z["feature"].astype(np.intp),
                threshold=z["threshold"],
                left=z["left"].astype(np.intp),
                right=z["right"].astype(np.intp),
                value=z["value"].astype(np.float32),
                thresholds={
                    str(k): float(v) for k, v in zip(z["threshold_names"], z["threshold_values"])
                },
                origin_cutoffs={
                    k[len("origin_") :]: z[k] for k in z.files if k.startswith("origin_")
                },
                calibration={k[len("calib_") :]: z[k] for k in z.files if k.startswith("calib_")},
            )


@lru_cache(maxsize=4)
def load_model(path: str | None = None) -> QualityModel:
    """Load (once per process) the shipped model, or the one at ``path``.

    Raises
    ------
    ModelNotFound
        when the file is missing, saying where it looked and how to make one.
    """
    where = Path(path) if path else MODEL_PATH
    if not where.is_file():
        raise ModelNotFound(
            f"quality model not found at {where}; reinstall audiolens, or train one with "
            "`python benchmarks/train_quality.py` and pass its path"
        )
    return QualityModel.load(where)
