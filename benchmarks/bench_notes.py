"""Benchmark of the ``notes`` task beside Spotify basic-pitch 0.4.0, in one run.

Four tables:

1. PARITY: our notes (``audiolens.tasks.notes.transcribe``) against basic-pitch's own
   ``predict()`` (its ONNX model, the same default thresholds) on every music clip of
   ``shared/eval`` (``_notes_truth.eval_music_clips``): note F-measure of
   ``mir_eval.transcription.precision_recall_f1_overlap`` with a 50 ms onset tolerance,
   without offsets (``offset_ratio=None``; the target is >= 0.99 on every clip) and with them
   (mir_eval's default 20% / 50 ms); basic-pitch's notes are the reference. The collection run's
   notes, read back from its store, must equal ``transcribe()``'s. A summary line gives the same
   figures over the corpus pieces (from the collection run).
2. ACCURACY against ground truth: GuitarSet (M1), madmom (M2), Slakh S00/S09 (M3), vocadito
   against both annotators (M4); F with and without offsets, ours and basic-pitch's; then the
   means over the corpus pieces (exact MIDI ground truth, drums left out).
3. SPEED on the collection (the eval clips and the corpus pieces, at least 20 files):
   ``audiolens.analyze(paths, tasks=["notes"], workers=N)`` against basic-pitch's ``predict()``
   called file by file, once passing the model's path (the model is loaded by every call, as
   ``predict(path)`` does) and once passing a preloaded ``Model`` (loaded once; its load
   counts). The two modes alternate file by file so both see the same machine load; their
   seconds are the sums of the ``predict()`` calls. Same files, same run; every file is read
   once before the clocks start, and each side gets a warm-up call on the shortest file
   (imports, numba, first-call costs) first. ``--per-file`` lists every file's seconds.
   Then the MODEL COST of each side, measured in the same run: the windows each sends to the
   ONNX model times its seconds per window (one thread per worker for ours; onnxruntime's
   default threads at batch 1 for ``predict()``), which bounds any speed-up on the machine.
4. ONE HOUR: peak memory (RSS) and time of ``transcribe()`` and of ``predict()`` on a 1-hour
   FLAC (the corpus pieces end to end), each in its own process (``--no-hour`` skips it).

Usage::

    python benchmarks/notes_corpus.py --jobs 2       # the corpus, once (benchmarks/_corpus_notes)
    python benchmarks/bench_notes.py                 # eval clips + corpus
    python benchmarks/bench_notes.py --quick         # eval clips only
    python benchmarks/bench_notes.py --skip-ours     # basic-pitch's columns only
    python benchmarks/bench_notes.py --transkun      # the transkun engine (_transkun_bench.py)

The reference needs basic-pitch beside audiolens (see ``_notes_reference.py``)::

    pip install --no-deps basic-pitch==0.4.0 onnxruntime pretty_midi resampy==0.4.2 'setuptools<81'

When our task cannot be imported (or fails), its columns print "n/a" with the reason and the
basic-pitch columns still print; the exit status is then 2.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

from _notes_reference import RefResult, load_model, predict, version
from _notes_truth import EvalClip, eval_music_clips, load_midi, to_hz

HERE = Path(__file__).resolve().parent
ONSET_TOLERANCE = 0.05
PARITY_TARGET = 0.99

Notes = np.ndarray  # [n, 4]: onset_s, offset_s, MIDI pitch, velocity (or amplitude)


# --------------------------------------------------------------------------- scoring


def f_measure(
    ref_iv: np.ndarray,
    ref_pitch: np.ndarray,
    est_iv: np.ndarray,
    est_pitch: np.ndarray,
    offsets: bool,
) -> float:
    """mir_eval note F-measure; pitches are MIDI numbers, ``offsets`` False ignores offsets."""
    import mir_eval

    ref_iv, est_iv = np.reshape(ref_iv, (-1, 2)), np.reshape(est_iv, (-1, 2))
    if len(ref_iv) == 0 and len(est_iv) == 0:
        return 1.0
    if len(ref_iv) == 0 or len(est_iv) == 0:
        return 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, _, f, _ = mir_eval.transcription.precision_recall_f1_overlap(
            ref_iv,
            to_hz(ref_pitch),
            est_iv,
            to_hz(est_pitch),
            onset_tolerance=ONSET_TOLERANCE,
            **({} if offsets else {"offset_ratio": None}),
        )
    return float(f)


def f_pair(ref: Notes, est: Notes) -> tuple[float, float]:
    """(F without offsets, F with offsets) of ``est`` against ``ref`` (note arrays)."""
    return (
        f_measure(ref[:, :2], ref[:, 2], est[:, :2], est[:, 2], offsets=False),
        f_measure(ref[:, :2], ref[:, 2], est[:, :2], est[:, 2], offsets=True),
    )


def truth_pair(truth: tuple[np.ndarray, np.ndarray], est: Notes) -> tuple[float, float]:
    """(F without offsets, F with offsets) of ``est`` against a ground-truth pair."""
    iv, pitch = truth
    return (
        f_measure(iv, pitch, est[:, :2], est[:, 2], offsets=False),
        f_measure(iv, pitch, est[:, :2], est[:, 2], offsets=True),
    )


def covered_until(seconds: float) -> float:
    """The time of the last frame basic-pitch's ``predict()`` keeps for a file this long.

    It trims its output to ``floor(n * 86 / 22050)`` frames (86, not 86.13 frames/s) and its
    windows advance 0.73 frames less than the 142 frames each adds, so the frames it keeps end
    about 0.7 % before the end of the file; audiolens transcribes to the end.
    """
    j = int(np.floor(round(seconds * 22050) * 86 / 22050)) - 1
    return ((j // 142) * 36164 + (j % 142) * 256) / 22050


def covered_pair(ref: Notes, est: Notes, seconds: float) -> tuple[float, float]:
    """``f_pair`` over the notes that start where basic-pitch can still see a whole note."""
    end = covered_until(seconds) - 0.13  # a note must last > 127.7 ms to be kept
    return f_pair(ref[ref[:, 0] < end], est[est[:, 0] < end])


def _fmt(x: float | None, width: int = 9) -> str:
    return f"{'n/a':>{width}s}" if x is None else f"{x:{width}.3f}"


# --------------------------------------------------------------------------- the files


class Collection:
    """The eval clips and the corpus pieces, with durations and (for pieces) the MIDI truth."""

    def __init__(self, clips: list[EvalClip], corpus: Path | None) -> None:
        import soundfile as sf

        self.clips = clips
        self.pieces: list[dict[str, str]] = []
        self.duration = {str(c.audio): sf.info(str(c.audio)).duration for c in clips}
        if corpus is not None:
            manifest = corpus / "manifest.csv"
            if not manifest.exists():
                raise SystemExit(f"no {manifest}; run benchmarks/notes_corpus.py (or use --quick)")
            with open(manifest, newline="") as fh:
                for row in csv.DictReader(fh):
                    row["audio"] = str((corpus / row["path"]).resolve())
                    row["midi"] = str((corpus / row["midi_path"]).resolve())
                    self.pieces.append(row)
                    self.duration[row["audio"]] = float(row["duration_s"])

    @property
    def files(self) -> list[str]:
        """Every audio file: the eval clips first, then the pieces."""
        return [str(c.audio) for c in self.clips] + [p["audio"] for p in self.pieces]

    @property
    def minutes(self) -> float:
        """Minutes of audio in all the files."""
        return sum(self.duration.values()) / 60


def read_once(files: list[str]) -> None:
    """Read every file's bytes once, so that no timed pass pays for a cold disk cache."""
    for f in files:
        with open(f, "rb") as fh:
            while fh.read(1 << 24):
                pass


