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
from audiolens.tasks.structure.segment import label_letters

SR = 44100
BPM = 120.0
BAR = 4 * 60.0 / BPM


def song(form: str, *, bars: int = 8, seed: int = 0) -> tuple[np.ndarray, list[tuple]]:
    """A band playing sections in ``form``: each letter has its own chords, bass line, lead
    timbre and drum pattern, repeated exactly where the letter repeats.

    Returns (signal, [(start, end, label), ...])."""
    rng = np.random.default_rng(seed)
    materials = {}
    for letter in sorted(set(form)):
        materials[letter] = {
            "roots": rng.choice([0, 2, 3, 5, 7, 8, 10], size=4),
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
            root = 110.0 * 2 ** (m["roots"][b % 4] / 12) * m["octave"]
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
