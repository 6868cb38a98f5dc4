"""Accuracy of the ``quality`` task on the corpus's test split, beside bitrater 0.1.5.

The test split holds only sources the model never saw in training (the corpus splits by source
recording). For each system it prints the issue's four figures and confusion matrices:

- 7-class accuracy on LAME files (genuine LAME MP3s and genuine lossless files);
- lossless files called lossy (or transcode);
- transcodes found (fake-lossless FLAC and upscaled MP3 320);
- AAC, Vorbis and Opus origins found as not lossless.

Then, for audiolens alone, the figures of issue 13 (real recordings): confidently wrong verdicts
per source kind, MP3 320 upscales caught, a reliability table, and transcodes of real recordings
split by the source's high-frequency content.

Usage::

    python benchmarks/quality_corpus.py && python benchmarks/train_quality.py
    python benchmarks/bitrater_baseline.py        # bitrater's predictions (slow, resumable)
    python benchmarks/bench_quality_accuracy.py
    python benchmarks/bench_quality_accuracy.py --no-bitrater \
        --load benchmarks/_work/audiolens_predictions.csv   # re-print saved predictions
"""

from __future__ import annotations

import argparse
import csv
import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from statistics import median

from _quality_data import CORPUS, features_for, read_manifest
from train_quality import EVIDENCE_DB

CLASSES = ("128", "V2", "192", "V0", "256", "320", "lossless")
VERDICTS = ("lossless", "lossy", "transcode")
HERE = Path(__file__).resolve().parent
MIN_SOURCE_CUTOFF_KHZ = 19.0
#: A wrong verdict at or above this confidence is "confidently wrong" (issue 13).
SURE = 0.7
#: Confidence bins of the reliability table: (low, high), high exclusive except for 1.0.
BINS = ((0.0, 0.5), (0.5, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.0))
#: A source "has content above 16 kHz" when its 16-20 kHz band (manifest ``source_hf_dbfs``) is
#: at least 10 dB over 16-bit TPDF dither there (about -108 dBFS) and its cutoff is above 16 kHz.
HF_CONTENT_DBFS = -98.0
PRED_FIELDS = ("path", "verdict", "bitrate_class", "origin", "cutoff_hz", "confidence")


def _ours(path: str, model: str | None = None) -> dict[str, str]:
    import audiolens

    try:
        r = audiolens.quality(path, device="cpu", model_path=model)
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


def run_ours(
    rows: list[dict[str, str]], workers: int, model: str | None = None
) -> dict[str, dict[str, str]]:
    """Our predictions for every row, by path (with the model at ``model``, else the shipped)."""
    paths = [r["path"] for r in rows]
    with ProcessPoolExecutor(max_workers=workers) as ex:
        preds = list(ex.map(_ours, paths, [model] * len(paths), chunksize=4))
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
        if r["verdict"] == "lossless" and p["verdict"] != "unknown":
            # "unknown" abstains: it calls nothing lossy (counted in the issue-13 figures)
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


#: transcode kinds whose earlier encoder applies no low-pass at 44.1 kHz (measured on pink noise
#: with the corpus's encoders: LAME 3.100 ``-V0`` disables its polyphase low-pass, FFmpeg's AAC
#: at 256 kb/s and libvorbis ``-q 7`` keep content to 21.5 kHz), so no wall marks them
NO_LOWPASS_ORIGINS = ("flac_from_mp3_v0", "flac_from_aac_256", "flac_from_vorbis_q7")


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
    walled = [r for r in rows if r["kind"] not in NO_LOWPASS_ORIGINS]
    g = figures(walled, preds)
    print(
        f"  without the no-low-pass kinds ({', '.join(NO_LOWPASS_ORIGINS)}): transcodes found "
        f"{_rate(g['transcode_found'])}, AAC/Vorbis/Opus found lossy {_rate(g['codec_lossy'])}"
    )
    for title, key, labels, select in MATRICES:
        print(f"\n{title}:")
        print(confusion(rows, preds, key, labels, select))


