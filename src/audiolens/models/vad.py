"""Silero VAD (v5/v6, ONNX) on ONNX Runtime: speech probabilities and speech regions.

The model reads 16 kHz mono float32 audio in 512-sample frames (32 ms), each preceded by the
last 64 samples of the frame before it (zeros before the first), and carries a recurrent state
from frame to frame, as silero's reference ``OnnxWrapper`` does; the last frame is zero-padded.
Two exports of the same network are understood:

- a *sequence* model (inputs ``input (n, 576)``, ``h``, ``c``): the convolutional front end
  runs on every frame of a block at once and the LSTM steps inside the graph, so a block of
  audio is one call (silero-vad's ``silero_vad_16k_sequence.onnx``, faster-whisper's
  ``silero_vad_v6.onnx``);
- the *streaming* model (``input (1, 576)``, ``state``, ``sr``; silero-vad's
  ``silero_vad.onnx``): one call per frame.

Both give the same probabilities (to float rounding). Weights are looked up in the
``silero_vad`` package data, then in faster-whisper's assets; ``VadOptions.model_path`` names
a file instead. A session is made once per process and model file. Torch is never imported.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelNotFound, ParameterError

__all__ = [
    "FRAME",
    "SAMPLE_RATE",
    "SileroVAD",
    "VadOptions",
    "find_model",
    "frame_probabilities",
    "regions_from_probabilities",
    "speech_regions",
]

SAMPLE_RATE = 16000  #: Hz, the only rate these functions take
FRAME = 512  #: samples per probability (32 ms)
CONTEXT = 64  #: samples of the previous frame the model sees with each frame
_BLOCK_FRAMES = 2048  #: frames per call of a sequence model (65.5 s)
_INSTALL = "pip install --no-deps silero-vad (or pip install faster-whisper, which carries a copy)"

#: file names looked for, best first, in each package
_CANDIDATES = (
    ("silero_vad", "data/silero_vad_16k_sequence.onnx"),
    ("silero_vad", "data/silero_vad.onnx"),
    ("faster_whisper", "assets/silero_vad_v6.onnx"),
)


@dataclass(frozen=True)
class VadOptions:
    """How frame probabilities become speech regions (silero's ``get_speech_timestamps``).

    Attributes
    ----------
    threshold : a region starts at a frame with probability >= this
    neg_threshold : ... and ends where it stays below this (default ``threshold - 0.15``,
        at least 0.01) for ``min_silence`` seconds
    min_speech : regions shorter than this (seconds) are dropped
    min_silence : seconds below ``neg_threshold`` that end a region
    pad : seconds added to each side of a region (halved gaps where two would meet)
    model_path : an ONNX file to use instead of the installed packages' copies
    """

    threshold: float = 0.5
    neg_threshold: float | None = None
    min_speech: float = 0.25
    min_silence: float = 0.1
    pad: float = 0.03
    model_path: str | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ParameterError(f"threshold={self.threshold!r} must be between 0 and 1")
        if self.neg_threshold is not None and not 0.0 < self.neg_threshold <= self.threshold:
            raise ParameterError(
                f"neg_threshold={self.neg_threshold!r} must be in (0, threshold={self.threshold}]"
            )
        for name in ("min_speech", "min_silence", "pad"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0.0 <= value < 3600.0):
                raise ParameterError(f"{name}={value!r} must be seconds, from 0 to 3600")

    @property
    def exit_threshold(self) -> float:
        """The threshold that ends a region."""
        if self.neg_threshold is not None:
            return self.neg_threshold
        return max(self.threshold - 0.15, 0.01)


def find_model(path: str | None = None) -> Path:
    """The silero VAD ONNX file to use (``path`` when given).

    Raises
    ------
    ModelNotFound
        naming every place looked and how to install the weights
    """
    if path is not None:
        if Path(path).is_file():
            return Path(path)
        raise ModelNotFound(f"no silero VAD model at {path}; install one with: {_INSTALL}")
    from .packages import package_folders

    looked = []
    for package, name in _CANDIDATES:
        folders = package_folders(package)
        if not folders:
            looked.append(f"{package}/{name} (package not installed)")
        for folder in folders:
            candidate = folder / name
            if candidate.is_file():
                return candidate
            looked.append(str(candidate))
    raise ModelNotFound(
        f"silero VAD weights were not found (looked in {', '.join(looked)}); "
        f"install them with: {_INSTALL}"
    )


_LOCK = threading.Lock()
_SESSIONS: dict[str, tuple[Any, str]] = {}


def _session(path: Path) -> tuple[Any, str]:
    """The process's ONNX Runtime session for ``path`` and the model's kind."""
    key = str(path.resolve())
    with _LOCK:
        if key not in _SESSIONS:
            from .onnx import _ort

            ort = _ort("speakers")
            opts = ort.SessionOptions()
            # a small model called on small inputs: one thread is fastest (measured: 2
            # threads are ~1.3x slower on 2 cores) and leaves the others to the caller
            opts.intra_op_num_threads = 1
            opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
            try:
                sess = ort.InferenceSession(
                    key, sess_options=opts, providers=["CPUExecutionProvider"]
                )
            except Exception as exc:  # onnxruntime raises its own types
                raise ModelNotFound(f"{path}: not a silero VAD ONNX model ({exc})") from None
            names = {i.name for i in sess.get_inputs()}
            if {"input", "h", "c"} <= names:
                kind = "sequence"
            elif {"input", "state"} <= names:
                kind = "streaming"
            else:
                raise ModelNotFound(f"{path}: inputs {sorted(names)} are not silero VAD's")
            _SESSIONS[key] = (sess, kind)
        return _SESSIONS[key]


class SileroVAD:
    """Frame probabilities of a signal given block by block (the state carries over).

    Parameters
    ----------
    model_path : an ONNX file; None looks in the installed packages (:func:`find_model`)

    Examples
    --------
    >>> vad = SileroVAD()                                        # doctest: +SKIP
    >>> p = np.concatenate([vad.feed(b) for b in blocks] + [vad.flush()])  # doctest: +SKIP
    """

    def __init__(self, model_path: str | None = None) -> None:
        self.path = find_model(model_path)
        self._sess, self.kind = _session(self.path)
        self._sr = np.array(SAMPLE_RATE, dtype=np.int64)
        self.reset()

    def reset(self) -> None:
        """Start a new signal."""
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)
        self._rest = np.zeros(0, dtype=np.float32)

    def feed(self, y: np.ndarray) -> np.ndarray:
        """Probabilities of the whole frames completed by ``y`` (the rest waits for more).

        Parameters
        ----------
        y : np.ndarray [shape=(n,)] 16 kHz mono

        Returns
        -------
        p : np.ndarray [shape=(k,)] float32, one per 512-sample frame, in [0, 1]
        """
        y = np.asarray(y, dtype=np.float32).reshape(-1)
        data = np.concatenate([self._rest, y]) if self._rest.size else y
        whole = data.size // FRAME * FRAME
        self._rest = data[whole:].copy()
        return self._frames(data[:whole].reshape(-1, FRAME))

    def flush(self) -> np.ndarray:
        """The probability of the last, zero-padded frame (empty when none is pending)."""
        if not self._rest.size:
            return np.zeros(0, dtype=np.float32)
        last = np.zeros((1, FRAME), dtype=np.float32)
        last[0, : self._rest.size] = self._rest
        self._rest = np.zeros(0, dtype=np.float32)
        return self._frames(last)

    def _frames(self, frames: np.ndarray) -> np.ndarray:
        n = frames.shape[0]
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        x = np.empty((n, CONTEXT + FRAME), dtype=np.float32)
        x[:, CONTEXT:] = frames
        x[0, :CONTEXT] = self._context
        x[1:, :CONTEXT] = frames[:-1, -CONTEXT:]
        self._context = frames[-1, -CONTEXT:].copy()
        return self._run(x)

    def _run(self, x: np.ndarray) -> np.ndarray:
        """Probabilities of frames with their context [shape=(n, 576)], carrying the state."""
        if self.kind == "sequence":
            return self._run_sequence(x)
        return self._run_streaming(x)

    def _run_sequence(self, x: np.ndarray) -> np.ndarray:
        out = []
        h = np.ascontiguousarray(self._state[0:1])
        c = np.ascontiguousarray(self._state[1:2])
        for i in range(0, x.shape[0], _BLOCK_FRAMES):
            p, h, c = self._sess.run(None, {"input": x[i : i + _BLOCK_FRAMES], "h": h, "c": c})
            out.append(np.asarray(p, dtype=np.float32).reshape(-1))
        self._state = np.concatenate([h, c], axis=0).astype(np.float32)
        return np.concatenate(out)

    def _run_streaming(self, x: np.ndarray) -> np.ndarray:
        run = self._sess.run
        out = np.empty(x.shape[0], dtype=np.float32)
        state, sr = self._state, self._sr
        for i in range(x.shape[0]):
            p, state = run(None, {"input": x[i : i + 1], "state": state, "sr": sr})
            out[i] = p[0, 0]
        self._state = state
        return out


def frame_probabilities(
    y: np.ndarray | Iterable[np.ndarray],
    *,
    sr: int = SAMPLE_RATE,
    options: VadOptions | None = None,
) -> np.ndarray:
    """Silero's speech probability for every 32 ms frame of a signal.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)] or an iterable of such blocks, in order (long files)
        Mono audio at 16 kHz.
    sr : int
        Must be 16000.
    options : only ``model_path`` is read

    Returns
    -------
    p : np.ndarray [shape=(ceil(n / 512),)] float32
        Frame ``i`` covers samples ``512 i`` to ``512 (i + 1)``.
    """
    _check_rate(sr)
    vad = SileroVAD((options or VadOptions()).model_path)
    blocks: Iterable[np.ndarray] = [y] if isinstance(y, np.ndarray) else y
    parts = [vad.feed(b) for b in blocks]
    parts.append(vad.flush())
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def regions_from_probabilities(
    p: np.ndarray, *, n_samples: int | None = None, options: VadOptions | None = None
) -> list[tuple[float, float]]:
    """Speech regions from frame probabilities, with hysteresis, minimum durations and padding.

    Parameters
    ----------
    p : np.ndarray [shape=(n_frames,)]
        :func:`frame_probabilities` output.
    n_samples : the signal's length (default ``512 * n_frames``); regions end by then
    options : thresholds and durations (defaults when None)

    Returns
    -------
    regions : list of (start, end) in seconds, ascending and disjoint
    """
    o = options or VadOptions()
    p = np.asarray(p, dtype=np.float32).reshape(-1)
    total = FRAME * p.size if n_samples is None else int(n_samples)
    min_speech = o.min_speech * SAMPLE_RATE
    min_silence = o.min_silence * SAMPLE_RATE
    pad = o.pad * SAMPLE_RATE
    low = o.exit_threshold
    regions: list[list[float]] = []
    start: int | None = None
    quiet_from = 0
    for i in range(p.size):
        t = i * FRAME
        prob = p[i]
        if start is None:
            if prob >= o.threshold:
                start, quiet_from = t, 0
            continue
        if prob >= o.threshold:
            quiet_from = 0
        elif prob < low:
            if not quiet_from:
                quiet_from = t
            if t - quiet_from >= min_silence:
                if quiet_from - start > min_speech:
                    regions.append([start, quiet_from])
                start, quiet_from = None, 0
    if start is not None and total - start > min_speech:
        regions.append([start, total])
    for k, r in enumerate(regions):
        if k == 0:
            r[0] = max(0.0, r[0] - pad)
        if k + 1 < len(regions):
            gap = regions[k + 1][0] - r[1]
            if gap < 2 * pad:
                r[1] += gap // 2
                regions[k + 1][0] = max(0.0, regions[k + 1][0] - gap // 2)
            else:
                r[1] = min(total, r[1] + pad)
                regions[k + 1][0] = max(0.0, regions[k + 1][0] - pad)
        else:
            r[1] = min(total, r[1] + pad)
    return [(float(a) / SAMPLE_RATE, float(b) / SAMPLE_RATE) for a, b in regions]


def speech_regions(
    y: np.ndarray | Iterable[np.ndarray],
    *,
    sr: int = SAMPLE_RATE,
    options: VadOptions | None = None,
) -> list[tuple[float, float]]:
    """Where a signal holds speech, by silero VAD.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)] or an iterable of blocks, in order
        Mono audio at 16 kHz.
    sr : int
        Must be 16000.
    options : thresholds, durations, model file (defaults when None)

    Returns
    -------
    regions : list of (start, end) in seconds, ascending and disjoint (empty for silence,
        noise or music without voice)

    Raises
    ------
    ModelNotFound
        when no silero VAD weights are installed
    MissingDependency
        when onnxruntime is not installed
    """
    _check_rate(sr)
    if isinstance(y, np.ndarray):
        n = int(np.asarray(y).size)
        p = frame_probabilities(y, options=options)
    else:
        counted: list[int] = []

        def tally(blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
            for b in blocks:
                counted.append(int(np.asarray(b).size))
                yield b

        p = frame_probabilities(tally(y), options=options)
        n = sum(counted)
    return regions_from_probabilities(p, n_samples=n, options=options)


def _check_rate(sr: int) -> None:
    if sr != SAMPLE_RATE:
        raise ParameterError(f"sr={sr!r}: silero VAD here takes {SAMPLE_RATE} Hz audio only")
