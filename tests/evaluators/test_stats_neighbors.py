"""Intervals and the blocked nearest-neighbour search, against hand values and brute force."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evaluators.neighbors import knn
from evaluators.stats import auc, residual_risk, wilson


def test_wilson_by_hand() -> None:
    # 5/10 at 95%: centre 0.5, half-width z·sqrt(0.025 + z²/400)/(1 + z²/10) = 0.2634
    e = wilson(5, 10)
    assert (e.value, e.low, e.high) == (0.5, pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    assert wilson(10, 10).high == pytest.approx(1.0)


def test_auc_by_hand() -> None:
    # pairs (pos, neg): (3,1) win, (3,2) win, (0,1) lose, (0,2) lose, ties none → 2/4
    assert auc(np.array([3.0, 0.0]), np.array([1.0, 2.0])).value == 0.5
    assert auc(np.array([1.0]), np.array([1.0])).value == 0.5  # a tie counts half
    e = auc(np.arange(50.0) + 100, np.arange(50.0))
    assert e.value == 1.0 and e.low < 1.0


def test_residual_risk_laws() -> None:
    same = residual_risk(300, 1000, 300, 1000)
    assert same.value == pytest.approx(0.0, abs=1e-9) and same.high > 0
    full = residual_risk(1000, 1000, 0, 1000)
    assert full.value > 0.99
    # control success is subtracted: 60% on train vs 20% on control is half the room left
    assert residual_risk(600, 1000, 200, 1000).value == pytest.approx(0.5, abs=0.01)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 60), st.integers(1, 80), st.integers(1, 6), st.integers(1, 3), st.integers(0, 2**31))
def test_knn_matches_brute_force(n: int, m: int, d: int, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    q = rng.integers(-2, 3, size=(n, d)).astype(np.float32) / 2  # many ties and exact matches
    r = rng.integers(-2, 3, size=(m, d)).astype(np.float32) / 2
    dist, idx = knn(q, r, k=k, block_bytes=4 * 8 * 3)  # tiny blocks: many merges
    full = ((q[:, None, :].astype(np.float64) - r[None].astype(np.float64)) ** 2).sum(-1)
    expect = np.sort(full, axis=1)[:, : min(k, m)]
    np.testing.assert_allclose(dist, expect)
    np.testing.assert_allclose(np.take_along_axis(full, idx, 1), dist)