def _conf(p: dict[str, str]) -> float:
    return float(p.get("confidence") or 0.0)


def _right(r: dict[str, str], p: dict[str, str]) -> bool | None:
    """Whether the verdict is right; None when the system abstained (``unknown``)."""
    return None if p["verdict"] == "unknown" else p["verdict"] == r["verdict"]


def _sure_wrong(r: dict[str, str], p: dict[str, str]) -> bool:
    return _right(r, p) is False and _conf(p) >= SURE


def source_kind(r: dict[str, str]) -> str:
    """``real`` (recordings from shared/eval), ``real drums`` (hydrogen kits + renders,
    mastered) or ``synthetic`` (rendered General MIDI songs)."""
    sid = r["source_id"]
    return (
        "synthetic"
        if sid.startswith("synth_")
        else "real drums"
        if sid.startswith("band_")
        else "real"
    )


#: LAME's nominal low-pass (Hz) of the MP3 classes an upscale can come from
ORIGIN_LOWPASS = {"128": 17000, "V2": 18600, "192": 18600, "V0": 19500, "256": 19700}


def in_upscale_target(r: dict[str, str]) -> bool:
    """An MP3 320 upscale the issue's target covers: its origin's low-pass sits >= 1.5 kHz
    below LAME 320's (20.5 kHz), and the source has content above that low-pass (at least
    ``HF_CONTENT_DBFS`` in 16-20 kHz and its own cutoff 1 kHz over it), so the content of the
    upscale visibly stops there."""
    lp = ORIGIN_LOWPASS.get(r["bitrate_class"])
    if not r["kind"].startswith("mp3_b320_from_") or lp is None or lp > 20500 - 1500:
        return False
    return has_hf(r) and float(r["source_cutoff_hz"] or 0) >= lp + 1000


def has_hf(r: dict[str, str]) -> bool:
    hf, cut = float(r["source_hf_dbfs"] or -200), float(r["source_cutoff_hz"] or 0)
    return hf >= HF_CONTENT_DBFS and cut > 16000


def _share(hits: list[bool]) -> str:
    return _rate(hits).strip()


def report_issue13(rows, preds) -> None:
    """The figures of issue 13 for one system (rows: test files with a prediction)."""
    rows = [r for r in rows if r["path"] in preds]
    by = {k: [r for r in rows if source_kind(r) == k] for k in ("real", "real drums", "synthetic")}
    print(f"\n=== issue 13: audiolens on real recordings and renders ({len(rows)} files) ===")
    print(f"confidently wrong (wrong verdict, confidence >= {SURE})   (target <= 2%)")
    for name, sel in (("all", rows), *by.items()):
        hits = [_sure_wrong(r, preds[r["path"]]) for r in sel]
        srcs = len({r["source_id"] for r in sel})
        print(f"  {name:10s} {_share(hits):>22s}   from {srcs} sources")
    bad = Counter(
        (source_kind(r), r["kind"], preds[r["path"]]["verdict"])
        for r in rows
        if _sure_wrong(r, preds[r["path"]])
    )
    for (k, kind, v), n in sorted(bad.items()):
        print(f"    {k:10s} {kind:28s} called {v:10s} x{n}")

    up = [r for r in rows if r["kind"].startswith("mp3_b320_from_")]
    print(
        "\nMP3 320 upscales             called transcode      and origin mp3  median cutoff"
        "   (target >= 98%)"
    )
    for kind in ["all", *sorted({r["kind"] for r in up})] if up else []:
        sel = [r for r in up if kind in ("all", r["kind"])]
        tc = [preds[r["path"]]["verdict"] == "transcode" for r in sel]
        mp3 = [t and preds[r["path"]]["origin"].startswith("mp3:") for t, r in zip(tc, sel)]
        cut = median(float(preds[r["path"]].get("cutoff_hz") or 0) for r in sel) / 1000
        print(f"  {kind:26s} {_share(tc):>20s} {_share(mp3):>20s} {cut:9.1f} kHz")
    target = [r for r in up if in_upscale_target(r)]
    tc = [preds[r["path"]]["verdict"] == "transcode" for r in target]
    mp3 = [t and preds[r["path"]]["origin"].startswith("mp3:") for t, r in zip(tc, target)]
    print(
        f"  {'target population':26s} {_share(tc):>20s} {_share(mp3):>20s}"
        "   (origin low-pass >= 1.5 kHz below 20.5 kHz, source content above it)"
    )

    print("\nreliability: verdicts per confidence bin and the share right")
    for lo, hi in BINS:
        sel = [
            _right(r, p)
            for r in rows
            if (p := preds[r["path"]])["verdict"] not in ("unknown", "error")
            and lo <= _conf(p) < (hi if hi < 1 else 1.01)
        ]
        mid = "" if lo == 0 else f"  (calibrated: ~{lo + 0.05:.2f})"
        print(f"  {lo:.1f}-{hi:.1f}  {_share(sel):>22s}{mid}")
    n_unknown = sum(preds[r["path"]]["verdict"] == "unknown" for r in rows)
    print(f"  unknown: {n_unknown} files")

    print(
        "\ntranscodes of real recordings found (target >= 85% with HF content); HF content: "
        f"source 16-20 kHz band >= {HF_CONTENT_DBFS:.0f} dBFS and source cutoff > 16 kHz"
    )
    for group in ("real", "real drums"):
        print(f"  {group}:")
        _real_transcodes([r for r in by[group] if r["verdict"] == "transcode"], preds)


