"""DP-CTGAN's accounting glue against Opacus' own pinned figures, and the no-overshoot promise."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generators.dpctgan import DPCTGAN
from generators.dpctgan.accounting import (
    StepPlan,
    accountant_state,
    calibrate_noise,
    epsilon_of,
    load_accountant,
    new_accountant,
    plan_steps,
    split_budget,
)
from synth.base.errors import PrivacyError
from synth.base.schema import ColumnKind, ColumnSchema, TableSchema

# Pinned in opacus/tests/accountants_test.py (Opacus 1.6): σ=1.5, q=0.04, 2250 steps, δ=1e-5.
OPACUS_RDP_EPS = 7.32911117143
OPACUS_PRV_EPS = 6.777395712150674


@pytest.mark.parametrize(
    ("name", "steps", "pinned"),
    # Opacus counts int(90 / 0.04) = 2250 steps for RDP, int(90 // 0.04) = 2249 for PRV.
    [("rdp", int(90 / 0.04), OPACUS_RDP_EPS), ("prv", int(90 // 0.04), OPACUS_PRV_EPS)],
)
def test_epsilon_matches_opacus_pinned_values(name: str, steps: int, pinned: float) -> None:
    acc = new_accountant(name)  # type: ignore[arg-type]
    for _ in range(steps):
        acc.step(noise_multiplier=1.5, sample_rate=0.04)
    state = json.loads(json.dumps(accountant_state(acc)))  # the checkpoint's JSON form
    assert epsilon_of(state["history"], 1e-5, name) == pytest.approx(pinned, abs=1e-6)  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "pinned"), [("rdp", 1.3562), ("prv", 1.2915)])
def test_noise_multiplier_matches_opacus_pinned_values(name: str, pinned: float) -> None:
    # opacus test_get_noise_multiplier_{rdp,prv}_steps: ε=8, δ=1e-5, q=0.04, 2000 steps.
    sigma = calibrate_noise(8.0, 1e-5, StepPlan(0.04, 2000, 1), name)  # type: ignore[arg-type]
    assert sigma == pytest.approx(pinned, abs=1e-4)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    epsilon=st.floats(0.3, 10.0),
    n=st.integers(500, 200_000),
    batch=st.integers(16, 2_000),
    epochs=st.integers(1, 30),
)
def test_spent_epsilon_never_exceeds_target(epsilon: float, n: int, batch: int, epochs: int) -> None:
    delta = 1.0 / (10 * n)
    plan = plan_steps(n, batch, epochs)
    sigma = calibrate_noise(epsilon, delta, plan, "rdp")
    acc = new_accountant("rdp")
    for _ in range(plan.steps):  # step by step, as the trainer does
        acc.step(noise_multiplier=sigma, sample_rate=plan.sample_rate)
    spent = epsilon_of(list(acc.history), delta, "rdp")
    assert spent <= epsilon
    assert spent >= epsilon - 0.011  # calibrated to the budget, not far below it


@given(epsilon=st.floats(0.1, 20.0), share=st.floats(0.0, 0.9))
def test_plan_splits_the_whole_target_and_no_more(epsilon: float, share: float) -> None:
    schema = TableSchema((ColumnSchema("x", ColumnKind.NUMERICAL, "double", lower=0.0, upper=1.0),))
    try:
        spends = DPCTGAN(epsilon=epsilon, preprocessing_share=share).plan(schema, 10_000)
    except PrivacyError as exc:
        # No σ reaches a training share this small at δ ≈ 1e-5 (below about 0.12 here): the
        # plan refuses it before any charge, as the fit would have after preprocessing.
        assert "cannot train within" in str(exc) and epsilon * (1 - share) < 0.2
        return
    assert sum(s.epsilon for s in spends) == pytest.approx(epsilon)
    assert sum(s.epsilon for s in spends) <= epsilon * (1 + 1e-12)
    assert sum(s.delta for s in spends) < 1 / 10_000
    assert {s.purpose for s in spends} == ({"training"} if share == 0 else {"preprocessing", "training"})


def test_split_budget_adds_up() -> None:
    s = split_budget(3.0, 1e-6, 0.2)
    assert s.preprocessing_epsilon + s.train_epsilon == pytest.approx(3.0)
    assert s.preprocessing_delta + s.train_delta == pytest.approx(1e-6)
    with pytest.raises(PrivacyError):
        split_budget(3.0, 1e-6, 1.0)


def test_accountant_state_round_trips_through_json_and_refuses_other_mechanisms() -> None:
    acc = new_accountant("rdp")
    for _ in range(7):
        acc.step(noise_multiplier=1.1, sample_rate=0.01)
    back = load_accountant(json.loads(json.dumps(accountant_state(acc))))
    assert back.history == acc.history
    assert back.get_epsilon(1e-5) == acc.get_epsilon(1e-5)
    with pytest.raises(ValueError):  # a state of one mechanism never loads into another
        new_accountant("prv").load_state_dict({"mechanism": "rdp", "history": []})


def test_default_delta_is_below_one_over_n() -> None:
    schema = TableSchema((ColumnSchema("x", ColumnKind.NUMERICAL, "double"),))
    for n in (10, 3_000, 32_561):
        spends = DPCTGAN(epsilon=1.0).plan(schema, n)
        assert 0 < sum(s.delta for s in spends) < 1 / n
    np.testing.assert_equal(len(spends), 2)
