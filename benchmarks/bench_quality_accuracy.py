"""Accuracy of the ``quality`` task on the corpus's test split, beside bitrater 0.1.5.

The test split holds only sources the model never saw in training (the corpus splits by source
recording). For each system it prints the issue's four figures and confusion matrices:

- 7-class accuracy on LAME files (genuine LAME MP3s and genuine lossless files);
- lossless files called lossy (or transcode);
- transcodes found (fake-lossless FLAC and upscaled MP3 320);
- AAC, Vorbis and Opus origins found as not lossless.

Usage::

    python benchmarks/quality_corpus.py && python benchmarks/train_quality.py
    python benchmarks/bitrater_baseline.py        # bitrater's predictions (slow, resumable)
    python benchmarks/bench_quality_accuracy.py
"""

from __future__ import annotations

import argparse
import csv
import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from _quality_data import CORPUS, features_for, read_manifest
from train_quality import EVIDENCE_DB

CLASSES = ("128", "V2", "192", "V0", "256", "320", "lossless")
VERDICTS = ("lossless", "lossy", "transcode")
HERE = Path(__file__).resolve().parent
MIN_SOURCE_CUTOFF_KHZ = 19.0


def _ours(path: str) -> dict[str, str]:
    import audiolens

    try:
        r = audiolens.quality(path, device="cpu")
    except Exception as exc:
        return {"path": path, "verdict": "error", "bitrate_class": "", "origin": str(exc)}
    origin = "" if r.origin is None else f"{r.origin['codec']}:{r.origin['bitrate_kbps']}"
    return {
        "path": path,
        "verdict": r.verdict,
        "bitrate_class": r.bitrate_class,
        "origin": origin,
        "cutoff_hz": f"{r.cutoff_hz:.0f}",
        "confidence": f"{r.confidence:.3f}",
    }


def run_ours(rows: list[dict[str, str]], workers: int) -> dict[str, dict[str, str]]:
    """Our predictions for every row, by path."""
    with ProcessPoolExecutor(max_workers=workers) as ex:
        preds = list(ex.map(_ours, [r["path"] for r in rows], chunksize=4))
    return {p["path"]: p for p in preds}


def read_bitrater(path: Path) -> dict[str, dict[str, str]]:
    """bitrater's predictions as written by bitrater_baseline.py, mapped to our vocabulary."""
    if not path.exists():
        return {}
    out = {}
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh):
            fmt = (r.get("original_format") or r.get("predicted_class") or "").strip()
            cls = "lossless" if fmt.upper() == "LOSSLESS" else fmt
            transcode = str(r.get("is_transcode", "")).lower() in ("1", "true", "yes")
            if not fmt:
                verdict = "error"
            elif transcode:
                verdict = "transcode"
            else:
                verdict = "lossless" if cls == "lossless" else "lossy"
            full = str((HERE / r["path"]).resolve()) if not os.path.isabs(r["path"]) else r["path"]
            out[full] = {"verdict": verdict, "bitrate_class": cls}
    return out


def _rate(hits: list[bool]) -> str:
    return f"{100.0 * sum(hits) / len(hits):6.2f}% ({sum(hits)}/{len(hits)})" if hits else "  n/a"


def figures(rows, preds) -> dict[str, list[bool]]:
    """The four headline figures as lists of per-file hits."""
    out: dict[str, list[bool]] = {
        "lame7": [],
        "lossless_kept": [],
        "transcode_found": [],
        "codec_lossy": [],
    }
    for r in rows:
        p = preds.get(r["path"])
        if p is None:
            continue
        if _lame_or_lossless(r):
            out["lame7"].append(p["bitrate_class"] == r["bitrate_class"])
        if r["verdict"] == "lossless":
            out["lossless_kept"].append(p["verdict"] == "lossless")
        if r["verdict"] == "transcode":
            out["transcode_found"].append(p["verdict"] == "transcode")
        if r["origin_codec"] in ("aac", "vorbis", "opus"):
            out["codec_lossy"].append(p["verdict"] in ("lossy", "transcode"))
    return out


def confusion(rows, preds, key: str, labels: tuple[str, ...], select) -> str:
    """A confusion matrix (rows: truth, columns: prediction) as text."""
    counts = Counter(
        (r[key], preds[r["path"]][key]) for r in rows if r["path"] in preds and select(r)
    )
    cols = [*labels, "other"]
    lines = ["truth \\ pred " + "".join(f"{c:>10s}" for c in cols)]
    for t in labels:
        cells = [counts.get((t, c), 0) for c in labels]
        other = sum(v for (tt, c), v in counts.items() if tt == t and c not in labels)
        lines.append(f"{t:13s}" + "".join(f"{v:10d}" for v in [*cells, other]))
    return "\n".join(lines)