# --------------------------------------------------------------------------- basic-pitch


def run_reference(
    files: list[str], warmup: str
) -> tuple[dict[str, RefResult], dict[str, RefResult], float]:
    """basic-pitch file by file, in both modes: model path per call, and a preloaded model.

    The two modes alternate file by file, so both see the same machine load. Returns (results
    of the per-call mode, results of the preloaded mode, seconds to load the model once).
    """
    predict(warmup)  # imports, librosa's and numba's first-call costs
    t = time.perf_counter()
    model = load_model()
    load_s = time.perf_counter() - t
    per_call, preloaded = {}, {}
    for f in files:
        per_call[f] = predict(f)
        preloaded[f] = predict(f, model)
    differ = [f for f in files if not np.array_equal(per_call[f].notes, preloaded[f].notes)]
    if differ:
        print(f"note: basic-pitch gave other notes with the preloaded model on {len(differ)} files")
    return per_call, preloaded, load_s


# --------------------------------------------------------------------------- ours


def ours_import_error() -> str | None:
    """None when our notes task can be imported, else why not."""
    try:
        from audiolens.tasks.notes import transcribe  # noqa: F401
    except Exception as exc:  # not there yet, or broken: the reference columns still print
        return f"{type(exc).__name__}: {exc}"
    return None


