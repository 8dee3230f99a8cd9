"""The exact discrete Gaussian sampler, tested the way CKS20 and OpenDP test theirs.

Samples (fixed seeds) against the exact pmf p(x) ∝ exp(−x²/(2σ²)): a
chi-square goodness of fit on binned counts, mean and variance within five
standard errors, symmetry; a two-sample test against OpenDP's own sampler.
Every statistical check rejects at p < 1e-4 (OpenDP's side is unseeded: that
test rejects at 1e-6), and `test_the_checks_reject_a_sampler_off_by_20_percent`
shows that the same checks fail a sampler whose σ² is 20 % off.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

import numpy as np
import pytest
from scipy.stats import binomtest, chi2_contingency, chisquare

from generators.privacy import discrete_gaussian as dg
from generators.privacy.discrete_gaussian import (
    _bernoulli_exp,
    _represent,
    discrete_gaussian_sigma2,
    discrete_gaussian_threshold,
    sample_discrete_gaussian,
)
from generators.privacy.mechanisms import noisy_counts

SIGMA2S = [Fraction(1, 4), Fraction(1), Fraction(5, 2), Fraction(100), Fraction(10_000)]
N = 50_000  # σ² 20 % off gives p < 1e-150 and variance 30 standard errors away
ALPHA = 1e-4
Sampler = Callable[[Fraction, int, np.random.Generator], np.ndarray]


def pmf(sigma2: float) -> tuple[np.ndarray, np.ndarray]:
    """The exact pmf on [−L, L] (the mass beyond is below 1e-40)."""
    half = math.ceil(14 * math.sqrt(sigma2)) + 10
    x = np.arange(-half, half + 1)
    w = np.exp(-(x.astype(np.float64) ** 2) / (2 * sigma2))
    return x, w / w.sum()


def bins(p: np.ndarray, n: int) -> np.ndarray:
    """Consecutive support points grouped so every bin expects >= max(20, n/60) draws."""
    edges, acc = [0], 0.0
    for i, pi in enumerate(p):
        acc += pi
        if acc * n >= max(20.0, n / 60):
            edges.append(i + 1)
            acc = 0.0
    edges[-1] = len(p)
    return np.array(edges)


def fit_pvalue(samples: np.ndarray, sigma2: float) -> float:
    """Chi-square goodness of fit of `samples` to N_Z(0, σ²) on binned counts."""
    x, p = pmf(sigma2)
    assert samples.min() >= x[0] and samples.max() <= x[-1]
    counts = np.bincount(samples - x[0], minlength=x.size)
    e = bins(p, samples.size)
    observed = np.add.reduceat(counts, e[:-1])
    expected = np.add.reduceat(p, e[:-1]) * samples.size
    return float(chisquare(observed, expected * observed.sum() / expected.sum()).pvalue)


def moment_z(samples: np.ndarray, sigma2: float) -> tuple[float, float]:
    """(mean, variance) of `samples` minus the pmf's, in standard errors."""
    x, p = pmf(sigma2)
    var = float((p * x**2).sum())
    mu4 = float((p * x.astype(np.float64) ** 4).sum())
    n = samples.size
    z_mean = samples.mean() / math.sqrt(var / n)
    z_var = (np.mean(samples.astype(np.float64) ** 2) - var) / math.sqrt((mu4 - var**2) / n)
    return float(z_mean), float(z_var)


def symmetry_pvalue(samples: np.ndarray) -> float:
    pos, neg = int((samples > 0).sum()), int((samples < 0).sum())
    return float(binomtest(pos, pos + neg, 0.5).pvalue)


@pytest.fixture(scope="module")
def draws() -> dict[Fraction, np.ndarray]:
    return {s: sample_discrete_gaussian(s, N, np.random.default_rng(11)) for s in SIGMA2S}


@pytest.mark.parametrize("sigma2", SIGMA2S, ids=str)
def test_samples_follow_the_exact_pmf(draws: dict[Fraction, np.ndarray], sigma2: Fraction) -> None:
    s = draws[sigma2]
    assert fit_pvalue(s, float(sigma2)) > ALPHA
    z_mean, z_var = moment_z(s, float(sigma2))
    assert abs(z_mean) < 5 and abs(z_var) < 5
    assert symmetry_pvalue(s) > ALPHA


@pytest.mark.parametrize("sigma2", SIGMA2S[1:], ids=str)
def test_variance_is_sigma2(draws: dict[Fraction, np.ndarray], sigma2: Fraction) -> None:
    """For σ >= 1 the discrete Gaussian's variance is σ² to 1e-6 (CKS20 Cor. 9: at most σ²)."""
    x, p = pmf(float(sigma2))
    assert float((p * x**2).sum()) == pytest.approx(float(sigma2), rel=1e-6)
    s = draws[sigma2].astype(np.float64)
    assert abs(s.var() - float(sigma2)) < 5 * float(sigma2) * math.sqrt(2 / N)


