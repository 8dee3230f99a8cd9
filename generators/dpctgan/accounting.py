"""Glue between the (ε, δ) target and Opacus' accountants: split, calibrate, record.

The target is split by basic composition: preprocessing gets `share` of ε
and δ (spent as zCDP Gaussian measurements), DP-SGD the rest. The noise
multiplier is calibrated for exactly the planned number of steps, and the
calibrated value is checked against the accountant before training starts,
so the final ε can never overshoot. Accountant state is kept as its
history list, stored as JSON (never pickled).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Literal

from opacus.accountants import IAccountant, create_accountant
from opacus.accountants.utils import get_noise_multiplier

from synth.base.errors import PrivacyError

AccountantName = Literal["rdp", "prv"]

#: Tolerance of Opacus' binary search on σ: ε lands in [target - tol, target].
EPSILON_TOLERANCE = 0.01


@dataclass(frozen=True)
class PreprocessingTrainingSplit:
    """The (ε, δ) target split by basic composition: preprocessing's part and DP-SGD's part."""

    preprocessing_epsilon: float
    preprocessing_delta: float
    train_epsilon: float
    train_delta: float


def split_budget(epsilon: float, delta: float, share: float) -> PreprocessingTrainingSplit:
    """Basic composition: ε_pre + ε_train = ε and δ_pre + δ_train = δ."""
    if not 0 <= share < 1:
        raise PrivacyError(f"preprocessing_share must be in [0, 1), got {share}")
    return PreprocessingTrainingSplit(
        epsilon * share, delta * share, epsilon * (1 - share), delta * (1 - share)
    )


@dataclass(frozen=True)
class StepPlan:
    """Poisson sampling rate and step counts: functions of public facts only."""

    sample_rate: float
    steps_per_epoch: int
    epochs: int

    @property
    def steps(self) -> int:
        return self.steps_per_epoch * self.epochs


def plan_steps(n_rows: int, batch_size: int, epochs: int) -> StepPlan:
    q = min(1.0, batch_size / max(n_rows, 1))
    return StepPlan(q, max(1, round(1 / q)), epochs)


def epsilon_of(history: list[tuple[float, float, int]], delta: float, accountant: AccountantName) -> float:
    """ε of a history [(σ, q, steps), ...] under the named accountant (0 if empty).

    PRV reports the upper end of its ε estimate (Opacus' default error bounds).
    """
    if not history:
        return 0.0
    acc = create_accountant(accountant)
    acc.history = [(float(s), float(q), int(k)) for s, q, k in history]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        return float(acc.get_epsilon(delta=delta))


def calibrate_noise(
    epsilon: float, delta: float, plan: StepPlan, accountant: AccountantName
) -> float:
    """The smallest σ Opacus finds whose ε after `plan.steps` steps is ≤ epsilon."""
    if plan.steps <= 0:
        raise PrivacyError("DP training needs at least one step")
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
            sigma = get_noise_multiplier(
                target_epsilon=epsilon, target_delta=delta, sample_rate=plan.sample_rate,
                steps=plan.steps, accountant=accountant, epsilon_tolerance=EPSILON_TOLERANCE,
            )
    except ValueError as exc:
        raise PrivacyError(f"cannot train within ε={epsilon:g}: {exc}") from exc
    spent = epsilon_of([(sigma, plan.sample_rate, plan.steps)], delta, accountant)
    if not spent <= epsilon or not math.isfinite(spent):
        raise PrivacyError(f"calibrated σ={sigma:g} would spend ε={spent:g} > {epsilon:g}")
    return float(sigma)


def new_accountant(name: AccountantName) -> IAccountant:
    return create_accountant(name)


def accountant_state(acc: IAccountant) -> dict[str, Any]:
    """JSON-able state: the mechanism name and the history as lists."""
    return {"mechanism": acc.mechanism(), "history": [list(h) for h in acc.history]}


def load_accountant(state: dict[str, Any]) -> IAccountant:
    acc = create_accountant(state["mechanism"])
    acc.load_state_dict({"mechanism": state["mechanism"],
                         "history": [(float(s), float(q), int(k)) for s, q, k in state["history"]]})
    return acc
