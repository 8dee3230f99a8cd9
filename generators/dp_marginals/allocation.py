"""How `dp_marginals` splits its (ε, δ) target, from public facts only.

The split is a pure function of the schema, the row count and the
hyper-parameters, so `plan` (before any row is read) and `fit` (which spends
it) agree to the last bit. zCDP composes by adding ρ, so the target is
converted to one ρ, every modelled column gets an equal share, and a column
that needs its bounds or its category set discovered gives part of its share
to that step. Threshold-based category selection also needs a δ of its own,
taken from a fixed share of the target δ.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from generators.privacy.zcdp import cdp_eps, cdp_rho, unit_rho
from synth.base.errors import InvalidArgument
from synth.base.schema import TableSchema
from synth.base.spend import Spend

MECHANISM = "zcdp-gaussian"
#: Ledger purposes, in the order a plan lists them.
PURPOSES = ("bounds", "categories", "marginals")
#: Shave this fraction off ρ so that summing the shares in floating point can
#: never pass the converted total.
_RHO_SAFETY = 1e-9


@dataclass(frozen=True)
class Step:
    """One Gaussian measurement of one column: its stage, ledger purpose, ρ and extra δ."""

    column: str
    stage: str  # "bounds.coarse", "bounds.refine", "categories", "marginal"
    purpose: str  # one of PURPOSES
    rho: float
    delta: float = 0.0


@dataclass(frozen=True)
class Allocation:
    """Every measurement `fit` will make, in the order it makes them."""

    epsilon: float
    delta: float
    selection_delta: float
    rho_total: float
    steps: tuple[Step, ...]
    #: Rows per privacy unit (k): the steps' ρ are per row, k² of them per unit.
    max_rows: int = 1

    @property
    def conversion_delta(self) -> float:
        return self.delta - self.selection_delta

    def for_column(self, name: str) -> dict[str, Step]:
        return {s.stage: s for s in self.steps if s.column == name}

    def rho_by_purpose(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for s in self.steps:
            out[s.purpose] = out.get(s.purpose, 0.0) + s.rho
        return out

    def planned_epsilon(self) -> float:
        """The ε the steps add up to (what `ZCDPBudget.spent` reports after them)."""
        rho = 0.0
        for s in self.steps:  # same order of additions as the budget's sum
            rho += s.rho
        if rho <= 0:
            return 0.0
        return min(cdp_eps(rho * self.max_rows**2, self.conversion_delta), self.epsilon)


def allocate(
    schema: TableSchema,
    epsilon: float,
    delta: float,
    *,
    preprocessing_share: float,
    selection_delta_share: float,
) -> Allocation:
    """Split (ε, δ) into per-column measurements; reads nothing but the schema."""
    cols = schema.modelled()
    if not cols:
        raise InvalidArgument("the schema has no modelled column")
    n_select = sum(c.needs_dp_measurement == "categories" for c in cols)
    selection_delta = delta * selection_delta_share if n_select else 0.0
    k = schema.max_rows_per_unit
    rho_total = unit_rho(cdp_rho(epsilon, delta - selection_delta), k)
    per_column = rho_total * (1 - _RHO_SAFETY) / len(cols)
    steps: list[Step] = []
    for col in cols:
        marginal = per_column
        if col.needs_dp_measurement == "bounds":
            preprocessing = per_column * preprocessing_share
            marginal = per_column - preprocessing
            steps.append(Step(col.name, "bounds.coarse", "bounds", preprocessing / 2))
            steps.append(Step(col.name, "bounds.refine", "bounds", preprocessing / 2))
        elif col.needs_dp_measurement == "categories":
            preprocessing = per_column * preprocessing_share
            marginal = per_column - preprocessing
            steps.append(
                Step(col.name, "categories", "categories", preprocessing, selection_delta / n_select)
            )
        steps.append(Step(col.name, "marginal", "marginals", marginal))
    return Allocation(epsilon, delta, selection_delta, rho_total, tuple(steps), k)


def spends(alloc: Allocation, epsilon_spent: float) -> list[Spend]:
    """Ledger rows per purpose: ε and conversion-δ attributed in proportion to ρ.

    zCDP composes before converting, so per-purpose (ε, δ) are an attribution
    of the total, not separate guarantees; they add up exactly to the total.
    """
    by_purpose = alloc.rho_by_purpose()
    rho = sum(by_purpose.values())
    out = []
    for purpose in PURPOSES:
        r = by_purpose.get(purpose, 0.0)
        if r <= 0:
            continue
        sel = sum(s.delta for s in alloc.steps if s.purpose == purpose)
        out.append(
            Spend(
                purpose=purpose,
                epsilon=epsilon_spent * r / rho,
                delta=alloc.conversion_delta * r / rho + sel,
                mechanism=MECHANISM,
            )
        )
    return out


def details(alloc: Allocation) -> Mapping[str, float]:
    """Numbers worth keeping beside the report (all ρ, all from the plan)."""
    out = {"rho_total": alloc.rho_total, "selection_delta": alloc.selection_delta}
    out.update({f"rho_{p}": r for p, r in alloc.rho_by_purpose().items()})
    return out
