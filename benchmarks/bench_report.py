"""The collection report at scale: a 20,000-file store, built and opened in a real browser.

Builds a synthetic results store (``--files`` files, default 20,000: quality and beats for
every file, sections for most, speech and speakers for one in ten, 2% failures, with beat
lists as long as real 2-6 minute songs give), then measures:

- build: ``build_report`` from the store to the page (median of ``--repeat`` runs), and the
  page's size;
- in headless Chromium (Debian ``chromium`` + ``chromium-driver``, driven by selenium):
  first contentful paint and the time until the table is filled (the script's
  ``audiolens-ready`` mark), both from the start of navigation; a sort (a click on the Tempo
  header: sorting every row and drawing the page of rows, measured around the click); a
  filter (typing ``>120`` into the Tempo filter); the first detail view (which parses the
  details' JSON).

Beside it, the baseline a simple generator would make: the same files as one plain HTML
``<table>`` with every row in the page (built by Python with ``html.escape``), sorted by a
small script that moves the table's rows. Same browser, same machine, same measurements.

Usage::

    python benchmarks/bench_report.py [--files 20000] [--repeat 3] [--work benchmarks/_work/report]
"""

from __future__ import annotations

import argparse
import html
import random
import shutil
import statistics
import time
from itertools import pairwise
from pathlib import Path

HERE = Path(__file__).resolve().parent


