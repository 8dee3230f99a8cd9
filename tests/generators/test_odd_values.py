"""No job outcome depends on a value: odd cells are nulled or clipped, and the fit succeeds.

A fit that raises on one cell tells whoever reads the job's state something
about that cell. Every generator must take any table its schema admits:
booleans stored as text with a cell that is not a boolean, integers at the
int64 extremes, floats at ±1.8e308, NaN and ±inf, datetimes at the ends of
their unit's range, values outside the declared bounds or categories.
"""

from __future__ import annotations

import math

import numpy as np

from generators.privacy.mechanisms import dp_bounds, dp_range


def test_dp_range_takes_the_int64_extremes_dp_bounds_can_give() -> None:
    """dp_bounds on an integer column can answer [-2^63, 2^64]: as Python ints they made
    np.linspace build an object array, and the fit failed (the hypothesis test of dp_marginals)."""
    values = np.array([-(2.0**63), 0.0, 1.0, 2.0**63, np.nan, np.inf, -np.inf])
    b = dp_range(values, -(2**63), 2**64, 0.5, np.random.default_rng(0), integer=True)
    assert isinstance(b.lower, float) and isinstance(b.upper, float)
    assert -(2.0**63) <= b.lower < b.upper <= 2.0**64
    for seed in range(20):
        c = dp_bounds(values, 1e-4, np.random.default_rng(seed), integer=True)
        assert isinstance(c.lower, float) and isinstance(c.upper, float)
        d = dp_range(values, c.lower, c.upper, 1e-4, np.random.default_rng(seed), integer=True)
        assert math.isfinite(d.lower) and math.isfinite(d.upper) and d.lower < d.upper