@pytest.mark.parametrize("sigma2", SIGMA2S, ids=str)
def test_the_checks_reject_a_sampler_off_by_20_percent(sigma2: Fraction) -> None:
    """The tests above can fail: the same checks catch σ² × 1.2 and σ² × 0.8."""
    for wrong in (sigma2 * Fraction(6, 5), sigma2 * Fraction(4, 5)):
        s = sample_discrete_gaussian(wrong, N, np.random.default_rng(11))
        assert fit_pvalue(s, float(sigma2)) < ALPHA
        if sigma2 >= 1:
            assert abs(moment_z(s, float(sigma2))[1]) > 5


def test_matches_opendp_sampler() -> None:
    """Two-sample chi-square against OpenDP's discrete Gaussian (make_gaussian on ints)."""
    pytest.importorskip("opendp")
    # Not opendp.prelude: it imports scikit-learn (seconds).
    from opendp.domains import atom_domain, vector_domain
    from opendp.measurements import make_gaussian
    from opendp.metrics import l2_distance
    from opendp.mod import enable_features

    enable_features("contrib")
    rho, n = 0.2, 10_000
    sigma2 = discrete_gaussian_sigma2(rho)
    assert sigma2 == Fraction(5, 2)
    space = vector_domain(atom_domain(T=int)), l2_distance(T=int)
    meas = make_gaussian(*space, scale=math.sqrt(sigma2))
    assert meas.map(1) == pytest.approx(rho, rel=1e-12)  # OpenDP's accounting: the same ρ
    theirs = np.clip(np.array(meas([0] * n)), -6, 6)

    def pvalue(sampler_sigma2: Fraction) -> float:
        ours = np.clip(sample_discrete_gaussian(sampler_sigma2, n, np.random.default_rng(3)), -6, 6)
        table = np.stack([np.bincount(v + 6, minlength=13) for v in (ours, theirs)])
        return float(chi2_contingency(table[:, table.sum(axis=0) > 0]).pvalue)

    assert pvalue(sigma2) > 1e-6
    assert pvalue(sigma2 * Fraction(6, 5)) < 1e-6  # the check can fail


def test_integers_shapes_and_determinism() -> None:
    s = sample_discrete_gaussian(Fraction(7, 3), (3, 4), np.random.default_rng(5))
    assert s.dtype == np.int64 and s.shape == (3, 4)
    assert sample_discrete_gaussian(Fraction(2), 0, np.random.default_rng(5)).shape == (0,)
    a = sample_discrete_gaussian(Fraction(50), 1_000, np.random.default_rng(5))
    b = sample_discrete_gaussian(Fraction(50), 1_000, np.random.default_rng(5))
    c = sample_discrete_gaussian(Fraction(50), 1_000, np.random.default_rng(6))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


