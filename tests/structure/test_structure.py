"""The ``structure`` task: synthetic songs with known sections, bad input, CLI and plot."""

from __future__ import annotations

import json

import mir_eval
import numpy as np
import pytest

from audiolens.cli import main
from audiolens.errors import ParameterError
from audiolens.tasks.beats.click import write_audio
from audiolens.tasks.beats.features import logspec
from audiolens.tasks.structure import StructureOptions, segment, structure
from audiolens.tasks.structure.segment import (
    cluster_sections,
    label_letters,
    merge_runs,
    pick_peaks,
)

SR = 44100
BPM = 120.0
BAR = 4 * 60.0 / BPM


def song(
    form: str, *, bars: int = 8, seed: int = 0, loop: int = 4
) -> tuple[np.ndarray, list[tuple]]:
    """A band playing sections in ``form``: each letter has its own chords (a progression of
    ``loop`` bars, played round for the section's ``bars``), bass line, lead timbre and drum
    pattern, repeated exactly where the letter repeats.

    Returns (signal, [(start, end, label), ...])."""
    rng = np.random.default_rng(seed)
    materials = {}
    for letter in sorted(set(form)):
        materials[letter] = {
            "roots": rng.choice([0, 2, 3, 5, 7, 8, 10], size=loop),
            "harm": rng.uniform(0.1, 1.0, size=6) ** rng.uniform(0.5, 3),
            "octave": rng.choice([1, 2]),
            "hats": rng.choice([2, 4]),
            "snare": rng.choice([0.2, 0.6]),
        }
    t = np.arange(int(BAR * SR)) / SR
    beat = int(SR * 60.0 / BPM)
    kick = np.sin(2 * np.pi * (50 + 80 * np.exp(-t[:beat] * 30)) * t[:beat]) * np.exp(
        -t[:beat] * 12
    )
    noise = rng.normal(0, 1, beat)
    out, sections = [], []
    for letter in form:
        m = materials[letter]
        start = len(out) * BAR
        for b in range(bars):
            root = 110.0 * 2 ** (m["roots"][b % loop] / 12) * m["octave"]
            pad = sum(w * np.sin(2 * np.pi * root * (h + 1) * t) for h, w in enumerate(m["harm"]))
            bar = 0.1 * pad + 0.3 * np.sin(2 * np.pi * root / 4 * t)
            for k in range(4):
                i = k * beat
                bar[i : i + beat] += (
                    kick if k in (0, 2) else m["snare"] * noise * np.exp(-t[:beat] * 25)
                )
                step = beat // m["hats"]
                for j in range(m["hats"]):
                    a = i + j * step
                    bar[a : a + step] += 0.1 * noise[:step] * np.exp(-t[:step] * 80)
            out.append(bar)
        sections.append((start, len(out) * BAR, letter))
    y = np.concatenate(out)
    return (0.4 * y / np.abs(y).max()).astype(np.float32), sections


def scores(truth: list[tuple], segs) -> tuple[float, float]:
    ri = np.array([[a, b] for a, b, _ in truth])
    rl = [c for *_, c in truth]
    ei = np.array([[s.start, s.end] for s in segs])
    ei[-1, 1] = ri[-1, 1]
    el = [s.label for s in segs]
    hit = mir_eval.segment.detection(ri, ei, window=3, trim=True)[2]
    pair = mir_eval.segment.pairwise(ri, rl, ei, el)[2]
    return hit, pair


@pytest.mark.parametrize("form,seed", [("ABAB", 0), ("AABA", 1), ("ABACAB", 2)])
def test_sections_of_synthetic_songs(tmp_path, form, seed):
    y, truth = song(form, seed=seed)
    path = write_audio(tmp_path / "song.flac", y, sr=SR)
    result = structure(path)
    hit, pair = scores(truth, result.segments)
    assert hit >= 0.75 - 1e-9 and pair >= 0.7, (result.form, hit, pair)  # 0.75: 3 of 5 found
    assert result.segments[0].start == 0.0
    assert result.segments[-1].end == pytest.approx(len(y) / SR)
    assert all(a.end == b.start for a, b in zip(result.segments, result.segments[1:]))
    assert result.form == "".join(s.label for s in result.segments)
    assert result.form[0] == "A"
    assert adjacent_repeats_are_halves(result.segments), result.form
    record = result.to_dict()
    assert set(record) == {"segments", "duration", "form"}
    assert set(record["segments"][0]) == {"start", "end", "label"}


