"""zCDP conversion math and the budget that refuses to overspend."""

from __future__ import annotations

import doctest
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from generators.privacy import zcdp
from generators.privacy.accounting import ZCDPBudget
from generators.privacy.zcdp import cdp_delta, cdp_eps, cdp_rho, gaussian_rho, gaussian_sigma
from synth.base.errors import PrivacyError

epsilons = st.floats(min_value=0.01, max_value=30.0)
deltas = st.floats(min_value=1e-12, max_value=0.1)
rhos = st.floats(min_value=1e-6, max_value=20.0)


def test_doctests() -> None:
    assert doctest.testmod(zcdp).failed == 0


@pytest.mark.parametrize(("sigma", "rho"), [(1.0, 0.5), (2.0, 0.125), (0.5, 2.0), (10.0, 0.005)])
def test_gaussian_mechanism_rho_is_one_over_two_sigma_squared(sigma: float, rho: float) -> None:
    # Bun & Steinke (2016), Prop. 1.6: the Gaussian mechanism with sensitivity 1
    # and noise N(0, σ²) is 1/(2σ²)-zCDP.
    assert gaussian_rho(sigma) == pytest.approx(rho)
    assert gaussian_sigma(rho) == pytest.approx(sigma)
    assert gaussian_rho(2 * sigma, sensitivity=2.0) == pytest.approx(rho)


def _exact_gaussian_delta(sigma: float, eps: float) -> float:
    """Balle & Wang (2018), Thm. 8: the exact δ(ε) of the Gaussian mechanism, sensitivity 1."""
    return float(
        norm.cdf(1 / (2 * sigma) - eps * sigma)
        - math.exp(eps) * norm.cdf(-1 / (2 * sigma) - eps * sigma)
    )


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0, 5.0])
@pytest.mark.parametrize("eps", [0.1, 1.0, 3.0])
def test_conversion_never_claims_more_privacy_than_the_exact_gaussian_curve(
    sigma: float, eps: float
) -> None:
    exact = _exact_gaussian_delta(sigma, eps)
    bound = cdp_delta(gaussian_rho(sigma), eps)
    assert bound >= exact
    # ... and is not uselessly loose where δ is of a practical size.
    if exact > 1e-3:
        assert bound <= 4 * exact


@given(rho=rhos, delta=deltas)
def test_cdp_eps_is_tighter_than_bun_steinke(rho: float, delta: float) -> None:
    # Bun & Steinke (2016), Prop. 1.3: ρ-zCDP implies (ρ + 2√(ρ log 1/δ), δ)-DP.
    assert cdp_eps(rho, delta) <= rho + 2 * math.sqrt(rho * math.log(1 / delta)) + 1e-12


@settings(max_examples=200)
@given(eps=epsilons, delta=deltas)
def test_cdp_rho_never_overshoots(eps: float, delta: float) -> None:
    rho = cdp_rho(eps, delta)
    assert rho > 0
    assert cdp_delta(rho, eps) <= delta
    assert cdp_eps(rho, delta) <= eps * (1 + 1e-9)


@settings(max_examples=200)
@given(rho=rhos, delta=deltas)
def test_cdp_eps_is_safe(rho: float, delta: float) -> None:
    eps = cdp_eps(rho, delta)
    assert cdp_delta(rho, eps) <= delta
    # tight: a visibly smaller ε would not hold (unless ε = 0 already does)
    if cdp_delta(rho, 0.0) > delta:
        assert cdp_delta(rho, eps * 0.99) > delta


@given(eps=epsilons, delta=deltas, factor=st.floats(min_value=1.01, max_value=10.0))
def test_conversions_are_monotone(eps: float, delta: float, factor: float) -> None:
    assert cdp_rho(eps * factor, delta) > cdp_rho(eps, delta)
    assert cdp_rho(eps, min(delta * factor, 0.5)) >= cdp_rho(eps, delta)
    rho = cdp_rho(eps, delta)
    assert cdp_eps(rho * factor, delta) > cdp_eps(rho, delta)
    assert cdp_delta(rho, eps * factor) <= cdp_delta(rho, eps)


@pytest.mark.parametrize(
    ("call", "args"),
    [
        (cdp_rho, (-1.0, 1e-6)),
        (cdp_rho, (1.0, 0.0)),
        (cdp_eps, (0.1, 1.0)),
        (cdp_delta, (-0.1, 1.0)),
    ],
)
def test_conversions_reject_nonsense(call, args) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        call(*args)


def test_zero_rho_costs_nothing() -> None:
    assert cdp_delta(0.0, 1.0) == 0.0
    assert cdp_eps(0.0, 1e-6) == 0.0
    assert cdp_rho(0.0, 1e-6) == 0.0


# --- the budget ----------------------------------------------------------------------------


def test_budget_refuses_to_overspend_rho() -> None:
    b = ZCDPBudget(1.0, 1e-6)
    b.spend("a", b.rho_total * 0.6)
    with pytest.raises(PrivacyError, match="would pass the budget"):
        b.spend("b", b.rho_total * 0.5)
    assert len(b.charges) == 1
    b.spend("c", b.rho_remaining)
    with pytest.raises(PrivacyError):
        b.spend("d", b.rho_total * 1e-6)
    eps, delta = b.spent()
    assert eps <= 1.0
    assert delta <= 1e-6


def test_budget_refuses_to_overspend_selection_delta() -> None:
    b = ZCDPBudget(1.0, 1e-6, selection_delta=4e-7)
    b.spend("select a", b.rho_total / 4, delta=2e-7)
    b.spend("select b", b.rho_total / 4, delta=2e-7)
    with pytest.raises(PrivacyError, match="selection delta"):
        b.spend("select c", b.rho_total / 4, delta=1e-8)
    eps, delta = b.spent()
    assert delta == pytest.approx(1e-6)
    assert eps < 1.0


def test_budget_rejects_bad_targets() -> None:
    with pytest.raises(PrivacyError):
        ZCDPBudget(0.0, 1e-6)
    with pytest.raises(PrivacyError):
        ZCDPBudget(1.0, 1.0)
    with pytest.raises(PrivacyError):
        ZCDPBudget(1.0, 1e-6, selection_delta=1e-6)


@settings(max_examples=50)
@given(
    eps=epsilons,
    delta=deltas,
    shares=st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=20),
)
def test_budget_spent_never_passes_target(eps: float, delta: float, shares: list[float]) -> None:
    b = ZCDPBudget(eps, delta)
    total = sum(shares) or 1.0
    for i, s in enumerate(shares):
        # The share first: rho_total * 5e-324 rounds in the subnormal range (to 16 × 5e-324).
        b.spend(f"m{i}", b.rho_total * (s / total) * (1 - 1e-9))
    spent_eps, spent_delta = b.spent()
    assert spent_eps <= eps
    assert spent_delta <= delta
    # ε spent grows with every measurement
    assert spent_eps == pytest.approx(cdp_eps(b.rho_spent, delta)) or b.rho_spent == 0
