"""Beats material from tracker modules: produced game music with exact beats and bars.

Tracker modules (MOD, XM, S3M, IT) are real produced music, made of recorded samples (drum
kits, guitars, basses, synths) by the musicians who wrote them, and the player knows where
every row of every pattern starts. Trackers lay music out in rows: by the trackers' own
convention a beat is 4 rows (the row highlight of MOD, XM and S3M editors) and a bar 16 rows,
a pattern starting on a bar; IT files store the composer's own highlights (rows per beat, rows
per bar), read here. So a rendered module has ground truth as exact as a MIDI render, with
sounds, mixing and arrangement that no General MIDI render has.

What this builder does, per module:

* Renders it with libopenmpt (Debian ``libopenmpt0``, called through ``ctypes``; 44.1 kHz
  stereo, played once without its loop), noting the time at which each row starts (the player
  is asked for its position every 32 samples: 0.7 ms).
* Beats: rows whose index in their pattern is a multiple of the rows per beat; bar positions
  count beats from the start of each pattern whose length is a whole number of bars (so a
  pattern break, a short fill pattern or a speed change keeps the grid). The rows per beat
  (4, or the IT highlight) is doubled or halved until the beat lasts 0.33-1.0 s (60-180 BPM):
  a tracker's speed 3 (rows of ~60 ms) means 8 rows to the beat. A module whose patterns are
  not whole beats long is left out.
* Cuts the render into 30 s excerpts (from the first beat, back to back), keeping those with
  a steady grid (no beat interval more than 20% off the excerpt's median: modules slow down
  at their ends with speed effects) and audible audio; each excerpt goes through
  ``_real_material.master_chain`` (room, bus compression, EQ, limiter, 16 bit) with
  probability 0.7, with an audible noise floor with probability 0.3.
* Splits by game, so that no game's music is in both: ``--split test`` takes the games named
  in ``HELD_OUT_GAMES`` and writes a ``HELD_OUT`` file that ``train_beats.py`` refuses.

The modules come from Debian packages (games in Debian main; install them or unpack them with
``dpkg -x`` and pass the folder): ``pingus-data``, ``tecnoballz-data``, ``bomberclone-data``,
``ceferino-data``, ``dodgindiamond2``, ``monsterz-data``, ``penguin-command``, ``ri-li-data``,
``vodovod``, ``open-invaders-data``, ``gweled``, ``ballz-data`` (training, session 17),
``madbomber-data``, ``tuxtype-data`` (the same three modules as ``tuxmath-data``: take one),
``freedroid-data``, ``njam-data``, ``vectoroids``, ``gemdropx``, ``circuslinux-data``,
``bugsquish`` (training, session 18: ``--seed 1 --out benchmarks/_corpus_beats_modules2``) and
``heroes-sound-tracks``, ``pachi-data`` (held out). Session 22 tried 16 more
(``--seed 2 --out benchmarks/_corpus_beats_modules3``; no shipped model is trained on them,
see RESULTS.md): ``ironseed-data``, ``pekka-kana-2-data``, ``gl-117-data``, ``biniax2-data``,
``rafkill-data``, ``solarwolf``, ``tomatoes-data``, ``cuyo-data``, ``criticalmass-data``,
``flobopuyo``, ``rockdodger``, ``bb``, ``vor``, ``pathogen``, ``gltron``, ``black-box``.

Usage::

    python benchmarks/beats_modules.py --src /usr/share --out benchmarks/_corpus_beats_modules
    python benchmarks/beats_modules.py --src UNPACKED/usr/share --seed 1 \
        --out benchmarks/_corpus_beats_modules2     # the session 18 games, unpacked apart
    python benchmarks/beats_modules.py --src /usr/share --split test \\
        --out benchmarks/_corpus_beats_modval
"""

from __future__ import annotations

import argparse
import csv
import ctypes
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from _real_material import _noise_floor, master_chain
from quality_corpus import write_pcm16

