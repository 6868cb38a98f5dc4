"""Shared test helpers: known signals, and audio files of any format made from them.

``make_audio(directory, fmt, ...)`` writes a known signal as a float WAV with scipy and turns
it into ``fmt`` with the ffmpeg (or lame) command-line tools; tests that need those tools use
the ``requires_ffmpeg`` / ``requires_lame`` marks, which skip with the reason when a tool is
missing. The ``audio_file`` fixture is ``make_audio`` writing into the test's ``tmp_path``.

Test modules import these helpers as ``from audiolens_testkit import ...``: the module name
``conftest`` is ambiguous (``tests/dsp`` has a conftest.py of its own), so this module also
registers itself under that name.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

sys.modules.setdefault("audiolens_testkit", sys.modules[__name__])

# No test reaches beyond this machine: hub lookups (also in the CLI subprocesses the tests start)
# are off unless a test turns them on for a hub it serves on 127.0.0.1, and the guard below
# refuses any connection to another address.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

FFMPEG = shutil.which("ffmpeg")
LAME = shutil.which("lame")

requires_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="needs the ffmpeg command-line tool")
requires_lame = pytest.mark.skipif(LAME is None, reason="needs the lame command-line tool")

#: fmt -> (file extension, ffmpeg output options); "lame:" entries are encoded with lame
FORMATS: dict[str, tuple[str, list[str]]] = {
    "wav_u8": ("wav", ["-c:a", "pcm_u8"]),
    "wav_s16": ("wav", ["-c:a", "pcm_s16le"]),
    "wav_s24": ("wav", ["-c:a", "pcm_s24le"]),
    "wav_s32": ("wav", ["-c:a", "pcm_s32le"]),
    "wav_f32": ("wav", ["-c:a", "pcm_f32le"]),
    "wav_f64": ("wav", ["-c:a", "pcm_f64le"]),
    "aiff_s16": ("aiff", ["-c:a", "pcm_s16be"]),
    "aiff_s24": ("aiff", ["-c:a", "pcm_s24be"]),
    "flac16": ("flac", ["-c:a", "flac", "-sample_fmt", "s16"]),
    "flac24": ("flac", ["-c:a", "flac", "-sample_fmt", "s32", "-bits_per_raw_sample", "24"]),
    "alac16": ("m4a", ["-c:a", "alac", "-sample_fmt", "s16p"]),
    "alac24": ("m4a", ["-c:a", "alac", "-sample_fmt", "s32p", "-bits_per_raw_sample", "24"]),
    "mp3_cbr": ("mp3", ["lame:", "-b", "192"]),
    "mp3_vbr": ("mp3", ["lame:", "-V", "2"]),
    "aac": ("m4a", ["-c:a", "aac", "-b:a", "128k"]),
    "vorbis": ("ogg", ["-c:a", "libvorbis", "-q:a", "4"]),
    "opus": ("opus", ["-c:a", "libopus", "-b:a", "96k"]),
    "wma": ("wma", ["-c:a", "wmav2", "-b:a", "128k"]),
    "mkv_video": ("mkv", ["video", "-c:v", "libx264", "-c:a", "libvorbis"]),
    "mp4_video": ("mp4", ["video", "-c:v", "libx264", "-c:a", "aac", "-b:a", "128k"]),
}


@dataclass
class Made:
    """A file written by :func:`make_audio` and the signal it was made from."""

    path: Path
    source: np.ndarray  # float32 (channels, n) at ``sr``, before encoding
    sr: int


def signal(
    kind: str = "tones",
    *,
    sr: int = 44100,
    seconds: float = 2.0,
    channels: int = 2,
    seed: int = 0,
    freqs: tuple[float, ...] | None = None,
) -> np.ndarray:
    """A known float32 signal [shape=(channels, n)].

    kind : "tones" (channel c: a sine at ``freqs[c]``, default 440 * (c + 1) Hz, plus a
        quiet sweep, so lossy codecs keep it well and every channel is told apart),
        "sweep" (a log sweep 100 Hz to 0.4 * sr, same in every channel), "noise" (seeded
        white noise, different per channel), "silence"
    """
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    if kind == "silence":
        return np.zeros((channels, n), dtype=np.float32)
    if kind == "noise":
        rng = np.random.default_rng(seed)
        return (0.3 * rng.standard_normal((channels, n))).clip(-1, 1).astype(np.float32)
    f0, f1 = 100.0, min(0.4 * sr, 16000.0)
    k = np.log(f1 / f0) / max(seconds, 1e-9)
    sweep = np.sin(2 * np.pi * f0 * (np.exp(k * t) - 1) / k)
    if kind == "sweep":
        return np.tile(0.5 * sweep, (channels, 1)).astype(np.float32)
    if kind != "tones":
        raise ValueError(f"unknown signal kind {kind!r}")
    freqs = freqs or tuple(440.0 * (c + 1) for c in range(channels))
    rows = [0.4 * np.sin(2 * np.pi * freqs[c] * t) + 0.1 * sweep for c in range(channels)]
    return np.asarray(rows, dtype=np.float32)


def run_tool(*args: str) -> None:
    """Run ffmpeg/lame quietly; fail the test with the tool's own message when it fails."""
    done = subprocess.run(args, capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed: {done.stderr[-2000:]}")


def write_wav(path: Path, x: np.ndarray, sr: int) -> Path:
    """Write float32 (channels, n) as a 32-bit float WAV (exact, so it can be a source)."""
    from scipy.io import wavfile

    wavfile.write(path, sr, np.ascontiguousarray(x.T))
    return path


def ffmpeg(*args: str) -> None:
    """Run ``ffmpeg -y`` with the given arguments, quietly."""
    if FFMPEG is None:
        pytest.skip("needs the ffmpeg command-line tool")
    run_tool(FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args)


def make_audio(
    directory: Path,
    fmt: str,
    *,
    kind: str = "tones",
    sr: int = 44100,
    seconds: float = 2.0,
    channels: int = 2,
    name: str | None = None,
    seed: int = 0,
    extra: tuple[str, ...] = (),
) -> Made:
    """Write a known signal in format ``fmt`` (a key of FORMATS) into ``directory``.

    ``extra`` are further ffmpeg output options (or lame options for the MP3 formats).
    Skips the test when the tool it needs is missing.
    """
    ext, opts = FORMATS[fmt]
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stem = name or f"{fmt}_{sr}_{channels}ch_{kind}"
    out = directory / f"{stem}.{ext}"
    x = signal(kind, sr=sr, seconds=seconds, channels=channels, seed=seed)
    src = write_wav(directory / f"{stem}.source.wav", x, sr)
    if opts[0] == "lame:":
        if LAME is None:
            pytest.skip("needs the lame command-line tool")
        pcm = directory / f"{stem}.s16.wav"
        ffmpeg("-i", str(src), "-c:a", "pcm_s16le", str(pcm))
        run_tool(LAME, "--quiet", *opts[1:], *extra, str(pcm), str(out))
    elif opts[0] == "video":
        ffmpeg(
            "-f", "lavfi", "-i", f"color=c=black:s=32x32:r=10:d={seconds}",
            "-i", str(src), "-map", "0:v", "-map", "1:a", *opts[1:], "-pix_fmt", "yuv420p",
            "-t", str(seconds), *extra, str(out),
        )  # fmt: skip
    else:
        ffmpeg("-i", str(src), *opts, *extra, str(out))
    return Made(path=out, source=x, sr=sr)


def zero_frames_wav(directory: Path) -> Path:
    """A WAV file with a valid header (2 channels, 16-bit, 44.1 kHz) and no samples."""
    import wave

    out = Path(directory) / "zero frames.wav"
    with wave.open(str(out), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(b"")
    return out


def lag_of(x: np.ndarray, ref: np.ndarray) -> int:
    """Samples by which 1-D ``x`` lags ``ref`` (positive: x starts later), by cross-correlation."""
    from scipy.signal import correlate

    n = min(x.size, ref.size)
    c = correlate(x[:n], ref[:n], mode="full", method="fft")
    return int(np.argmax(c)) - (n - 1)


def snr_db(x: np.ndarray, ref: np.ndarray) -> float:
    """Signal-to-noise ratio of ``x`` against ``ref`` (same shape), in dB."""
    err = np.sum((x.astype(np.float64) - ref) ** 2)
    return float(10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / max(err, 1e-30)))


def peak_hz(x: np.ndarray, sr: int) -> float:
    """Frequency of the strongest component of 1-D ``x`` (Hann-windowed FFT, interpolated)."""
    w = np.hanning(x.size)
    mag = np.abs(np.fft.rfft(x * w))
    k = int(np.argmax(mag[1:-1])) + 1
    a, b, c = np.log(mag[k - 1 : k + 2] + 1e-30)
    shift = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
    return (k + shift) * sr / x.size


@pytest.fixture
def audio_file(tmp_path):
    """``make_audio`` writing into this test's ``tmp_path``: ``audio_file("flac16", seconds=1)``."""

    def make(fmt: str, **kwargs) -> Made:
        return make_audio(tmp_path, fmt, **kwargs)

    return make


def run_module(
    module: str, *args: str, cwd: Path, drop: tuple[str, ...] = (), timeout: float = 300, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m module args`` as a new process with this checkout's ``src`` first on its
    path, without ``AUDIOLENS_*`` settings (nor the variables starting with ``drop``), offline,
    with ``env`` added; its output as text."""
    import audiolens

    src = os.path.dirname(os.path.dirname(audiolens.__file__))
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AUDIOLENS_", *drop)) and k != "PYTHONPATH"
    }
    clean.update(PYTHONPATH=src, HF_HUB_OFFLINE="1", **env)
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=clean,
        timeout=timeout,
    )


def eval_root() -> Path:
    """The real recordings the tests use: ``tests/data/eval`` (a subset of the project's
    evaluation set, with its licences and manifest), or ``$AUDIOLENS_EVAL_DIR``."""
    env = os.environ.get("AUDIOLENS_EVAL_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent / "data" / "eval"


@pytest.fixture(scope="session")
def eval_dir() -> Path:
    """``eval_root()``; the data travels with the repository, so a missing folder is an error."""
    path = eval_root()
    assert (path / "MANIFEST.md").is_file(), f"evaluation data not found at {path}"
    return path


def _loopback(address: object) -> bool:
    if not isinstance(address, tuple):  # a Unix socket path
        return True
    host = str(address[0])
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name other than localhost
        return False


@pytest.fixture(autouse=True)
def _no_traffic_off_this_machine(monkeypatch):
    """Any connection a test makes to an address that is not loopback fails, naming it."""
    connect, connect_ex = socket.socket.connect, socket.socket.connect_ex

    def guarded(method):
        def call(self, address):
            if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address):
                raise AssertionError(f"a test tried to connect to {address!r}, off this machine")
            return method(self, address)

        return call

    monkeypatch.setattr(socket.socket, "connect", guarded(connect))
    monkeypatch.setattr(socket.socket, "connect_ex", guarded(connect_ex))
