"""Build the corpus that trains and evaluates the ``quality`` task (lossy-transcode detection).

The corpus has lossless SOURCES (real 44.1 kHz recordings from ``shared/eval`` that pass a
band-limit check, plus procedurally composed MIDI songs rendered with fluidsynth) and, for every
source, ENCODES with known provenance:

* lossless: FLAC 16-bit, and for some sources WAV, AIFF or ALAC;
* lossy: LAME CBR 128/192/256/320 and VBR V2/V0 (the ``lame`` CLI), AAC 96-256k (FFmpeg's native
  encoder), Vorbis q3/q5/q7 (libvorbis), Opus 64-160k (libopus);
* transcodes: FLAC decoded from MP3/AAC/Vorbis/Opus, and MP3 320 CBR re-encoded from MP3 decodes.

Sources are split ~70/30 into train/test by a hash of the source id (never by file), so all
encodes of one source land in the same split. ``manifest.csv`` in the output folder has one row
per file; paths are relative to that folder. Reruns are incremental: outputs that exist are kept.

``--long N`` also builds a speed set of N realistic-length files (30-240 s) in ``speed/`` with its
own manifest, for collection-speed benchmarks. ``--check K`` prints measured spectral cutoffs for
K files of each kind.

Usage::

    python benchmarks/quality_corpus.py --out benchmarks/_corpus --jobs 2
    python benchmarks/quality_corpus.py --out benchmarks/_corpus --long 120 --check 3
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import mido
import numpy as np
import soundfile as sf
from scipy import signal
from scipy.ndimage import uniform_filter1d

import _real_material as real
from _real_material import high_shelf

REPO = Path(__file__).resolve().parents[1]
EVAL_DIR = REPO.parent / "shared" / "eval"
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")

#: Real recordings considered for the lossless pool: (source id, path under shared/eval).
REAL_SOURCES: tuple[tuple[str, str], ...] = (
    ("ballroom_Media-105901", "beats/ballroom_Media-105901.wav"),
    ("guitarset_00_BN1-129-Eb_comp", "beats/guitarset_00_BN1-129-Eb_comp_mic.wav"),
    ("madmom_sample", "beats/madmom_sample.wav"),
    ("madmom_stereo_sample", "music_transcription/madmom_stereo_sample.flac"),
    ("slakh_Track01876_S09", "music_transcription/slakh_Track01876_S09.flac"),
    ("slakh_Track01876_S00", "music_transcription/slakh_Track01876_S00.flac"),
    ("vocadito_1", "music_transcription/vocadito_1.wav"),
    ("jfk", "speech/jfk.flac"),
)
#: Real sources longer than this are cut into non-overlapping pieces of this length (seconds).
PIECE_SECONDS = 30.0
#: A real source whose long-term spectrum falls 40 dB below its 2-8 kHz level before this
#: frequency is treated as band-limited (a likely lossy decode) and kept out of the pool.
FULL_BAND_HZ = 21000.0
#: Length range of synthetic songs (seconds). The bitrater baseline needs at least 49 s of audio
#: (48 two-second windows at a one-second hop) and skips shorter files, so songs start at 50 s.
SYNTH_SECONDS = (50.0, 60.0)
#: Length range of the real-drum songs (seconds), and the share of them (by a hash of the
#: index) that go to the test split, played only by the held-out kits of ``_real_material``.
BAND_SECONDS = (30.0, 40.0)
BAND_TEST_FRACTION = 0.3
#: Sources whose 16-20 kHz band is below this level (dBFS) have no HF content to speak of.
HF_FLOOR_DBFS = -90.0
#: Pieces quieter than this (RMS, dBFS) are dropped: near-silence says nothing about a codec.
SILENT_PIECE_DBFS = -60.0

MANIFEST_FIELDS = (
    "path",
    "source_id",
    "piece",
    "split",
    "kind",
    "container",
    "codec",
    "verdict",
    "bitrate_class",
    "origin_codec",
    "origin_kbps",
    "origin_setting",
    "kbps",
    "sample_rate",
    "channels",
    "duration_s",
    "size_bytes",
    "source_cutoff_hz",
    "source_hf_dbfs",
    "source_note",
)


# --------------------------------------------------------------------------- encode specs


@dataclass(frozen=True)
class Encode:
    """One way of turning a lossless source into a labelled file.

    Attributes
    ----------
    kind : str
        Unique short name, e.g. ``mp3_b128``, ``flac_from_opus_96``, ``mp3_b320_from_mp3_v2``.
    container : str
        File extension of the output.
    codec : str
        Codec of the output stream.
    verdict : str
        ``lossless``, ``lossy`` or ``transcode``.
    bitrate_class : str
        LAME class (128, V2, 192, V0, 256, 320, lossless) or empty for non-MP3 origins.
    origin_codec, origin_kbps, origin_setting : str
        The lossy codec the audio went through, its nominal kb/s and the encoder setting.
    args : tuple of str
        Encoder arguments (LAME arguments for MP3, FFmpeg arguments otherwise).
    origin : str
        For transcodes: the ``kind`` of the lossy file that is decoded.
    """

    kind: str
    container: str
    codec: str
    verdict: str
    bitrate_class: str = ""
    origin_codec: str = ""
    origin_kbps: str = ""
    origin_setting: str = ""
    args: tuple[str, ...] = ()
    origin: str = ""


FLAC_ARGS = ("-c:a", "flac", "-sample_fmt", "s16")
LOSSLESS_EXTRA = {
    "wav": Encode("wav", "wav", "pcm_s16le", "lossless", "lossless", args=("-c:a", "pcm_s16le")),
    "aiff": Encode("aiff", "aiff", "pcm_s16be", "lossless", "lossless", args=("-c:a", "pcm_s16be")),
    "alac": Encode(
        "alac", "m4a", "alac", "lossless", "lossless", args=("-c:a", "alac", "-sample_fmt", "s16p")
    ),
}
FLAC = Encode("flac", "flac", "flac", "lossless", "lossless", args=FLAC_ARGS)

#: LAME settings: kind -> (class, nominal kb/s, lame arguments).
LAME = {
    "mp3_b128": ("128", "128", ("-b", "128", "--cbr")),
    "mp3_v2": ("V2", "190", ("-V", "2")),
    "mp3_b192": ("192", "192", ("-b", "192", "--cbr")),
    "mp3_v0": ("V0", "245", ("-V", "0")),
    "mp3_b256": ("256", "256", ("-b", "256", "--cbr")),
    "mp3_b320": ("320", "320", ("-b", "320", "--cbr")),
}


def lame_encode(kind: str) -> Encode:
    """Return the spec for one LAME setting."""
    cls, kbps, args = LAME[kind]
    return Encode(kind, "mp3", "mp3", "lossy", cls, "mp3", kbps, " ".join(args), args)


#: FFmpeg lossy settings: (codec, container, encoder, option, values, nominal kb/s per value)
FFMPEG_LOSSY = (
    ("aac", "m4a", "aac", "-b:a", ("96k", "128k", "192k", "256k"), ("96", "128", "192", "256")),
    ("vorbis", "ogg", "libvorbis", "-q:a", ("3", "5", "7"), ("112", "160", "224")),
    ("opus", "opus", "libopus", "-b:a", ("64k", "96k", "128k", "160k"), ("64", "96", "128", "160")),
)


def ffmpeg_lossy() -> list[Encode]:
    """Return the AAC, Vorbis and Opus specs (FFmpeg encoders)."""
    specs = []
    for codec, container, encoder, option, values, nominal in FFMPEG_LOSSY:
        for value, kbps in zip(values, nominal):
            tag = f"q{value}" if option == "-q:a" else value.rstrip("k")
            specs.append(
                Encode(
                    f"{codec}_{tag}",
                    container,
                    codec,
                    "lossy",
                    "",
                    codec,
                    kbps,
                    f"{encoder} {option} {value}",
                    ("-c:a", encoder, option, value),
                )
            )
    return specs


def transcode_specs(lossy: dict[str, Encode]) -> list[Encode]:
    """Return fake-lossless FLACs and upscaled MP3 320s made from the lossy specs."""
    flac_from = [
        "mp3_b128",
        "mp3_v2",
        "mp3_b192",
        "mp3_v0",
        "mp3_b256",
        "aac_128",
        "aac_192",
        "vorbis_q5",
        "opus_96",
        "opus_128",
        "aac_256",
        "vorbis_q7",
    ]
    specs = []
    for origin in flac_from:
        o = lossy[origin]
        specs.append(
            replace(
                o,
                kind=f"flac_from_{origin}",
                container="flac",
                codec="flac",
                verdict="transcode",
                args=FLAC_ARGS,
                origin=origin,
            )
        )
    for origin in ("mp3_b128", "mp3_v2", "mp3_b192", "mp3_b256"):
        o = lossy[origin]
        specs.append(
            replace(
                o,
                kind=f"mp3_b320_from_{origin}",
                verdict="transcode",
                args=LAME["mp3_b320"][2],
                origin=origin,
            )
        )
    return specs


def all_encodes() -> tuple[list[Encode], list[Encode]]:
    """Return (direct lossy encodes, transcodes), in a fixed order."""
    lossy = [lame_encode(k) for k in LAME] + ffmpeg_lossy()
    return lossy, transcode_specs({e.kind: e for e in lossy})


# --------------------------------------------------------------------------- small helpers


def unit_hash(*parts: object) -> float:
    """Map the parts to a deterministic number in [0, 1)."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()
    return int(digest[:13], 16) / 16**13