def _lame_or_lossless(r: dict[str, str]) -> bool:
    return r["verdict"] == "lossless" or (r["verdict"] == "lossy" and r["origin_codec"] == "mp3")


def _mp3_transcode(r: dict[str, str]) -> bool:
    return r["verdict"] == "transcode" and r["origin_codec"] == "mp3"


#: (title, label column, labels, which rows) of each confusion matrix in a report
MATRICES = (
    ("7 classes, LAME + lossless files", "bitrate_class", CLASSES, _lame_or_lossless),
    ("verdict, all files", "verdict", VERDICTS, lambda r: True),
    ("origin class of MP3-made transcodes", "bitrate_class", CLASSES, _mp3_transcode),
)


def report(name: str, rows, preds) -> None:
    """Print one system's figures and confusion matrices."""
    f = figures(rows, preds)
    lossless_called_lossy = [not h for h in f["lossless_kept"]]
    print(f"\n=== {name} ({sum(r['path'] in preds for r in rows)} files) ===")
    print(f"7-class accuracy on LAME + lossless files  {_rate(f['lame7'])}   (target >= 98%)")
    print(
        f"lossless files called lossy               {_rate(lossless_called_lossy)}"
        "   (target <= 0.5%)"
    )
    print(
        f"transcodes found                          {_rate(f['transcode_found'])}   (target >= 97%)"
    )
    print(f"AAC/Vorbis/Opus origins found lossy       {_rate(f['codec_lossy'])}   (target >= 95%)")
    for title, key, labels, select in MATRICES:
        print(f"\n{title}:")
        print(confusion(rows, preds, key, labels, select))


def sources_with_evidence(rows: list[dict[str, str]]) -> set[str]:
    """Sources whose lossless original has content where codecs leave their marks: in the band
    every codec keeps (12-16 kHz), and up to 19 kHz, above the low-pass of LAME 128-192 kb/s."""
    from audiolens.tasks.quality.features import FEATURE_NAMES

    lossless = {r["source_id"]: r["path"] for r in rows if r["kind"] == "flac"}
    feats = features_for(sorted(lossless.values()), CORPUS / "features.npz")
    i, j = FEATURE_NAMES.index("hf_abs_db"), FEATURE_NAMES.index("cutoff_khz")
    return {
        s
        for s, p in lossless.items()
        if p in feats and feats[p][i] >= EVIDENCE_DB and feats[p][j] >= MIN_SOURCE_CUTOFF_KHZ
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", type=Path, default=CORPUS / "manifest.csv")
    ap.add_argument("--bitrater", type=Path, default=HERE / "_work" / "bitrater_predictions.csv")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--save", type=Path, default=HERE / "_work" / "audiolens_predictions.csv")
    args = ap.parse_args(argv)
    rows = [r for r in read_manifest(args.manifest) if r["split"] == "test"]
    print(
        f"test split: {len(rows)} files from {len({r['source_id'] for r in rows})} sources; "
        + ", ".join(f"{k}={v}" for k, v in sorted(Counter(r["kind"] for r in rows).items()))
    )
    ours = run_ours(rows, args.workers)
    args.save.parent.mkdir(parents=True, exist_ok=True)
    with open(args.save, "w", newline="") as fh:
        w = csv.DictWriter(
            fh,
            fieldnames=["path", "verdict", "bitrate_class", "origin", "cutoff_hz", "confidence"],
            extrasaction="ignore",
        )
        w.writeheader()
        w.writerows(ours.values())
    report("audiolens", rows, ours)
    theirs = read_bitrater(args.bitrater)
    if theirs:
        report("bitrater 0.1.5", rows, theirs)
    rich = sources_with_evidence(rows)
    kept = [r for r in rows if r["source_id"] in rich]
    print(
        f"\n##### only sources with content up to 19 kHz ({len(rich)} of "
        f"{len({r['source_id'] for r in rows})}: {len(kept)} files) #####"
    )
    print(
        "(a source counts when its lossless file's 12-16 kHz level is at least "
        f"{EVIDENCE_DB:.0f} dB, 9 dB over 16-bit quantization noise, and its own cutoff is "
        f"at least {MIN_SOURCE_CUTOFF_KHZ:.0f} kHz: a codec's low-pass can only be seen where "
        "the source has content above it)"
    )
    report("audiolens", kept, ours)
    if theirs:
        report("bitrater 0.1.5", kept, theirs)
    else:
        print(f"\nbitrater: no predictions at {args.bitrater}; run bitrater_baseline.py")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
