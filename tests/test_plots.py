"""What the pictures show: the file's name in every title, the quality plot's time axis in
seconds of the file, section letters clear of the tick labels (figure inspection, not pixels)."""

from __future__ import annotations

import numpy as np
import pytest

from audiolens import resolve_device
from audiolens.report.plots import plot_notes, plot_quality, plot_structure
from audiolens.tasks.beats.click import write_audio
from audiolens.tasks.notes.types import Note
from audiolens.tasks.quality import QualityTask, read_input
from audiolens.tasks.structure import StructureResult
from audiolens.tasks.structure.segment import Segment

pytest.importorskip("matplotlib")
from matplotlib.figure import Figure

SR = 44100


@pytest.fixture
def saved(monkeypatch) -> list[Figure]:
    """The figures the plot functions save (still written, and inspectable afterwards)."""
    figures: list[Figure] = []
    real = Figure.savefig

    def keep(self: Figure, *args, **kwargs):
        figures.append(self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    return figures


def _noise_file(path, seconds: float):
    x = 0.1 * np.random.default_rng(0).normal(size=(1, int(seconds * SR)))
    return write_audio(path, x.clip(-1, 1).astype(np.float32), sr=SR)


def _renderer(fig: Figure):
    """A renderer of ``fig`` laid out as drawn (the plot functions close their figures)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _titles(fig: Figure) -> str:
    texts = [fig._suptitle.get_text()] if fig._suptitle is not None else []
    texts += [ax.get_title() for ax in fig.axes]
    return " | ".join(texts)


def _quality(path, tmp_path, saved):
    task = QualityTask()
    item = read_input(path, task)
    result = task.run([item], device=resolve_device("cpu"))[0]
    target = plot_quality(item, result, tmp_path / "plots")
    (fig,) = saved
    return item, target, fig


def test_quality_plot_of_stretches_reads_in_seconds_of_the_file(tmp_path, saved):
    path = _noise_file(tmp_path / "long take.wav", 40.0)
    item, target, fig = _quality(path, tmp_path, saved)
    assert target.name == "long take.quality.png" and target.read_bytes()[:4] == b"\x89PNG"
    assert "long take.wav" in _titles(fig)
    ax = fig.axes[0]
    starts = [a.offset for a in item.pieces]
    assert len(starts) == 8 and starts[0] > 1.0  # stretches, not the whole file
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == [f"{s:.1f}" for s in starts]
    assert "time in the file (s)" in ax.get_xlabel() and "frames" not in ax.get_xlabel()
    ticks = ax.get_xticks()
    assert np.all(np.diff(ticks) > 0)
    # one separator in each gap between two stretches, between their ticks
    gaps = sorted(p.get_x() for p in ax.patches if p.get_gid() == "separator")
    assert len(gaps) == 7 and all(a < g < b for a, g, b in zip(ticks, gaps, ticks[1:]))
    # each tick sits where its stretch's image starts
    images = sorted(im.get_extent()[0] for im in ax.images)
    np.testing.assert_allclose(images, ticks)


def test_quality_plot_of_a_whole_short_file_has_ticks_in_seconds(tmp_path, saved):
    path = _noise_file(tmp_path / "short.flac", 10.0)
    _, target, fig = _quality(path, tmp_path, saved)
    assert target.name == "short.quality.png" and "short.flac" in _titles(fig)
    ax = fig.axes[0]
    _renderer(fig)
    pairs = [(x, t.get_text()) for x, t in zip(ax.get_xticks(), ax.get_xticklabels())]
    shown = [(x, label) for x, label in pairs if ax.get_xlim()[0] <= x <= ax.get_xlim()[1]]
    assert len(shown) >= 4
    assert all(float(label) == pytest.approx(x) for x, label in shown)  # seconds from 0
    assert 9.0 <= max(x for x, _ in shown) <= 10.0
    assert not [p for p in ax.patches if p.get_gid() == "separator"]


def test_piano_roll_title_names_the_file(tmp_path, saved):
    notes = [Note(0.1, 0.6, 69, 80)]
    x = np.zeros(22050, np.float32)
    plot_notes(x, 22050, notes, tmp_path / "a.png", source="/music/take 1.flac")
    plot_notes(x, 22050, notes, tmp_path / "b.png")
    plot_notes(x, 22050, notes, tmp_path / "c.png", source="/m/x.wav", title="mine")
    assert [_titles(f) for f in saved] == ["take 1.flac: 1 notes", "1 notes", "mine"]


def _sections(n: int, length: float) -> StructureResult:
    bars = 4 * n
    edges = np.linspace(0.0, n * length, bars + 1)
    labels = "ABAC"[:n]
    ssm = np.eye(bars, dtype=np.float32)
    segments = [Segment(i * length, (i + 1) * length, labels[i]) for i in range(n)]
    return StructureResult(
        segments, duration=n * length, form=labels, details={"ssm": ssm, "edges": edges}
    )


def _overlaps(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_structure_plot_names_the_file_and_keeps_letters_off_the_tick_labels(tmp_path, saved):
    # sections of 40 s: their middles (20, 60, 100 s) fall on the 20-s tick labels
    result = _sections(3, 40.0)
    plot_structure(result, tmp_path / "s.png", source="/music/song.flac")
    (fig,) = saved
    ax = fig.axes[0]
    assert ax.get_title() == "song.flac: sections ABA"
    renderer = _renderer(fig)
    letters = [t for t in ax.texts if t.get_text().strip() in {"A", "B", "C"}]
    assert len(letters) == 6
    ticks = [
        t for t in ax.get_xticklabels() + ax.get_yticklabels() if t.get_visible() and t.get_text()
    ]
    assert len(ticks) >= 8
    boxes = [t.get_window_extent(renderer) for t in ticks]
    boxes.append(ax.title.get_window_extent(renderer))
    for letter in letters:
        box = letter.get_window_extent(renderer)
        assert not any(_overlaps(box, other) for other in boxes), letter.get_text()


def test_structure_plot_without_a_source_keeps_the_form_title(tmp_path, saved):
    plot_structure(_sections(2, 10.0), tmp_path / "s.png")
    assert saved[0].axes[0].get_title() == "sections AB"