SR = 44100
EXTENSIONS = {".mod", ".xm", ".s3m", ".it"}
HELD_OUT_GAMES = ("heroes", "pachi")
EXCERPT_S = 30.0
BEAT_RANGE_S = (0.33, 1.0)
MANIFEST_FIELDS = [
    "path",
    "split",
    "meter",
    "beats_per_bar",
    "bpm",
    "source",
    "master",
    "duration_s",
]


class Module:
    """One tracker module opened with libopenmpt (``ctypes``; Debian ``libopenmpt0``)."""

    _lib: ctypes.CDLL | None = None

    @classmethod
    def lib(cls) -> ctypes.CDLL:
        if cls._lib is None:
            try:
                lib = ctypes.CDLL("libopenmpt.so.0")
            except OSError as e:
                raise SystemExit(f"libopenmpt is missing (apt-get install libopenmpt0): {e}") from e
            p, i32, sz = ctypes.c_void_p, ctypes.c_int32, ctypes.c_size_t
            sig = {
                "create_from_memory2": (p, [p, sz, p, p, p, p, ctypes.POINTER(ctypes.c_int), p, p]),
                "destroy": (None, [p]),
                "set_repeat_count": (ctypes.c_int, [p, i32]),
                "read_float_stereo": (sz, [p, i32, sz, p, p]),
                "get_current_order": (i32, [p]),
                "get_current_pattern": (i32, [p]),
                "get_current_row": (i32, [p]),
                "get_num_patterns": (i32, [p]),
                "get_pattern_num_rows": (i32, [p, i32]),
            }
            for name, (res, args) in sig.items():
                fn = getattr(lib, f"openmpt_module_{name}")
                fn.restype, fn.argtypes = res, args
            cls._lib = lib
        return cls._lib

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = path.read_bytes()
        self._buf = ctypes.create_string_buffer(self.data, len(self.data))
        err = ctypes.c_int(0)
        lib = self.lib()
        self._m = lib.openmpt_module_create_from_memory2(
            self._buf, len(self.data), None, None, None, None, ctypes.byref(err), None, None
        )
        if not self._m:
            raise ValueError(f"{path}: libopenmpt cannot load it (error {err.value})")
        lib.openmpt_module_set_repeat_count(self._m, 0)

    def close(self) -> None:
        if self._m:
            self.lib().openmpt_module_destroy(self._m)
            self._m = None

    def highlights(self) -> tuple[int, int]:
        """The IT header's row highlights (rows per beat, rows per bar); (0, 0) elsewhere."""
        if self.data[:4] == b"IMPM" and len(self.data) > 0x20:
            return self.data[0x1E], self.data[0x1F]
        return 0, 0

    def pattern_rows(self) -> dict[int, int]:
        lib = self.lib()
        n = lib.openmpt_module_get_num_patterns(self._m)
        return {p: lib.openmpt_module_get_pattern_num_rows(self._m, p) for p in range(n)}

    def render(self, *, max_s: float = 420.0, block: int = 32) -> tuple[np.ndarray, list[tuple]]:
        """Stereo samples ``(n, 2)`` and the rows as played: (start s, order, pattern, row)."""
        lib = self.lib()
        left, right = np.zeros(block, np.float32), np.zeros(block, np.float32)
        chunks: list[np.ndarray] = []
        n = 0

        def where() -> tuple[int, int, int]:
            m = self._m
            return (
                lib.openmpt_module_get_current_order(m),
                lib.openmpt_module_get_current_pattern(m),
                lib.openmpt_module_get_current_row(m),
            )

        last = where()
        rows = [(0.0, *last)]
        while n < max_s * SR:
            got = lib.openmpt_module_read_float_stereo(
                self._m, SR, block, left.ctypes.data, right.ctypes.data
            )
            if got == 0:
                break
            chunks.append(np.stack([left[:got], right[:got]], axis=1))
            n += got
            now = where()
            if now != last:
                rows.append((n / SR, *now))
                last = now
        audio = np.concatenate(chunks) if chunks else np.zeros((0, 2), np.float32)
        return audio, rows


