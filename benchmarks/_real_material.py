"""Real recorded sound and mastering for the quality corpus (``quality_corpus.py``).

Rendered General MIDI songs alone taught the quality model what *renders* look like: clean
content up to the soundfont's own limits and a noise floor only where the corpus added one.
Real recordings differ: cymbals and room noise reach Nyquist, microphones and preamps leave a
noise floor under everything, and mastering compresses, limits, tilts and dithers. This module
brings that in from material Debian ships losslessly:

* ``hydrogen-drumkits``: multi-sampled real drum kits (kick, snare, toms, hi-hats, rides,
  crashes, hand percussion) as 16/24-bit WAV and FLAC at 44.1/48 kHz. :func:`drum_track`
  plays a groove with one kit's samples (velocity layers picked by level, round robin).
* :func:`master_chain`: room reverb, bus compression, a peak limiter, EQ tilts that darken or
  brighten, noise floors at -120 to -90 dBFS (white, pink or mains hum with harmonics) and
  the three ways 16-bit files are made: plain rounding, TPDF dither, noise-shaped dither.

Kits are split between train and test by name (:func:`kit_split`), so the test split hears
drums the model never heard.
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import lru_cache
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

KITS_DIR = Path("/usr/share/hydrogen/data/drumkits")
#: kits held out for the test split (never trained on); chosen for variety: an acoustic
#: multi-layered kit, an electronic kit and hand percussion
TEST_KITS = ("The Black Pearl 1.0", "ElectricEmpireKit", "Gimme A Hand 1.0", "Millo_MultiLayered2")
#: drum roles of a groove and the instrument-name patterns that play them, first match wins
ROLE_PATTERNS: tuple[tuple[str, str], ...] = (
    ("open", r"open|ohh|\bop\b|semi"),
    ("hat", r"hat|hh|chh|hihat|maraca|tambourine|shaker"),
    ("ride", r"ride|bell|cowbell|clave"),
    ("crash", r"crash|cra_|splash|china|cymbal"),
    ("tom", r"tom|bongo|djembe.*tone|conga"),
    ("kick", r"kick|\bbd|bass ?drum|bassdrum|cajon thump|djembe.*bass|sangban|dundun"),
    ("snare", r"snare|\bsn|clap|rim|stick|cajon slap|djembe.*slap|snap"),
)


@dataclass
class Kit:
    """One hydrogen drum kit: per role, a list of instruments, each a list of layer files."""

    name: str
    roles: dict[str, list[list[Path]]] = field(default_factory=dict)

    def playable(self) -> bool:
        """A groove needs at least a low drum, a backbeat and a time-keeper."""
        has = set(self.roles)
        return {"kick", "snare"} <= has and bool({"hat", "ride"} & has)


def _text(node: ET.Element, tag: str) -> str:
    for child in node:
        if child.tag.split("}")[-1] == tag:
            return (child.text or "").strip()
    return ""


def _role(name: str) -> str | None:
    low = name.lower()
    for role, pattern in ROLE_PATTERNS:
        if re.search(pattern, low):
            return role
    return None


@lru_cache(maxsize=1)
def kits() -> tuple[Kit, ...]:
    """Every installed hydrogen kit that can play a groove, read from its ``drumkit.xml``."""
    out = []
    for xml in sorted(KITS_DIR.glob("*/drumkit.xml")):
        kit = Kit(xml.parent.name)
        for node in ET.parse(xml).getroot().iter():
            if node.tag.split("}")[-1] != "instrument":
                continue
            role = _role(_text(node, "name"))
            files = [
                xml.parent / (el.text or "").strip()
                for el in node.iter()
                if el.tag.split("}")[-1] == "filename" and (el.text or "").strip()
            ]
            files = [f for f in files if f.is_file()]
            if role and files:
                kit.roles.setdefault(role, []).append(sorted(set(files)))
        if kit.playable():
            out.append(kit)
    return tuple(out)


def kit_split(kit: Kit) -> str:
    """``test`` for the held-out kits, else ``train``."""
    return "test" if kit.name in TEST_KITS else "train"


@lru_cache(maxsize=512)
def _sample(path: Path, sr: int) -> np.ndarray:
    """A kit sample as float64 ``(n, 2)`` at ``sr``, resampled with a polyphase filter."""
    x, rate = sf.read(str(path), always_2d=True, dtype="float64")
    if x.shape[1] == 1:
        x = np.repeat(x, 2, axis=1)
    x = x[:, :2]
    if rate != sr:
        g = gcd(rate, sr)
        x = signal.resample_poly(x, sr // g, rate // g, axis=0)
    return x


def _layers_by_level(files: list[Path], sr: int) -> list[Path]:
    """An instrument's layer files from softest to loudest (by RMS)."""
    return sorted(files, key=lambda f: float(np.sqrt(np.mean(_sample(f, sr) ** 2))))


