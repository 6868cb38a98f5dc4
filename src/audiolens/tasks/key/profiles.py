"""Key profiles, key names and the DJs' notations (Camelot, Open Key).

A key profile is how much each of the 12 pitch classes weighs in a key, from its tonic up: a
chroma vector correlated with the profile rotated to each of the 12 tonics, in major and in
minor, scores the 24 keys.
"""

from __future__ import annotations

import numpy as np

from ...errors import ParameterError

__all__ = [
    "KEY_NAMES",
    "PITCH_CLASSES",
    "PROFILES",
    "camelot",
    "key_name",
    "key_scores",
    "open_key",
    "parse_key",
]

#: pitch-class names as beets spells keys (its MusicalKey type turns Db into C#, Bb into A#...)
PITCH_CLASSES: tuple[str, ...] = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_ALIASES = {"Db": 1, "Eb": 3, "E#": 5, "Fb": 4, "Gb": 6, "Ab": 8, "Bb": 10, "B#": 0, "Cb": 11}

#: (major, minor) profiles from the tonic up
PROFILES: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    # audiolens's own: the mean whitened chroma (:mod:`.chroma`) of 96 songs rendered in known
    # keys (benchmarks/train_key.py; major scale and natural minor), so it knows how the chroma
    # of real notes with their overtones looks
    "audiolens": (
        (
            0.1617,
            0.0322,
            0.1011,
            0.0117,
            0.1060,
            0.0802,
            0.0651,
            0.1827,
            0.0274,
            0.0945,
            0.0186,
            0.1189,
        ),
        (
            0.1641,
            0.0265,
            0.1044,
            0.0908,
            0.0265,
            0.1162,
            0.0305,
            0.1891,
            0.0759,
            0.0418,
            0.1001,
            0.0340,
        ),
    ),
    # Krumhansl & Kessler (1982), probe-tone ratings
    "krumhansl": (
        (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88),
        (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17),
    ),
    # Temperley (2001), from the Kostka-Payne corpus
    "temperley": (
        (0.748, 0.060, 0.488, 0.082, 0.670, 0.460, 0.096, 0.715, 0.104, 0.366, 0.057, 0.400),
        (0.712, 0.084, 0.474, 0.618, 0.049, 0.460, 0.105, 0.747, 0.404, 0.067, 0.133, 0.330),
    ),
}


def key_name(tonic: int, minor: bool) -> str:
    """beets' spelling of a key: ``"C"``, ``"Am"``, ``"F#m"``, ``"A#"`` (sharps only)."""
    return PITCH_CLASSES[tonic % 12] + ("m" if minor else "")


#: the 24 keys in score order: C, C#, ..., B major, then Cm, ..., Bm
KEY_NAMES: tuple[str, ...] = tuple(key_name(t, m) for m in (False, True) for t in range(12))


def parse_key(text: str) -> tuple[int, bool]:
    """``(tonic pitch class, minor)`` of a key written ``C``, ``Am``, ``F#m``, ``Bbmin``,
    ``"A minor"``, ``"Eb major"``..."""
    s = str(text).strip().replace("♯", "#").replace("♭", "b")
    if not s or s[0].upper() not in "ABCDEFG":
        raise ParameterError(f"key {text!r} is not a key like 'C', 'Am' or 'F#m'")
    name, rest = s[0].upper(), s[1:]
    if rest[:1] in ("#", "b"):
        name, rest = name + rest[0], rest[1:]
    rest = rest.strip().lower()
    if rest in ("", "maj", "major"):
        minor = False
    elif rest in ("m", "min", "minor"):
        minor = True
    else:
        raise ParameterError(f"key {text!r} is not a key like 'C', 'Am' or 'F#m'")
    tonic = PITCH_CLASSES.index(name) if name in PITCH_CLASSES else _ALIASES[name]
    return tonic, minor


def _number(tonic: int, minor: bool, offset: int) -> int:
    major_tonic = (tonic + 3) % 12 if minor else tonic  # a minor key shares its relative's
    return (7 * major_tonic + offset) % 12 + 1


def camelot(tonic: int, minor: bool) -> str:
    """The Camelot wheel's code: C major is ``8B``, A minor ``8A``, G major ``9B``."""
    return f"{_number(tonic, minor, 7)}{'A' if minor else 'B'}"


def open_key(tonic: int, minor: bool) -> str:
    """Open Key notation: C major is ``1d``, A minor ``1m``, G major ``2d``."""
    return f"{_number(tonic, minor, 0)}{'m' if minor else 'd'}"


def key_scores(chroma: np.ndarray, profile: str = "audiolens") -> np.ndarray:
    """The correlation of a chroma vector with each of the 24 keys' rotated profiles.

    Parameters
    ----------
    chroma : np.ndarray [shape=(12,)] (C, C#, ..., B); or [shape=(12, n)] for n vectors
    profile : a name in :data:`PROFILES`

    Returns
    -------
    scores : np.ndarray [shape=(24,)] (or (24, n)) in [-1, 1], in :data:`KEY_NAMES` order
    """
    if profile not in PROFILES:
        raise ParameterError(f"profile={profile!r} is not known; use one of {sorted(PROFILES)}")
    c = np.asarray(chroma, dtype=np.float64)
    single = c.ndim == 1
    c = c.reshape(12, -1)
    c = c - c.mean(axis=0)
    c = c / np.maximum(np.linalg.norm(c, axis=0), 1e-12)
    rows = []
    for mode in PROFILES[profile]:
        p = np.asarray(mode) - np.mean(mode)
        p = p / np.linalg.norm(p)
        rows.extend(np.roll(p, t) for t in range(12))
    scores = np.stack(rows) @ c
    return scores[:, 0] if single else scores