def short_name(*parts: object) -> str:
    """Neutral file stem that does not reveal the label."""
    return hashlib.sha1(":".join(map(str, parts)).encode()).hexdigest()[:10]


def run(cmd: Sequence[str | os.PathLike[str]]) -> None:
    """Run a command; raise with its stderr when it fails."""
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed: {proc.stderr[-800:]}")


def ffmpeg(src: Path, dst: Path, args: Sequence[str]) -> None:
    """Convert ``src`` to ``dst`` with FFmpeg, writing through a temporary name."""
    tmp = dst.with_name(f".part-{dst.name}")
    run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", src, "-map_metadata", "-1", *args, tmp])
    tmp.replace(dst)


def lame(src_wav: Path, dst: Path, args: Sequence[str]) -> None:
    """Encode a WAV file to MP3 with the LAME CLI."""
    tmp = dst.with_name(f".part-{dst.name}")
    run(["lame", "--quiet", "--noreplaygain", *args, src_wav, tmp])
    tmp.replace(dst)


def to_wav(src: Path, dst: Path, sample_rate: int | None = None) -> None:
    """Decode anything FFmpeg reads to 16-bit WAV (optionally resampled)."""
    rate = ["-ar", str(sample_rate)] if sample_rate else []
    ffmpeg(src, dst, ["-c:a", "pcm_s16le", *rate])


def rms_dbfs(x: np.ndarray) -> float:
    """RMS level of a signal in dBFS."""
    return float(20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-12))


def ltas_db(x: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """Long-term average spectrum (dB, loud half of the frames) of a mono signal.

    Parameters
    ----------
    x : np.ndarray [shape=(n,)]
        Mono samples.
    sr : int
        Sample rate in Hz.

    Returns
    -------
    freqs : np.ndarray [shape=(2049,)]
        Bin frequencies in Hz.
    db : np.ndarray [shape=(2049,)]
        Mean power over the frames above the median frame energy, in dB, smoothed over ~200 Hz.
    """
    freqs, _, z = signal.stft(x, sr, nperseg=4096, noverlap=3072)
    power = np.abs(z) ** 2
    energy = power.sum(axis=0)
    loud = energy >= np.median(energy)
    db = 10 * np.log10(power[:, loud].mean(axis=1) + 1e-20)
    return freqs, uniform_filter1d(
        db, size=max(1, int(200 / (freqs[1] - freqs[0]))), mode="nearest"
    )


def spectral_cutoff(x: np.ndarray, sr: int, drop_db: float = 40.0) -> float:
    """Highest frequency where the LTAS is within ``drop_db`` of its 2-8 kHz median level.

    Parameters
    ----------
    x : np.ndarray [shape=(n,)]
        Mono samples.
    sr : int
        Sample rate in Hz.
    drop_db : float
        How far below the 2-8 kHz level counts as "no content".

    Returns
    -------
    float
        Cutoff in Hz (the Nyquist frequency when the spectrum never drops that far).
    """
    freqs, db = ltas_db(x, sr)
    ref = float(np.median(db[(freqs >= 2000) & (freqs <= 8000)]))
    above = np.flatnonzero((db >= ref - drop_db) & (freqs > 2000))
    return float(freqs[above.max()]) if above.size else 2000.0


def band_dbfs(x: np.ndarray, sr: int, lo: float = 16000.0, hi: float = 20000.0) -> float:
    """RMS level (dBFS) of a mono signal in the band ``lo``-``hi`` Hz.

    16-bit TPDF dither alone measures about -108 dBFS in 16-20 kHz, so values near that mean the
    material has no high-frequency content for a codec's low-pass to remove.
    """
    sos = signal.butter(8, [lo, min(hi, 0.49 * sr)], btype="bandpass", fs=sr, output="sos")
    return rms_dbfs(signal.sosfilt(sos, x))


def parallel(fn: Callable[..., object], items: Iterable[object], jobs: int, label: str) -> None:
    """Run ``fn(item)`` over the items with ``jobs`` threads, printing progress and failures."""
    items = list(items)
    done = failed = 0
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(fn, it) for it in items]
        for fut in futures:
            try:
                fut.result()
            except Exception as exc:  # keep going: one bad encode must not stop the corpus
                failed += 1
                print(f"  ! {label}: {exc}", file=sys.stderr)
            done += 1
            if done % 100 == 0 or done == len(items):
                print(f"  {label}: {done}/{len(items)} ({time.monotonic() - t0:.0f} s)", flush=True)
    if failed:
        print(f"  {label}: {failed} failed", file=sys.stderr)


# --------------------------------------------------------------------------- sources