def _real_transcodes(trans, preds) -> None:
    for label, sel in (
        ("with HF content", [r for r in trans if has_hf(r)]),
        ("without", [r for r in trans if not has_hf(r)]),
    ):
        hits = [preds[r["path"]]["verdict"] == "transcode" for r in sel]
        srcs = ", ".join(
            f"{s} ({r['source_hf_dbfs']} dBFS)"
            for s, r in sorted({r["source_id"]: r for r in sel}.items())
        )
        print(f"    {label:16s} {_share(hits):>22s}   {srcs[:200]}")
        for codec in sorted({r["origin_codec"] for r in sel}):
            hits = [
                preds[r["path"]]["verdict"] == "transcode"
                for r in sel
                if r["origin_codec"] == codec
            ]
            print(f"      from {codec:8s} {_share(hits):>22s}")


def write_predictions(path: Path, preds: dict[str, dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=PRED_FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(preds.values())


def read_predictions(path: Path) -> dict[str, dict[str, str]]:
    """Predictions saved by an earlier run (``--save``), by path."""
    with open(path, newline="") as fh:
        return {r["path"]: r for r in csv.DictReader(fh)}


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
    ap.add_argument("--load", type=Path, help="read audiolens' predictions from this CSV instead")
    ap.add_argument("--no-bitrater", action="store_true", help="leave bitrater's columns out")
    ap.add_argument("--model", help="a quality model made by train_quality.py (default: shipped)")
    args = ap.parse_args(argv)
    rows = [r for r in read_manifest(args.manifest) if r["split"] == "test"]
    print(
        f"test split: {len(rows)} files from {len({r['source_id'] for r in rows})} sources; "
        + ", ".join(f"{k}={v}" for k, v in sorted(Counter(r["kind"] for r in rows).items()))
    )
    if args.load:
        ours = read_predictions(args.load)
    else:
        ours = run_ours(rows, args.workers, args.model)
        write_predictions(args.save, ours)
    report("audiolens", rows, ours)
    report_issue13(rows, ours)
    theirs = {} if args.no_bitrater else read_bitrater(args.bitrater)
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
    elif not args.no_bitrater:
        print(f"\nbitrater: no predictions at {args.bitrater}; run bitrater_baseline.py")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
