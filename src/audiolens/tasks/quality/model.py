"""The learned part of the ``quality`` task: a small MLP over :mod:`.features`.

It is trained by ``benchmarks/train_quality.py`` on audio that script encodes itself and ships
as ``quality_model.npz`` beside this module: plain arrays (feature scaling, layer weights,
class names, decision thresholds), evaluated here with numpy, so it loads without torch or
scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class QualityModel:
    """A multilayer perceptron (ReLU hidden layers, softmax output) over standardized features.

    Attributes
    ----------
    classes : class names, in output order
    feature_names : the features it was trained on, in order
    mean, scale : standardization of the features
    weights, biases : one (in, out) matrix and (out,) vector per layer
    thresholds : decision thresholds chosen at training time (see the task)
    origin_cutoffs : per lossy codec, (kbps, median cutoff in kHz) rows seen in training
    """

    classes: tuple[str, ...]
    feature_names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    thresholds: dict[str, float]
    origin_cutoffs: dict[str, np.ndarray]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities.

        Parameters
        ----------
        x : np.ndarray [shape=(n, n_features)]

        Returns
        -------
        p : np.ndarray [shape=(n, n_classes)], rows sum to 1
        """
        h = (np.atleast_2d(x) - self.mean) / self.scale
        h = np.nan_to_num(h, nan=0.0, posinf=10.0, neginf=-10.0)
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = h @ w + b
            if i < len(self.weights) - 1:
                h = np.maximum(h, 0.0)
        h = h - h.max(axis=1, keepdims=True)
        e = np.exp(h)
        return e / e.sum(axis=1, keepdims=True)

    def estimate_kbps(self, codec: str, cutoff_khz: float) -> int | None:
        """The training bitrate of ``codec`` whose typical cutoff is nearest ``cutoff_khz``."""
        table = self.origin_cutoffs.get(codec)
        if table is None or table.size == 0:
            return None
        i = int(np.argmin(np.abs(table[:, 1] - cutoff_khz)))
        return int(table[i, 0])

    def save(self, path: str | Path) -> None:
        """Write the model as a compressed ``.npz`` (no pickles)."""
        arrays: dict[str, np.ndarray] = {
            "classes": np.array(self.classes),
            "feature_names": np.array(self.feature_names),
            "mean": self.mean,
            "scale": self.scale,
            "n_layers": np.array(len(self.weights)),
            "threshold_names": np.array(sorted(self.thresholds)),
            "threshold_values": np.array([self.thresholds[k] for k in sorted(self.thresholds)]),
        }
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            arrays[f"w{i}"] = w.astype(np.float32)
            arrays[f"b{i}"] = b.astype(np.float32)
        for codec, table in self.origin_cutoffs.items():
            arrays[f"origin_{codec}"] = table
        np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> QualityModel:
        """Read a model written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as z:
            n = int(z["n_layers"])
            return cls(
                classes=tuple(str(c) for c in z["classes"]),
                feature_names=tuple(str(c) for c in z["feature_names"]),
                mean=z["mean"].astype(np.float64),
                scale=z["scale"].astype(np.float64),
                weights=tuple(z[f"w{i}"].astype(np.float64) for i in range(n)),
                biases=tuple(z[f"b{i}"].astype(np.float64) for i in range(n)),
                thresholds={
                    str(k): float(v) for k, v in zip(z["threshold_names"], z["threshold_values"])
                },
                origin_cutoffs={
                    k[len("origin_") :]: z[k] for k in z.files if k.startswith("origin_")
                },
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