def drum_track(
    kit: Kit, hits: list[tuple[float, str, int]], seconds: float, sr: int, rng: np.random.Generator
) -> np.ndarray:
    """Play ``hits`` (time in s, role, MIDI velocity) with a kit's samples: ``(n, 2)`` float64.

    Each role uses one of its instruments for the whole song; the velocity picks the layer
    (hydrogen kits hold up to 8 per instrument) and scales it; each drum gets a fixed pan.
    """
    n = int(seconds * sr)
    out = np.zeros((n + sr * 6, 2))
    chosen = {
        role: _layers_by_level(insts[int(rng.integers(len(insts)))], sr)
        for role, insts in kit.roles.items()
    }
    pans = {role: float(rng.uniform(-0.6, 0.6)) for role in chosen}
    for t, role, vel in hits:
        role = (
            role
            if role in chosen
            else {"open": "hat", "crash": "ride", "tom": "snare"}.get(role, role)
        )
        if role not in chosen:
            role = "hat" if "hat" in chosen else "ride"
        layers = chosen[role]
        k = min(int(vel / 128 * len(layers)), len(layers) - 1)
        x = _sample(layers[k], sr)
        start = int(t * sr)
        if start >= n:
            continue
        seg = x[: out.shape[0] - start]
        gain = (vel / 127.0) ** 1.5
        p = pans[role]
        out[start : start + len(seg), 0] += gain * (1 - p) * seg[:, 0]
        out[start : start + len(seg), 1] += gain * (1 + p) * seg[:, 1]
    return out[:n]


def groove(
    bpm: int, beats_per_bar: int, bars: int, rng: np.random.Generator
) -> list[tuple[float, str, int]]:
    """A drum groove as (time s, role, velocity): kick/snare/hats, crashes, fills, swing."""
    step = 60.0 / bpm / 4
    steps = beats_per_bar * 4
    kick = {0, 8} if beats_per_bar == 4 else {0}
    kick |= {int(s) for s in rng.choice(steps, int(rng.integers(0, 3)), replace=False)}
    snare = {4, 12} if beats_per_bar == 4 else {4, 8}
    keeper = "ride" if rng.random() < 0.25 else "hat"
    every = int(rng.choice([1, 2, 2]))
    swing = float(rng.uniform(0.0, 0.25)) if rng.random() < 0.3 else 0.0
    base_vel = int(rng.integers(80, 120))
    hits: list[tuple[float, str, int]] = []
    for b in range(bars):
        for s in range(steps):
            t = (b * steps + s + (swing if s % 2 else 0.0)) * step + rng.normal(0, 0.004)
            t = max(t, 0.0)
            v = int(np.clip(base_vel + rng.integers(-20, 8), 20, 127))
            if s in kick:
                hits.append((t, "kick", min(v + 10, 127)))
            if b % 8 == 7 and s >= steps - 4:
                hits.append((t, "tom", v))
            elif s in snare:
                hits.append((t, "snare", min(v + 5, 127)))
            if s % every == 0:
                role = "open" if s == steps - 2 and rng.random() < 0.3 else keeper
                hits.append((t, role, max(v - 25 + (12 if s % 4 == 0 else 0), 10)))
        if b % 8 == 0:
            hits.append((b * steps * step, "crash", min(base_vel + 5, 127)))
    return hits