@pytest.mark.parametrize("form,seed", [("ABAB", 0), ("AABA", 4), ("ABAB", 3)])
def test_same_sections_from_the_float32_torch_spectrogram(tmp_path, form, seed):
    """The torch spectrogram (what a GPU computes) differs from numpy's by rounding (~5e-7):
    the sections must not change with it, even in exactly repeated (tied) material."""
    pytest.importorskip("torch")
    from audiolens.devices import Device

    y, _ = song(form, seed=seed)
    path = write_audio(tmp_path / "song.flac", y, sr=SR)
    ref = structure(path, device="cpu").segments
    got = structure(path, device=Device("cpu", "torch", "float32")).segments
    assert [(s.start, s.end, s.label) for s in got] == [(s.start, s.end, s.label) for s in ref]


def test_a_batch_on_torch_gives_each_songs_sections_and_shares_the_beats(monkeypatch, tmp_path):
    """Songs of different lengths in one batch on torch (the batched device path of a GPU,
    run on the CPU) get the sections they get alone on numpy; after ``beats`` ran on the same
    inputs, ``structure`` computes no spectrogram and runs no network again."""
    pytest.importorskip("torch")
    from audiolens.devices import Device
    from audiolens.tasks.base import read_input
    from audiolens.tasks.beats import BeatsTask
    from audiolens.tasks.beats.batched import DeviceBatches
    from audiolens.tasks.structure import StructureTask

    paths = []
    for k, (form, seed) in enumerate([("ABAB", 0), ("AABA", 4), ("ABA", 2)]):
        y, _ = song(form, seed=seed, bars=8 if k < 2 else 4)
        paths.append(write_audio(tmp_path / f"song{k}.flac", y, sr=SR))
    ref = [structure(p, device="cpu").segments for p in paths]
    items = [read_input(p, BeatsTask()) for p in paths]
    torch_cpu = Device("cpu", "torch", "float32")
    BeatsTask().run(items, device=torch_cpu)

    def never(*args, **kwargs):
        raise AssertionError("computed twice")

    monkeypatch.setattr(DeviceBatches, "spectrograms", never)
    monkeypatch.setattr(DeviceBatches, "activations", never)
    shared = StructureTask().run(items, device=torch_cpu)
    monkeypatch.undo()
    alone = StructureTask().run([read_input(p, BeatsTask()) for p in paths], device=torch_cpu)
    for r, a, b in zip(ref, shared, alone):
        want = [(s.start, s.end, s.label) for s in r]
        assert [(s.start, s.end, s.label) for s in a.segments] == want
        assert [(s.start, s.end, s.label) for s in b.segments] == want


def adjacent_repeats_are_halves(segs) -> bool:
    """Every two neighbours with the same letter are a passage played twice: of equal length
    (within 2%), and the only such pair in their run."""
    for a, b, c in zip(segs, segs[1:], [*segs[2:], None]):
        if a.label == b.label:
            if abs((a.end - a.start) - (b.end - b.start)) > 0.02 * (b.end - a.start):
                return False
            if c is not None and c.label == a.label:
                return False
    return True


