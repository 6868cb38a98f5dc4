"""Training material without a beat, for ``train_beats.py --extra``: every frame's target is 0.

A network fine-tuned on comping whose accents fall between the beats (``beats_real.py
--syncopated-only``) learns to carry a pulse where no onset marks it; without material that has
no pulse at all it also carries one through speech, free rhythm, and the silence around a lone
click. Each piece here is 30 s of one of:

- speech: monologues of voices that ``bench_beats.py``'s "no steady beat" sets never use (the
  Fish Fillets NG voices and the one Asterisk voice left out of both halves), in rooms, from
  ``_speaker_material.py``;
- free rhythm: piano notes and chords at random times (``_beats_material._free_rhythm`` with
  other seeds than the benchmark's);
- noise: white, pink or brown, at random levels, sometimes with a slow swell;
- sparse clicks: a few clicks at random times in silence or in a noise floor.

Usage::

    python benchmarks/beats_negatives.py [--n 48] [--seed 606] [--out DIR]

writes ``DIR/neg_NNN.flac`` with an empty ``.beats`` file each and ``DIR/manifest.csv`` (every
row ``split=train``).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OUT = HERE / "_corpus_beats_negatives"
SR = 44100
SECONDS = 30.0
KINDS = ("speech", "free rhythm", "noise", "clicks")


def _noise(rng: np.random.Generator, n: int) -> np.ndarray:
    white = rng.standard_normal(n)
    colour = rng.choice(["white", "pink", "brown"])
    if colour != "white":
        power = 0.5 if colour == "pink" else 1.0
        spec = np.fft.rfft(white) / (np.arange(n // 2 + 1) + 1) ** power
        white = np.fft.irfft(spec, n)
    y = white / (np.abs(white).max() + 1e-12)
    if rng.random() < 0.5:  # a slow swell
        t = np.arange(n) / SR
        y *= 0.55 + 0.45 * np.sin(2 * np.pi * rng.uniform(0.02, 0.15) * t + rng.uniform(0, 6.3))
    return y * 10 ** (rng.uniform(-40, -6) / 20)


def _clicks(rng: np.random.Generator, n: int) -> np.ndarray:
    y = rng.standard_normal(n) * 10 ** (rng.uniform(-100, -50) / 20)
    for _ in range(int(rng.integers(1, 6))):
        at = int(rng.integers(0, n - 2000))
        width = int(rng.integers(20, 800))
        y[at : at + width] += rng.uniform(0.2, 0.9) * np.exp(-np.arange(width) / (width / 4))
    return y


def piece(kind: str, rng: np.random.Generator, voices: list[str]) -> np.ndarray:
    """30 s of one kind of material without a beat, mono float32 at 44.1 kHz."""
    import soxr

    n = int(SECONDS * SR)
    if kind == "speech":
        import _speaker_material as speakers

        voice = voices[int(rng.integers(len(voices)))]
        y, _ = speakers.monologue(voice, SECONDS, seed=int(rng.integers(1 << 30)), split="tune")
        y = soxr.resample(np.asarray(y, dtype=np.float32), speakers.SR, SR)
    elif kind == "free rhythm":
        from _beats_material import _free_rhythm

        y = _free_rhythm(rng)
    elif kind == "noise":
        y = _noise(rng, n)
    else:
        y = _clicks(rng, n)
    y = np.asarray(y, dtype=np.float64)[:n]
    return np.pad(y, (0, n - y.size)).astype(np.float32)


def main() -> None:
    import soundfile as sf

    import _speaker_material as speakers
    from _beats_material import unpulsed_voices

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=48)
    ap.add_argument("--seed", type=int, default=606)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    benchmark = set(unpulsed_voices("calib")) | set(unpulsed_voices("agree"))
    voices = [v for v in speakers.available() if v not in benchmark] + speakers.fish_available()
    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(args.n):
        kind = KINDS[i % len(KINDS)]
        y = piece(kind, rng, voices)
        name = f"neg_{i:03d}.flac"
        sf.write(args.out / name, y, SR)
        (args.out / name).with_suffix(".beats").write_text("")
        rows.append({"path": name, "split": "train", "flavour": kind, "duration_s": SECONDS})
        print(name, kind, flush=True)
    with open(args.out / "manifest.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


if __name__ == "__main__":
    main()
