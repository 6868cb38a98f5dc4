"""How much audio one file may hold: the bound every decode stops at.

A header may claim any length (5 s for an hour, an hour for a second), so no decode sizes its
buffers from it: a whole-file decode into memory stops a little past what the header claims
(and the file is then streamed instead, see :func:`audiolens.audio.request.decode_request`),
and no decode, streamed or not, goes past :func:`max_seconds` of audio, 24 hours unless
``$AUDIOLENS_MAX_HOURS`` says otherwise.
"""

from __future__ import annotations

import math
import os

from ..errors import ParameterError

__all__ = [
    "DEFAULT_MAX_HOURS",
    "ENV_MAX_HOURS",
    "env_positive",
    "max_seconds",
    "whole_file_cap",
]

#: hours of audio a file may hold unless ``$AUDIOLENS_MAX_HOURS`` says otherwise
DEFAULT_MAX_HOURS = 24.0
ENV_MAX_HOURS = "AUDIOLENS_MAX_HOURS"
#: a whole-file decode into memory stops at twice the claimed length plus this much (seconds)
_SLACK_S = 60.0


def max_seconds() -> float:
    """Seconds of audio past which any decode stops with a :class:`DecodeError`.

    Raises
    ------
    ParameterError
        when ``$AUDIOLENS_MAX_HOURS`` is not a positive number
    """
    return env_positive(ENV_MAX_HOURS, DEFAULT_MAX_HOURS, unit="hours") * 3600.0


def env_positive(name: str, default: float, *, unit: str) -> float:
    """The positive number the environment variable ``name`` holds, or ``default`` when it is
    unset or blank.

    Raises
    ------
    ParameterError
        when the variable holds anything else (the message names it, its value and ``unit``)
    """
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ParameterError(
            f"{name}={text!r} must be a positive number of {unit} (default {default:g})"
        )
    return value


def whole_file_cap(claimed: float) -> float:
    """Seconds a whole-file decode into memory may reach for a header claiming ``claimed``
    seconds (0 or less: unknown) before the file counts as longer than it says."""
    claimed = claimed if math.isfinite(claimed) and claimed > 0 else 0.0
    return min(2.0 * claimed + _SLACK_S, max_seconds())
