"""DP mechanisms: noise scale, bounds, ranges, bins, quantiles and category selection."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.stats import norm

from generators.privacy.discrete_gaussian import (
    discrete_gaussian_sigma2,
    discrete_gaussian_threshold,
)
from generators.privacy.mechanisms import (
    bin_edges,
    digitize,
    dp_bounds,
    dp_quantiles,
    dp_range,
    dp_select_categories,
    noisy_counts,
    selection_threshold,
    to_distribution,
)
from generators.privacy.zcdp import gaussian_sigma

finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)


def test_noisy_counts_noise_has_the_gaussian_scale() -> None:
    rho = 0.02
    counts = np.full(200_000, 7)
    noise = noisy_counts(counts, rho, np.random.default_rng(0)) - counts
    assert np.std(noise) == pytest.approx(gaussian_sigma(rho), rel=0.01)
    assert abs(np.mean(noise)) < 5 * gaussian_sigma(rho) / np.sqrt(counts.size)


@given(hnp.arrays(np.float64, st.integers(1, 50), elements=finite))
def test_to_distribution_is_a_distribution(noisy: np.ndarray) -> None:
    p = to_distribution(noisy)
    assert np.all(p >= 0)
    assert p.sum() == pytest.approx(1.0)
    if np.all(noisy <= 0):
        assert np.allclose(p, 1.0 / noisy.size)
    else:
        assert np.all(p[noisy <= 0] == 0)


# --- bounds and ranges --------------------------------------------------------------------


@settings(max_examples=100)
@given(
    values=hnp.arrays(np.float64, st.integers(1, 200), elements=finite),
    seed=st.integers(0, 2**32 - 1),
)
def test_dp_bounds_cover_the_data_at_generous_rho(values: np.ndarray, seed: int) -> None:
    b = dp_bounds(values, 1e4, np.random.default_rng(seed))
    assert b.lower <= values.min()
    assert b.upper >= values.max()


def test_dp_bounds_are_within_a_factor_two_hand_checked() -> None:
    values = np.random.default_rng(1).uniform(3.0, 100.0, 5_000)
    b = dp_bounds(values, 1.0, np.random.default_rng(2))
    assert (b.lower, b.upper) == (2.0, 128.0)  # [2^1, 2^7) holds 3..100
    neg = dp_bounds(-values, 1.0, np.random.default_rng(3))
    assert (neg.lower, neg.upper) == (-128.0, -2.0)


def test_dp_bounds_integer_flag_gives_whole_numbers() -> None:
    values = np.arange(17, 91, dtype=np.float64).repeat(50)
    b = dp_bounds(values, 1.0, np.random.default_rng(0), integer=True)
    assert b.lower == int(b.lower) and b.upper == int(b.upper)
    assert b.lower <= 17 and b.upper >= 90


def test_dp_bounds_rarely_invent_a_far_bin() -> None:
    """Noise alone should lift an empty magnitude bin in about 1 fit in 1,000."""
    values = np.random.default_rng(1).uniform(3.0, 100.0, 5_000)
    wrong = 0
    for seed in range(300):
        b = dp_bounds(values, 0.01, np.random.default_rng(seed))
        wrong += b.lower < 2.0 or b.upper > 128.0
    assert wrong <= 3  # P(> 3) under a 0.15% rate is below 1e-3


def test_dp_range_narrows_a_wide_range_to_the_data() -> None:
    values = np.random.default_rng(0).uniform(1_350_000_000, 1_540_000_000, 40_000)
    b = dp_range(values, 2.0**30, 2.0**31, 0.01, np.random.default_rng(1))
    width = (2.0**31 - 2.0**30) / 16
    assert 1_350_000_000 - width <= b.lower <= 1_350_000_000
    assert 1_540_000_000 <= b.upper <= 1_540_000_000 + width


def test_dp_range_keeps_the_given_range_when_nothing_passes() -> None:
    b = dp_range(np.array([5.0]), 0.0, 100.0, 1e-6, np.random.default_rng(0))
    assert (b.lower, b.upper) == (0.0, 100.0)


# --- bins ------------------------------------------------------------------------------------


def test_integer_bin_edges_are_centred_on_whole_numbers() -> None:
    edges = bin_edges(17, 90, 128, integer=True)
    assert edges[0] == 16.5 and edges[-1] == 90.5
    assert len(edges) == 75  # one bin per age
    wide = bin_edges(0, 99_999, 64, integer=True)
    assert np.all(np.diff(wide) == np.diff(wide)[0])
    assert wide[0] == -0.5 and wide[-1] >= 99_999.5


@given(hnp.arrays(np.float64, st.integers(1, 100), elements=finite))
def test_digitize_clips_into_the_end_bins(values: np.ndarray) -> None:
    edges = np.linspace(-10.0, 10.0, 5)
    idx = digitize(values, edges)
    assert np.all((idx >= 0) & (idx <= 3))
    assert np.all(idx[values < -10] == 0)
    assert np.all(idx[values >= 10] == 3)


def test_dp_quantiles_find_the_median_at_generous_rho() -> None:
    values = np.random.default_rng(0).normal(50.0, 10.0, 20_000)
    q = dp_quantiles(values, np.array([0.5]), 0.0, 100.0, 10.0, np.random.default_rng(1))
    assert abs(q[0] - np.median(values)) <= 100.0 / 256


# --- category selection --------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [1.0, 20.0])
@pytest.mark.parametrize("delta", [1e-6, 0.05])
def test_selection_threshold_leaks_a_single_row_with_probability_delta(
    sigma: float, delta: float
) -> None:
    tau = selection_threshold(sigma, delta)
    assert norm.sf((tau - 1.0) / sigma) == pytest.approx(delta, rel=1e-6)


def test_a_category_present_once_is_released_at_rate_at_most_delta() -> None:
    n, delta, rho = 40_000, 0.05, 0.01
    values = [f"v{i}" for i in range(n)]
    sel = dp_select_categories(values, np.ones(n), rho, delta, np.random.default_rng(0))
    rate = len(sel.values) / n
    # The noise is discrete Gaussian: released iff 1 + X > τ, i.e. X >= τ (an integer).
    tau = discrete_gaussian_threshold(discrete_gaussian_sigma2(rho), delta)
    x = np.arange(-2_000, 2_001)
    w = np.exp(-(x**2) / (2 * float(discrete_gaussian_sigma2(rho))))
    released = w[x >= tau].sum() / w.sum()
    assert released <= delta
    assert abs(rate - released) < 5 * np.sqrt(released * (1 - released) / n)


def test_selection_keeps_frequent_categories_in_noisy_order() -> None:
    values = ["a", "b", "c", "rare"]
    counts = np.array([5_000, 20_000, 1_000, 1])
    sel = dp_select_categories(values, counts, 0.05, 1e-7, np.random.default_rng(0))
    assert sel.values == ["b", "a", "c"]
    assert np.all(np.diff(sel.noisy) <= 0)
    floor = dp_select_categories(
        values, counts, 0.05, 1e-7, np.random.default_rng(0), min_count=2_000
    )
    assert floor.values == ["b", "a"]