def test_rendered_aba_pieces_give_three_sections_on_bar_lines(tmp_path):
    """A B A, 4 bars each, eight pieces (seeds 0-7, all of them): at least 7 give three
    sections, A B A, each boundary within one bar of the truth and on one of the downbeats
    that ``beats`` gives for the same file. (Seed 2 gives ABCAB today: a 2 s intro section.)"""
    from audiolens.tasks.beats import beats

    right = []
    for seed in range(8):
        y, truth = song("ABA", bars=4, seed=seed)
        path = write_audio(tmp_path / f"aba{seed}.flac", y, sr=SR)
        result = structure(path)
        downbeats = np.asarray(beats(path).downbeats)
        for seg in result.segments[1:]:
            assert np.min(np.abs(downbeats - seg.start)) < 0.002, (seed, seg.start)
        right.append(
            result.form == "ABA"
            and all(
                abs(seg.start - start) <= BAR
                for seg, (start, _, _) in zip(result.segments[1:], truth[1:])
            )
        )
    assert sum(right) >= 7, right


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_passage_looped_three_times_is_one_section(tmp_path, seed):
    """A B B B A (the B passage of 4 bars played three times in a row): the three Bs are one
    section from bar 4 to bar 16, not B B B (a run of three does not split into two halves at
    a boundary)."""
    y, truth = song("ABBBA", bars=4, seed=seed)
    path = write_audio(tmp_path / "abbba.flac", y, sr=SR)
    segs = structure(path).segments
    assert "".join(s.label for s in segs) == "ABA", [(s.start, s.label) for s in segs]
    assert abs(segs[1].start - truth[1][0]) <= BAR and abs(segs[2].start - truth[4][0]) <= BAR


def test_runs_of_one_letter_are_joined_unless_two_equal_halves():
    assert merge_runs([(0, 4), (4, 8), (8, 12)], [0, 0, 0]) == [(0, 12)]
    assert merge_runs([(0, 4), (4, 8), (8, 14)], [0, 1, 1]) == [(0, 4), (4, 14)]
    # a passage played twice: the boundary between the halves stays, and only that one
    assert merge_runs([(0, 4), (4, 8)], [0, 0]) == [(0, 4), (4, 8)]
    assert merge_runs([(0, 4), (4, 8), (8, 16)], [0, 0, 0]) == [(0, 8), (8, 16)]
    assert merge_runs([(0, 4), (4, 12)], [0, 0]) == [(0, 12)]
    assert merge_runs([(0, 5), (5, 8), (8, 12), (12, 14)], [1, 0, 0, 0]) == [(0, 5), (5, 14)]


def test_a_boundary_too_near_a_higher_one_moves_to_where_a_section_may_end():
    """A B A with B's last bar unlike the rest: the novelty peaks at unit 7 (a bar before B
    ends, 3 units after the boundary at 4) and is still high at 8; with sections of at least 4
    units, 7 moves to 8. Without novelty at 8 it is dropped; peaks far apart are kept."""
    nov = np.array([-1.3, 0.6, 0.2, 0.7, 4.6, 0.1, -0.6, 4.1, 3.9, -1.0, -1.0, -1.3])
    assert list(pick_peaks(nov, height=1.0, distance=4)) == [4, 8]
    low = nov.copy()
    low[8] = 0.5
    assert list(pick_peaks(low, height=1.0, distance=4)) == [4]
    far = np.zeros(20)
    far[[3, 9, 15]] = [2.0, 3.0, 1.5]
    assert list(pick_peaks(far, height=1.0, distance=4)) == [3, 9, 15]
    # a lower peak between two higher ones, with no unit left far enough from both: dropped
    tight = np.zeros(12)
    tight[[2, 5, 8]] = [3.0, 2.0, 3.0]
    assert list(pick_peaks(tight, height=1.0, distance=4)) == [2, 8]
    assert pick_peaks(np.zeros(0), height=1.0, distance=4).size == 0


