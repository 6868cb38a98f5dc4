"""Speed of the log-filtered spectrogram (the beat-tracking front end) on one CPU core.

Times, in one run on the same 3:15 WAV (44.1 kHz, decoding included in every row but the
floor): audiolens' ``log_filtered_spectrogram`` on numpy (float32 input), on torch (one
thread) and, when there is one, on a CUDA GPU (the copies to and from it included); the
floor, the batched real FFT of the same windowed frames alone (scipy.fft, float32, one
worker); and librosa's STFT followed by the same filterbank and log. Each is the median of
``--repeat`` rounds, the rows interleaved in each round; the script pins every math library to
one thread before importing them.

Usage::

    python benchmarks/bench_logspec.py                 # makes benchmarks/_work/logspec_195s.wav
    python benchmarks/bench_logspec.py --wav song.wav
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
SECONDS = 195.0


def make_wav(path: Path) -> Path:
    """A 3:15 int16 WAV from the notes corpus (or a synthetic mix when there is none)."""
    import soundfile as sf

    from audiolens import load

    path.parent.mkdir(parents=True, exist_ok=True)
    pieces = sorted((HERE / "_corpus_notes").glob("piece_*.flac"))
    parts, total = [], 0
    for p in pieces:
        x = load(p, sr=44100).samples
        parts.append(x.mean(axis=0))
        total += x.shape[1]
        if total >= SECONDS * 44100:
            break
    if total < SECONDS * 44100:  # no corpus: tones and noise
        t = np.arange(int(SECONDS * 44100)) / 44100
        parts = [
            0.3 * np.sin(2 * np.pi * 220 * t)
            + 0.05 * np.random.default_rng(0).standard_normal(t.size)
        ]
    y = np.concatenate(parts)[: int(SECONDS * 44100)]
    sf.write(path, y.astype(np.float32), 44100, subtype="PCM_16")
    return path


def timed(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median time of each function; the runs are interleaved (one of each per round), so that
    the machine's slow spells fall on every row alike."""
    for fn in fns.values():
        fn()  # warm-up
    runs: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            runs[name].append(time.perf_counter() - t)
    return {name: statistics.median(r) for name, r in runs.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wav", type=Path, default=HERE / "_work" / "logspec_195s.wav")
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    wav = args.wav if args.wav.exists() else make_wav(args.wav)

    import librosa
    import scipy.fft

    from audiolens import load
    from audiolens.dsp import log_filterbank, log_filtered_spectrogram
    from audiolens.dsp.logspec import LogFilterbankOptions, madmom_frames

    bank = log_filterbank(LogFilterbankOptions()).astype(np.float32)
    window = np.hanning(2048).astype(np.float32)

    y0 = load(wav, mono=True).samples[0]

    def ours_numpy():
        return log_filtered_spectrogram(y0, sr=44100)

    def ours_numpy_load():
        return log_filtered_spectrogram(load(wav, mono=True).samples[0], sr=44100)

    def ours_torch():
        import torch

        return log_filtered_spectrogram(torch.from_numpy(y0), sr=44100)

    frames = np.ascontiguousarray(madmom_frames(y0, frame_size=2048, hop_size=441.0)) * window

    def floor():
        return scipy.fft.rfft(frames, axis=-1, workers=1)

    def with_librosa():
        y, _ = librosa.load(wav, sr=None, mono=True)
        s = np.abs(librosa.stft(y, n_fft=2048, hop_length=441, window="hann", center=True))
        return np.log10(bank @ s[:1024] + 1)

    floor_name, lib_name = "floor: rfft of the frames only", "librosa load + stft + filterbank"
    rows = [
        ("audiolens numpy (float32)", ours_numpy, False),
        ("audiolens load + numpy", ours_numpy_load, True),
    ]
    try:
        import torch

        torch.set_num_threads(1)
        rows.append(("audiolens torch CPU, 1 thread", ours_torch, False))
        if torch.cuda.is_available():  # the decoded signal copied in, the spectrogram back out

            def ours_cuda():
                s = log_filtered_spectrogram(torch.from_numpy(y0).to("cuda"), sr=44100)
                return s.cpu()

            rows.append(("audiolens torch CUDA (copies incl.)", ours_cuda, False))
    except ImportError:
        pass
    rows += [(lib_name, with_librosa, True), (floor_name, floor, False)]
    times = timed({name: fn for name, fn, _ in rows}, args.repeat)
    base, lib = times[floor_name], times[lib_name]
    print(f"{wav.name}: {len(y0) / 44100:.1f} s, 44.1 kHz; one thread; median of {args.repeat}")
    print(f"{'':36s}{'ms':>8s}{'x floor':>9s}{'librosa/x':>11s}")
    for name, _, loads in rows:
        t = times[name]
        vs_lib = f"{lib / t:11.2f}" if loads else f"{'':11s}"
        print(f"{name:36s}{t * 1000:8.1f}{t / base:9.2f}{vs_lib}")
    print("'x floor': against the FFTs alone (decoded input); 'librosa/x': decoding included")


if __name__ == "__main__":
    main()