# --------------------------------------------------------------------------- mastering


def _room_ir(sr: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A stereo room impulse response: early reflections, then decaying noise that darkens."""
    rt60 = float(rng.uniform(0.2, 1.6))
    n = int(rt60 * sr)
    t = np.arange(n) / sr
    tail = rng.standard_normal((n, 2)) * np.exp(-6.9 * t / rt60)[:, None]
    # air absorbs highs faster: a one-pole low-pass whose corner falls along the tail
    for lo, hi in ((0, n // 3), (n // 3, 2 * n // 3), (2 * n // 3, n)):
        fc = 16000.0 * (1 - lo / max(n, 1)) + 2000.0
        b, a = signal.butter(1, min(fc / (sr / 2), 0.99))
        tail[lo:hi] = signal.lfilter(b, a, tail[lo:hi], axis=0)
    for _ in range(int(rng.integers(4, 12))):
        k = int(rng.uniform(0.002, 0.05) * sr)
        if k < n:
            tail[k] += rng.uniform(-0.6, 0.6, 2)
    tail /= np.sqrt(np.sum(tail**2, axis=0, keepdims=True)) + 1e-12
    return tail, f"room {rt60:.2f} s"


def _compress(x: np.ndarray, sr: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Feed-forward RMS bus compressor (ratio 1.5-4, 5-30 ms attack, 50-300 ms release)."""
    ratio = float(rng.uniform(1.5, 4.0))
    thresh = float(rng.uniform(-24.0, -10.0))
    rms = np.sqrt(np.mean(x**2, axis=1) + 1e-12)
    level = 20 * np.log10(rms)
    over = np.maximum(level - thresh, 0.0)
    gain_db = -over * (1 - 1 / ratio)
    release = float(rng.uniform(0.05, 0.3))
    a = np.exp(-1.0 / (release * sr))
    smooth = signal.lfilter([1 - a], [1, -a], gain_db)
    return x * (10 ** (np.minimum(smooth, 0.0) / 20))[:, None], f"comp {ratio:.1f}:1 @ {thresh:.0f}"


def _limit(x: np.ndarray, sr: int, drive_db: float) -> np.ndarray:
    """Peak limiter: drive, then a 1.5 ms look-ahead gain that keeps peaks under -0.3 dBFS."""
    x = x * 10 ** (drive_db / 20)
    ceiling = 10 ** (-0.3 / 20)
    peak = np.abs(x).max(axis=1)
    w = max(int(0.0015 * sr), 1)
    held = signal.order_filter(peak, np.ones(2 * w + 1), 2 * w)  # running max
    gain = np.minimum(1.0, ceiling / np.maximum(held, 1e-12))
    a = np.exp(-1.0 / (0.05 * sr))
    rel = signal.lfilter([1 - a], [1, -a], 1 - gain)  # smooth recovery
    gain = np.minimum(gain, 1 - rel)
    return np.clip(x * gain[:, None], -ceiling, ceiling)


def high_shelf(x: np.ndarray, sr: int, f0: float, gain_db: float) -> np.ndarray:
    """RBJ high shelf (slope 1) along axis 0."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * f0 / sr
    alpha = np.sin(w0) / 2 * np.sqrt(2)
    cw, sa = np.cos(w0), 2 * np.sqrt(a) * alpha
    b = [
        a * ((a + 1) + (a - 1) * cw + sa),
        -2 * a * ((a - 1) + (a + 1) * cw),
        a * ((a + 1) + (a - 1) * cw - sa),
    ]
    den = [(a + 1) - (a - 1) * cw + sa, 2 * ((a - 1) - (a + 1) * cw), (a + 1) - (a - 1) * cw - sa]
    return signal.lfilter(b, den, x, axis=0)


def _noise_floor(
    shape: tuple[int, int], sr: int, rng: np.random.Generator
) -> tuple[np.ndarray, str]:
    """Unit-RMS white, pink or hum (50/60 Hz with harmonics) noise, and its name."""
    kind = str(rng.choice(["white", "pink", "pink", "hum"]))
    w = rng.standard_normal(shape)
    if kind != "white":
        spec = np.fft.rfft(w, axis=0)
        f = np.arange(spec.shape[0], dtype=np.float64)
        f[0] = 1.0
        w = np.fft.irfft(spec / np.sqrt(f)[:, None], n=shape[0], axis=0)
    if kind == "hum":
        t = np.arange(shape[0]) / sr
        f0 = 50.0 if rng.random() < 0.5 else 60.0
        hum = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 12))
        w = 0.3 * w / (np.std(w) + 1e-20) + hum[:, None] / np.std(hum)
    return w / (np.sqrt(np.mean(w**2)) + 1e-20), kind


def to_16_bit(x: np.ndarray, rng: np.random.Generator, how: str) -> np.ndarray:
    """Quantize to 16 bits: plain rounding, TPDF dither, or noise-shaped TPDF dither.

    The shaped kind uses the second difference of TPDF noise as the dither (it rises 12 dB per
    octave and sits ~20 dB over plain dither near Nyquist), like the HF-heavy shaped dither of
    mastering tools, whose noise climbs towards Nyquist.
    """
    q = 32768.0
    if how == "round":
        return np.round(x * q) / q
    d = rng.random(x.shape) - rng.random(x.shape)
    if how == "shaped":
        d = signal.lfilter([1.0, -2.0, 1.0], [1.0], d, axis=0)
    return np.round(x * q + d) / q


def master_chain(
    x: np.ndarray, sr: int, rng: np.random.Generator, *, dark: bool
) -> tuple[np.ndarray, str]:
    """Mix-bus processing of a stereo float mix ``(n, 2)``; returns 16-bit samples and notes."""
    notes = []
    if rng.random() < 0.6:
        ir, name = _room_ir(sr, rng)
        wet = float(rng.uniform(0.05, 0.35))
        rev = np.stack([signal.fftconvolve(x[:, c], ir[:, c])[: len(x)] for c in range(2)], 1)
        dry_rms = np.sqrt(np.mean(x**2)) + 1e-12
        x = x + wet * rev * dry_rms / (np.sqrt(np.mean(rev**2)) + 1e-12)
        notes.append(f"{name} wet {wet:.2f}")
    if rng.random() < 0.7:
        x /= np.abs(x).max() + 1e-12
        x, name = _compress(x, sr, rng)
        notes.append(name)
    if dark or rng.random() < 0.5:
        f0 = float(rng.uniform(3000, 10000))
        g = float(rng.uniform(-45, -20)) if dark else float(rng.uniform(-12, 6))
        x = high_shelf(x, sr, f0, g)
        notes.append(f"shelf {g:+.0f} dB @ {f0 / 1000:.1f} kHz")
    x = x / (np.abs(x).max() + 1e-12)
    if rng.random() < 0.5:
        drive = float(rng.uniform(1.0, 9.0))
        x = _limit(x, sr, drive)
        notes.append(f"limiter +{drive:.1f} dB")
    else:
        peak = float(rng.uniform(-12.0, -0.3))
        x *= 10 ** (peak / 20)
        notes.append(f"peak {peak:.1f} dBFS")
    if rng.random() < 0.75:
        level = float(rng.uniform(-120.0, -90.0))
        nz, kind = _noise_floor(x.shape, sr, rng)
        x = x + 10 ** (level / 20) * nz
        notes.append(f"{kind} noise {level:.0f} dBFS")
    how = str(rng.choice(["round", "tpdf", "tpdf", "shaped"]))
    notes.append(f"16-bit {how}")
    return to_16_bit(x, rng, how), "; ".join(notes)


def kit_for(index: int, seed: int, split: str | None = None) -> Kit:
    """The kit of real-drum song ``index`` (deterministic), optionally from one split only."""
    pool = [k for k in kits() if split is None or kit_split(k) == split]
    h = int(hashlib.sha256(f"{seed}:kit:{index}".encode()).hexdigest()[:8], 16)
    return pool[h % len(pool)]