def beat_grid(
    rows: list[tuple], pattern_rows: dict[int, int], highlights: tuple[int, int]
) -> tuple[list[tuple[float, int]], int, int]:
    """(beats as (time, bar position), rows per beat, beats per bar) from the rows as played;
    raises ValueError when the module's patterns do not fall into whole beats."""
    starts = np.array([r[0] for r in rows])
    if starts.size < 33:
        raise ValueError("fewer than 32 rows played")
    a, b = highlights
    rpb, per_bar = (a, b // a) if a and b and b % a == 0 and 2 <= b // a <= 7 else (4, 4)
    row_s = float(np.median(np.diff(starts)))
    lo, hi = BEAT_RANGE_S
    while rpb * row_s < lo:
        rpb *= 2
    while rpb * row_s > hi and rpb % 2 == 0:
        rpb //= 2
    if not lo <= rpb * row_s <= hi:
        raise ValueError(f"no beat of 0.33-1 s from rows of {row_s * 1000:.0f} ms")
    played = {r[2] for r in rows}
    if any(p not in pattern_rows or pattern_rows[p] % rpb for p in played):
        raise ValueError(f"patterns that are not whole beats of {rpb} rows")
    beats, count, current = [], 0, None
    for t, order, pattern, row in rows:
        if row % rpb:
            continue
        if (order, pattern) != current:
            current = (order, pattern)
            if row == 0 and pattern_rows[pattern] % (rpb * per_bar) == 0:
                count = 0
        beats.append((t, count % per_bar + 1))
        count += 1
    return beats, rpb, per_bar


def excerpts(
    audio: np.ndarray, beats: list[tuple[float, int]], *, steady: bool = True
) -> Iterator[tuple[float, np.ndarray, list[tuple[float, int]]]]:
    """Back-to-back EXCERPT_S windows from the first beat: (start s, samples, beats in it)
    for each window with 20 beats or more, audio above -45 dBFS RMS and, with ``steady``, a
    steady grid (no beat interval more than 20% off the window's median)."""
    t = np.array([b[0] for b in beats])
    start = t[0]
    while start + 20.0 <= len(audio) / SR:
        end = min(start + EXCERPT_S, len(audio) / SR)
        inside = (t >= start) & (t < end)
        x = audio[int(start * SR) : int(end * SR)]
        if inside.sum() >= 20:
            ibi = np.diff(t[inside])
            even = not steady or bool(np.all(np.abs(ibi / np.median(ibi) - 1) <= 0.2))
            loud = float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) > 10 ** (-45 / 20)
            if even and loud:
                yield start, x, [(tt - start, p) for tt, p in beats if start <= tt < end]
        start = end


def game_of(path: Path) -> str:
    """The game a module belongs to: the folder under ``share/games/``, ``share/sounds/`` or
    ``share/``."""
    parts = path.parts
    if "share" in parts:
        rest = parts[parts.index("share") + 1 : -1]
        if len(rest) > 1 and rest[0] in ("games", "sounds"):
            return rest[1]
        if rest:
            return rest[0]
    return path.parent.name


def build(src: list[Path], out: Path, split: str, seed: int) -> list[dict[str, object]]:
    files = sorted(
        p for d in src for p in d.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file()
    )
    want_held = split == "test"
    files = [p for p in files if (game_of(p) in HELD_OUT_GAMES) == want_held]
    prepare(out, held="tracker modules of held-out games" if want_held else None)
    rows_out: list[dict[str, object]] = []
    for k, path in enumerate(files):
        rng = np.random.default_rng([seed, k])
        try:
            mod = Module(path)
            try:
                audio, rows = mod.render()
                beats, rpb, per_bar = beat_grid(rows, mod.pattern_rows(), mod.highlights())
            finally:
                mod.close()
        except ValueError as e:
            print(f"skip {path}: {e}", flush=True)
            continue
        kept = 0
        for j, (start, x, bts) in enumerate(excerpts(audio, beats)):
            x = x.astype(np.float64)
            x, notes = finish(x / (np.abs(x).max() + 1e-12), rng, master=0.7)
            name = f"{game_of(path)}_{path.stem}_{j:02d}".replace(" ", "_")
            info = {"source": str(path), "start_s": round(start, 6), "rows_per_beat": rpb,
                    "beats_per_bar": per_bar, "master": notes}  # fmt: skip
            rows_out.append(write_excerpt(out, name, x, bts, info, split, path.name))
            kept += 1
        print(f"{path.name}: {rpb} rows a beat, {per_bar} beats a bar, {kept} excerpts", flush=True)
    write_manifest(out, rows_out)
    return rows_out


