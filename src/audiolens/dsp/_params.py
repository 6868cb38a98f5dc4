"""Parameter checks shared by the DSP functions; every failure is a :class:`ParameterError`."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

from ..errors import ParameterError

__all__ = ["choice", "positive_float", "positive_int", "signal_length"]


def positive_int(name: str, value: Any, *, maximum: int | None = None, at_most: str = "") -> int:
    """``value`` as an int, or a ParameterError naming ``name`` (and the upper bound, if any)."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0
    if ok and (maximum is None or value <= maximum):
        return int(value)
    bound = f" no larger than {at_most or maximum}" if maximum is not None else ""
    raise ParameterError(f"{name}={value!r} must be a positive integer{bound}")


def nonnegative_int(name: str, value: Any, *, below: int, below_name: str) -> int:
    """``value`` as an int in ``[0, below)``."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if ok and 0 <= value < below:
        return int(value)
    raise ParameterError(
        f"{name}={value!r} must be an integer >= 0 and smaller than {below_name}={below}"
    )


def positive_float(name: str, value: Any) -> float:
    """``value`` as a finite float > 0."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok and math.isfinite(value) and value > 0:
        return float(value)
    raise ParameterError(f"{name}={value!r} must be a positive finite number")


def nonnegative_float(name: str, value: Any) -> float:
    """``value`` as a finite float >= 0."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok and math.isfinite(value) and value >= 0:
        return float(value)
    raise ParameterError(f"{name}={value!r} must be a finite number >= 0")


def choice(name: str, value: Any, allowed: Sequence[Any]) -> Any:
    """``value`` if it is one of ``allowed``."""
    if any(value is a or (type(value) is type(a) and value == a) for a in allowed):
        return value
    listed = ", ".join(repr(a) for a in allowed)
    raise ParameterError(f"{name}={value!r} is not supported; use one of {listed}")


def signal_length(x: Any, name: str = "y", *, at_least: int = 1, why: str = "") -> int:
    """The length of the last axis of ``x``, checked to be at least ``at_least``."""
    if getattr(x, "ndim", 0) < 1:
        raise ParameterError(f"{name} must have at least one axis (samples last), got a scalar")
    n = int(x.shape[-1])
    if n < at_least:
        reason = f" ({why})" if why else ""
        raise ParameterError(
            f"{name} has {n} samples along its last axis; at least {at_least} are needed{reason}"
        )
    return n
