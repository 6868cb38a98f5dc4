"""Speaker diarization: DER on the evaluation conversations and on synthetic dev mixtures,
ours beside a plain baseline, and the speed (x real time, decoding included).

    python benchmarks/bench_speakers.py            # eval table + dev table + speed
    python benchmarks/bench_speakers.py --no-speed
    python benchmarks/bench_speakers.py --dev-only  # the mixtures the settings were chosen on
    python benchmarks/bench_speakers.py --segmentation-model seg.onnx  # + rows with that model
    python benchmarks/bench_speakers.py --oracle    # + rows with a perfect segmentation

With a segmentation model (an ONNX export of pyannote/segmentation-3.0; none ships in a
package, so this needs one you have), "ours+seg" rows score the overlap-aware path.

"oracle" rows: the overlap-aware path fed a *perfect* segmentation made from the reference
(each 10 s window answered with the reference's speakers, in a random order). Not a result: it
uses the answer. It shows what is left to the clustering and the stitching when the
segmentation is right, i.e. what a good segmentation model would be worth.

Speed also times the overlap-aware path with a model of segmentation-3.0's architecture and
size (PyanNet: sinc-like front end, 4 bidirectional LSTM layers of 128, 7 powerset classes) and
random weights, exported to ONNX with torch: the time a real model of that shape takes.

Evaluation: ../shared/eval/diarization (MANIFEST rows D1-D3), scored with pyannote.metrics'
DiarizationErrorRate, collar 0.5 s (0.25 s each side) and no collar, overlap scored.

Dev material (what the pipeline's settings were chosen on): conversations built from the
single-speaker clips of ../shared/eval/speech (never pyannote_sample, which is D1): each
speaker's speech (silero regions) is cut into 1-4 s utterances and these are interleaved with
pauses of -0.4..0.8 s (negative: overlap), levels varied by +-4 dB, all through one synthetic
room (RT60 0.25-0.6 s) with a common noise floor at ~25 dB SNR. The reference turns are the
utterances. Seeds fix every mixture.

"ours-k": ours told the true number of speakers (--num-speakers), to show what the
count estimate costs.

Baseline ("sketch"): silero VAD regions, one resemblyzer embedding per region (the mean of
1.6 s partials, as resemblyzer's embed_utterance), average-linkage AHC on cosine distance with
threshold 0.35 (~0.65 similarity, a common choice for resemblyzer), every region wholly one
speaker.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT.parent / "shared" / "eval"
CLIPS = [
    ("pyannote_sample", "sample"),
    ("pyannote_ami_tst00", "tst00"),
    ("pyannote_ami_dev00", "dev00"),
]
SR = 16000


# ---------------------------------------------------------------- dev material


def _load16(path: Path, channel: int | None = None) -> np.ndarray:
    from audiolens.audio import load

    a = load(path, sr=SR, mono=channel is None)
    x = np.asarray(a.samples, dtype=np.float32)
    return x[channel] if channel is not None else x.reshape(-1)


def _equalise(y: np.ndarray) -> np.ndarray:
    """Flatten a recording's long-term spectrum (smoothed over ~250 Hz) to a speech-like tilt,
    so what is left of its channel (microphone, line, codec) says little about its speaker."""
    from scipy.signal import istft, stft

    f, _, Z = stft(y, fs=SR, nperseg=512)
    ltas = np.sqrt(np.mean(np.abs(Z) ** 2, axis=1))
    ltas = np.convolve(ltas, np.ones(9) / 9, mode="same") + 1e-8
    target = 1.0 / np.maximum(f, 300.0) ** 0.5  # a gentle -3 dB/octave speech tilt
    _, x = istft(Z * (target / ltas)[:, None], fs=SR, nperseg=512)
    x = x[: y.size].astype(np.float32)
    return x / (np.sqrt(np.mean(x**2)) + 1e-9) * 0.05


def dev_speakers() -> dict[str, np.ndarray]:
    """One signal per single speaker from ../shared/eval/speech (16 kHz mono), each with its
    long-term spectrum equalised (see :func:`_equalise`)."""
    s = EVAL / "speech"
    h = s / "speechbrain_harvard"
    out = {
        "jfk": _load16(s / "jfk.flac"),
        "libri": _load16(s / "librispeech_2412-153948-0000.flac"),
        "timit": _load16(s / "LDC93S1.wav"),
        "home": _load16(s / "new-home-in-the-stars-16k.wav"),
        "ru": _load16(s / "deepspeech_ru.wav"),
        "left": _load16(s / "fw_stereo_diarization.wav", channel=0),
        "right": _load16(s / "fw_stereo_diarization.wav", channel=1),
        "harv1": np.concatenate([_load16(h / f"spk1_snt{i}.wav") for i in (1, 3, 4, 5)]),
        "harv2": np.concatenate([_load16(h / f"spk2_snt{i}.wav") for i in (2, 4)]),
    }
    return {k: _equalise(v) for k, v in out.items()}


def _utterances(y: np.ndarray, rng: np.random.Generator) -> list[tuple[np.ndarray, list]]:
    """Cut a speaker's speech into 1-4 s pieces; each with its speech regions (seconds)."""
    from audiolens.models.vad import speech_regions

    regions = speech_regions(y)
    pieces = []
    for a, b in regions:
        t = a
        while b - t > 0.6:
            length = min(b - t, rng.uniform(1.0, 4.0))
            if b - (t + length) < 0.6:
                length = b - t
            seg = y[int(t * SR) : int((t + length) * SR)]
            pieces.append((seg, [(0.0, seg.size / SR)]))
            t += length
    return pieces


