"""What the Hugging Face hub lookups share: whether a download may be tried, and whether the
hub can be reached at all.

A download from an unreachable hub costs huggingface_hub's retries (about 24 s and a warning per
retry) before it fails. :func:`download_refusal` asks first, with one short TCP connection to
the hub's endpoint (``$HF_ENDPOINT``, else https://huggingface.co; through the proxy that
applies to it, if any), made once per process and endpoint: an unreachable hub is then treated
like ``HF_HUB_OFFLINE``, and the lookup fails at once with its usual message.
"""

from __future__ import annotations

import functools
import os
import socket
import threading
import urllib.parse
import urllib.request

__all__ = [
    "PROBE_TIMEOUT",
    "download_refusal",
    "downloads_allowed",
    "hub_endpoint",
    "hub_reachable",
    "one_line",
]

#: seconds the reachability probe may take (name lookup and TCP connection together)
PROBE_TIMEOUT = 2.5
_DEFAULT_ENDPOINT = "https://huggingface.co"


def downloads_allowed(download: bool | None) -> bool:
    """``download`` when given; else True unless ``HF_HUB_OFFLINE`` is set (1, true, yes, on).

    This is the policy only; it never touches the network (see :func:`download_refusal`).
    """
    if download is not None:
        return download
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() not in ("1", "true", "yes", "on")


def hub_endpoint() -> str:
    """The hub's address: ``$HF_ENDPOINT``, else https://huggingface.co."""
    return os.environ.get("HF_ENDPOINT", "").strip().rstrip("/") or _DEFAULT_ENDPOINT


def download_refusal(download: bool | None) -> str | None:
    """Why a hub download must not be tried now, or None when it may be.

    Parameters
    ----------
    download : allow downloads; None allows them unless ``HF_HUB_OFFLINE`` is set

    Returns
    -------
    reason : ``"downloads are off"``, ``"<endpoint> cannot be reached"`` (after one short probe,
        see :func:`hub_reachable`), or None
    """
    if not downloads_allowed(download):
        return "downloads are off"
    endpoint = hub_endpoint()
    if not hub_reachable(endpoint):
        return f"{endpoint} cannot be reached"
    return None


def one_line(exc: BaseException) -> str:
    """``"Type: message"`` of a failed download on one line (huggingface_hub's span several)."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def hub_reachable(endpoint: str | None = None, *, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether a TCP connection to the hub (or to the proxy for it) opens within ``timeout``
    seconds. The answer is kept for the process, per host and port.

    Parameters
    ----------
    endpoint : the hub's URL; None reads :func:`hub_endpoint`
    timeout : seconds for the name lookup and the connection together
    """
    host, port = _target(endpoint or hub_endpoint())
    if not host:
        return False
    return _probe(host, port, float(timeout))


def _target(endpoint: str) -> tuple[str, int]:
    """The host and port a connection to ``endpoint`` opens first (its proxy's, if one applies)."""
    url = urllib.parse.urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
    scheme = url.scheme or "https"
    host = url.hostname or ""
    proxy = urllib.request.getproxies().get(scheme)
    if proxy and host and not urllib.request.proxy_bypass(host):
        url = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        scheme, host = url.scheme or "http", url.hostname or ""
    try:
        port = url.port
    except ValueError:
        return "", 0
    return host, port or (443 if scheme == "https" else 80)


@functools.lru_cache(maxsize=8)
def _probe(host: str, port: int, timeout: float) -> bool:
    # the name lookup has no timeout of its own: run it in a thread and stop waiting for it
    result: list[bool] = []

    def connect() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    worker = threading.Thread(target=connect, name="audiolens-hub-probe", daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(result and result[0])
