"""The release policy's rules (synth.core.policy_rules), on real evaluator output and on hand-made JSON.

A verbatim copy of the train rows, scored by `evaluators.evaluate`, fails the
default policy for the right reasons; rules that were asked for but not
measured fail; rules that cannot apply say "not applicable"; thresholds are
bounded.
"""

from __future__ import annotations

import math
from typing import Any

import pyarrow as pa
import pytest

from evaluators import evaluate
from synth.base.errors import InvalidArgument
from synth.core.policy import DEFAULT_POLICY, ModelSpend, ReleasePolicy, RuleStatus, Verdict
from synth.core.policy_rules import verdict_of

DP = ModelSpend(epsilon=1.0, delta=1e-7, train_rows=1000)


def _status(v: Verdict) -> dict[str, RuleStatus]:
    return {r.rule: r.status for r in v.rules}


@pytest.fixture(scope="module")
def copy_result(adult: pa.Table) -> dict[str, Any]:
    """Every score of a synthetic table that is the train rows themselves."""
    train, holdout = adult.slice(0, 800), adult.slice(800, 200)
    return evaluate(train, train, holdout, target="income", seed=0).to_json_dict()


def test_a_verbatim_copy_fails_the_default_policy_for_the_right_reasons(
    copy_result: dict[str, Any],
) -> None:
    # Even with a DP spend on record, the copy's own scores refuse it.
    verdict = verdict_of(DEFAULT_POLICY, copy_result, DP)
    status = _status(verdict)
    assert not verdict.passed
    for rule in (
        "exact_match_share",
        "dcr_share",
        "membership_auc",
        "singling_out_risk",
        "inference_risk",
    ):
        assert status[rule] is RuleStatus.FAILED, rule
    assert status["min_quality"] is RuleStatus.PASSED  # a copy is perfectly faithful
    mia = next(r for r in verdict.rules if r.rule == "membership_auc")
    assert mia.observed == copy_result["membership"]["auc"]["high"] and mia.threshold == 0.55
    assert "(95 % upper bound) is above the ceiling 0.55" in mia.message
    assert "tell members apart" in mia.message
    exact = next(r for r in verdict.rules if r.rule == "exact_match_share")
    assert exact.observed == pytest.approx(1.0)
    # Trained without DP: the privacy rules fail too, whatever the scores.
    nodp = verdict_of(DEFAULT_POLICY, copy_result, ModelSpend(None, None, 800))
    failed = {r.rule: r for r in nodp.failed}
    assert failed["max_epsilon"].observed == math.inf
    assert "without differential privacy" in failed["max_delta_times_rows"].message


def test_rules_asked_for_but_not_measured_fail(copy_result: dict[str, Any]) -> None:
    only_fidelity = {"fidelity": copy_result["fidelity"], "options": copy_result["options"]}
    verdict = verdict_of(DEFAULT_POLICY, only_fidelity, DP)
    status = _status(verdict)
    assert status["min_quality"] is RuleStatus.PASSED
    for rule in (
        "exact_match_share",
        "dcr_share",
        "membership_auc",
        "singling_out_risk",
        "linkability_risk",
        "inference_risk",
    ):
        assert status[rule] is RuleStatus.FAILED, rule
    assert not verdict.passed
    assert all("not measured" in r.message for r in verdict.failed)


def test_rules_that_cannot_apply_are_not_applicable_and_do_not_fail() -> None:
    policy = ReleasePolicy(
        max_epsilon=None,
        max_delta_times_rows=None,
        min_quality=None,
        exact_match_margin=None,
        dcr_margin=None,
        max_membership_auc=None,
        max_singling_out_risk=None,
        max_linkability_risk=None,
        max_inference_risk=None,
        min_efficacy_ratio=0.9,
        min_subgroup_quality=0.7,
        min_subgroup_tstr_ratio=0.8,
    )
    verdict = verdict_of(policy, {}, DP, target="")
    assert [(r.rule, r.status) for r in verdict.rules] == [
        ("min_efficacy_ratio", RuleStatus.NOT_APPLICABLE),
        ("min_subgroup_quality", RuleStatus.NOT_APPLICABLE),
        ("min_subgroup_tstr_ratio", RuleStatus.NOT_APPLICABLE),
    ]
    assert verdict.passed
    # Protected columns named but no per-group scores: asked for, not measured, failed.
    guarded = ReleasePolicy(**{**policy.to_json_dict(), "protected_columns": ("sex",)})
    status = _status(verdict_of(guarded, {}, DP, target="income"))
    assert status["min_subgroup_quality[sex]"] is RuleStatus.FAILED
    assert status["min_subgroup_tstr_ratio[sex]"] is RuleStatus.FAILED


