"""Musical key: MIREX weighted score of audiolens's ``key`` beside essentia's ``KeyExtractor``.

Data: songs composed and rendered here (``quality_corpus.py``'s MIDI composer, fluidsynth with
FluidR3_GM), ``--per-key`` of them in each of the 24 keys (major scale for major keys, natural
minor for minor keys, the tonic chord first and last in every progression), half with drums
and half without, 30 s each, kept in ``benchmarks/_corpus_key``. ``--split dev`` makes another
set (other seeds) to choose settings on; the figures reported are on ``test``.

Score (MIREX audio key detection): 1 for the right key, 0.5 for a fifth above or below in the
same mode, 0.3 for the relative major/minor, 0.2 for the parallel major/minor, else 0.

essentia is AGPL: it is installed for this benchmark only (``pip install essentia``), never a
dependency of audiolens. Its ``KeyExtractor`` runs with its defaults (profile ``bgate``) and
with the ``temperley`` and ``krumhansl`` profiles.

Usage::

    python benchmarks/bench_key.py [--per-key 4] [--split test] [--jobs 2]
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import quality_corpus as qc  # noqa: E402  (the MIDI composer and renderer)

OUT = HERE / "_corpus_key"
SEEDS = {"test": 1717, "dev": 2929, "train": 3737}
SECONDS = 30.0
#: progressions that begin and end on the tonic (degree 0), so the key is not ambiguous
TONIC_PROGRESSIONS = tuple(p for p in qc.PROGRESSIONS if p[0] == 0)


def mirex(true: str, found: str | None) -> float:
    """MIREX's weighted score of a found key against the true one (beets spelling)."""
    from audiolens.tasks.key import parse_key

    if found is None:
        return 0.0
    t, tm = parse_key(true)
    f, fm = parse_key(found)
    if (t, tm) == (f, fm):
        return 1.0
    if tm == fm and (f - t) % 12 in (5, 7):
        return 0.5
    if tm != fm and ((not tm and f == (t + 9) % 12) or (tm and f == (t + 3) % 12)):
        return 0.3
    if tm != fm and f == t:
        return 0.2
    return 0.0


def make_piece(
    path: Path,
    index: int,
    seed: int,
    tonic: int,
    minor: bool,
    drums: bool,
    seconds: float = SECONDS,
) -> None:
    """Compose and render one song in a known key (16-bit FLAC, 44.1 kHz)."""
    rng = np.random.default_rng([seed, index])
    plan = qc.plan_song(rng, seconds)
    progression = TONIC_PROGRESSIONS[int(rng.integers(len(TONIC_PROGRESSIONS)))]
    plan = replace(
        plan,
        root=tonic,
        scale="minor" if minor else "major",
        progression=progression,
        kit=(plan.kit if plan.kit is not None else 0) if drums else None,
    )
    mid = qc.compose(plan, rng)
    with tempfile.TemporaryDirectory(prefix="key-") as tmp:
        x = qc.render(mid, 44100, Path(tmp))
    n = int(seconds * 44100)
    x = x[:n]
    peak = np.abs(x).max()
    qc.write_pcm16(path, x * (0.5 / peak if peak > 0 else 1.0), 44100)


def corpus(
    split: str, per_key: int, jobs: int, seconds: float = SECONDS
) -> list[dict[str, object]]:
    """The pieces of a split (made when missing): path, true key, drums. Songs of other
    lengths than ``SECONDS`` (same seeds, so the same keys and tempi) go to their own folder."""
    from audiolens.tasks.key import key_name

    out = OUT / (split if seconds == SECONDS else f"{split}-{seconds:g}s")
    out.mkdir(parents=True, exist_ok=True)
    rows, todo = [], []
    index = 0
    for minor in (False, True):
        for tonic in range(12):
            for k in range(per_key):
                drums = k % 2 == 0
                name = f"{'min' if minor else 'maj'}{tonic:02d}_{k}_{'d' if drums else 'n'}"
                path = out / f"{name}.flac"
                rows.append({"path": path, "key": key_name(tonic, minor), "drums": drums})
                if not path.exists():
                    todo.append((path, index, SEEDS[split], tonic, minor, drums, seconds))
                index += 1
    if todo:
        print(f"rendering {len(todo)} pieces into {out} ...", file=sys.stderr)
        with ThreadPoolExecutor(jobs) as pool:
            list(pool.map(lambda a: make_piece(*a), todo))
    return rows


def ours(path: Path, profile: str) -> str | None:
    import audiolens

    return audiolens.key(path, profile=profile).key


def essentia_key(path: Path, profile: str | None) -> str | None:
    import essentia
    import essentia.standard as es

    essentia.log.infoActive = False
    audio = es.MonoLoader(filename=str(path), sampleRate=44100)()
    extractor = es.KeyExtractor() if profile is None else es.KeyExtractor(profileType=profile)
    tonic, scale, _strength = extractor(audio)
    from audiolens.tasks.key import key_name, parse_key

    t, _ = parse_key(tonic)
    return key_name(t, scale == "minor")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-key", type=int, default=4)
    ap.add_argument("--split", choices=sorted(SEEDS), default="test")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--no-essentia", action="store_true")
    ap.add_argument("--save", type=Path, help="write every answer to this CSV")
    args = ap.parse_args(argv)
    rows = corpus(args.split, args.per_key, args.jobs)
    methods = {
        "audiolens": lambda p: ours(p, "audiolens"),
        "audiolens (temperley)": lambda p: ours(p, "temperley"),
        "audiolens (krumhansl)": lambda p: ours(p, "krumhansl"),
    }
    if not args.no_essentia:
        methods["essentia KeyExtractor (bgate)"] = lambda p: essentia_key(p, None)
        methods["essentia KeyExtractor (temperley)"] = lambda p: essentia_key(p, "temperley")
        methods["essentia KeyExtractor (krumhansl)"] = lambda p: essentia_key(p, "krumhansl")
    answers: dict[str, list[str | None]] = {}
    seconds: dict[str, float] = {}
    for name, fn in methods.items():
        t0 = time.perf_counter()
        answers[name] = [fn(r["path"]) for r in rows]
        seconds[name] = time.perf_counter() - t0
    n = len(rows)
    print(f"\n{n} pieces ({args.split}): 24 keys x {args.per_key}, half with drums, 30 s each\n")
    print("| method | MIREX score | exact | fifth | relative | parallel | with drums | no drums "
          "| s/file |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for name, found in answers.items():
        s = np.array([mirex(r["key"], f) for r, f in zip(rows, found)])
        d = np.array([r["drums"] for r in rows])
        kinds = defaultdict(int)
        for v in s:
            kinds[v] += 1
        print(
            f"| {name} | {s.mean():.3f} | {kinds[1.0] / n:.1%} | {kinds[0.5] / n:.1%} | "
            f"{kinds[0.3] / n:.1%} | {kinds[0.2] / n:.1%} | {s[d].mean():.3f} | "
            f"{s[~d].mean():.3f} | {seconds[name] / n:.3f} |"
        )
    if args.save:
        from audiolens.writing import replace_into

        with replace_into(args.save) as fh:
            w = csv.writer(fh)
            w.writerow(["path", "key", "drums", *answers])
            for i, r in enumerate(rows):
                w.writerow(
                    [r["path"].name, r["key"], r["drums"], *(a[i] for a in answers.values())]
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