def _as_array(notes) -> Notes:
    """``Note`` objects or export dicts -> ``[n, 4]`` (onset, offset, pitch, velocity)."""
    rows = []
    for n in notes:
        if isinstance(n, dict):
            rows.append((n["onset"], n["offset"], n["pitch"], n["velocity"]))
        else:
            rows.append((n.onset, n.offset, n.pitch, n.velocity))
    rows.sort(key=lambda r: (r[0], r[2], r[1]))
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)


def run_transcribe(files: list[str], device: str) -> tuple[dict[str, Notes], dict[str, float]]:
    """``transcribe()`` on each file in this process: notes and seconds by file."""
    from audiolens.tasks.notes import NotesOptions, transcribe

    opts = NotesOptions()  # basic-pitch's default thresholds
    notes, secs = {}, {}
    for f in files:
        t = time.perf_counter()
        res = transcribe(f, options=opts, device=device)
        secs[f] = time.perf_counter() - t
        notes[f] = _as_array(res.notes)
    return notes, secs


def run_collection(files: list[str], workers: int, device: str):
    """``audiolens.analyze(files, tasks=["notes"])`` into a fresh store.

    Returns (RunSummary, notes by file as read back from the store, failures by file, the
    store's seconds per file: decode and task in one worker).
    """
    import audiolens
    from audiolens.store import Store

    with tempfile.TemporaryDirectory(prefix="bench-notes-") as tmp:
        db = Path(tmp) / "notes.sqlite"
        summary = audiolens.analyze(
            files,
            tasks=["notes"],
            db=db,
            workers=workers,
            device=device,
            progress=False,
            force=True,
        )
        notes, failed, elapsed = {}, {}, {}
        with Store(db, create=False) as store:
            for row in store.rows(task="notes"):
                key = str(Path(row.path).resolve())
                elapsed[key] = row.elapsed_s
                if row.status == "ok" and row.result is not None:
                    notes[key] = _as_array(row.result["notes"])
                else:
                    failed[key] = row.error or "failed"
    return summary, notes, failed, elapsed


def same_notes(a: Notes, b: Notes) -> bool:
    """The same notes, times to 1 microsecond (the store keeps 6 decimals)."""
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=0, atol=1.5e-6))


# --------------------------------------------------------------------------- tables