def synthetic_store(path: Path, n: int, *, seed: int = 0) -> None:
    """Write a store of ``n`` files with results shaped as the real tasks give them."""
    from audiolens.store import ResultRow, Store

    rng = random.Random(seed)
    verdicts = ["lossless"] * 6 + ["lossy"] * 3 + ["transcode"]
    with Store(path) as store:
        run = store.begin_run(
            ["quality", "beats", "structure", "speech", "speakers"], "cpu", workers=2
        )
        for i in range(n):
            artist, album = f"Artist {i // 200:03d}", f"Album {i // 12:04d}"
            name = f"/music/{artist}/{album}/{i % 12 + 1:02d} Track {i}.flac"
            duration = round(rng.uniform(120, 360), 2)
            common = dict(
                size=rng.randint(5, 60) * 1_000_000,
                mtime_ns=1_700_000_000 * 10**9,
                content_hash=f"{i:032x}",
                device="cpu",
                elapsed_s=0.2,
                run_id=run,
            )
            if rng.random() < 0.02:
                message = f"{name}: not an audio file (it contains text)"
                rows = [
                    ResultRow(name, t, 2, "failed", error=message, **common)
                    for t in ("quality", "beats")
                ]
                store.write_file(rows)
                continue
            verdict = rng.choice(verdicts)
            origin = None if verdict == "lossless" else {"codec": "mp3", "bitrate_kbps": 128}
            quality = {
                "verdict": verdict,
                "bitrate_class": "lossless" if origin is None else "128",
                "origin": origin,
                "cutoff_hz": round(rng.uniform(15500, 22050), 1),
                "confidence": round(rng.random(), 4),
                "claimed": {
                    "codec": "flac",
                    "bitrate_kbps": 900,
                    "vbr": None,
                    "lossless": True,
                    "class": "lossless",
                    "encoder": None,
                },
                "content": {"class": "lossless", "p": 0.9, "evidence": True},
            }
            tempo = round(rng.uniform(60, 200), 2)
            period = 60.0 / tempo
            beats = [round(0.3 + k * period, 2) for k in range(int((duration - 0.3) / period))]
            positions = [k % 4 + 1 for k in range(len(beats))]
            beats_result = {
                "beats": beats,
                "positions": positions,
                "downbeats": [b for b, p in zip(beats, positions) if p == 1],
                "tempo": tempo,
                "meter": rng.choice([3, 4, 4, 4]),
                "tempo_curve": [[beats[0], tempo], [beats[-1], tempo]],
                "confidence": 0.8,
                "duration": duration,
                "beats_path": None,
            }
            rows = [
                ResultRow(name, "quality", 2, "ok", result=quality, **common),
                ResultRow(name, "beats", 2, "ok", result=beats_result, **common),
            ]
            if rng.random() < 0.8:
                cuts = sorted(rng.uniform(0, duration) for _ in range(5))
                edges = [0.0, *cuts, duration]
                segments = [
                    {"start": round(a, 3), "end": round(b, 3), "label": "ABCAB"[k % 5]}
                    for k, (a, b) in enumerate(pairwise(edges))
                ]
                structure = {"segments": segments, "duration": duration, "form": "ABCABA"}
                rows.append(ResultRow(name, "structure", 2, "ok", result=structure, **common))
            if rng.random() < 0.1:
                turns = [
                    {
                        "start": float(k * 10),
                        "end": float(k * 10 + 8),
                        "speaker": f"SPEAKER_{k % 2 + 1}",
                    }
                    for k in range(int(duration // 10))
                ]
                segs = [
                    {
                        "start": t["start"],
                        "end": t["end"],
                        "text": "words " * 12,
                        "speaker": t["speaker"],
                        "words": [],
                    }
                    for t in turns
                ]
                rows.append(
                    ResultRow(
                        name,
                        "speech",
                        2,
                        "ok",
                        result={
                            "text": " ".join(s["text"] for s in segs),
                            "language": rng.choice(["en", "de"]),
                            "language_probability": 0.97,
                            "segments": segs,
                            "duration": duration,
                            "speech_duration": duration * 0.8,
                            "model": "base",
                            "paths": {},
                        },
                        **common,
                    )
                )
                rows.append(
                    ResultRow(
                        name,
                        "speakers",
                        2,
                        "ok",
                        result={
                            "speakers": ["SPEAKER_1", "SPEAKER_2"],
                            "num_speakers": 2,
                            "turns": turns,
                            "speaking_time": {},
                            "duration": duration,
                            "speech": duration * 0.8,
                            "method": "vad+encoder",
                            "rttm_path": None,
                        },
                        **common,
                    )
                )
            store.write_file(rows)
        store.end_run(run, status="finished", total=n, done=n, skipped=0, failed=0)


def baseline_page(db: Path, out: Path) -> float:
    """The plain generator: every file a ``<tr>`` of the page, sorted by moving rows."""
    from audiolens.report.collect import collect
    from audiolens.store import Store

    t0 = time.perf_counter()
    with Store(db, create=False) as store:
        data = collect(store)
    head = "".join(f"<th>{html.escape(c['label'])}</th>" for c in data.columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in row)
        + "</tr>\n"
        for row in data.rows
    )
    script = """
    const t = document.getElementById('t');
    t.tHead.addEventListener('click', function (ev) {
      const k = Array.from(ev.target.parentNode.children).indexOf(ev.target);
      const rows = Array.from(t.tBodies[0].rows);
      const key = function (r) {
        const v = r.cells[k].textContent; return v === '' ? Infinity : +v;
      };
      rows.sort(function (a, b) { return key(a) - key(b); });
      t.tBodies[0].append.apply(t.tBodies[0], rows);
    });
    performance.mark('audiolens-ready');
    """
    out.write_text(
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>baseline</title></head><body>"
        f"<table id='t'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        f"<script>{script}</script></body></html>",
        encoding="utf-8",
    )
    return time.perf_counter() - t0


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(arg)
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    service = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return webdriver.Chrome(options=options, service=service)


_TIMINGS = """
const paint = performance.getEntriesByName('first-contentful-paint')[0];
const ready = performance.getEntriesByName('audiolens-ready')[0];
const nav = performance.getEntriesByType('navigation')[0];
return [paint ? paint.startTime : null, ready ? ready.startTime : null, nav.loadEventEnd];
"""

_OURS_SORT = """
const b = document.querySelector('th[data-key="tempo"] button');
const t0 = performance.now(); b.click(); const t1 = performance.now();
return [t1 - t0, document.querySelector('#files tbody tr').dataset.i];
"""

_OURS_FILTER = """
const input = document.querySelector('tr.filters input[data-col="' +
  Array.from(document.querySelectorAll('th[data-key]')).findIndex(
    function (th) { return th.dataset.key === 'tempo'; }) + '"]');
const t0 = performance.now();
input.value = '>120'; input.dispatchEvent(new Event('input', {bubbles: true}));
return [performance.now() - t0, document.getElementById('count').textContent];
"""

_OURS_DETAIL = """
const t0 = performance.now();
document.querySelector('#files tbody tr').click();
window.dispatchEvent(new HashChangeEvent('hashchange'));
return [performance.now() - t0, document.getElementById('detail').hidden];
"""

_BASE_SORT = """
const th = document.querySelectorAll('#t thead th')[%d];
const t0 = performance.now(); th.click(); const t1 = performance.now();
return [t1 - t0, 0];
"""


def measure(page: Path, *, ours: bool, column: int) -> dict[str, float]:
    driver = browser()
    try:
        driver.get(page.as_uri())
        time.sleep(0.5)
        paint, ready, load = driver.execute_script(_TIMINGS)
        out = {"first paint ms": paint, "table ready ms": ready, "load event ms": load}
        out["sort ms"] = driver.execute_script(_OURS_SORT if ours else _BASE_SORT % column)[0]
        if ours:
            out["filter ms"] = driver.execute_script(_OURS_FILTER)[0]
            out["first detail view ms"] = driver.execute_script(_OURS_DETAIL)[0]
        return out
    finally:
        driver.quit()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work", type=Path, default=HERE / "_work" / "report")
    args = ap.parse_args()

    from audiolens.report import build_report
    from audiolens.store import export

    args.work.mkdir(parents=True, exist_ok=True)
    db = args.work / f"synthetic_{args.files}.sqlite"
    if not db.exists():
        t0 = time.perf_counter()
        synthetic_store(db, args.files)
        print(f"synthetic store: {args.files} files in {time.perf_counter() - t0:.1f} s")
    page = args.work / "report.html"
    builds = []
    for _ in range(args.repeat):
        builds.append(build_report(db, page).seconds)
    base_page = args.work / "baseline.html"
    base_builds = [baseline_page(db, base_page) for _ in range(args.repeat)]
    t0 = time.perf_counter()
    export(db, "csv", args.work / "export.csv")
    csv_s = time.perf_counter() - t0

    ours = [measure(page, ours=True, column=0) for _ in range(args.repeat)]
    tempo_col = _tempo_column(db)
    base = [measure(base_page, ours=False, column=tempo_col) for _ in range(args.repeat)]

    def med(runs: list[dict[str, float]], key: str) -> str:
        values = [r[key] for r in runs if r.get(key) is not None]
        return f"{statistics.median(values):.0f}" if values else "-"

    print(
        f"\n{args.files} files; medians of {args.repeat} runs; page sizes: ours "
        f"{page.stat().st_size / 1e6:.1f} MB, baseline {base_page.stat().st_size / 1e6:.1f} MB"
    )
    print(f"(for scale: `audiolens export --format csv` of the same store: {csv_s:.2f} s)\n")
    print(f"{'':28s} {'audiolens report':>18s} {'plain table':>14s}")
    ours_s, base_s = statistics.median(builds), statistics.median(base_builds)
    print(f"{'build (s)':28s} {ours_s:18.2f} {base_s:14.2f}")
    for key in (
        "first paint ms",
        "table ready ms",
        "load event ms",
        "sort ms",
        "filter ms",
        "first detail view ms",
    ):
        print(f"{key:28s} {med(ours, key):>18s} {med(base, key):>14s}")


def _tempo_column(db: Path) -> int:
    from audiolens.report.collect import collect
    from audiolens.store import Store

    with Store(db, create=False) as store:
        columns = collect(store).columns
    return [c["key"] for c in columns].index("tempo")


if __name__ == "__main__":
    main()
