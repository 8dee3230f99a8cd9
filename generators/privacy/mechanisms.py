"""DP mechanisms over columns: noisy histograms, bounds, quantiles, category selection.

Neighbouring tables differ by adding or removing one row (the row count is
public, as Opacus assumes). Each function takes the ρ it may spend and a
`numpy.random.Generator`; none keeps state. A row contributes to exactly one
bin of any histogram here, so every histogram has L2 sensitivity 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from generators.privacy.discrete_gaussian import (
    discrete_gaussian_sigma2,
    discrete_gaussian_threshold,
    sample_discrete_gaussian,
)
from generators.privacy.zcdp import gaussian_sigma


def noisy_counts(counts: np.ndarray, rho: float, rng: np.random.Generator) -> np.ndarray:
    """The discrete Gaussian mechanism on a histogram (sensitivity 1): ρ-zCDP.

    Exact integer noise of variance parameter σ² = 1/(2ρ) (rounded up), drawn
    from `rng.integers` only: ρ-zCDP by CKS20 Theorem 4, the same ρ as the
    continuous Gaussian it replaces, so every ledger charge stays as it was.
    The counts must be whole numbers; the result is whole numbers, as float64.
    """
    measured = np.asarray(counts, dtype=np.float64)
    if not np.array_equal(measured, np.round(measured)):
        raise ValueError("noisy_counts adds integer noise to integer counts")
    return measured + sample_discrete_gaussian(discrete_gaussian_sigma2(rho), measured.shape, rng)


def to_distribution(noisy: np.ndarray) -> np.ndarray:
    """Clip negative noisy counts and normalise (uniform if nothing survives)."""
    p = np.clip(noisy, 0.0, None)
    total = p.sum()
    if total <= 0:
        return np.full(p.shape, 1.0 / p.size)
    return p / total


# --- bounds without a public range -------------------------------------------------

#: Magnitude bins: |v| in [2^k, 2^(k+1)) for k in [_KMIN, _KMAX), one bin for
#: |v| < 2^_KMIN, mirrored for negatives. Covers every finite float64 we model.
_KMIN, _KMAX = -20, 64


def _magnitude_edges() -> np.ndarray:
    pos = [0.0] + [2.0**k for k in range(_KMIN, _KMAX + 1)]
    neg = [-e for e in reversed(pos[1:])]
    return np.array(neg + pos)


_EDGES = _magnitude_edges()

#: Chance that noise alone lifts *any* empty bin of a range histogram over the
#: threshold. A fixed 3σ per bin let one of the ~170 empty magnitude bins pass
#: in about one fit in five, stretching the bounds to a far-off power of two.
_SPURIOUS_BIN_RATE = 1e-3


def _range_threshold(sigma: float, bins: int) -> float:
    """Noisy-count threshold for range finding: Bonferroni over `bins` empty bins."""
    return sigma * float(ndtri(1.0 - _SPURIOUS_BIN_RATE / bins))


@dataclass(frozen=True)
class Bounds:
    lower: float
    upper: float


def dp_bounds(
    values: np.ndarray, rho: float, rng: np.random.Generator, *, integer: bool = False
) -> Bounds:
    """Approximate (lower, upper) of `values` from a noisy log-magnitude histogram.

    The histogram has a bin per power of two on each side of zero, and the
    bounds are the outer edges of the outermost bins whose noisy count passes
    a threshold (about 4.4σ: noise alone lifts one of the empty bins over it
    in one fit in a thousand). Off by at most a factor 2 outward, and it may
    cut a handful of outliers: both are what clipping bounds should do.
    """
    v = values[np.isfinite(values)]
    idx = np.clip(np.searchsorted(_EDGES, v, side="right") - 1, 0, len(_EDGES) - 2)
    counts = np.bincount(idx, minlength=len(_EDGES) - 1)
    noisy = noisy_counts(counts, rho, rng)
    threshold = _range_threshold(gaussian_sigma(rho), counts.size)
    keep = np.flatnonzero(noisy > threshold)
    if keep.size == 0:
        keep = np.array([int(np.argmax(noisy))])
    lower, upper = float(_EDGES[keep[0]]), float(_EDGES[keep[-1] + 1])
    if integer:
        # Floats, not Python ints: ±2^63 and 2^64 as ints overflow int64 downstream.
        lower, upper = float(math.floor(lower)), float(math.ceil(upper))
    if upper <= lower:
        upper = lower + 1.0
    return Bounds(lower, upper)


def dp_range(
    values: np.ndarray,
    lower: float,
    upper: float,
    rho: float,
    rng: np.random.Generator,
    *,
    bins: int = 16,
    integer: bool = False,
) -> Bounds:
    """Narrow a known range [lower, upper] to where the data is (ρ-zCDP).

    The second stage after `dp_bounds`, whose powers-of-two range can be far
    too wide (a datetime in epoch seconds gets a 34-year range): a noisy
    equal-width histogram on the range, and the outer edges of the outermost
    bins whose noisy count passes the threshold `dp_bounds` uses. Values
    outside [lower, upper] (±inf included) are clipped into the end bins.
    The range is computed in float64 whatever the bounds' type: integer
    extremes such as -2^63 and 2^64 do not fit one integer dtype.
    """
    lower, upper = float(lower), float(upper)
    if not (math.isfinite(lower) and math.isfinite(upper) and lower < upper):
        return Bounds(lower, upper)  # nothing to narrow (the range is public, not data)
    edges = np.linspace(lower, upper, bins + 1)
    v = values[~np.isnan(values)]
    counts = np.bincount(digitize(v, edges), minlength=bins)
    noisy = noisy_counts(counts, rho, rng)
    keep = np.flatnonzero(noisy > _range_threshold(gaussian_sigma(rho), bins))
    if keep.size == 0:
        return Bounds(lower, upper)
    lo, hi = float(edges[keep[0]]), float(edges[keep[-1] + 1])
    if integer:
        lo, hi = float(math.floor(lo)), float(math.ceil(hi))
    if hi <= lo:
        hi = lo + 1.0
    return Bounds(lo, hi)


def bin_edges(lower: float, upper: float, bins: int, *, integer: bool = False) -> np.ndarray:
    """Equal-width bin edges on [lower, upper]; integer columns get whole-number bins."""
    if integer:
        width = max(1, math.ceil((upper - lower + 1) / bins))
        n = math.ceil((upper - lower + 1) / width)
        return lower + width * np.arange(n + 1, dtype=np.float64) - 0.5
    return np.linspace(lower, upper, bins + 1)


def digitize(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin index of each value, values outside the edges clipped into the end bins."""
    return np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)


