"""A perfect segmentation model made from reference turns, for evaluation.

:func:`reference_segmentation` answers the model's windows with the reference: what the
overlap-aware path (:mod:`.overlap`) gives with it is the best any segmentation model could do
with the same clustering and stitching, i.e. it measures the rest of the chain (as pyannote's
"oracle" pipelines do). It reads the answer, so it is never a result in itself.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np

from ...models.segmentation import SAMPLE_RATE, SegmentationModel

__all__ = ["reference_segmentation"]

_WINDOW, _SHIFT, _RF = 160000, 270, 991  # segmentation-3.0's geometry


class _ReferenceSession:
    """Looks like an ONNX Runtime session of a powerset segmentation model (3 local speakers,
    2 at once). Each window is located in the signal (windows come in order, ``step`` apart),
    the three speakers who talk most in it become its local speakers in a random order, and
    each frame gets the class of those talking at the frame's centre."""

    def __init__(
        self, y: np.ndarray, turns: Sequence[tuple[float, float, str]], step: int, seed: int
    ):
        self.y = np.asarray(y, dtype=np.float32).reshape(-1)
        self.turns = [(float(a), float(b), str(who)) for a, b, who in turns]
        self.names = sorted({who for _, _, who in self.turns})
        self.step = step
        self.frames = (_WINDOW - _RF) // _SHIFT + 1
        self.classes = [c for n in range(3) for c in itertools.combinations(range(3), n)]
        self.rng = np.random.default_rng(seed)
        self.cursor = 0

    def get_inputs(self) -> list[Any]:
        return [SimpleNamespace(name="input_values")]

    def get_outputs(self) -> list[Any]:
        return [SimpleNamespace(name="logits")]

    def get_modelmeta(self) -> Any:
        return SimpleNamespace(custom_metadata_map={})

    def _window(self, k: int) -> np.ndarray:
        w = self.y[k : k + _WINDOW]
        return np.pad(w, (0, _WINDOW - w.size)) if w.size < _WINDOW else w

    def _locate(self, x: np.ndarray) -> int:
        candidates = itertools.chain(
            range(self.cursor, self.y.size, self.step), range(0, self.cursor, self.step)
        )
        for k in candidates:
            if np.array_equal(self._window(k), x):
                self.cursor = k + self.step
                return k
        raise ValueError("a window that is not in the signal at a multiple of the step")

    def run(self, names: Any, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        (x,) = feed.values()
        out = np.full((x.shape[0], self.frames, len(self.classes)), -30.0, dtype=np.float32)
        for b in range(x.shape[0]):
            if not np.any(x[b, 0]):  # digital silence (and the model's probe at loading)
                out[b, :, 0] = 0.0
                continue
            k = self._locate(x[b, 0])
            t = (k + np.arange(self.frames) * _SHIFT + _RF / 2) / SAMPLE_RATE
            inside = t < self.y.size / SAMPLE_RATE
            act = np.zeros((self.frames, len(self.names)), dtype=bool)
            for a, e, who in self.turns:
                act[:, self.names.index(who)] |= (a <= t) & (t < e) & inside
            local = [int(m) for m in np.argsort(-act.sum(0), kind="stable")[:3] if act[:, m].any()]
            self.rng.shuffle(local)
            for j in range(self.frames):
                on = tuple(i for i, m in enumerate(local) if act[j, m])[:2]
                out[b, j, self.classes.index(on)] = 0.0
        return [out]


def reference_segmentation(
    y: np.ndarray,
    turns: Sequence[tuple[float, float, str]],
    *,
    step: float | None = None,
    seed: int = 0,
) -> SegmentationModel:
    """A segmentation model that answers with the reference (for evaluation only).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)] the 16 kHz mono signal that will be diarized
    turns : the reference ``(start, end, speaker)`` turns [s]
    step : seconds between the model's windows; must be the pipeline's
        (``OverlapSettings.step``; None: its default)
    seed : the order of the local speakers in each window is random with this seed

    Returns
    -------
    model : SegmentationModel with segmentation-3.0's geometry (10 s windows, 3 local speakers,
        2 at once); at most the 3 speakers who talk most in a window, and 2 of them per frame,
        are in its answer, as for a real model
    """
    if step is None:
        from .overlap import OverlapSettings

        step = OverlapSettings().step
    session = _ReferenceSession(y, turns, max(1, int(round(step * SAMPLE_RATE))), seed)
    return SegmentationModel(session, name="reference")