def test_ceilings_read_the_upper_bound_not_the_estimate() -> None:
    result = {"membership": {"auc": {"value": 0.51, "low": 0.45, "high": 0.57}}}
    policy = ReleasePolicy(**{**DEFAULT_POLICY.to_json_dict(), "max_epsilon": None})
    rule = next(r for r in verdict_of(policy, result, DP).rules if r.rule == "membership_auc")
    assert rule.status is RuleStatus.FAILED and rule.observed == 0.57
    assert "cannot be ruled out" in rule.message and "0.51" in rule.message
    result["membership"]["auc"]["high"] = 0.549
    rule = next(r for r in verdict_of(policy, result, DP).rules if r.rule == "membership_auc")
    assert rule.status is RuleStatus.PASSED


def test_delta_ceiling_scales_with_the_units() -> None:
    policy = ReleasePolicy()
    ok = verdict_of(policy, {}, ModelSpend(1.0, 1e-5, 9_999))  # 1/(10n) ≈ 1.0001e-5
    big = verdict_of(policy, {}, ModelSpend(1.0, 1e-5, 10_001))
    assert _status(ok)["max_delta_times_rows"] is RuleStatus.PASSED
    assert _status(big)["max_delta_times_rows"] is RuleStatus.FAILED


@pytest.mark.parametrize(
    "kw",
    [
        {"max_epsilon": 0.0},
        {"max_epsilon": 1e6 + 1},
        {"max_epsilon": math.inf},
        {"max_delta": 0.0},
        {"min_quality": -0.01},
        {"max_membership_auc": math.nan},
        {"dcr_margin": 1.01},
        {"approvals_required": -1},
        {"approvals_required": 11},
        {"protected_columns": ("a", "a")},
        {"protected_columns": ("",)},
    ],
)
def test_out_of_bounds_thresholds_are_refused(kw: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument) as err:
        ReleasePolicy(**kw).validate()
    assert err.value.violations and err.value.violations[0].field == next(iter(kw))


def test_the_default_and_its_json_round_trip() -> None:
    d = DEFAULT_POLICY
    assert (d.max_epsilon, d.max_delta_times_rows, d.min_quality) == (3.0, 0.1, 0.8)
    assert (d.exact_match_margin, d.dcr_margin, d.max_membership_auc) == (0.0, 0.03, 0.55)
    assert (d.max_singling_out_risk, d.max_linkability_risk, d.max_inference_risk) == (0.05,) * 3
    assert d.approvals_required == 1
    assert ReleasePolicy.from_json_dict(d.to_json_dict()) == d.validate()


def test_pair_trends_without_a_counted_pair_are_not_applicable() -> None:
    policy = ReleasePolicy(min_pair_trends=0.9)
    fid = {"overall": 0.9, "column_shapes": 0.9, "column_pair_trends": None, "shapes": []}
    status = _status(verdict_of(policy, {"fidelity": fid}, DP))
    assert status["min_pair_trends"] is RuleStatus.NOT_APPLICABLE
    fid["column_pair_trends"] = 0.5
    assert (
        _status(verdict_of(policy, {"fidelity": fid}, DP))["min_pair_trends"] is RuleStatus.FAILED
    )
    # No fidelity at all: asked for, not measured.
    assert _status(verdict_of(policy, {}, DP))["min_pair_trends"] is RuleStatus.FAILED


def test_an_erased_group_fails_the_subgroup_floor_by_name() -> None:
    policy = ReleasePolicy(protected_columns=("sex",), min_subgroup_quality=0.6)
    groups = [{"group": "Male", "quality": 0.9}, {"group": "Female", "quality": 0.0}]
    result = {"subgroups": {"columns": {"sex": {"groups": groups, "withheld": 2}}, "target": None}}
    rule = next(r for r in verdict_of(policy, result, DP).rules if r.rule.startswith("min_sub"))
    assert (rule.rule, rule.status, rule.observed) == (
        "min_subgroup_quality[sex]",
        RuleStatus.FAILED,
        0.0,
    )
    assert "(Female; 2 groups under min_group_rows real rows not scored)" in rule.message
