"""Shared by the beats tests: a synthetic band playing a groove with known beats."""

from __future__ import annotations

import numpy as np

SR = 44100


def groove(bpm: float, seconds: float, *, meter: int = 4, seed: int = 0, start: float = 0.3):
    """A small band: a chord and a bass note that change every bar, kick on the strong beats
    (1, and 3 in 4/4), snare on the others, hi-hat on eighths.

    Returns (signal, beat times, bar positions)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    y = np.zeros(n)
    beat = 60.0 / bpm
    times = np.arange(start, seconds - 0.5, beat)
    positions = np.arange(times.size) % meter + 1
    t = np.arange(int(0.25 * SR)) / SR

    def add(at: float, sound: np.ndarray) -> None:
        i = int(at * SR)
        j = min(i + sound.size, n)
        if j > i:
            y[i:j] += sound[: j - i]

    kick = np.sin(2 * np.pi * (50 + 80 * np.exp(-t * 30)) * t) * np.exp(-t * 12)
    snare = rng.normal(0, 0.4, t.size) * np.exp(-t * 25)
    hat = rng.normal(0, 0.15, t.size) * np.exp(-t * 80)
    progression = [0, 5, 7, 3, 8, 10]
    tb = np.arange(int(beat * meter * SR)) / SR
    for bar, at in enumerate(times[positions == 1]):
        root = 110.0 * 2 ** (progression[bar % len(progression)] / 12)
        chord = sum(np.sin(2 * np.pi * root * r * tb) for r in (1, 1.26, 1.5, 2))
        add(at, 0.15 * chord * np.exp(-tb * 0.8))
        add(at, 0.4 * np.sin(2 * np.pi * root / 2 * tb) * np.exp(-tb * 2))
    for when, pos in zip(times, positions):
        strong = pos == 1 or (meter == 4 and pos == 3)
        add(when, kick if strong else snare)
        add(when, hat)
        add(when + beat / 2, hat)
    y = (0.5 * y / np.abs(y).max()).astype(np.float32)
    return y, times, positions
