"""The repository keeps its promises to a new user: the README's test command is the one CI
runs, it installs pinned versions, and the tests' data travels with the repository."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest
from audiolens_testkit import eval_root

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _readme_test_command() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Run the tests") :]
    return re.search(r"```bash\n(.+?)\n```", section, re.S).group(1).strip()


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[_canon(name)] = version
    return pins


def test_ci_runs_the_readme_test_command_verbatim():
    command = _readme_test_command()
    assert "-c constraints.txt" in command
    venv = "python3 -m venv .venv && . .venv/bin/activate && "
    assert command.startswith(venv)  # .ci/run makes the venv itself, then runs the rest
    assert command.removeprefix(venv) in (ROOT / ".ci" / "run").read_text()


def test_every_package_the_tests_install_is_pinned():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = pyproject["project"]
    wanted = project["dependencies"] + [
        r for extra in ("test", "torch") for r in project["optional-dependencies"][extra]
    ]
    names = {_canon(re.match(r"[A-Za-z0-9_.-]+", r).group(0)) for r in wanted}
    names |= {_canon(n.split("==")[0]) for n in re.findall(r"(\S+==\S+)", _readme_test_command())}
    pins = _pins()
    missing = sorted(names - set(pins))
    assert not missing, f"not pinned in constraints.txt: {missing}"


def test_installed_versions_are_the_pinned_ones():
    """The environment the tests run in is the locked one (a drifted install fails here, with
    the names, rather than somewhere deep in a numerical test)."""
    drift = []
    for name, version in _pins().items():
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # pinned for another extra or platform
        if have.split("+")[0] != version:
            drift.append(f"{name} {have} (pinned {version})")
    assert not drift, "installed versions differ from constraints.txt: " + ", ".join(drift)


def test_the_evaluation_clips_travel_with_the_repository():
    root = eval_root()
    assert (root / "MANIFEST.md").is_file()
    licences = {p.name for p in root.glob("LICENSE.*")}
    assert {"LICENSE.madmom.txt", "LICENSE.mirdata.txt", "LICENSE.pyannote.txt"} <= licences
    for sub in ("speech", "diarization", "beats", "music_transcription", "transcode", "golden"):
        assert any((root / sub).iterdir()), sub


def test_no_test_can_reach_beyond_this_machine():
    """The tests' guard (tests/conftest.py) refuses connections off this machine, and hub
    lookups are off unless a test serves a hub on 127.0.0.1."""
    import os
    import socket

    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    with pytest.raises(AssertionError, match="off this machine"):
        socket.create_connection(("192.0.2.1", 443), timeout=0.1)  # TEST-NET-1, never routed
    with socket.socket() as server:  # loopback stays open to the tests' own servers
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        socket.create_connection(server.getsockname(), timeout=1).close()