class IntegersOnly:
    """A Generator that can only draw integers: any other method fails the test."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self.calls = 0

    def integers(self, *args: object, **kwargs: object) -> np.ndarray:
        self.calls += 1
        return self._rng.integers(*args, **kwargs)  # type: ignore[call-overload]

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the sampler called rng.{name}")


@pytest.mark.parametrize("sigma2", [Fraction(1, 4), Fraction(100), Fraction(2**40)], ids=str)
def test_draws_only_integers_from_the_generator(sigma2: Fraction) -> None:
    rng = IntegersOnly(np.random.default_rng(0))
    s = sample_discrete_gaussian(sigma2, 10_000, rng)  # type: ignore[arg-type]
    assert s.dtype == np.int64 and rng.calls > 0


# --- noisy_counts, the mechanism every generator measures counts with ---------------------------


def test_noisy_counts_draws_only_integers_and_returns_whole_numbers() -> None:
    rng = IntegersOnly(np.random.default_rng(0))
    noisy = noisy_counts(np.arange(1_000), 0.05, rng)  # type: ignore[arg-type]
    assert noisy.dtype == np.float64 and np.array_equal(noisy, np.round(noisy))
    assert np.std(noisy - np.arange(1_000)) == pytest.approx(math.sqrt(10), rel=0.1)


def test_noisy_counts_refuses_fractional_counts() -> None:
    with pytest.raises(ValueError, match="integer"):
        noisy_counts(np.array([1.5, 2.0]), 0.1, np.random.default_rng(0))


@pytest.mark.parametrize(
    "gamma", [Fraction(0), Fraction(3, 10), Fraction(1), Fraction(27, 10), Fraction(5)]
)
def test_bernoulli_exp_has_probability_exp_minus_gamma(gamma: Fraction) -> None:
    n, den = 200_000, gamma.denominator
    q = np.full(n, gamma.numerator // den, dtype=np.int64)
    r = np.full(n, gamma.numerator % den, dtype=np.int64)
    hits = int(_bernoulli_exp(q, r, den, np.random.default_rng(1)).sum())
    if gamma == 0:
        assert hits == n
    else:
        assert binomtest(hits, n, math.exp(-gamma)).pvalue > ALPHA


def test_bernoulli_exp_with_a_denominator_near_int64() -> None:
    """den·k past int64 takes the two-draw branch: Bernoulli(num/den) AND Bernoulli(1/k)."""
    n, den = 200_000, 2**62 + 1
    num = den * 3 // 10
    q, r = np.zeros(n, dtype=np.int64), np.full(n, num, dtype=np.int64)
    hits = int(_bernoulli_exp(q, r, den, np.random.default_rng(2)).sum())
    assert binomtest(hits, n, math.exp(-num / den)).pvalue > ALPHA
    assert binomtest(hits, n, math.exp(-0.36)).pvalue < ALPHA  # and the check can fail


def test_python_integer_path_gives_the_same_distribution(monkeypatch: pytest.MonkeyPatch) -> None:
    """Proposals too large for int64 arithmetic go through Python integers: force all of them."""
    monkeypatch.setattr(dg, "_SQRT_INT64_MAX", 0)  # every |Y| >= 1 takes the Python path
    s = sample_discrete_gaussian(Fraction(100), 20_000, np.random.default_rng(4))
    assert fit_pvalue(s, 100.0) > ALPHA
    assert abs(moment_z(s, 100.0)[1]) < 5


RHOS = [1e-12, 1e-9, 1e-3, 0.01, 0.3, 1.0, 7.0, 1e4]
SIGMA2_GRID = [
    Fraction(1, 10**9),
    Fraction(1, 3),
    Fraction(1),
    Fraction(7, 3),
    Fraction(2**26 - 1, 7),
    Fraction(2**26),
    Fraction(2**26 + 1),
    Fraction(10**9, 3),
    Fraction(10**15),
    Fraction(2**60),
]


@pytest.mark.parametrize("sigma2", SIGMA2_GRID, ids=str)
def test_sigma2_is_rounded_up_within_the_documented_bound(sigma2: Fraction) -> None:
    a, b, t = _represent(sigma2)
    up = Fraction(a, b)
    assert up >= sigma2
    if sigma2 <= 2**26:
        assert b <= 2**26 and a <= 2**26 and b & (b - 1) == 0
        assert up - sigma2 <= (sigma2 * 2**-25 if sigma2 >= 1 else Fraction(1, 2**26))
        assert t == math.isqrt(a // b) + 1
    else:
        assert b == 1 and a % t == 0 and t * t > up >= t * t // 4
        assert up - sigma2 < 2 / math.sqrt(sigma2) * sigma2
    g = math.gcd(a, b * t)
    assert 2 * (a // g) * (b * t // g) * t < 2**63  # the Bernoulli denominator fits int64
    assert _represent(up) == (a, b, t)  # rounding a rounded value changes nothing


def test_sigma2_out_of_range_is_refused() -> None:
    for bad in (Fraction(0), Fraction(-1), Fraction(2**60 + 1)):
        with pytest.raises(ValueError):
            _represent(bad)
    with pytest.raises(ValueError):
        discrete_gaussian_sigma2(0.0)


@pytest.mark.parametrize("rho", RHOS)
def test_sigma2_for_rho_is_at_least_one_over_two_rho(rho: float) -> None:
    sigma2 = discrete_gaussian_sigma2(rho)
    assert sigma2 >= 1 / (2 * Fraction(rho))
    assert float(sigma2) == pytest.approx(1 / (2 * rho), rel=3e-4)


@pytest.mark.parametrize(
    "sigma2", [Fraction(1, 4), Fraction(1), Fraction(5, 2), Fraction(50), Fraction(10_000)], ids=str
)
@pytest.mark.parametrize("delta", [1e-9, 1e-6, 0.05])
def test_threshold_tail_is_at_most_delta(sigma2: Fraction, delta: float) -> None:
    m = discrete_gaussian_threshold(sigma2, delta)
    x, p = pmf(float(sigma2))
    assert p[x >= m].sum() <= delta
    assert p[x >= m - 2].sum() > delta  # and it gives away at most one count
