"""A zCDP budget that records every charge (one per DP release) and refuses to overspend.

A generator builds one from its (ε, δ) target, spends ρ on each Gaussian
measurement (and an extra δ on each threshold-based selection), and reports
the (ε, δ) it actually used. Composition: ρ adds up; selection δs add up;
the conversion uses what is left of δ.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from generators.privacy.zcdp import cdp_eps, cdp_rho, unit_rho
from synth.base.errors import PrivacyError


@dataclass(frozen=True)
class ZCDPCharge:
    """One charge to a `ZCDPBudget`: the DP release it paid for, its ρ and any extra δ (threshold selection)."""

    purpose: str
    rho: float
    delta: float = 0.0


@dataclass
class ZCDPBudget:
    """Tracks ρ and selection-δ against an (ε, δ) target per privacy unit.

    With units of up to `max_rows` rows (k), the mechanisms are calibrated
    per row and the budget holds ρ/k² of them (zCDP group privacy); `spent`
    converts k²·ρ, the per-unit guarantee.
    """

    epsilon: float
    delta: float
    selection_delta: float = 0.0
    charges: list[ZCDPCharge] = field(default_factory=list)
    max_rows: int = 1

    def __post_init__(self) -> None:
        if self.epsilon <= 0:
            raise PrivacyError(f"epsilon must be positive, got {self.epsilon}")
        if not 0 < self.delta < 1:
            raise PrivacyError(f"delta must be in (0, 1), got {self.delta}")
        if not 0 <= self.selection_delta < self.delta:
            raise PrivacyError("the selection share of delta must be below delta")
        self.rho_total = unit_rho(cdp_rho(self.epsilon, self.delta - self.selection_delta), self.max_rows)

    @property
    def rho_spent(self) -> float:
        return sum(m.rho for m in self.charges)

    @property
    def delta_spent_on_selection(self) -> float:
        return sum(m.delta for m in self.charges)

    @property
    def rho_remaining(self) -> float:
        return max(0.0, self.rho_total - self.rho_spent)

    def spend(self, purpose: str, rho: float, delta: float = 0.0) -> ZCDPCharge:
        if rho < 0 or delta < 0:
            raise ValueError("rho and delta must be non-negative")
        tol = 1e-12 * max(1.0, self.rho_total)
        if self.rho_spent + rho > self.rho_total + tol:
            raise PrivacyError(
                f"{purpose}: spending rho={rho:.4g} would pass the budget "
                f"(rho {self.rho_spent:.4g} of {self.rho_total:.4g} spent)"
            )
        if self.delta_spent_on_selection + delta > self.selection_delta * (1 + 1e-9):
            raise PrivacyError(f"{purpose}: selection delta {delta:.3g} would pass its share")
        m = ZCDPCharge(purpose, min(rho, self.rho_total - self.rho_spent) if rho > 0 else 0.0, delta)
        self.charges.append(m)
        return m

    def spent(self) -> tuple[float, float]:
        """The (ε, δ) actually used so far; never above the target."""
        rho = self.rho_spent
        if rho == 0 and self.delta_spent_on_selection == 0:
            return 0.0, 0.0
        conv_delta = self.delta - self.selection_delta
        eps = cdp_eps(rho * self.max_rows**2, conv_delta) if rho > 0 else 0.0
        return min(eps, self.epsilon), conv_delta + self.delta_spent_on_selection