@dataclass
class Piece:
    """One lossless piece of a source, stored as 16-bit FLAC under ``sources/``."""

    source_id: str
    index: int
    path: Path
    sample_rate: int
    channels: int
    duration_s: float


@dataclass
class Source:
    """A lossless source (one or more pieces) with its split and notes."""

    source_id: str
    real: bool
    split: str = ""
    pieces: list[Piece] = field(default_factory=list)
    cutoff_hz: float = 0.0
    hf_dbfs: float = 0.0
    note: str = ""
    origin_path: str = ""
    extra_lossless: str = ""


def write_pcm16(path: Path, x: np.ndarray, sr: int) -> None:
    """Write float samples ``(n, channels)`` as 16-bit FLAC through a temporary name."""
    tmp = path.with_name(f".part-{path.name}")
    sf.write(tmp, np.clip(x, -1.0, 32767 / 32768), sr, subtype="PCM_16", format="FLAC")
    tmp.replace(path)


def piece_of(source_id: str, index: int, path: Path) -> Piece:
    """Describe an existing source FLAC."""
    info = sf.info(str(path))
    return Piece(source_id, index, path, info.samplerate, info.channels, round(info.duration, 3))


def prepare_real(source_id: str, rel: str, out: Path) -> Source:
    """Check a real recording's band limit and cut it into pieces if it is full-band."""
    path = EVAL_DIR / rel
    src = Source(source_id, real=True, origin_path=os.path.relpath(path, out))
    x, sr = sf.read(str(path), always_2d=True, dtype="float64")
    src.cutoff_hz = spectral_cutoff(x.mean(axis=1), sr)
    src.hf_dbfs = band_dbfs(x.mean(axis=1), sr)
    if sr != 44100:
        src.note = f"excluded: sample rate {sr} Hz"
        return src
    if src.cutoff_hz < FULL_BAND_HZ:
        src.note = (
            f"excluded: band-limited, LTAS 40 dB below its 2-8 kHz level at "
            f"{src.cutoff_hz / 1000:.1f} kHz (like a lossy decode); not used as lossless"
        )
        return src
    src.note = f"real recording {rel}"
    if src.hf_dbfs < HF_FLOOR_DBFS:
        src.note += (
            f"; little HF content (16-20 kHz at {src.hf_dbfs:.0f} dBFS, near the 16-bit floor)"
        )
    if x.shape[1] == 1:
        # Stored as 2 identical channels, as a mono recording sits in a music library: LAME and
        # AAC pick a much higher low-pass for 1-channel input (mono 128 kb/s cuts near 20 kHz),
        # which would break the link between a bitrate class and its cutoff.
        x = np.repeat(x, 2, axis=1)
        src.note += " (mono, stored as dual-mono stereo)"
    n = int(PIECE_SECONDS * sr)
    starts = [0] if len(x) < 2 * n else list(range(0, len(x) - n + 1, n))
    for i, s in enumerate(starts):
        seg = x[s : s + n]
        if rms_dbfs(seg) < SILENT_PIECE_DBFS:
            continue
        dst = out / "sources" / f"{source_id}_p{i:02d}.flac"
        if not dst.exists():
            write_pcm16(dst, seg, sr)
        src.pieces.append(piece_of(source_id, i, dst))
    return src


# --------------------------------------------------------------------------- MIDI songs

SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
}
PROGRESSIONS = (
    (0, 4, 5, 3),
    (0, 5, 3, 4),
    (0, 3, 4, 4),
    (5, 3, 0, 4),
    (0, 0, 3, 4),
    (1, 4, 0, 0),
    (0, 6, 5, 4),
    (0, 3, 0, 4),
    (5, 4, 3, 4),
    (0, 2, 3, 4),
)
DRUM_KITS = (0, 8, 16, 24, 25, 32, 40, 48)
ROLES = ("bass", "chords", "melody", "arp", "pad", "counter")
TPB = 480  # MIDI ticks per beat


@dataclass
class SongPlan:
    """Musical parameters of one synthetic song (recorded in the manifest note)."""

    bpm: int
    beats_per_bar: int
    root: int
    scale: str
    progression: tuple[int, ...]
    programs: dict[str, int]
    kit: int | None
    bars: int


class Track:
    """Collects timed MIDI messages for one channel."""

    def __init__(self, channel: int) -> None:
        self.channel = channel
        self.events: list[tuple[int, int, mido.Message | mido.MetaMessage]] = []

    def add(self, tick: int, msg: mido.Message | mido.MetaMessage, order: int = 1) -> None:
        """Add a message at an absolute tick (``order`` sorts note-offs before note-ons)."""
        self.events.append((max(0, tick), order, msg))

    def note(self, tick: int, dur: int, pitch: int, vel: int) -> None:
        """Add one note."""
        pitch = int(np.clip(pitch, 0, 127))
        vel = int(np.clip(vel, 1, 127))
        self.add(tick, mido.Message("note_on", channel=self.channel, note=pitch, velocity=vel))
        off = mido.Message("note_off", channel=self.channel, note=pitch, velocity=0)
        self.add(tick + max(30, dur), off, order=0)

    def to_midi_track(self) -> mido.MidiTrack:
        """Return a mido track with delta times."""
        track = mido.MidiTrack()
        last = 0
        for tick, _, msg in sorted(self.events, key=lambda e: (e[0], e[1])):
            track.append(msg.copy(time=tick - last))
            last = tick
        return track


