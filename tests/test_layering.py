"""The house: imports run one way (audio -> dsp -> tasks -> runner -> cli), and the decoder is a
package of small modules.

The layering is read from the source with ``ast``, so an import inside a function or under
``TYPE_CHECKING`` counts as much as one at the top of a module.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import audiolens

SRC = Path(audiolens.__file__).parent

#: audiolens' subpackages and modules from the bottom up; a module may import from its own
#: layer and the layers below it, never from one above
LAYERS: list[set[str]] = [
    {"errors", "_mpeg", "devices", "writing"},
    {"audio"},
    {"dsp"},
    {"models"},
    {"tasks"},
    {"report", "store", "inventory"},
    {"runner"},
    {"cli", "__main__"},
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _module_name(path: Path) -> str:
    parts = ["audiolens", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    rel = Path(*name.split(".")[1:])
    return (SRC / rel).with_suffix(".py").is_file() or (SRC / rel / "__init__.py").is_file()


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every audiolens module that the file at ``path`` imports, anywhere in it, with the line."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            for alias in node.names:  # ``from .. import tasks`` imports audiolens.tasks
                sub = f"{base}.{alias.name}"
                found.append((node.lineno, sub if _is_module(sub) else base))
    return [(line, m) for line, m in found if m == "audiolens" or m.startswith("audiolens.")]


def _part(module: str) -> str | None:
    """The subpackage (or top-level module) of audiolens that ``module`` belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _sources() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if p != SRC / "__init__.py")


def test_every_part_of_the_package_has_a_layer():
    parts = {_part(_module_name(p)) for p in _sources()}
    assert parts <= set(RANK), f"give these a layer in LAYERS: {sorted(parts - set(RANK))}"


def test_imports_run_one_way():
    """No module imports from a layer above its own (the package's lazy facade aside)."""
    wrong = []
    for path in _sources():
        here = _part(_module_name(path))
        for line, target in _imports(path):
            there = _part(target)
            if there is None:  # ``import audiolens``: the lazy facade, fine anywhere
                continue
            if RANK[there] > RANK[here]:
                wrong.append(f"{path.relative_to(SRC)}:{line} imports {target}")
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


@pytest.mark.parametrize("part", ["tasks", "audio"])
def test_no_import_of_the_runner_below_it(part):
    """The circle of issue 12: tasks/base.py imported runner/work.py, which imports the tasks."""
    offenders = [
        f"{path.relative_to(SRC)}:{line} imports {target}"
        for path in sorted((SRC / part).rglob("*.py"))
        for line, target in _imports(path)
        if target.startswith("audiolens.runner")
    ]
    assert not offenders


def test_the_audio_package_imports_nothing_above_it():
    above = {name for name, rank in RANK.items() if rank > RANK["audio"]}
    offenders = [
        f"{path.relative_to(SRC)}:{line} imports {target}"
        for path in sorted((SRC / "audio").rglob("*.py"))
        for line, target in _imports(path)
        if _part(target) in above
    ]
    assert not offenders


def test_the_import_walker_sees_lazy_and_relative_imports(tmp_path, monkeypatch):
    """The checks above would pass vacuously if the walker missed imports inside functions."""
    fake = tmp_path / "audiolens"
    (fake / "tasks").mkdir(parents=True)
    (fake / "runner").mkdir()
    for p in ("__init__.py", "tasks/__init__.py", "runner/__init__.py", "runner/work.py"):
        (fake / p).write_text("")
    module = fake / "tasks" / "base.py"
    module.write_text(
        "from ..audio import load\n"
        "def read():\n"
        "    from ..runner.work import decode_request\n"
        "    from .. import runner\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "SRC", fake)
    assert [m for _, m in _imports(module)] == [
        "audiolens.audio",
        "audiolens.runner.work",
        "audiolens.runner",
    ]


def test_decoder_is_a_package_of_small_modules():
    """audio.py was 1,235 lines of probing, decoding, windows and streaming in one file."""
    audio_dir = SRC / "audio"
    assert (audio_dir / "__init__.py").is_file() and not (SRC / "audio.py").exists()
    sizes = {
        p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in audio_dir.glob("*.py")
    }
    assert len(sizes) >= 5
    assert max(sizes.values()) <= 400, sizes


def test_the_public_decoding_api_stays_where_it_was():
    import audiolens.audio as audio
    from audiolens.tasks import base

    for name in ("Audio", "AudioInfo", "load", "load_windows", "probe", "stream"):
        assert name in audio.__all__ and getattr(audiolens, name) is getattr(audio, name)
    assert audio.PathLike is not None and "flac" in audio.LOSSLESS_CODECS
    for name in ("AudioRequest", "AudioStream", "TaskInput", "read_input"):
        assert name in base.__all__ and callable(getattr(base, name))