def _room(rng: np.random.Generator) -> np.ndarray:
    """A synthetic room impulse response: a direct path and an exponentially decaying tail."""
    rt60 = rng.uniform(0.25, 0.6)
    n = int(rt60 * SR)
    t = np.arange(n) / SR
    tail = rng.normal(0, 1, n) * np.exp(-6.9 * t / rt60)
    tail[: int(0.003 * SR)] = 0.0
    h = 0.3 * tail / np.sqrt(np.sum(tail**2))
    h[0] = 1.0
    return h.astype(np.float32)


def dev_mixture(seed: int, n_speakers: int, pool: dict[str, np.ndarray]):
    """A synthetic conversation: (signal, reference turns [(start, end, speaker)]).

    Utterances of the chosen speakers alternate; the pause before each is drawn from
    -0.4..0.8 s (negative: it overlaps the previous one). All of it goes through one room
    (a synthetic impulse response) and gets a common noise floor at ~25 dB SNR, so the
    speakers share a channel as in a real recording.
    """
    from scipy.signal import fftconvolve

    rng = np.random.default_rng(seed)
    names = sorted(pool)
    chosen = [names[i] for i in rng.choice(len(names), n_speakers, replace=False)]
    queues = {n: _utterances(pool[n], rng) for n in chosen}
    gains = {
        n: 10 ** (rng.uniform(-4, 4) / 20) / (np.sqrt(np.mean(pool[n] ** 2)) + 1e-9) * 0.05
        for n in chosen
    }
    placed, ref, t, last = [], [], 0.5, None
    while any(queues.values()):
        live = [n for n in chosen if queues[n] and n != last] or [n for n in chosen if queues[n]]
        n = live[rng.integers(len(live))]
        seg, regs = queues[n].pop(0)
        start = int(t * SR)
        placed.append((start, (seg * gains[n]).astype(np.float32)))
        ref.extend((start / SR + a, start / SR + b, n) for a, b in regs)
        t = (start + seg.size) / SR + (rng.uniform(-0.4, 0.8) if last is not None else 0.3)
        t = max(t, start / SR + 0.5)
        last = n
    y = np.zeros(max(s + x.size for s, x in placed) + SR // 2, dtype=np.float32)
    for s, x in placed:
        y[s : s + x.size] += x
    y = fftconvolve(y, _room(rng))[: y.size].astype(np.float32)
    rms = np.sqrt(np.mean(y**2))
    y = y + rng.normal(0, rms * 10 ** (-25 / 20), y.size).astype(np.float32)
    return y.astype(np.float32), ref


DEV_SET = [(seed, k) for k in (1, 2, 3, 4) for seed in range(4)]


# ---------------------------------------------------------------- scoring


def _annotation(turns):
    from pyannote.core import Annotation, Segment

    a = Annotation()
    for i, (s, e, who) in enumerate(turns):
        if e > s:
            a[Segment(s, e), i] = who
    return a


def score(ref, hyp) -> dict[str, float]:
    """DER (collar 0.5 s) with its parts, and DER without collar."""
    from pyannote.metrics.diarization import DiarizationErrorRate

    r, h = _annotation(ref), _annotation(hyp)
    d = DiarizationErrorRate(collar=0.5, skip_overlap=False)(r, h, detailed=True)
    total = d["total"] or 1.0
    der0 = DiarizationErrorRate(collar=0.0, skip_overlap=False)(r, h)
    return {
        "der": d["diarization error rate"],
        "miss": d["missed detection"] / total,
        "fa": d["false alarm"] / total,
        "conf": d["confusion"] / total,
        "der0": der0,
    }


def ours(y: np.ndarray, settings=None, num_speakers=None, segmentation=None):
    from audiolens.tasks.speakers import SpeakersOptions, diarize

    d = diarize(
        [y],
        settings=settings,
        options=SpeakersOptions(num_speakers=num_speakers),
        segmentation=segmentation,
    )
    return [(t.start, t.end, t.speaker) for t in d.turns], len(d.speakers)


def oracle_model(y, ref):
    """The reference segmentation (see :mod:`audiolens.tasks.speakers.oracle`)."""
    from audiolens.tasks.speakers.oracle import reference_segmentation

    return reference_segmentation(y, ref)


def pyannet_shaped_model(path: Path) -> Path:
    """An ONNX model of pyannote segmentation-3.0's architecture and size with random weights
    (for timing only; needs torch)."""
    import torch

    class PyanNetShape(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm0 = torch.nn.InstanceNorm1d(1, affine=True)
            self.conv = torch.nn.ModuleList(
                [
                    torch.nn.Conv1d(1, 80, 251, stride=10),
                    torch.nn.Conv1d(80, 60, 5),
                    torch.nn.Conv1d(60, 60, 5),
                ]
            )
            self.norm = torch.nn.ModuleList(
                [torch.nn.InstanceNorm1d(c, affine=True) for c in (80, 60, 60)]
            )
            self.lstm = torch.nn.LSTM(60, 128, num_layers=4, bidirectional=True, batch_first=True)
            self.linear = torch.nn.Sequential(
                torch.nn.Linear(256, 128),
                torch.nn.LeakyReLU(),
                torch.nn.Linear(128, 128),
                torch.nn.LeakyReLU(),
            )
            self.classifier = torch.nn.Linear(128, 7)

        def forward(self, x):
            x = self.norm0(x)
            for i, (conv, norm) in enumerate(zip(self.conv, self.norm)):
                x = conv(x)
                if i == 0:
                    x = torch.abs(x)
                x = torch.nn.functional.leaky_relu(norm(torch.nn.functional.max_pool1d(x, 3)))
            x, _ = self.lstm(x.transpose(1, 2))
            return torch.log_softmax(self.classifier(self.linear(x)), dim=-1)

    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        torch.onnx.export(
            PyanNetShape().eval(),
            torch.zeros(1, 1, 160000),
            str(path),
            input_names=["input_values"],
            output_names=["logits"],
            dynamic_axes={"input_values": {0: "batch"}, "logits": {0: "batch"}},
            dynamo=False,
        )
    return path


def baseline(y: np.ndarray):
    from scipy.cluster.hierarchy import fcluster, linkage

    from audiolens.models.vad import speech_regions
    from audiolens.models.voice_encoder import load_voice_encoder, mel_frames

    enc = load_voice_encoder()
    regions = speech_regions(y)
    if not regions:
        return [], 0
    embs = []
    for a, b in regions:
        seg = y[int(a * SR) : int(b * SR)]
        M = mel_frames(seg)
        n = M.shape[0]
        if n < 160:
            M = np.pad(M, ((0, 160 - n), (0, 0)))
            n = 160
        starts = list(range(0, n - 160 + 1, 123)) or [0]  # rate 1.3 / s, as resemblyzer
        E = enc.embed_mels(np.stack([M[s : s + 160] for s in starts]))
        m = E.mean(0)
        embs.append(m / np.linalg.norm(m))
    if len(embs) == 1:
        labels = np.ones(1, dtype=int)
    else:
        Z = linkage(np.array(embs), method="average", metric="cosine")
        labels = fcluster(Z, t=0.35, criterion="distance")
    return [(a, b, f"S{lab}") for (a, b), lab in zip(regions, labels)], len(set(labels))


def _table(rows, title):
    print(f"\n{title}")
    print(
        f"{'clip':<22}{'method':<9}{'spk':>4}{'DER':>7}{'miss':>7}{'FA':>7}{'conf':>7}{'DER c0':>8}"
    )
    for clip, method, k, s in rows:
        print(
            f"{clip:<22}{method:<9}{k:>4}{s['der']:>7.3f}{s['miss']:>7.3f}{s['fa']:>7.3f}"
            f"{s['conf']:>7.3f}{s['der0']:>8.3f}"
        )
    for method in ("ours", "ours-k", "ours+seg", "oracle", "sketch"):
        sel = [s for _, m, _, s in rows if m == method]
        if sel:
            m = {key: np.mean([s[key] for s in sel]) for key in sel[0]}
            print(
                f"{'mean':<22}{method:<9}{'':>4}{m['der']:>7.3f}{m['miss']:>7.3f}"
                f"{m['fa']:>7.3f}{m['conf']:>7.3f}{m['der0']:>8.3f}"
            )


def eval_table(settings=None, *, with_baseline=True, segmentation=None, oracle=False):
    from audiolens.tasks.speakers import read_rttm

    rows = []
    for stem, uri in CLIPS:
        y = _load16(EVAL / "diarization" / f"{stem}.wav")
        ref = [
            (t.start, t.end, t.speaker)
            for t in read_rttm(EVAL / "diarization" / f"{stem}.rttm")[uri]
        ]
        hyp, k = ours(y, settings)
        rows.append((stem, "ours", k, score(ref, hyp)))
        hyp, k = ours(y, settings, num_speakers=len({who for _, _, who in ref}))
        rows.append((stem, "ours-k", k, score(ref, hyp)))
        if segmentation is not None:
            hyp, k = ours(y, settings, segmentation=segmentation)
            rows.append((stem, "ours+seg", k, score(ref, hyp)))
        if oracle:
            hyp, k = ours(y, settings, segmentation=oracle_model(y, ref))
            rows.append((stem, "oracle", k, score(ref, hyp)))
        if with_baseline:
            hyp, k = baseline(y)
            rows.append((stem, "sketch", k, score(ref, hyp)))
    return rows


def dev_table(settings=None, *, with_baseline=True, oracle=False):
    pool = dev_speakers()
    rows = []
    for seed, k in DEV_SET:
        y, ref = dev_mixture(seed, k, pool)
        hyp, kk = ours(y, settings)
        rows.append((f"dev{k}spk-s{seed} ({y.size / SR:.0f}s)", "ours", kk, score(ref, hyp)))
        if oracle:
            hyp, kk = ours(y, settings, segmentation=oracle_model(y, ref))
            rows.append((f"dev{k}spk-s{seed} ({y.size / SR:.0f}s)", "oracle", kk, score(ref, hyp)))
        if with_baseline:
            hyp, kk = baseline(y)
            rows.append((f"dev{k}spk-s{seed} ({y.size / SR:.0f}s)", "sketch", kk, score(ref, hyp)))
    return rows


def _long_clip() -> Path:
    """The three evaluation conversations twice over (3 minutes), as a WAV in _work/."""
    import soundfile as sf

    path = ROOT / "benchmarks" / "_work" / "speakers_180s.wav"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        parts = [_load16(EVAL / "diarization" / f"{stem}.wav") for stem, _ in CLIPS] * 2
        sf.write(path, np.concatenate(parts), SR, subtype="PCM_16")
    return path


def speed(rounds: int = 5, *, models: dict[str, str | None] | None = None) -> None:
    """x real time of audiolens.speakers() (decoding included), 1 and 2 threads, for each
    segmentation model (None: without one)."""
    import os
    import subprocess

    code = (
        "import time,statistics,sys\n"
        "from audiolens.tasks.speakers import speakers, SpeakersOptions\n"
        "p=sys.argv[1]; o=SpeakersOptions(segmentation_model=sys.argv[2])\n"
        "speakers(p, options=o)\n"
        "ts=[]\n"
        f"for _ in range({rounds}):\n"
        "    t=time.perf_counter(); r=speakers(p, options=o); ts.append(time.perf_counter()-t)\n"
        "print(statistics.median(ts), r.duration)\n"
    )
    models = models or {"vad+encoder": None}
    print("\nspeed: audiolens.speakers(path), decoding included, median of", rounds)
    clips = [(stem, EVAL / "diarization" / f"{stem}.wav") for stem, _ in CLIPS]
    clips.append(("D1-D3 twice (180 s)", _long_clip()))
    for label_m, model in models.items():
        print(f"  {label_m}")
        for stem, path in clips:
            line = f"  {stem:<22}"
            for threads in (1, 2):
                env = dict(
                    os.environ,
                    OMP_NUM_THREADS=str(threads),
                    OPENBLAS_NUM_THREADS=str(threads),
                    MKL_NUM_THREADS=str(threads),
                )
                out = subprocess.run(
                    [sys.executable, "-c", code, str(path), model or "none"],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.split()
                seconds, duration = float(out[0]), float(out[1])
                label = f"{threads} thread{'s' if threads > 1 else ' '}"
                line += f"  {label}: {seconds * 1000:6.0f} ms = {duration / seconds:5.0f}x"
            print(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--dev-only", action="store_true")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--segmentation-model", metavar="PATH", help="also score with this model")
    ap.add_argument("--oracle", action="store_true", help="also score with a perfect segmentation")
    args = ap.parse_args()
    seg = None
    if args.segmentation_model:
        from audiolens.models.segmentation import load_segmentation

        seg = load_segmentation(args.segmentation_model)
    if not args.dev_only:
        _table(
            eval_table(with_baseline=not args.no_baseline, segmentation=seg, oracle=args.oracle),
            "evaluation conversations (D1-D3), collar 0.5 s; DER c0 = no collar",
        )
    _table(
        dev_table(with_baseline=not args.no_baseline, oracle=args.oracle),
        "dev mixtures (settings chosen here)",
    )
    if not args.no_speed and not args.dev_only:
        models: dict[str, str | None] = {"vad+encoder (no segmentation model)": None}
        if args.segmentation_model:
            models[f"with {args.segmentation_model}"] = args.segmentation_model
        try:
            shaped = pyannet_shaped_model(ROOT / "benchmarks" / "_work" / "pyannet_shape.onnx")
            models["with a segmentation-3.0-shaped model (random weights)"] = str(shaped)
        except ImportError:
            print("(torch is not installed: no timing with a segmentation-3.0-shaped model)")
        speed(models=models)
    _ = statistics, time


if __name__ == "__main__":
    main()
