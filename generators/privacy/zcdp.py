"""Zero-concentrated DP: pure conversion math, no state.

Conversions follow Canonne, Kamath & Steinke (2020), "The discrete Gaussian
for differential privacy", Prop. 12 / Cor. 13: the tight bound on δ for a
ρ-zCDP mechanism at a given ε. Every search below errs on the safe side: a
returned ρ never converts to more than the asked ε, and a returned ε is never
below the true one.

>>> round(cdp_eps(0.5, 1e-6), 4)
5.2215
>>> cdp_delta(cdp_rho(1.0, 1e-6), 1.0) <= 1e-6
True
"""

from __future__ import annotations

import math


def cdp_delta(rho: float, eps: float) -> float:
    """Smallest δ such that ρ-zCDP implies (ε, δ)-DP."""
    if rho < 0 or eps < 0:
        raise ValueError("rho and eps must be non-negative")
    if rho == 0:
        return 0.0
    amin, amax = 1.01, (eps + 1) / (2 * rho) + 2
    alpha = amin
    for _ in range(1000):
        alpha = (amin + amax) / 2
        if alpha in (amin, amax):  # converged to float precision: further steps change nothing
            break
        derivative = (2 * alpha - 1) * rho - eps + math.log1p(-1.0 / alpha)
        if derivative < 0:
            amin = alpha
        else:
            amax = alpha
    delta = math.exp(
        (alpha - 1) * (alpha * rho - eps) + alpha * math.log1p(-1 / alpha)
    ) / (alpha - 1.0)
    return min(delta, 1.0)


def cdp_eps(rho: float, delta: float) -> float:
    """Smallest ε (rounded up) such that ρ-zCDP implies (ε, δ)-DP."""
    if not 0 < delta < 1:
        raise ValueError("delta must be in (0, 1)")
    if rho < 0:
        raise ValueError("rho must be non-negative")
    if rho == 0:
        return 0.0
    epsmin, epsmax = 0.0, rho + 2 * math.sqrt(rho * math.log(1 / delta))
    for _ in range(1000):
        eps = (epsmin + epsmax) / 2
        if eps in (epsmin, epsmax):
            break
        if cdp_delta(rho, eps) <= delta:
            epsmax = eps
        else:
            epsmin = eps
    return epsmax


def cdp_rho(eps: float, delta: float) -> float:
    """Largest ρ (rounded down) such that ρ-zCDP implies (ε, δ)-DP."""
    if eps < 0:
        raise ValueError("eps must be non-negative")
    if not 0 < delta < 1:
        raise ValueError("delta must be in (0, 1)")
    if eps == 0:
        return 0.0
    rhomin, rhomax = 0.0, eps + 1
    for _ in range(1000):
        rho = (rhomin + rhomax) / 2
        if rho in (rhomin, rhomax):
            break
        if cdp_delta(rho, eps) <= delta:
            rhomin = rho
        else:
            rhomax = rho
    return rhomin


def gaussian_sigma(rho: float, sensitivity: float = 1.0) -> float:
    """Noise scale of the Gaussian mechanism that is ρ-zCDP for this L2 sensitivity."""
    if rho <= 0:
        raise ValueError("rho must be positive")
    return sensitivity / math.sqrt(2 * rho)


def gaussian_rho(sigma: float, sensitivity: float = 1.0) -> float:
    """ρ of the Gaussian mechanism with noise scale σ: Δ² / (2σ²)."""
    return sensitivity**2 / (2 * sigma**2)


def unit_rho(rho: float, max_rows: int) -> float:
    """The ρ a row-level mechanism may use so that it is ρ-zCDP per unit of up to k rows.

    Group privacy of zCDP (Bun & Steinke 2016, Prop. 27): ρ-zCDP for one row is
    k²ρ-zCDP for k rows; for the Gaussian mechanism this is exactly sensitivity k.
    """
    if max_rows < 1:
        raise ValueError(f"max_rows must be at least 1, got {max_rows}")
    return rho / (max_rows * max_rows)
