"""JSON helpers shared by the store and its exports."""

from __future__ import annotations

import json
import math
import re
from typing import Any

__all__ = ["dumps", "plain", "safe_text"]

_SURROGATE = re.compile("[\ud800-\udfff]")


def plain(value: Any) -> Any:
    """A copy of ``value`` that JSON can hold: NaN and infinities become None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """Compact JSON, UTF-8 text kept readable, lone surrogates written as ``\\udcXX`` escapes.

    Lone surrogates are how Python spells path bytes that are not UTF-8; escaping them keeps the
    text encodable while ``json.loads`` and ``os.fsencode`` still give back the exact bytes.
    """
    text = json.dumps(plain(value), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def safe_text(text: str | None) -> str | None:
    """``text`` with any lone surrogates as visible backslash escapes (for messages)."""
    if text is None:
        return None
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
