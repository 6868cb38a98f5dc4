"""The reference of the ``notes`` benchmark: Spotify basic-pitch 0.4.0's own ``predict()``.

Install it beside audiolens (no TensorFlow; librosa, mir_eval and numba come with the bench
extra)::

    pip install --no-deps basic-pitch==0.4.0 onnxruntime pretty_midi resampy==0.4.2 'setuptools<81'

``predict(path, model_or_model_path=...)`` is called file by file, as a user calls it, with its
default thresholds (onset 0.5, frame 0.3, minimum note 127.70 ms, melodia trick on, no frequency
limits, no multiple pitch bends) and the ONNX model that basic-pitch itself picks when only
onnxruntime is installed (``build_icassp_2022_model_path(FilenameSuffix.onnx)``). Two modes:

- ``model=None``: the model's *path* is passed, so every call loads the ONNX session again, as
  ``predict(path)`` does for a user;
- a preloaded ``basic_pitch.inference.Model`` (:func:`load_model`) is passed and reused.

basic-pitch decodes with ``librosa.load(path, sr=22050, mono=True)`` (soundfile, else
audioread/FFmpeg for M4A; resampled with soxr "HQ"). Its import-time warnings about missing
TensorFlow, CoreML and TFLite, the ``pkg_resources`` deprecation warning and the
"Predicting MIDI for ..." line it prints for every file are silenced here.

Golden files for the tests::

    python benchmarks/_notes_reference.py --golden tests/data/notes_golden

writes one small JSON per eval music clip (``_notes_truth.eval_music_clips``):
``{"clip", "basic_pitch", "thresholds", "notes": [[onset, offset, pitch, velocity], ...]}``,
times rounded to 1e-4 s, velocity ``round(127 * amplitude)`` as basic-pitch's MIDI file has it,
notes sorted by onset, pitch, offset.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from _notes_truth import EVAL_DIR, eval_music_clips

VERSION = "0.4.0"
#: predict()'s keyword arguments: its own defaults, spelled out
THRESHOLDS: dict[str, Any] = {
    "onset_threshold": 0.5,
    "frame_threshold": 0.3,
    "minimum_note_length": 127.70,
    "minimum_frequency": None,
    "maximum_frequency": None,
    "multiple_pitch_bends": False,
    "melodia_trick": True,
}


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence basic-pitch's warnings (logging and ``warnings``) and its stdout prints."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def _basic_pitch():
    with quiet():
        import basic_pitch
        import basic_pitch.inference
    return basic_pitch


def version() -> str:
    """The installed basic-pitch version (the benchmark expects 0.4.0)."""
    return metadata.version("basic-pitch")


def model_path() -> Path:
    """The ONNX model file basic-pitch picks when onnxruntime is its only backend."""
    bp = _basic_pitch()
    path = bp.build_icassp_2022_model_path(bp.FilenameSuffix.onnx)
    if not path.exists():
        raise FileNotFoundError(f"basic-pitch's ONNX model is missing: {path}")
    return path


def load_model() -> Any:
    """A preloaded ``basic_pitch.inference.Model`` on the ONNX file (CPU execution provider)."""
    bp = _basic_pitch()
    with quiet():
        model = bp.inference.Model(model_path())
    if model.model_type != bp.inference.Model.MODEL_TYPES.ONNX:
        raise RuntimeError(f"basic-pitch loaded {model.model_type}, not the ONNX model")
    return model


@dataclass
class RefResult:
    """basic-pitch's answer for one file.

    Attributes
    ----------
    path : the audio file
    notes : float array ``[n, 4]``: onset_s, offset_s, MIDI pitch, amplitude (0-1), sorted by
        onset, pitch, offset
    seconds : wall-clock seconds of the ``predict()`` call (decode, model, note creation)
    """

    path: str
    notes: np.ndarray
    seconds: float

    @property
    def intervals(self) -> np.ndarray:
        """``[n, 2]`` onset and offset in seconds."""
        return self.notes[:, :2]

    @property
    def pitches(self) -> np.ndarray:
        """``[n]`` MIDI pitches."""
        return self.notes[:, 2]

    @property
    def velocities(self) -> np.ndarray:
        """``[n]`` MIDI velocities as basic-pitch writes them: ``round(127 * amplitude)``."""
        return np.round(127 * self.notes[:, 3]).astype(int)


def predict(path: str | os.PathLike[str], model: Any = None) -> RefResult:
    """Run ``basic_pitch.inference.predict`` on one file with the default thresholds.

    ``model=None`` passes the ONNX model's path (loaded again by this call); otherwise ``model``
    is a :func:`load_model` instance reused as is.
    """
    bp = _basic_pitch()
    target = str(model_path()) if model is None else model
    with quiet():
        t = time.perf_counter()
        _, _, events = bp.inference.predict(str(path), target, **THRESHOLDS)
        seconds = time.perf_counter() - t
    rows = sorted(
        ((float(e[0]), float(e[1]), float(e[2]), float(e[3])) for e in events),
        key=lambda r: (r[0], r[2], r[1]),
    )
    notes = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
    return RefResult(str(path), notes, seconds)


def predict_files(paths: Sequence[str | os.PathLike[str]], preloaded: bool) -> list[RefResult]:
    """``predict`` file by file; with ``preloaded`` the model is loaded once, before the clock
    of the first file starts (the load's time is not in any file's seconds)."""
    model = load_model() if preloaded else None
    return [predict(p, model) for p in paths]


# --------------------------------------------------------------------------- golden files


def golden_record(clip_rel: str, res: RefResult) -> dict[str, Any]:
    """The golden JSON of one clip."""
    notes = [
        [round(on, 4), round(off, 4), int(p), int(v)]
        for (on, off, p, _), v in zip(res.notes.tolist(), res.velocities.tolist())
    ]
    return {
        "clip": clip_rel,
        "basic_pitch": version(),
        "model": "icassp_2022/nmp.onnx",
        "thresholds": THRESHOLDS,
        "notes": notes,
    }


def dump_golden(rec: dict[str, Any]) -> str:
    """JSON text with one note per line (small and easy to diff)."""
    head = {k: v for k, v in rec.items() if k != "notes"}
    body = json.dumps(head, indent=1)[:-2]  # drop the closing "\n}"
    lines = [json.dumps(n) for n in rec["notes"]]
    notes = "[\n  " + ",\n  ".join(lines) + "\n ]" if lines else "[]"
    return f'{body},\n "notes": {notes}\n}}\n'


def write_golden(out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``<clip>.json`` for every eval music clip into ``out_dir``; returns the files."""
    if version() != VERSION:
        raise RuntimeError(f"basic-pitch {version()} is installed; the golden files need {VERSION}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = load_model()
    written = []
    for clip in eval_music_clips():
        res = predict(clip.audio, model)
        rel = clip.audio.relative_to(EVAL_DIR.resolve()).as_posix()
        path = out / f"{clip.name}.json"
        text = dump_golden(golden_record(rel, res))
        json.loads(text)  # well-formed
        path.write_text(text)
        written.append(path)
        print(f"{path}: {len(res.notes)} notes, {path.stat().st_size / 1000:.1f} kB")
    total = sum(p.stat().st_size for p in written)
    print(f"{len(written)} golden files, {total / 1000:.1f} kB in all")
    if total >= 300_000:
        raise RuntimeError(f"golden files take {total} bytes; keep them under 300 kB")
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """``--golden DIR`` writes the golden files; ``--time FILE...`` times predict() per file."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--golden", type=Path, help="write the golden JSON files into this folder")
    ap.add_argument("--time", nargs="*", default=[], help="audio files to time predict() on")
    args = ap.parse_args(argv)
    print(f"basic-pitch {version()}, model {model_path()}")
    if args.golden:
        write_golden(args.golden)
    if args.time:
        predict(eval_music_clips()[-1].audio)  # warm-up: librosa, numba
        for preloaded in (False, True):
            res = predict_files(args.time, preloaded)
            label = "preloaded model" if preloaded else "model path per call"
            for r in res:
                print(f"  {label}: {r.path}: {len(r.notes)} notes, {r.seconds:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