def table_parity(coll: Collection, ref: dict[str, RefResult], ours, from_store) -> None:
    """Table 1: ours against basic-pitch's predict() per eval clip, then over the pieces."""
    print("\n1. PARITY: ours vs basic-pitch predict() (reference), note F-measure, onset 50 ms")
    head = (
        f"{'clip':36s}{'ours':>7s}{'ref':>7s}{'F':>9s}{'F+off':>9s}"
        f"{'F cover':>9s}{'+off':>7s}{'store':>7s}"
    )
    print(head)
    worst: list[float] = []
    whole: list[float] = []
    for c in coll.clips:
        f = str(c.audio)
        r = ref[f].notes
        o = ours.get(f) if ours else None
        fn, fo = f_pair(r, o) if o is not None else (None, None)
        cn, co = covered_pair(r, o, coll.duration[f]) if o is not None else (None, None)
        if cn is not None:
            worst.append(cn)
            whole.append(fn)
        stored = "n/a"
        if o is not None and f in from_store:
            stored = "same" if same_notes(o, from_store[f]) else "DIFF"
        n_ours = f"{len(o):7d}" if o is not None else f"{'n/a':>7s}"
        print(
            f"{c.name[:35]:36s}{n_ours}{len(r):7d}{_fmt(fn)}{_fmt(fo)}"
            f"{_fmt(cn)}{_fmt(co, 7)}{stored:>7s}"
        )
    if worst:
        ok = "PASS" if min(worst) >= PARITY_TARGET else "FAIL"
        print(
            f"{'minimum F (no offsets): whole files, part both cover':52s}{min(whole):7.3f}"
            f"{min(worst):9.3f}   target >= {PARITY_TARGET} {ok}"
        )
    else:
        print(f"{'minimum F (no offsets)':50s}{'n/a':>9s}")
    pieces = [p["audio"] for p in coll.pieces if p["audio"] in from_store]
    if pieces:
        pairs = [covered_pair(ref[f].notes, from_store[f], coll.duration[f]) for f in pieces]
        fn = [p[0] for p in pairs]
        i = int(np.argmin(fn))
        print(
            f"corpus, {len(pieces)} pieces (collection run, part both cover): F min {min(fn):.3f} "
            f"({Path(pieces[i]).name}), mean {statistics.mean(fn):.3f}; "
            f"F+off mean {statistics.mean(p[1] for p in pairs):.3f}"
        )
    print("'F cover': over the notes starting before basic-pitch's output ends (it drops the")
    print("last ~0.7% of every file, see covered_until); 'F' counts our notes there too.")
    print("'store': the collection run's notes, read back from its store, equal transcribe()'s")


def table_accuracy(coll: Collection, ref: dict[str, RefResult], ours, from_store) -> None:
    """Table 2: ours and basic-pitch against ground truth."""
    print("\n2. ACCURACY vs ground truth, note F-measure (onset 50 ms; +off: offsets 20%/50 ms)")
    print(
        f"{'clip':36s}{'truth':>6s}{'notes':>7s}"
        f"{'ours F':>9s}{'ours+off':>9s}{'bp F':>9s}{'bp+off':>9s}"
    )
    cols: list[list[float | None]] = [[], [], [], []]
    for c in coll.clips:
        if c.truth is None:
            continue
        f = str(c.audio)
        o = ours.get(f) if ours else None
        for label, truth in c.truth().items():
            on, oo = truth_pair(truth, o) if o is not None else (None, None)
            bn, bo = truth_pair(truth, ref[f].notes)
            for col, v in zip(cols, (on, oo, bn, bo)):
                col.append(v)
            print(
                f"{c.name[:35]:36s}{label:>6s}{len(truth[1]):7d}"
                f"{_fmt(on)}{_fmt(oo)}{_fmt(bn)}{_fmt(bo)}"
            )
    means = [None if not col or None in col else statistics.mean(col) for col in cols]
    print(f"{'mean of the rows':49s}" + "".join(_fmt(m) for m in means))
    if not coll.pieces:
        return
    groups = {"all pieces": coll.pieces}
    for style in sorted({p["style"] for p in coll.pieces}):
        groups[style] = [p for p in coll.pieces if p["style"] == style]
    with_drums = [p for p in coll.pieces if p["drums"]]
    if with_drums:
        groups["with drums"] = with_drums
    truth = {p["audio"]: load_midi(p["midi"]) for p in coll.pieces}
    print(
        f"\ncorpus (exact MIDI truth; mean F over pieces){'':5s}{'ours F':>9s}{'ours+off':>9s}"
        f"{'bp F':>9s}{'bp+off':>9s}"
    )
    for name, rows in groups.items():
        files = [p["audio"] for p in rows]
        bp = [truth_pair(truth[f], ref[f].notes) for f in files]
        if from_store and all(f in from_store for f in files):
            us = [truth_pair(truth[f], from_store[f]) for f in files]
            mine = (statistics.mean(u[0] for u in us), statistics.mean(u[1] for u in us))
        else:
            mine = (None, None)
        label = f"{name} ({len(files)})"
        print(
            f"{label:49s}{_fmt(mine[0])}{_fmt(mine[1])}"
            f"{_fmt(statistics.mean(b[0] for b in bp))}{_fmt(statistics.mean(b[1] for b in bp))}"
        )


