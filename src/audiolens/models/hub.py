"""What the Hugging Face hub lookups share: whether a download may be tried."""

from __future__ import annotations

import os

__all__ = ["downloads_allowed"]


def downloads_allowed(download: bool | None) -> bool:
    """``download`` when given; else True unless ``HF_HUB_OFFLINE`` is set (1, true, yes, on)."""
    if download is not None:
        return download
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() not in ("1", "true", "yes", "on")