def test_the_number_of_letters_comes_from_the_data():
    """Units of three kinds of music (orthogonal features), sections of 4 units: as many
    letters as kinds, whatever the form; neighbours that differ never share a letter."""
    rng = np.random.default_rng(0)
    kinds = np.eye(8)[:3] + 0.05 * rng.normal(size=(3, 8))
    for form, want in (("ABAC", [0, 1, 0, 2]), ("ABCBA", [0, 1, 2, 1, 0]), ("AB", [0, 1])):
        F = np.concatenate([np.repeat(kinds[None, ord(c) - 65], 4, axis=0) for c in form])
        F = F + 0.02 * rng.normal(size=F.shape)
        X = F / np.linalg.norm(F, axis=1, keepdims=True)
        A = (X @ X.T + 1) / 2
        spans = [(4 * i, 4 * i + 4) for i in range(len(form))]
        assert cluster_sections(A, spans, same=0.85) == want
    # everything alike: one letter
    A = np.ones((12, 12))
    assert cluster_sections(A, [(0, 4), (4, 8), (8, 12)], same=0.85) == [0, 0, 0]


def test_silence_noise_a_click_and_a_short_clip_are_one_section():
    rng = np.random.default_rng(0)
    silence = np.zeros(60 * SR, dtype=np.float32)
    click = silence.copy()
    click[30 * SR : 30 * SR + 50] = 0.9
    noise = rng.normal(0, 0.3, 60 * SR).astype(np.float32)
    short, _ = song("AB", bars=1)
    for y in (silence, click, noise, short[: 2 * SR]):
        segs, _ = segment(logspec(y))
        assert len(segs) == 1 and segs[0].label == "A" and segs[0].start == 0.0
        assert segs[0].end == pytest.approx(len(y) / SR, abs=0.01)
    assert segment(np.zeros((81, 0), np.float32))[0][0].end == 0.0


def test_long_input_keeps_the_matrix_small():
    y, _ = song("ABAB", seed=3)
    segs, details = segment(logspec(y), options=StructureOptions(max_rows=12))
    assert details["ssm"].shape[0] <= 12
    assert details["edges"].size == details["ssm"].shape[0] + 1
    assert segs[-1].end == pytest.approx(len(y) / SR, abs=0.01)


def test_options_and_letters():
    with pytest.raises(ParameterError, match="min_bars"):
        StructureOptions(min_bars=0)
    with pytest.raises(ParameterError, match="same"):
        StructureOptions(same=1.5)
    assert label_letters(28)[:3] == ["A", "B", "C"]
    assert label_letters(28)[26:] == ["AA", "AB"]


def test_cli_outputs_plot_and_a_bad_file(tmp_path, capsys):
    y, _ = song("ABAB", seed=0)
    path = write_audio(tmp_path / "song.flac", y, sr=SR)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF0000WAVE")
    out, plots = tmp_path / "out", tmp_path / "plots"
    code = main(["structure", str(bad), str(path), "-o", str(out), "--plot", str(plots)])
    assert code == 1
    captured = capsys.readouterr()
    assert "bad.wav" in captured.err and "Traceback" not in captured.err
    assert captured.out.startswith(f"{path}: AB")
    record = json.loads((out / "song.segments.json").read_text())
    assert record["form"].startswith("AB") and record["segments"][0]["start"] == 0.0
    (png,) = list(plots.glob("*.structure.png"))
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert main(["structure", "--help"]) == 0
    assert "--plot" in capsys.readouterr().out


def test_analyze_runs_beats_and_structure_on_one_spectrogram(tmp_path, capsys, monkeypatch):
    from audiolens.tasks import beats as beats_module

    y, _ = song("ABAB", seed=0)
    path = write_audio(tmp_path / "song.flac", y, sr=SR)
    calls = []
    original = beats_module._spectrogram
    monkeypatch.setattr(
        beats_module,
        "_spectrogram",
        lambda item, device=None: calls.append(1) or original(item, device),
    )
    db = tmp_path / "r.sqlite"
    args = ["analyze", str(path), "--tasks", "beats,structure", "--db", str(db)]
    assert main([*args, "--workers", "1", "--no-progress"]) == 0
    assert len(calls) == 1  # one spectrogram for both tasks
    capsys.readouterr()
    assert main(["export", "--db", str(db), "--format", "json"]) == 0
    records = {r["task"]: r for r in json.loads(capsys.readouterr().out)}
    assert records["structure"]["segments"][0]["label"] == "A"
    assert records["beats"]["tempo"] == pytest.approx(BPM, rel=0.04)