def table_speed(coll: Collection, walls: dict[str, float | None], workers: int, why: str) -> None:
    """Table 3: the collection run against basic-pitch file by file."""
    n = len(coll.files)
    print(
        f"\n3. SPEED: {n} files ({len(coll.clips)} eval clips, {len(coll.pieces)} corpus pieces), "
        f"{coll.minutes:.1f} min of audio; {os.cpu_count()} cores"
    )
    print(f"{'':46s}{'seconds':>9s}{'files/s':>9s}{'x realtime':>11s}{'ours vs it':>12s}")
    ours = walls.get("ours")
    for label, key in (
        ("basic-pitch predict(), model path per call", "path"),
        ("basic-pitch predict(), preloaded Model", "model"),
        (f"audiolens analyze ({workers} workers)", "ours"),
    ):
        w = walls.get(key)
        if w is None:
            print(f"{label:46s}{'n/a':>9s}  {why}")
            continue
        ratio = f"{w / ours:11.2f}x" if ours else f"{'n/a':>12s}"
        print(f"{label:46s}{w:9.1f}{n / w:9.2f}{coll.minutes * 60 / w:11.1f}{ratio}")
    print("'ours vs it' > 1 means audiolens is that many times faster; basic-pitch runs in one")
    print("process (onnxruntime uses its own threads), as a script calling predict() would.")


def table_per_file(coll: Collection, ref, ref_model, elapsed) -> None:
    """Seconds per file: basic-pitch in both modes, ours (the store's per-file seconds)."""
    print(f"\n{'file':36s}{'audio s':>9s}{'bp path':>9s}{'bp model':>9s}{'ours':>9s}")
    for f in coll.files:
        ours = elapsed.get(f)
        print(
            f"{Path(f).name[:35]:36s}{coll.duration[f]:9.1f}{ref[f].seconds:9.2f}"
            f"{ref_model[f].seconds:9.2f}{'n/a' if ours is None else f'{ours:.2f}':>9s}"
        )
    print("'ours' is one worker's seconds for the file (decode and task) in the collection run")


# --------------------------------------------------------------------------- model costs


def window_counts(files: list[str]) -> tuple[int, int]:
    """(windows basic-pitch's predict() runs, windows audiolens sends to the model): ours skips
    windows of digital silence, whose answer it computes once."""
    from audiolens import load
    from audiolens.models.basic_pitch import BasicPitch
    from audiolens.tasks.notes.engine import window_stream

    engine = BasicPitch()
    ref = sent = 0
    for f in files:
        x = load(f, sr=22050, mono=True).samples[0]
        ref += int(np.ceil((x.size + 3840) / 36164))  # predict(): pads 3840, steps 36164
        sent += sum(1 for w, _ in window_stream([x], engine) if w.any())
    return ref, sent


def model_seconds_per_window(clip: str) -> tuple[float, float]:
    """Seconds per window of basic-pitch's ONNX model, measured now on real windows:
    (one intra-op thread, batches of 8: each of our workers; onnxruntime's default threads,
    batches of 1: basic-pitch's predict())."""
    import onnxruntime as ort

    from audiolens import load
    from audiolens.models.basic_pitch import find_model

    x = load(clip, sr=22050, mono=True).samples[0]
    wins = np.stack([x[i * 36164 : i * 36164 + 43844] for i in range(8)])[:, :, None]
    out = []
    for threads, batch in ((1, 8), (0, 1)):
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        sess = ort.InferenceSession(str(find_model()), opts, providers=["CPUExecutionProvider"])
        feed = {sess.get_inputs()[0].name: wins[:batch].astype(np.float32)}
        sess.run(None, feed)
        n, t = 0, time.perf_counter()
        while time.perf_counter() - t < 4.0:
            sess.run(None, feed)
            n += batch
        out.append((time.perf_counter() - t) / n)
    return out[0], out[1]


