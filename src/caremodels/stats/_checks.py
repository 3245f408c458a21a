"""Argument checks shared by the statistics functions.

Every public function validates before computing so that a bad input fails loudly with the
argument's name and, for arrays, the position of the first offending element, rather than
producing a NaN or a silently wrong interval further down an indicator pipeline.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

FloatArray = NDArray[np.float64]


def check_confidence(confidence: float) -> float:
    """The confidence level as a float strictly between 0 and 1."""
    value = check_real(confidence, "confidence")
    if 0.0 < value < 1.0:
        return value
    hint = ""
    # PHE tools and PHEindicatormethods also accept 95 or 99.8; here that is almost certainly a
    # percentage typed by mistake, so say so rather than guess and rescale silently.
    if 1.0 < value < 100.0:
        hint = f"; did you mean {value / 100:g}?"
    raise ValueError(
        "confidence must be a proportion strictly between 0 and 1 (e.g. 0.95 or 0.998), "
        + f"got {value:g}{hint}"
    )


def z_value(confidence: float) -> float:
    """Two-sided standard normal critical value: 1.959964 for 0.95, 3.090232 for 0.998."""
    alpha = 1.0 - check_confidence(confidence)
    # -Phi^-1(alpha/2) rather than Phi^-1(1 - alpha/2): the small tail keeps full precision.
    return float(-special.ndtri(alpha / 2.0))


def check_multiplier(multiplier: float) -> float:
    value = check_real(multiplier, "multiplier")
    if value <= 0.0:
        raise ValueError(f"multiplier must be greater than 0, got {value:g}")
    return value


def check_real(value: Any, name: str) -> float:
    """A finite real number (bool, str, NaN and infinity refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{name} must be finite, got {result}")
    return result


def as_float_array(values: ArrayLike, name: str) -> FloatArray:
    """Numeric input as a float64 array. NaN is kept (it marks a missing row); +/-inf is refused."""
    raw = np.asarray(values)
    if raw.dtype.kind in "iuf":
        array = raw.astype(np.float64, copy=False)
    elif raw.dtype.kind == "O":
        try:
            array = raw.astype(np.float64)
        except (TypeError, ValueError) as error:
            raise TypeError(f"{name} must contain only numbers: {error}") from error
    else:
        # Strings, booleans and dates would otherwise be coerced quietly by numpy.
        raise TypeError(f"{name} must be numeric, got an array of dtype {raw.dtype}")
    infinite = np.isinf(array)
    if infinite.any():
        raise ValueError(f"{name} must be finite; {_where(name, infinite, array)}")
    return array


def broadcast(first: FloatArray, second: FloatArray, names: str) -> tuple[FloatArray, FloatArray]:
    """Broadcast two inputs together, with an error that names them rather than numpy's."""
    try:
        left, right = np.broadcast_arrays(first, second)
    except ValueError:
        raise ValueError(
            f"{names} must have the same shape (or broadcast together), "
            f"got shapes {first.shape} and {second.shape}"
        ) from None
    return left, right


def require(condition: NDArray[np.bool_], values: FloatArray, name: str, rule: str) -> None:
    """Raise unless ``condition`` holds wherever ``values`` is not NaN."""
    bad = ~condition & ~np.isnan(values)
    if bad.any():
        raise ValueError(f"{name} must be {rule}; {_where(name, bad, values)}")


def _where(name: str, bad: NDArray[np.bool_], values: FloatArray) -> str:
    positions = np.argwhere(bad)
    first = tuple(int(i) for i in positions[0])
    label = name if not first else f"{name}[{', '.join(map(str, first))}]"
    more = f" ({len(positions) - 1} more)" if len(positions) > 1 else ""
    return f"{label} is {float(values[first]):g}{more}"