def prepare(out: Path, *, held: str | None) -> None:
    """Make the corpus folder; for a held-out corpus (``held``: what it holds) also the
    ``HELD_OUT`` file that ``train_beats.py`` refuses."""
    out.mkdir(parents=True, exist_ok=True)
    if held:
        (out / "HELD_OUT").write_text(f"{held}: never train on them\n")


def finish(x: np.ndarray, rng: np.random.Generator, *, master: float) -> tuple[np.ndarray, str]:
    """An excerpt (float ``(n, 2)``, peak 1) with an audible noise floor (30 to 60 dB under
    it) with probability 0.3, then ``_real_material.master_chain`` with probability
    ``master`` (else normalised to a 0.89 peak); the samples and a note of what was done."""
    notes = []
    if rng.random() < 0.3:
        nz, kind = _noise_floor(x.shape, SR, rng)
        snr = float(rng.uniform(30, 60))
        x = x + np.sqrt(np.mean(x**2)) * 10 ** (-snr / 20) * nz
        notes.append(f"{kind} {snr:.0f} dB under")
    if rng.random() < master:
        x, chain = master_chain(x, SR, rng, dark=False)
        notes.append(chain)
    else:
        x = 0.89 * x / (np.abs(x).max() + 1e-12)
    return x, "; ".join(notes)


def write_excerpt(
    out: Path,
    name: str,
    x: np.ndarray,
    beats: list[tuple[float, int]],
    info: dict[str, object],
    split: str,
    source: str,
) -> dict[str, object]:
    """``name.flac`` (16 bit), ``name.beats`` (time, bar position) and ``name.json`` (``info``)
    in ``out``; the excerpt's manifest row."""
    write_pcm16(out / f"{name}.flac", x, SR)
    (out / f"{name}.beats").write_text("".join(f"{t:.6f}\t{p}\n" for t, p in beats))
    (out / f"{name}.json").write_text(json.dumps(info, indent=1) + "\n")
    meter = max(int(p) for _, p in beats)
    ibi = float(np.median(np.diff([t for t, _ in beats])))
    return {
        "path": f"{name}.flac", "split": split, "meter": f"{meter}/4", "beats_per_bar": meter,
        "bpm": round(60 / ibi, 2), "source": source, "master": info.get("master", ""),
        "duration_s": round(len(x) / SR, 3),
    }  # fmt: skip


def write_manifest(out: Path, rows: list[dict[str, object]]) -> None:
    """``out/manifest.csv``: one row per excerpt (:data:`MANIFEST_FIELDS`)."""
    with open(out / "manifest.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=MANIFEST_FIELDS)
        w.writeheader()
        w.writerows(rows)


def corpus_arguments(doc: str) -> argparse.ArgumentParser:
    """The options every excerpt builder takes: ``--src``, ``--out``, ``--split``, ``--seed``."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--src", type=Path, nargs="+", required=True, help="folders to search")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--split", choices=["train", "test"], default="train")
    ap.add_argument("--seed", type=int, default=0)
    return ap


def report(made: list[dict[str, object]]) -> int:
    """Print how many excerpts and minutes were made; the exit status."""
    print(f"{len(made)} excerpts, {sum(float(str(r['duration_s'])) for r in made) / 60:.1f} min")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = corpus_arguments(__doc__).parse_args(argv)
    return report(build(args.src, args.out, args.split, args.seed))


if __name__ == "__main__":
    raise SystemExit(main())