def table_model_bound(coll: Collection, workers: int, walls: dict[str, float | None]) -> None:
    """What the model alone costs each side: the limit of any speed-up on this machine."""
    ref_w, ours_w = window_counts(coll.files)
    clip = next((str(c.audio) for c in coll.clips if "guitarset" in c.name), coll.files[0])
    one, default = model_seconds_per_window(clip)
    ours_floor = ours_w * one / workers
    ref_model = ref_w * default
    print(
        f"\nmodel cost: basic-pitch runs {ref_w} windows at {default * 1000:.1f} ms "
        f"(onnxruntime default threads, batch 1) = {ref_model:.1f} s;"
    )
    print(
        f"audiolens sends {ours_w} (silent ones skipped) at {one * 1000:.1f} ms per worker "
        f"(1 thread, batch 8) over {workers} workers = {ours_floor:.1f} s"
    )
    ref_wall, ours_wall = walls.get("path"), walls.get("ours")
    print(f"model against model, audiolens is {ref_model / ours_floor:.2f}x faster on this machine")
    if ref_wall and ours_wall:
        print(
            f"measured {ref_wall / ours_wall:.2f}x over the whole run, of which ours spends "
            f"{ours_floor / ours_wall:.0%} in the model; with no cost but the model it could "
            f"be at most {ref_wall / ours_floor:.2f}x faster than predict()"
        )


# --------------------------------------------------------------------------- one hour