def chord_pitches(plan: SongPlan, degree: int, base: int, size: int = 3) -> list[int]:
    """Pitches of the triad (or seventh) on a scale degree, near MIDI pitch ``base``."""
    scale = SCALES[plan.scale]
    out = []
    for k in range(size):
        d = degree + 2 * k
        out.append(base + plan.root + scale[d % 7] + 12 * (d // 7))
    return out


def plan_song(rng: np.random.Generator, seconds: float) -> SongPlan:
    """Draw tempo, key, progression and instruments for a song of about ``seconds``."""
    bpm = int(rng.integers(70, 171))
    beats_per_bar = 3 if rng.random() < 0.2 else 4
    n_inst = int(rng.integers(3, 7))
    roles = ["bass", "chords", "melody", *rng.choice(ROLES[3:], n_inst - 3, replace=False)]
    programs = {r: int(rng.integers(0, 128)) for r in roles}
    if rng.random() < 0.7:
        programs["bass"] = int(rng.integers(32, 40))
    kit = int(rng.choice(DRUM_KITS)) if rng.random() < 0.85 else None
    bar_s = beats_per_bar * 60.0 / bpm
    return SongPlan(
        bpm=bpm,
        beats_per_bar=beats_per_bar,
        root=int(rng.integers(0, 12)),
        scale=str(rng.choice(list(SCALES))),
        progression=PROGRESSIONS[int(rng.integers(len(PROGRESSIONS)))],
        programs=programs,
        kit=kit,
        bars=math.ceil(seconds / bar_s) + 1,
    )


def setup_channel(track: Track, rng: np.random.Generator, program: int | None, pan: int) -> None:
    """Program change, volume, pan, reverb and chorus at the start of a track."""
    ch = track.channel
    if program is not None:
        track.add(0, mido.Message("program_change", channel=ch, program=program), order=0)
    ccs = {
        7: int(rng.integers(70, 116)),
        10: pan,
        91: int(rng.integers(0, 91)),
        93: 0 if rng.random() < 0.5 else int(rng.integers(0, 61)),
    }
    for cc, value in ccs.items():
        track.add(0, mido.Message("control_change", channel=ch, control=cc, value=value), order=0)


def humanize(rng: np.random.Generator, tick: int) -> int:
    """Shift a tick by a few milliseconds of timing jitter."""
    return tick + int(rng.integers(-12, 13))


def part_bass(t: Track, plan: SongPlan, rng: np.random.Generator, vel: int) -> None:
    """Root-based bass line with a rhythm chosen once per song."""
    step = int(rng.choice([TPB // 2, TPB, TPB * 2]))
    bar = plan.beats_per_bar * TPB
    for b in range(plan.bars):
        deg = plan.progression[b % len(plan.progression)]
        root = chord_pitches(plan, deg, 36)[0]
        for k, tick in enumerate(range(0, bar, step)):
            pitch = root + (7 if k % 4 == 2 and rng.random() < 0.5 else 0)
            t.note(
                humanize(rng, b * bar + tick),
                int(step * 0.9),
                pitch,
                vel + int(rng.integers(-10, 11)),
            )


def part_chords(
    t: Track, plan: SongPlan, rng: np.random.Generator, vel: int, sustain: bool
) -> None:
    """Block chords: held for the bar (pads) or rhythmically comped."""
    bar = plan.beats_per_bar * TPB
    pattern = [0] if sustain else sorted(rng.choice(range(0, bar, TPB // 2), 3, replace=False))
    size = 4 if rng.random() < 0.3 else 3
    for b in range(plan.bars):
        deg = plan.progression[b % len(plan.progression)]
        pitches = chord_pitches(plan, deg, 55 if sustain else 60, size)
        for i, tick in enumerate(pattern):
            dur = bar if sustain else (pattern[i + 1] if i + 1 < len(pattern) else bar) - tick
            for p in pitches:
                t.note(
                    humanize(rng, b * bar + int(tick)),
                    int(dur * 0.95),
                    p,
                    vel + int(rng.integers(-8, 9)),
                )


def part_melody(t: Track, plan: SongPlan, rng: np.random.Generator, vel: int, low: int) -> None:
    """Random-walk melody over the scale, built from a repeated two-bar motif."""
    scale = SCALES[plan.scale]
    bar = plan.beats_per_bar * TPB
    lengths = [TPB // 2, TPB, TPB, TPB + TPB // 2, 2 * TPB]
    motif: list[tuple[int, int, int]] = []  # (tick, dur, step)
    tick, step = 0, int(rng.integers(0, 7))
    while tick < 2 * bar:
        dur = int(rng.choice(lengths))
        step += int(rng.choice([-2, -1, -1, 0, 1, 1, 2, 3]))
        if rng.random() > 0.15:
            motif.append((tick, dur, step))
        tick += dur
    for start in range(0, plan.bars * bar, 2 * bar):
        shift = int(rng.choice([0, 0, 2, -2, 4]))
        for tk, dur, st in motif:
            s = int(np.clip(st + shift, -7, 14))
            pitch = low + plan.root + scale[s % 7] + 12 * (s // 7)
            accent = 12 if tk % bar == 0 else 0
            t.note(
                humanize(rng, start + tk),
                int(dur * 0.9),
                pitch,
                vel + accent + int(rng.integers(-12, 13)),
            )


def part_arp(t: Track, plan: SongPlan, rng: np.random.Generator, vel: int) -> None:
    """Arpeggiated chord tones in eighths or sixteenths."""
    bar = plan.beats_per_bar * TPB
    step = TPB // int(rng.choice([2, 4]))
    for b in range(plan.bars):
        tones = chord_pitches(plan, plan.progression[b % len(plan.progression)], 67, 4)
        for k, tick in enumerate(range(0, bar, step)):
            t.note(b * bar + tick, int(step * 0.8), tones[k % 4], vel + int(rng.integers(-15, 6)))


DRUM_NOTES = {
    "kick": 36,
    "snare": 38,
    "clap": 39,
    "hat": 42,
    "open": 46,
    "ride": 51,
    "crash": 49,
    "tom_hi": 50,
    "tom_mid": 47,
    "tom_lo": 45,
}


def part_drums(t: Track, plan: SongPlan, rng: np.random.Generator, vel: int) -> None:
    """A kick/snare/hat groove with variations, crashes and fills."""
    sixteenth = TPB // 4
    steps = plan.beats_per_bar * 4
    kick = {0, 8} if plan.beats_per_bar == 4 else {0}
    kick |= {int(s) for s in rng.choice(steps, int(rng.integers(0, 3)), replace=False)}
    snare = {4, 12} if plan.beats_per_bar == 4 else {4, 8}
    hat_every = int(rng.choice([1, 2, 2]))
    cymbal = DRUM_NOTES["ride"] if rng.random() < 0.25 else DRUM_NOTES["hat"]
    snare_note = DRUM_NOTES["clap"] if rng.random() < 0.2 else DRUM_NOTES["snare"]
    for b in range(plan.bars):
        base = b * steps * sixteenth
        fill = b % 8 == 7
        for s in range(steps):
            tick = humanize(rng, base + s * sixteenth)
            v = vel + int(rng.integers(-15, 10))
            if s in kick:
                t.note(tick, sixteenth, DRUM_NOTES["kick"], v + 10)
            if fill and s >= steps - 4:
                tom = ("tom_hi", "tom_mid", "tom_lo", "tom_lo")[s - steps + 4]
                t.note(tick, sixteenth, DRUM_NOTES[tom], v)
            elif s in snare:
                t.note(tick, sixteenth, snare_note, v + 5)
            if s % hat_every == 0:
                note = DRUM_NOTES["open"] if s == steps - 2 and rng.random() < 0.3 else cymbal
                t.note(tick, sixteenth, note, v - 15 + (10 if s % 4 == 0 else 0))
        if b % 8 == 0:
            t.note(base, 4 * TPB, DRUM_NOTES["crash"], vel + 5)


def compose(plan: SongPlan, rng: np.random.Generator) -> mido.MidiFile:
    """Write the song as a type-1 MIDI file."""
    mid = mido.MidiFile(ticks_per_beat=TPB)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(plan.bpm)))
    meta.append(mido.MetaMessage("time_signature", numerator=plan.beats_per_bar, denominator=4))
    mid.tracks.append(meta)
    channels = [c for c in range(16) if c != 9]
    for ch, (role, program) in zip(channels, plan.programs.items(), strict=False):
        t = Track(ch)
        pan = int(rng.integers(54, 75)) if role == "bass" else int(rng.integers(5, 123))
        setup_channel(t, rng, program, pan)
        vel = int(rng.integers(60, 111))
        if role == "bass":
            part_bass(t, plan, rng, vel)
        elif role in ("chords", "pad"):
            part_chords(t, plan, rng, vel - 10, sustain=role == "pad")
        elif role == "arp":
            part_arp(t, plan, rng, vel - 10)
        else:
            part_melody(t, plan, rng, vel, 72 if role == "melody" else 55)
        mid.tracks.append(t.to_midi_track())
    if plan.kit is not None:
        t = Track(9)
        setup_channel(t, rng, plan.kit, int(rng.integers(54, 75)))
        part_drums(t, plan, rng, int(rng.integers(80, 116)))
        mid.tracks.append(t.to_midi_track())
    return mid


def render(
    mid: mido.MidiFile, sr: int, workdir: Path, *, soundfont: Path = SOUNDFONT
) -> np.ndarray:
    """Render a mido file with fluidsynth (FluidR3_GM unless ``soundfont``); ``(n, 2)`` floats."""
    midi_path, wav_path = workdir / "song.mid", workdir / "song.wav"
    mid.save(str(midi_path))
    run(
        [
            "fluidsynth",
            "-ni",
            "-q",
            "-g",
            "0.3",
            "-r",
            str(sr),
            "-O",
            "float",
            "-T",
            "wav",
            "-F",
            wav_path,
            soundfont,
            midi_path,
        ]
    )
    x, _ = sf.read(str(wav_path), always_2d=True, dtype="float64")
    return x


def noise(rng: np.random.Generator, shape: tuple[int, int], pink: bool) -> np.ndarray:
    """Unit-RMS white or pink (1/f power) noise."""
    w = rng.standard_normal(shape)
    if pink:
        spec = np.fft.rfft(w, axis=0)
        f = np.arange(spec.shape[0], dtype=np.float64)
        f[0] = 1.0
        w = np.fft.irfft(spec / np.sqrt(f)[:, None], n=shape[0], axis=0)
    return w / (np.sqrt(np.mean(w**2)) + 1e-20)


#: songs from this index on are mastered dark (see :func:`master`); the first 64 songs had
#: 16-20 kHz content of -96 to -49 dBFS, far more than many real recordings keep
DARK_FROM = 64


def master(
    x: np.ndarray, sr: int, seconds: float, rng: np.random.Generator, dark: bool = False
) -> tuple[np.ndarray, str]:
    """Trim, fade, EQ-tilt, set the level, add a noise floor and dither to 16 bits.

    ``dark`` adds a deep high-shelf cut (-25 to -45 dB from 5-9 kHz up), like recordings whose
    content above 12 kHz is little more than noise; its draws come after all the others, so
    the songs made before it existed are unchanged.
    """
    n = min(len(x), int(seconds * sr))
    x = x[:n].copy()
    fade = np.linspace(0.0, 1.0, int(1.5 * sr))[:, None]
    x[-len(fade) :] *= fade[::-1]
    notes = []
    if rng.random() < 0.35:
        f0, g = float(rng.uniform(3000, 10000)), float(rng.uniform(-6, 4))
        x = high_shelf(x, sr, f0, g)
        notes.append(f"shelf {g:+.1f} dB @ {f0 / 1000:.1f} kHz")
    if rng.random() < 0.1:
        x = np.repeat(x.mean(axis=1, keepdims=True), 2, axis=1)
        notes.append("dual mono")
    peak = float(rng.uniform(-12.0, -0.3))
    x *= 10 ** (peak / 20) / (np.abs(x).max() + 1e-12)
    notes.append(f"peak {peak:.1f} dBFS")
    if rng.random() < 0.35:
        level, pink = float(rng.uniform(-90, -60)), bool(rng.random() < 0.5)
        x += 10 ** (level / 20) * noise(rng, x.shape, pink)
        notes.append(f"{'pink' if pink else 'white'} noise {level:.0f} dBFS")
    if dark:
        f0, g = float(rng.uniform(5000, 9000)), float(rng.uniform(-45, -25))
        x = high_shelf(high_shelf(x, sr, f0, g / 2), sr, f0 * 1.3, g / 2)
        notes.append(f"dark: shelf {g:+.0f} dB @ {f0 / 1000:.1f} kHz")
    dither = (rng.random(x.shape) - rng.random(x.shape)) / 32768.0
    return np.round((x + dither) * 32768.0) / 32768.0, "; ".join(notes)


def synth_song(out_flac: Path, seed: int, index: int, seconds: float | None, sr: int | None) -> str:
    """Compose, render and master one synthetic song; returns the manifest note."""
    rng = np.random.default_rng([seed, index])
    seconds = float(rng.uniform(*SYNTH_SECONDS)) if seconds is None else seconds
    sr = sr or (48000 if rng.random() < 0.1 else 44100)
    plan = plan_song(rng, seconds)
    mid = compose(plan, rng)
    with tempfile.TemporaryDirectory(prefix="qc-") as tmp:
        x = render(mid, sr, Path(tmp))
    y, master_note = master(x, sr, seconds, rng, dark=index >= DARK_FROM)
    write_pcm16(out_flac, y, sr)
    progs = ",".join(str(p) for p in plan.programs.values())
    kit = "no drums" if plan.kit is None else f"kit {plan.kit}"
    return (
        f"fluidsynth FluidR3_GM; {plan.bpm} BPM {plan.beats_per_bar}/4; "
        f"{plan.scale}; programs {progs}; {kit}; {sr} Hz; {master_note}"
    )


def prepare_synth(index: int, seed: int, seconds: float | None, out: Path) -> Source:
    """Make (or reuse) synthetic source number ``index``."""
    sid = f"synth_{index:03d}"
    path = out / "sources" / f"{sid}.flac"
    note_path = path.with_suffix(".txt")
    if not (path.exists() and note_path.exists()):
        note_path.write_text(synth_song(path, seed, index, seconds, None))
    src = Source(sid, real=False, note=note_path.read_text())
    src.pieces.append(piece_of(sid, 0, path))
    x, sr = sf.read(str(path), always_2d=True, dtype="float64")
    src.cutoff_hz = spectral_cutoff(x.mean(axis=1), sr)
    src.hf_dbfs = band_dbfs(x.mean(axis=1), sr)
    return src


def band_song(out_flac: Path, seed: int, index: int, split: str) -> str:
    """A song with real recorded drums: fluidsynth parts (or none) + a hydrogen kit, mastered.

    The tonal parts are rendered as for the synthetic songs (without General MIDI drums); the
    drums are played from one kit of ``hydrogen-drumkits`` chosen from the kits of ``split``;
    the mix goes through :func:`_real_material.master_chain` (room, compression, limiting, EQ
    tilt, noise floor, 16-bit rounding or dither). One song in five is drums alone, one in four
    is mastered dark.
    """
    rng = np.random.default_rng([seed, 7, index])
    seconds = float(rng.uniform(*BAND_SECONDS))
    sr = 48000 if rng.random() < 0.1 else 44100
    kit = real.kit_for(index, seed, split)
    plan = plan_song(rng, seconds)
    plan = replace(plan, kit=None)
    drums_only = rng.random() < 0.2
    n = int(seconds * sr)
    mix = np.zeros((n, 2))
    if not drums_only:
        with tempfile.TemporaryDirectory(prefix="qc-") as tmp:
            x = render(compose(plan, rng), sr, Path(tmp))[:n]
        mix[: len(x)] += x / (np.sqrt(np.mean(x**2)) + 1e-12)
    hits = real.groove(plan.bpm, plan.beats_per_bar, plan.bars, rng)
    drums = real.drum_track(kit, hits, seconds, sr, rng)
    level = float(rng.uniform(0.5, 2.0)) if not drums_only else 1.0
    mix += level * drums / (np.sqrt(np.mean(drums**2)) + 1e-12)
    fade = np.linspace(0.0, 1.0, int(1.0 * sr))[:, None]
    mix[-len(fade) :] *= fade[::-1]
    y, notes = real.master_chain(mix, sr, rng, dark=rng.random() < 0.25)
    write_pcm16(out_flac, y, sr)
    parts = "drums only" if drums_only else f"programs {','.join(map(str, plan.programs.values()))}"
    return f"real drums: hydrogen kit {kit.name}; {plan.bpm} BPM; {parts}; {sr} Hz; {notes}"


def prepare_band(index: int, seed: int, out: Path) -> Source:
    """Make (or reuse) real-drum song number ``index``; its split is its kit's."""
    sid = f"band_{index:03d}"
    split = "test" if unit_hash(seed, "band", index) < BAND_TEST_FRACTION else "train"
    path = out / "sources" / f"{sid}.flac"
    note_path = path.with_suffix(".txt")
    if not (path.exists() and note_path.exists()):
        note_path.write_text(band_song(path, seed, index, split))
    src = Source(sid, real=False, split=split, note=note_path.read_text())
    src.pieces.append(piece_of(sid, 0, path))
    x, sr = sf.read(str(path), always_2d=True, dtype="float64")
    src.cutoff_hz = spectral_cutoff(x.mean(axis=1), sr)
    src.hf_dbfs = band_dbfs(x.mean(axis=1), sr)
    return src


# --------------------------------------------------------------------------- split and jobs


def assign_splits(sources: list[Source], seed: int, test_fraction: float = 0.3) -> None:
    """Deterministic split by source id: every real source is test, at least 15 test sources.

    The real sources are the evaluation recordings (``shared/eval``), which are never trained
    or tuned on. Synthetic sources are ranked by their hash and the lowest ones fill the test
    split up to ``max(15, test_fraction * n)``.
    """
    usable = [s for s in sources if s.pieces and not s.split]  # real-drum songs come split
    real = [s for s in usable if s.real]
    synth = sorted((s for s in usable if not s.real), key=lambda s: unit_hash(seed, s.source_id))
    for s in real:
        s.split = "test"
    n_test = max(15, round(test_fraction * len(usable)))
    n_synth_test = max(0, n_test - sum(s.split == "test" for s in real))
    for i, s in enumerate(synth):
        s.split = "test" if i < n_synth_test else "train"
    for s in sources:
        if not s.pieces:
            s.split = "excluded"


@dataclass(frozen=True)
class Job:
    """One output file to make from one piece."""

    piece: Piece
    spec: Encode
    path: Path


def source_specs(s: Source, seed: int) -> list[tuple[int, Encode]]:
    """The encodes one source gets, each with its position in the full list.

    Every source gets FLAC, the lossy encodes and the MP3 320 upscales. The extra lossless
    container is WAV or AIFF for 1 source in 8 each, ALAC for 1 in 2. Test sources get all ten
    fake-lossless FLACs; train sources get a rotating half of them, which keeps the corpus near
    3 GB (those FLACs are 60% of its bytes).
    """
    lossy, trans = all_encodes()
    u = unit_hash(seed, "extra", s.source_id)
    extra = "wav" if u < 0.125 else "aiff" if u < 0.25 else "alac" if u < 0.75 else ""
    s.extra_lossless = extra
    specs = [FLAC] + ([LOSSLESS_EXTRA[extra]] if extra else []) + lossy + trans
    offset = int(unit_hash(seed, "half", s.source_id) * 2)
    keep = []
    for i, spec in enumerate(specs):
        fake_flac = spec.verdict == "transcode" and spec.container == "flac"
        if s.split == "train" and fake_flac and (i + offset) % 2:
            continue
        keep.append((i, spec))
    return keep


def plan_jobs(
    sources: list[Source], seed: int, out: Path
) -> tuple[list[Job], list[Job], list[Job]]:
    """Lay out (lossless, lossy, transcode) jobs; multi-piece sources spread encodes over pieces."""
    buckets: dict[str, list[Job]] = {"lossless": [], "lossy": [], "transcode": []}
    for s in sources:
        if not s.pieces:
            continue
        for i, spec in source_specs(s, seed):
            p = s.pieces[i % len(s.pieces)]
            stem = short_name(s.source_id, p.index, spec.kind)
            path = out / "files" / s.source_id / f"{stem}.{spec.container}"
            buckets[spec.verdict].append(Job(p, spec, path))
    return buckets["lossless"], buckets["lossy"], buckets["transcode"]


def prune(out: Path, sources: list[Source], jobs: list[Job]) -> None:
    """Delete files under ``files/`` and ``sources/`` that the current plan does not use.

    Reruns with another ``--n-synth`` or seed would otherwise leave stale files on disk.
    """
    keep = {j.path for j in jobs} | {p.path for s in sources for p in s.pieces}
    keep |= {p.path.with_suffix(".txt") for s in sources for p in s.pieces}
    stale = [f for d in ("files", "sources") for f in (out / d).rglob("*") if f.is_file()]
    stale = [f for f in stale if f not in keep]
    for f in stale:
        f.unlink()
    for d in (out / "files").iterdir() if (out / "files").exists() else ():
        if d.is_dir() and not any(d.iterdir()):
            d.rmdir()
    if stale:
        print(f"pruned {len(stale)} files that the current plan does not use")


def encode_direct(piece_path: Path, spec: Encode, dst: Path) -> None:
    """Make a lossless copy or a lossy encode of a source FLAC."""
    if spec.kind == "flac":
        os.link(piece_path, dst)  # the source FLAC itself, no second copy on disk
    elif spec.origin_codec == "mp3":
        with tempfile.TemporaryDirectory(prefix="qc-") as tmp:
            wav = Path(tmp) / "in.wav"
            to_wav(piece_path, wav)
            lame(wav, dst, spec.args)
    else:
        ffmpeg(piece_path, dst, spec.args)


def make_origin(job: Job, out: Path, tmp: Path, lossy_by_kind: dict[str, Encode]) -> Path:
    """Path of the lossy file a transcode starts from (the corpus's own when it has one)."""
    stem = short_name(job.piece.source_id, job.piece.index, job.spec.origin)
    spec = lossy_by_kind[job.spec.origin]
    existing = out / "files" / job.piece.source_id / f"{stem}.{spec.container}"
    if existing.exists():
        return existing
    path = tmp / f"origin.{spec.container}"
    encode_direct(job.piece.path, spec, path)
    return path


def encode_transcode(job: Job, out: Path, lossy_by_kind: dict[str, Encode]) -> None:
    """Decode the lossy origin and re-encode it as FLAC or as MP3 320."""
    with tempfile.TemporaryDirectory(prefix="qc-") as tmp_name:
        tmp = Path(tmp_name)
        origin = make_origin(job, out, tmp, lossy_by_kind)
        if job.spec.container == "flac":
            ffmpeg(origin, job.path, [*FLAC_ARGS, "-ar", str(job.piece.sample_rate)])
        else:
            wav = tmp / "decoded.wav"
            to_wav(origin, wav, job.piece.sample_rate)
            lame(wav, job.path, job.spec.args)


def run_jobs(jobs: list[Job], jobs_n: int, out: Path, label: str) -> None:
    """Make every job's output that does not exist yet."""
    lossy_by_kind = {e.kind: e for e in all_encodes()[0]}

    def one(job: Job) -> None:
        if job.path.exists():
            return
        job.path.parent.mkdir(parents=True, exist_ok=True)
        if job.spec.verdict == "transcode":
            encode_transcode(job, out, lossy_by_kind)
        else:
            encode_direct(job.piece.path, job.spec, job.path)

    parallel(one, jobs, jobs_n, label)


# --------------------------------------------------------------------------- manifest


def manifest_row(src: Source, job: Job, out: Path) -> dict[str, object]:
    """One manifest row for an existing output file."""
    s, p = job.spec, job.piece
    size = job.path.stat().st_size
    rate = 48000 if s.container == "opus" else p.sample_rate
    return {
        "path": os.path.relpath(job.path, out),
        "source_id": src.source_id,
        "piece": p.index,
        "split": src.split,
        "kind": s.kind,
        "container": s.container,
        "codec": s.codec,
        "verdict": s.verdict,
        "bitrate_class": s.bitrate_class,
        "origin_codec": s.origin_codec,
        "origin_kbps": s.origin_kbps,
        "origin_setting": s.origin_setting,
        "kbps": round(size * 8 / p.duration_s / 1000),
        "sample_rate": rate,
        "channels": p.channels,
        "duration_s": p.duration_s,
        "size_bytes": size,
        "source_cutoff_hz": round(src.cutoff_hz),
        "source_hf_dbfs": round(src.hf_dbfs, 1),
        "source_note": src.note,
    }


def excluded_row(src: Source) -> dict[str, object]:
    """Manifest row that records a real source kept out of the lossless pool."""
    row: dict[str, object] = dict.fromkeys(MANIFEST_FIELDS, "")
    row.update(
        path=src.origin_path,
        source_id=src.source_id,
        split="excluded",
        kind="source",
        source_cutoff_hz=round(src.cutoff_hz),
        source_note=src.note,
    )
    return row


def write_csv(path: Path, rows: list[dict[str, object]], fields: Sequence[str]) -> None:
    """Write rows to a CSV through a temporary name."""
    tmp = path.with_name(f".part-{path.name}")
    with tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(fields))
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def print_summary(rows: list[dict[str, object]]) -> None:
    """Print files per split x verdict and per kind, and sources per split."""
    files = [r for r in rows if r["split"] != "excluded"]
    splits = ("train", "test")
    counts = Counter((r["split"], r["kind"]) for r in files)
    kinds = sorted({str(r["kind"]) for r in files})
    print(f"\n{'kind':<28}" + "".join(f"{s:>8}" for s in splits))
    for k in kinds:
        print(f"{k:<28}" + "".join(f"{counts[(s, k)]:>8}" for s in splits))
    by_verdict = Counter((r["split"], r["verdict"]) for r in files)
    for v in ("lossless", "lossy", "transcode"):
        print(f"{'= ' + v:<28}" + "".join(f"{by_verdict[(s, v)]:>8}" for s in splits))
    total = Counter(r["split"] for r in files)
    print(f"{'= all files':<28}" + "".join(f"{total[s]:>8}" for s in splits))
    srcs: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        srcs[str(r["split"])].add(str(r["source_id"]))
    for s in (*splits, "excluded"):
        real = sorted(x for x in srcs[s] if not x.startswith("synth_"))
        print(f"sources {s}: {len(srcs[s])} (real: {', '.join(real) or '-'})")
    gb = sum(int(r["size_bytes"] or 0) for r in files) / 1e9
    print(f"total size of labelled files: {gb:.2f} GB")


# --------------------------------------------------------------------------- speed set

SPEED_KINDS = (  # 20 slots: 14 MP3 (8 CBR, 6 VBR), 2 FLAC, 2 AAC, 2 Vorbis
    *("mp3_b128", "mp3_b128", "mp3_b192", "mp3_b192", "mp3_b256"),
    *("mp3_b320", "mp3_b320", "mp3_b320", "mp3_v0", "mp3_v0"),
    *("mp3_v0", "mp3_v2", "mp3_v2", "mp3_v2", "flac"),
    *("flac", "aac_256", "aac_128", "vorbis_q5", "vorbis_q3"),
)


def speed_jobs(speed: Path, n_files: int, seed: int) -> list[Job]:
    """Lay out the speed set: file ``f`` comes from song ``f // 3`` in a shuffled format."""
    rng = np.random.default_rng([seed, 7777])
    lengths = rng.uniform(30, 240, math.ceil(n_files / 3))
    order = rng.permutation(n_files)
    by_kind = {e.kind: e for e in all_encodes()[0]} | {"flac": FLAC}
    jobs = []
    for f in range(n_files):
        sid = f"long_{f // 3:03d}"
        spec = by_kind[SPEED_KINDS[int(order[f]) % len(SPEED_KINDS)]]
        seconds = int(lengths[f // 3] * 44100) / 44100
        piece = Piece(sid, 0, speed / "sources" / f"{sid}.flac", 44100, 2, round(seconds, 3))
        jobs.append(
            Job(piece, spec, speed / "files" / f"{short_name('speed', f)}.{spec.container}")
        )
    return jobs


def build_speed_set(out: Path, n_files: int, seed: int, jobs: int) -> None:
    """Render ceil(n/3) songs of 30-240 s and encode each three ways into ``speed/``.

    A song's lossless render is kept only when it is one of the files (FLAC rows are hard
    links to it); the others are deleted once their encodes exist.
    """
    speed = out / "speed"
    (speed / "sources").mkdir(parents=True, exist_ok=True)
    job_list = speed_jobs(speed, n_files, seed)
    pending = {j.piece.path: j.piece for j in job_list if not j.path.exists()}

    def song(piece: Piece) -> None:
        if not piece.path.exists():
            index = int(piece.source_id.split("_")[1])
            synth_song(piece.path, seed + 1000, index, piece.duration_s, 44100)

    minutes = sum(p.duration_s for p in pending.values()) / 60
    print(f"speed set: rendering {len(pending)} songs ({minutes:.0f} min of audio)")
    parallel(song, pending.values(), jobs, "speed songs")
    run_jobs(job_list, jobs, speed, "speed encodes")
    for path in {j.piece.path for j in job_list}:
        if path.exists() and path.stat().st_nlink == 1:
            path.unlink()
    rows = [
        {
            "path": os.path.relpath(j.path, speed),
            "source_id": j.piece.source_id,
            "kind": j.spec.kind,
            "container": j.spec.container,
            "codec": j.spec.codec,
            "verdict": j.spec.verdict,
            "bitrate_class": j.spec.bitrate_class,
            "duration_s": j.piece.duration_s,
            "size_bytes": j.path.stat().st_size,
        }
        for j in job_list
        if j.path.exists()
    ]
    write_csv(speed / "manifest.csv", rows, list(rows[0]))
    total_min = sum(float(r["duration_s"]) for r in rows) / 60
    gb = sum(int(r["size_bytes"]) for r in rows) / 1e9
    print(f"speed set: {len(rows)} files, {total_min:.0f} min, {gb:.2f} GB -> {speed}/manifest.csv")


# --------------------------------------------------------------------------- check


def decode_mono(path: Path) -> tuple[np.ndarray, int]:
    """Decode any file to a mono float signal with PyAV."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        chunks = []
        for frame in container.decode(stream):
            arr = frame.to_ndarray()
            n_ch = len(frame.layout.channels)
            chunks.append(arr if frame.format.is_planar else arr.reshape(-1, n_ch).T)
        rate = stream.rate
    data = np.concatenate(chunks, axis=1)
    if data.dtype.kind == "i":
        data = data / float(np.iinfo(data.dtype).max + 1)
    return data.astype(np.float64).mean(axis=0), rate


def print_source_hf(rows: list[dict[str, str]]) -> None:
    """Print how much high-frequency content the lossless sources have."""
    per_source = {r["source_id"]: r for r in rows if r["kind"] == "flac"}
    for label, pick in (("synthetic", True), ("real", False)):
        srcs = [r for sid, r in per_source.items() if sid.startswith("synth_") == pick]
        if not srcs:
            continue
        cut = np.array([float(r["source_cutoff_hz"]) / 1000 for r in srcs])
        hf = np.array([float(r["source_hf_dbfs"]) for r in srcs])
        print(
            f"{label} sources ({len(srcs)}): cutoff kHz min/median/max "
            f"{cut.min():.1f}/{np.median(cut):.1f}/{cut.max():.1f}; "
            f"16-20 kHz band dBFS min/median/max "
            f"{hf.min():.0f}/{np.median(hf):.0f}/{hf.max():.0f}; "
            f"{int((cut >= 21).sum())} reach 21 kHz"
        )


def check_cutoffs(out: Path, per_kind: int) -> None:
    """Print measured spectral cutoffs for ``per_kind`` files of every kind.

    Files whose source has no HF content (16-20 kHz band below ``HF_FLOOR_DBFS``) are left out:
    there the 40 dB measure only sees the dither floor.
    """
    with (out / "manifest.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if r["split"] != "excluded"]
    print_source_hf(rows)
    by_kind: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: unit_hash("check", r["path"])):
        if float(r["source_hf_dbfs"]) >= HF_FLOOR_DBFS:
            by_kind[r["kind"]].append(r)
    print(f"\n{'kind':<26}{'cutoffs (kHz), 40 dB below the 2-8 kHz level':<60}{'median':>7}")
    for kind in sorted(by_kind):
        cuts = []
        for r in by_kind[kind][:per_kind]:
            x, sr = decode_mono(out / r["path"])
            cuts.append(spectral_cutoff(x, sr) / 1000)
        vals = " ".join(f"{c:5.1f}" for c in cuts)
        print(f"{kind:<26}{vals:<60}{np.median(cuts):7.1f}")


# --------------------------------------------------------------------------- main


def build_corpus(args: argparse.Namespace) -> None:
    """Make the sources and encodes and write ``manifest.csv``."""
    out: Path = args.out
    (out / "sources").mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    sources = [prepare_real(sid, rel, out) for sid, rel in REAL_SOURCES]
    for s in sources:
        status = f"{len(s.pieces)} piece(s)" if s.pieces else s.note
        print(f"real {s.source_id}: cutoff {s.cutoff_hz / 1000:.1f} kHz, {status}")
    synth: dict[int, Source] = {}

    def make(i: int) -> None:
        synth[i] = prepare_synth(i, args.seed, args.seconds, out)

    parallel(make, range(args.n_synth), args.jobs, "synthetic sources")
    sources += [synth[i] for i in sorted(synth)]
    band: dict[int, Source] = {}

    def make_band(i: int) -> None:
        band[i] = prepare_band(i, args.seed, out)

    if args.n_band and not real.kits():
        sys.exit(f"no drum kits under {real.KITS_DIR} (Debian package hydrogen-drumkits)")
    parallel(make_band, range(args.n_band), args.jobs, "real-drum songs")
    sources += [band[i] for i in sorted(band)]
    print(f"sources ready in {time.monotonic() - t0:.0f} s")
    assign_splits(sources, args.seed)
    lossless_jobs, lossy_jobs, trans_jobs = plan_jobs(sources, args.seed, out)
    prune(out, sources, lossless_jobs + lossy_jobs + trans_jobs)
    run_jobs(lossless_jobs + lossy_jobs, args.jobs, out, "direct encodes")
    run_jobs(trans_jobs, args.jobs, out, "transcodes")
    by_id = {s.source_id: s for s in sources}
    rows = [excluded_row(s) for s in sources if not s.pieces]
    rows += [
        manifest_row(by_id[j.piece.source_id], j, out)
        for j in lossless_jobs + lossy_jobs + trans_jobs
        if j.path.exists()
    ]
    write_csv(out / "manifest.csv", rows, MANIFEST_FIELDS)
    print(f"corpus built in {time.monotonic() - t0:.0f} s -> {out / 'manifest.csv'}")
    print_summary(rows)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "_corpus")
    ap.add_argument("--n-synth", type=int, default=34, help="number of synthetic songs")
    ap.add_argument(
        "--n-band", type=int, default=40, help="number of songs with real recorded drums"
    )
    ap.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="length of each synthetic song (default: random 50-60 s)",
    )
    ap.add_argument("--jobs", type=int, default=2, help="parallel encoder processes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--long",
        type=int,
        default=0,
        metavar="N",
        help="also build a speed set of N files of 30-240 s (120 is a good size)",
    )
    ap.add_argument(
        "--check",
        type=int,
        default=0,
        metavar="K",
        help="print measured spectral cutoffs of K files per kind",
    )
    ap.add_argument("--skip-corpus", action="store_true", help="only --long / --check")
    return ap.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point."""
    args = parse_args(argv)
    for tool in ("ffmpeg", "lame", "fluidsynth"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not on PATH; it is needed to build the corpus")
    if not SOUNDFONT.exists():
        sys.exit(f"soundfont not found: {SOUNDFONT} (Debian package fluid-soundfont-gm)")
    args.out = args.out.resolve()
    if not args.skip_corpus:
        build_corpus(args)
    if args.long:
        build_speed_set(args.out, args.long, args.seed, args.jobs)
    if args.check:
        check_cutoffs(args.out, args.check)


if __name__ == "__main__":
    main()
