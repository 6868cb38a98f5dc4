"""Rounding for values people read: results hold them rounded where they are built, so the
Python API, the JSON and the store say the same number (``187.5`` BPM, not
``187.49999999999983``). Computations keep their own precision; only results are rounded.
"""

from __future__ import annotations

__all__ = ["bpm", "fraction", "seconds"]


def seconds(t: float) -> float:
    """A time in seconds to the millisecond."""
    return round(float(t), 3)


def bpm(value: float) -> float:
    """A tempo in beats per minute to 0.01 BPM."""
    return round(float(value), 2)


def fraction(value: float) -> float:
    """A probability or confidence in [0, 1] to 4 decimals."""
    return round(float(value), 4)