def dp_quantiles(
    values: np.ndarray,
    quantiles: np.ndarray,
    lower: float,
    upper: float,
    rho: float,
    rng: np.random.Generator,
    *,
    bins: int = 256,
) -> np.ndarray:
    """Quantiles read off a noisy fine histogram on [lower, upper] (ρ-zCDP)."""
    edges = np.linspace(lower, upper, bins + 1)
    counts = np.bincount(digitize(values, edges), minlength=bins)
    cdf = np.cumsum(to_distribution(noisy_counts(counts, rho, rng)))
    pos = np.searchsorted(cdf, np.clip(quantiles, 0.0, 1.0), side="left")
    pos = np.clip(pos, 0, bins - 1)
    return (edges[pos] + edges[pos + 1]) / 2


# --- category sets without a public domain -----------------------------------------


@dataclass(frozen=True)
class SelectedCategories:
    """Categories that passed the DP threshold, with their noisy counts."""

    values: list[str]
    noisy: np.ndarray


def selection_threshold(sigma: float, delta: float) -> float:
    """Threshold τ with P(1 + N(0, σ²) > τ) = δ: a value present once leaks with prob. δ."""
    return 1.0 + sigma * float(ndtri(1.0 - delta))


def dp_select_categories(
    values: list[str] | np.ndarray,
    counts: np.ndarray,
    rho: float,
    delta: float,
    rng: np.random.Generator,
    *,
    min_count: float = 0.0,
    max_rows: int = 1,
) -> SelectedCategories:
    """Gaussian thresholding: release categories whose noisy count passes τ.

    With privacy units of up to `max_rows` rows (k), a category held by one
    unit alone counts up to k, so τ moves up by k − 1 (and `rho` is the
    per-row share, ρ/k², of the caller's budget).

    (ε(ρ), δ_conv + δ)-DP: for a category present in both neighbours it is the
    Gaussian mechanism; a category that exists only through one row passes the
    threshold with probability δ. Nothing is released about the categories
    below the threshold (or below `min_count`): a caller that folds them into
    an "other" value measures that value's count afresh, over the selected set.
    """
    noisy = noisy_counts(np.asarray(counts), rho, rng)
    # 1 + X > τ with X discrete Gaussian: at most δ (not the continuous 1 + σΦ⁻¹(1 − δ)).
    tau = max(
        discrete_gaussian_threshold(discrete_gaussian_sigma2(rho), delta) + max_rows - 1, min_count
    )
    keep = noisy > tau
    vals = [str(v) for v, k in zip(values, keep, strict=True) if k]
    order = np.argsort(-noisy[keep], kind="stable")
    kept_noisy = noisy[keep][order]
    vals = [vals[i] for i in order]
    return SelectedCategories(vals, kept_noisy)