_OURS_HOUR = """
import resource, sys, time
from audiolens.tasks.notes import transcribe
t = time.perf_counter()
r = transcribe(sys.argv[1], device="cpu")
print(len(r.notes), time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
_REF_HOUR = """
import resource, sys, time
sys.path.insert(0, sys.argv[2])
from _notes_reference import predict
t = time.perf_counter()
r = predict(sys.argv[1])
print(len(r.notes), time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def hour_file(coll: Collection, corpus: Path) -> Path:
    """An hour of music (the corpus pieces one after the other, as often as needed) as FLAC."""
    import soundfile as sf

    from audiolens import load

    path = corpus / "hour.flac"
    if path.exists():
        return path
    tmp = path.with_suffix(".part.flac")
    need = 3600 * 44100
    with sf.SoundFile(tmp, "w", 44100, 2, "PCM_16") as out:
        while need > 0:
            for p in coll.pieces:
                x = load(p["audio"], sr=44100).samples
                x = np.repeat(x, 2, axis=0) if x.shape[0] == 1 else x[:2]
                take = min(need, x.shape[1])
                out.write(x[:, :take].T)
                need -= take
                if need <= 0:
                    break
    os.replace(tmp, path)
    return path


def _peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (Linux /proc), in MB; 0 when unknown."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def table_hour(coll: Collection, corpus: Path, limit: float) -> None:
    """Peak memory and time for one 1-hour file: ours (streamed) and basic-pitch's predict(),
    each in its own process, stopped after ``limit`` seconds."""
    import subprocess

    path = hour_file(coll, corpus)
    print(f"\n4. ONE HOUR: {path.name} (60 min, 44.1 kHz stereo FLAC), one process each")
    print(f"{'':36s}{'notes':>8s}{'seconds':>9s}{'peak RSS MB':>13s}")
    for label, code, extra in (
        ("audiolens transcribe()", _OURS_HOUR, []),
        ("basic-pitch predict()", _REF_HOUR, [str(HERE)]),
    ):
        proc = subprocess.Popen(
            [sys.executable, "-c", code, str(path), *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        t0, peak = time.perf_counter(), 0.0
        while proc.poll() is None and time.perf_counter() - t0 < limit:
            peak = max(peak, _peak_rss_mb(proc.pid))
            time.sleep(0.5)
        if proc.poll() is None:
            peak = max(peak, _peak_rss_mb(proc.pid))
            proc.kill()
            proc.communicate()
            print(f"{label:36s}{'-':>8s}{'>' + format(limit, '.0f'):>9s}{peak:13.0f}  (stopped)")
            continue
        out, err = proc.communicate()
        if proc.returncode != 0:
            print(f"{label:36s} failed: {err.strip().splitlines()[-1:]}")
            continue
        n, secs, rss_kb = out.split()[-3:]
        peak = max(peak, int(rss_kb) / 1024)
        print(f"{label:36s}{int(n):8d}{float(secs):9.1f}{peak:13.0f}")
    print("audiolens decodes the file in 60 s blocks and keeps only note and onset activations;")
    print("basic-pitch loads the whole file, keeps every window's outputs, and its melodia pass")
    print("takes an argmax over the whole activation matrix for every note it adds.")


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="eval clips only (no corpus)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--corpus", type=Path, default=HERE / "_corpus_notes")
    ap.add_argument("--device", default="auto", help="our device (basic-pitch runs on CPU)")
    ap.add_argument("--skip-ours", action="store_true", help="basic-pitch's columns only")
    ap.add_argument("--per-file", action="store_true", help="also print seconds per file")
    ap.add_argument("--no-hour", action="store_true", help="skip the 1-hour memory table")
    ap.add_argument(
        "--hour-limit", type=float, default=900, help="seconds each side gets on the hour"
    )
    ap.add_argument(
        "--transkun",
        action="store_true",
        help="the transkun engine's tables instead (see _transkun_bench.py)",
    )
    ap.add_argument("--pieces", type=int, default=10, help="rendered piano pieces (--transkun)")
    ap.add_argument("--slakh", action="store_true", help="add Slakh's piano stem (--transkun)")
    ap.add_argument("--hour", action="store_true", help="the 1-hour memory row only (--transkun)")
    ap.add_argument(
        "--precision",
        default="auto",
        choices=("auto", "float32", "bfloat16", "float16"),
        help="the transkun engine's precision (--transkun)",
    )
    args = ap.parse_args(argv)
    if args.transkun:
        from _transkun_bench import run

        return run(
            args.pieces,
            slakh=args.slakh,
            long=not args.no_hour,
            hour=args.hour,
            precision=args.precision,
        )

    coll = Collection(eval_music_clips(), None if args.quick else args.corpus.resolve())
    print(
        f"basic-pitch {version()} (ONNX); {len(coll.clips)} eval clips"
        + ("" if args.quick else f", {len(coll.pieces)} corpus pieces from {args.corpus}")
        + f"; {len(coll.files)} files, {coll.minutes:.1f} min of audio"
    )
    if not args.quick and len(coll.files) < 20:
        print(f"warning: {len(coll.files)} files; the speed table wants at least 20")
    warmup = min(coll.files, key=lambda f: coll.duration[f])
    read_once(coll.files)

    ref, ref_model, load_s = run_reference(coll.files, warmup)
    walls: dict[str, float | None] = {
        "path": sum(r.seconds for r in ref.values()),
        "model": load_s + sum(r.seconds for r in ref_model.values()),
        "ours": None,
    }

    why = "skipped (--skip-ours)" if args.skip_ours else ours_import_error()
    ours: dict[str, Notes] = {}
    from_store: dict[str, Notes] = {}
    elapsed: dict[str, float | None] = {}
    if why is None:
        try:
            clip_files = [str(c.audio) for c in coll.clips]
            run_transcribe([warmup], args.device)  # warm-up: imports, model load
            ours, _ = run_transcribe(clip_files, args.device)
            summary, from_store, failed, elapsed = run_collection(
                coll.files, args.workers, args.device
            )
            walls["ours"] = summary.elapsed_s
            print(
                f"audiolens analyze: {summary.done} done, {summary.failed} failed, "
                f"device {summary.device}, {summary.elapsed_s:.1f} s"
            )
            for f, msg in failed.items():
                print(f"  failed: {f}: {msg}")
        except Exception as exc:
            traceback.print_exc()
            why = f"ours failed: {type(exc).__name__}: {exc}"
    if why is not None:
        print(f"ours: n/a ({why})")

    table_parity(coll, ref, ours, from_store)
    table_accuracy(coll, ref, ours, from_store)
    table_speed(coll, walls, args.workers, why or "")
    if why is None:
        table_model_bound(coll, args.workers, walls)
        if not args.quick and not args.no_hour:
            table_hour(coll, args.corpus.resolve(), args.hour_limit)
    if args.per_file:
        table_per_file(coll, ref, ref_model, elapsed)
    else:
        secs = [ref[f].seconds for f in coll.files]
        print(
            f"basic-pitch seconds per file (model path per call): median {np.median(secs):.2f}, "
            f"max {max(secs):.2f} (--per-file lists them)"
        )
    return 0 if why is None else 2


if __name__ == "__main__":
    sys.exit(main())
