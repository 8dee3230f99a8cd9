"""Bounds on the numbers and texts a request carries, checked before the core sees them.

A float past what the privacy arithmetic can hold (ε = 1e300 overflowed in an
accountant and answered INTERNAL) or a text of megabytes (stored, listed and
echoed back to everyone) is refused here as INVALID_ARGUMENT, naming the field
and never quoting the value.
"""

from __future__ import annotations

import math
from typing import Any

from synth.base.errors import FieldViolation, InvalidArgument
from synth.base.names import (
    MAX_COLUMN_NAME,
    MAX_DISPLAY_NAME,
    MAX_EPSILON,
    MAX_IDEMPOTENCY_KEY,
    MIN_DELTA,
    MIN_EPSILON,
    check_length,
)

MAX_SEED = 2**63


def epsilon(value: float | None, field: str = "epsilon") -> float | None:
    if value is not None and not (math.isfinite(value) and MIN_EPSILON <= value <= MAX_EPSILON):
        raise InvalidArgument(
            f"{field} must be a number in [{MIN_EPSILON:g}, {MAX_EPSILON:g}]",
            violations=[FieldViolation(field, f"in [{MIN_EPSILON:g}, {MAX_EPSILON:g}]")],
        )
    return value


def delta(value: float | None, field: str = "delta") -> float | None:
    if value is not None and not (math.isfinite(value) and MIN_DELTA <= value < 1):
        raise InvalidArgument(
            f"{field} must be in [{MIN_DELTA:g}, 1), e.g. 1e-6",
            violations=[FieldViolation(field, f"in [{MIN_DELTA:g}, 1)")],
        )
    return value


def seed(value: int | None, field: str = "seed") -> int | None:
    if value is not None and not 0 <= value < MAX_SEED:
        raise InvalidArgument(
            f"{field} must be in [0, 2^63)", violations=[FieldViolation(field, "out of range")]
        )
    return value


def idempotency_key(value: str) -> str:
    return check_length(value, "idempotency_key", MAX_IDEMPOTENCY_KEY)


def display_name(value: str) -> str:
    return check_length(value, "display_name", MAX_DISPLAY_NAME)


def column(value: str, field: str) -> str:
    return check_length(value, field, MAX_COLUMN_NAME)


#: The largest magnitude of a declared bound: past the int64 range no column needs it, and
#: the width of [-1e308, 1e308] already overflows to infinity.
MAX_BOUND = 1e18


def schema_bounds(schema: Any, field: str = "schema") -> Any:
    """Refuse a declared bound that is not finite or is past ±1e18, naming the column."""
    for column in schema.columns:
        for side in ("lower", "upper"):
            if column.HasField(side):
                value = getattr(column, side)
                if not (math.isfinite(value) and abs(value) <= MAX_BOUND):
                    name = column.name[:80]
                    raise InvalidArgument(
                        f"column {name!r}: the {side} bound must be a finite number within "
                        f"±{MAX_BOUND:g}",
                        violations=[
                            FieldViolation(f"{field}.columns.{name}.{side}", "out of range")
                        ],
                    )
    return schema
