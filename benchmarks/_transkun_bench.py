"""The ``transkun`` engine's tables of ``bench_notes.py --transkun``, side by side in one run.

1. PARITY with Transkun 2.0.1's own ``TransKun.transcribe`` (its network, its TorchScript
   decoding, its segment joining; the model built from the shipped ``2.0.conf`` and
   ``2.0.pt``, with a stand-in ``torchaudio`` whose zero filterbank the checkpoint's own
   overwrites, so no torchaudio is installed): note F (onsets, 50 ms) of our notes against
   its notes, per file, on the eval piano clips and the rendered piano pieces.
2. ACCURACY against ground truth (note F with onsets only, and with offsets, mir_eval's 20% /
   50 ms) of ours, Transkun's own and basic-pitch's (our default engine) on the same files:
   madmom's real piano recording (M2), Slakh's piano stem (M3, ``--slakh``), and the rendered
   pieces (with and without sustain pedal; with pedal the written note-off is not where the
   sound ends, so offsets are scored on the pieces without).
3. SPEED on 2 cores: our task and Transkun's ``transcribe`` on the same files, each file
   by each side in turn (so both see the same machine load; model loads not counted), files/s
   and x real time; then one 3-minute piece through ``transcribe()`` with its peak memory
   (RSS, in a child process). Rows print as each file is done. ``--hour``: instead, the peak
   memory and speed of a 1-hour file (the pieces over and over) through ``transcribe()``.

Pieces (``--pieces N``, default 10; ``benchmarks/_corpus_piano/``, git-ignored): two hands
(a melody over C4-C6, chords or arpeggios over C2-C4), 80-140 BPM, four velocity layers
(40, 64, 90, 115, +-8 per note) changing by phrase, the sustain pedal (CC64, down after each
bar line, up just before the next) in every other piece; written with mido, rendered by
fluidsynth (FluidR3_GM's grand piano, never a training source of Transkun, which learnt on
MAESTRO's real pianos) at 44.1 kHz stereo.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from _notes_truth import EVAL_DIR, REPO, load_madmom_notes, load_midi, to_hz

SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
PIECES = REPO / "benchmarks" / "_corpus_piano"
LAYERS = (40, 64, 90, 115)


# -- pieces -----------------------------------------------------------------------------------


def compose(index: int, seconds: float, pedal: bool) -> object:
    """A two-hand piano piece as a mido MidiFile."""
    import mido

    rng = np.random.default_rng(1000 + index)
    bpm = float(rng.uniform(80, 140))
    tpb = 480
    beat_s = 60.0 / bpm
    bars = max(2, int(seconds / (4 * beat_s)))
    scale = np.array([0, 2, 4, 5, 7, 9, 11])
    key = int(rng.integers(0, 12))
    notes: list[tuple[int, int, int, int]] = []  # (on_tick, off_tick, pitch, velocity)
    layer = int(rng.choice(LAYERS))
    for bar in range(bars):
        if bar % 2 == 0:
            layer = int(rng.choice(LAYERS))
        t0 = bar * 4 * tpb
        root = key + int(rng.choice([0, 5, 7, 9])) + 48
        chord = [root, root + (3 if rng.random() < 0.4 else 4), root + 7]
        if rng.random() < 0.5:  # block chords on beats 1 and 3
            for b in (0, 2):
                for p in chord:
                    notes.append(
                        (t0 + b * tpb, t0 + (b + 2) * tpb - 40, p - 12 * (p > 60), layer - 10)
                    )
        else:  # arpeggio in eighths
            for k in range(8):
                p = chord[k % 3] + (12 if k >= 4 else 0) - 12
                notes.append((t0 + k * tpb // 2, t0 + (k + 1) * tpb // 2 - 20, p, layer - 10))
        t = 0
        while t < 4 * tpb:  # melody
            dur = int(rng.choice([tpb // 2, tpb, tpb, 2 * tpb]))
            dur = min(dur, 4 * tpb - t)
            if rng.random() < 0.85:
                p = key + 60 + int(scale[rng.integers(0, 7)]) + 12 * int(rng.integers(0, 2))
                notes.append((t0 + t, t0 + t + dur - 30, p, layer))
            t += dur
    mid = mido.MidiFile(ticks_per_beat=tpb)
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    tr.append(mido.MetaMessage("set_tempo", tempo=round(60e6 / bpm), time=0))
    tr.append(mido.Message("program_change", program=0, channel=0, time=0))
    events: list[tuple[int, int, object]] = []
    last_off: dict[int, int] = {}
    for on, off, p, v in sorted(notes):
        if last_off.get(p, -1) > on:  # no two notes on one key at once
            continue
        last_off[p] = off
        vel = int(np.clip(v + rng.integers(-8, 9), 1, 127))
        events.append((on, 1, mido.Message("note_on", note=p, velocity=vel)))
        events.append((off, 0, mido.Message("note_off", note=p, velocity=64)))
    if pedal:
        for bar in range(bars):
            t0 = bar * 4 * tpb
            events.append((t0 + 30, 2, mido.Message("control_change", control=64, value=127)))
            events.append(
                (t0 + 4 * tpb - 10, 0, mido.Message("control_change", control=64, value=0))
            )
    end = bars * 4 * tpb + 2 * tpb
    events.append((end, 3, mido.MetaMessage("end_of_track")))
    now = 0
    for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        tr.append(msg.copy(time=tick - now))
        now = tick
    return mid


def make_pieces(n: int, *, long_s: float = 180.0) -> list[dict]:
    """Render the pieces (kept when already there); returns their rows."""
    PIECES.mkdir(parents=True, exist_ok=True)
    rows = []
    plan = [(f"piano_{i:02d}", 30.0 + 10.0 * (i % 4), i % 2 == 1) for i in range(n)]
    plan.append(("piano_long", long_s, True))
    for name, seconds, pedal in plan:
        mid_path, wav = PIECES / f"{name}.mid", PIECES / f"{name}.wav"
        if not (mid_path.is_file() and wav.is_file()):
            compose(len(rows), seconds, pedal).save(mid_path)
            subprocess.run(
                ["fluidsynth", "-ni", "-q", "-g", "0.6", "-r", "44100", "-F", str(wav),
                 SOUNDFONT, str(mid_path)],
                check=True, capture_output=True,
            )  # fmt: skip
        rows.append({"name": name, "audio": wav, "midi": mid_path, "pedal": pedal})
    return rows


def hour_file(pieces: list[dict], seconds: float = 3600.0) -> Path:
    """A 1-hour piano file (FLAC, 44.1 kHz stereo): the rendered pieces one after another,
    over and over, with a second of silence between them (kept when already there)."""
    import soundfile as sf

    path = PIECES / "piano_hour.flac"
    if path.is_file() and sf.info(path).duration >= seconds:
        return path
    tmp = path.with_name(".part-piano_hour.flac")
    gap = np.zeros((44100, 2), np.float32)
    decoded = [audio(p["audio"]).T for p in pieces]  # each piece decoded once
    done = 0
    with sf.SoundFile(tmp, "w", samplerate=44100, channels=2, format="FLAC") as out:
        while done < seconds * 44100:
            for x in decoded:
                x = x[: int(seconds * 44100) - done]
                out.write(x)
                out.write(gap)
                done += len(x) + len(gap)
                if done >= seconds * 44100:
                    break
    tmp.replace(path)
    return path


# -- the reference: Transkun's own transcribe ---------------------------------------------------


def audio(path: Path) -> np.ndarray:
    from audiolens.audio import load

    return np.asarray(load(path, sr=44100).samples, dtype=np.float32)


def audio_seconds(path: Path) -> float:
    from audiolens.audio import probe

    return float(probe(path).duration)


# -- scoring ----------------------------------------------------------------------------------


def f_measure(ref, est, *, offsets: bool) -> float:
    """Note F of est against ref, each ``(intervals [n, 2], midi pitches [n])``."""
    from mir_eval.transcription import precision_recall_f1_overlap

    (ri, rp), (ei, ep) = ref, est
    if len(rp) == 0 or len(ep) == 0:
        return float(len(rp) == len(ep))
    return precision_recall_f1_overlap(
        ri, to_hz(rp), ei, to_hz(ep), onset_tolerance=0.05, offset_ratio=0.2 if offsets else None
    )[2]


def as_truth(rows) -> tuple[np.ndarray, np.ndarray]:
    rows = sorted(rows)
    arr = np.asarray([[a, b, p] for a, b, p in rows], dtype=np.float64).reshape(-1, 3)
    return arr[:, :2], arr[:, 2]


# -- the run ----------------------------------------------------------------------------------


def peak_rss_child(path: Path) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of ``transcribe(path, engine=transkun)`` in a child process.

    The peak is the child's own high-water mark (``VmHWM``): ``ru_maxrss`` would carry over
    the parent's, as a forked process starts with the parent's pages."""
    code = (
        "import sys, time, torch; torch.set_num_threads(2)\n"
        "from audiolens.tasks.notes import transcribe, NotesOptions\n"
        "t = time.perf_counter()\n"
        "transcribe(sys.argv[1], options=NotesOptions(engine='transkun'), device='cpu')\n"
        "secs = time.perf_counter() - t\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')]\n"
        "print(secs, int(hwm[0].split()[1]) / 1024)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )  # fmt: skip
    secs, mb = out.stdout.split()[-2:]
    return float(secs), float(mb)


def run(
    n_pieces: int = 10,
    slakh: bool = False,
    long: bool = True,
    hour: bool = False,
    precision: str = "auto",
) -> int:
    import torch

    from audiolens.devices import resolve_device
    from audiolens.models.transkun import Transkun, upstream_model
    from audiolens.tasks.base import read_input
    from audiolens.tasks.notes import NotesTask, transcribe

    torch.set_num_threads(2)
    cpu = resolve_device("cpu")
    pieces = make_pieces(n_pieces)
    long_piece = pieces.pop()
    if hour:
        path = hour_file([long_piece, *pieces])
        dur = audio_seconds(path)
        print(f"{dur / 60:.0f}-minute piano file ({path.name}) through transcribe(engine="
              "'transkun'), in a child process ...", flush=True)  # fmt: skip
        secs, mb = peak_rss_child(path)
        print(f"{secs:.1f} s ({dur / secs:.2f}x real time), peak RSS {mb:.0f} MB "
              "(target < 2048 MB)")  # fmt: skip
        return 0
    mt = EVAL_DIR / "music_transcription"
    files = [
        {
            "name": "madmom (M2, real)",
            "audio": mt / "madmom_stereo_sample.wav",
            "truth": load_madmom_notes(mt / "madmom_stereo_sample.notes"),
            "pedal": True,
        }
    ]
    if slakh:
        files.append(
            {
                "name": "Slakh S09 piano (M3)",
                "audio": mt / "slakh_Track01876_S09.flac",
                "truth": load_midi(mt / "slakh_Track01876_S09.mid"),
                "pedal": True,
            }
        )
    for p in pieces:
        files.append({**p, "truth": load_midi(p["midi"])})
    files.sort(key=lambda f: audio(f["audio"]).shape[1])

    # file by file, each side on the same file in turn (rows print as they are done): ours
    # through the task (its windows batched within the file), Transkun's transcribe() (model
    # loaded once, not counted), basic-pitch (our default engine) for accuracy
    task = NotesTask(engine=Transkun(precision=precision))
    task.run([read_input(files[0]["audio"], task)], device=cpu)  # warm-up: load, first calls
    model = upstream_model()
    print("\nPARITY and ACCURACY (note F, 50 ms onsets; +off: with offsets)")
    head = (f"{'file':22s} {'s':>6s} {'parity':>6s} | {'ours':>5s} {'+off':>5s} | "
            f"{'theirs':>6s} {'+off':>5s} | {'b-pitch':>7s} {'+off':>5s} | "
            f"{'ours s':>7s} {'theirs s':>8s}")  # fmt: skip
    print(head, flush=True)
    print("-" * len(head))
    acc = {"ours": [], "theirs": [], "bp": [], "ours_off": [], "bp_off": [], "parity": []}
    seconds, ours_s, theirs_s = [], 0.0, 0.0
    for f in files:
        x = audio(f["audio"])
        secs = x.shape[1] / 44100
        seconds.append(secs)
        t = time.perf_counter()
        o = task.run([read_input(f["audio"], task)], device=cpu)[0]
        t_o = time.perf_counter() - t
        t = time.perf_counter()
        with torch.no_grad():
            th = model.transcribe(torch.from_numpy(x.T.copy()))
        t_t = time.perf_counter() - t
        ours_s, theirs_s = ours_s + t_o, theirs_s + t_t
        b = transcribe(f["audio"], device="cpu")
        est_o = as_truth([(n.onset, n.offset, n.pitch) for n in o.notes])
        est_t = as_truth([(n.start, n.end, n.pitch) for n in th if n.pitch > 0])
        est_b = as_truth([(n.onset, n.offset, n.pitch) for n in b.notes])
        par = f_measure(est_t, est_o, offsets=False)
        row = [
            f_measure(f["truth"], e, offsets=off) for e in (est_o, est_t, est_b) for off in (0, 1)
        ]
        off_ok = not f["pedal"]
        acc["parity"].append(par)
        acc["ours"].append(row[0])
        acc["theirs"].append(row[2])
        acc["bp"].append(row[4])
        if off_ok:
            acc["ours_off"].append(row[1])
            acc["bp_off"].append(row[5])
        mark = "" if off_ok else "  pedal"
        print(f"{f['name']:22s} {secs:6.1f} {par:6.3f} | {row[0]:5.3f} {row[1]:5.3f} | "
              f"{row[2]:6.3f} {row[3]:5.3f} | {row[4]:7.3f} {row[5]:5.3f} | "
              f"{t_o:7.1f} {t_t:8.1f}{mark}", flush=True)  # fmt: skip
    print(f"parity: min {min(acc['parity']):.3f} over {len(files)} files (target >= 0.99 each)")
    print(f"mean note F: ours {np.mean(acc['ours']):.3f}, "
          f"Transkun's own {np.mean(acc['theirs']):.3f}, basic-pitch {np.mean(acc['bp']):.3f} "
          f"(target >= 0.90); with offsets, pieces without pedal: "
          f"ours {np.mean(acc['ours_off'] or [np.nan]):.3f}, "
          f"basic-pitch {np.mean(acc['bp_off'] or [np.nan]):.3f} (target >= 0.70)")  # fmt: skip

    total = sum(seconds)
    print(
        f"\nSPEED (CPU, 2 threads; the same files, audio {total:.0f} s in {len(files)} files; "
        f"ours: {task.engine.provider})"
    )
    print(f"{'':34s} {'seconds':>8s} {'files/s':>8s} {'x real time':>11s}")
    for label, s in (("ours (task, file by file)", ours_s),
                     ("Transkun transcribe(), file by file", theirs_s)):  # fmt: skip
        print(f"{label:34s} {s:8.1f} {len(files) / s:8.4f} {total / s:11.3f}")
    print(f"speed-up: {theirs_s / ours_s:.2f}x (target >= 2x)")
    if not long:
        return 0
    secs, mb = peak_rss_child(long_piece["audio"])
    dur = audio(long_piece["audio"]).shape[1] / 44100
    print(
        f"\n{dur:.0f} s piece through transcribe(engine='transkun'): {secs:.1f} s "
        f"({dur / secs:.2f}x real time; target >= 2x), peak RSS {mb:.0f} MB"
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(this process's peak RSS: {rss:.0f} MB)")
    return 0
