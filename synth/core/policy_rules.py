"""The rules of a release policy: pure functions over an evaluation's stored JSON.

`verdict_of` reads the evaluation's scores (the JSON
`evaluators.EvaluationResult.to_json_dict` writes), the model's privacy spend
and the target, and answers one `RuleResult` per rule. Risk ceilings compare
the *upper* end of each interval the evaluators report, so a release passes
only when the evidence shows the risk is low, not merely when the point
estimate happens to be. A rule the policy asks for but the evaluation did not
measure fails (it is never passed by silence); a rule that cannot apply (an
efficacy floor without a target, subgroup floors without protected columns)
says "not applicable".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from synth.base.errors import FieldViolation, InvalidArgument
from synth.core.policy import ModelSpend, ReleasePolicy, RuleResult, RuleStatus, Verdict
from synth.store.records import EvaluationRecord, ModelRecord, SourceRecord


@dataclass
class _Ctx:
    policy: ReleasePolicy
    result: Mapping[str, Any]
    model: ModelSpend
    target: str
    out: list[RuleResult] = field(default_factory=list)

    def add(
        self,
        rule: str,
        status: RuleStatus,
        observed: float | None,
        threshold: float | None,
        message: str,
    ) -> None:
        self.out.append(RuleResult(rule, status, observed, threshold, message))


def _num(x: Any) -> float | None:
    return (
        float(x)
        if isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
        else None
    )


def _dig(d: Mapping[str, Any] | None, *path: str) -> Any:
    cur: Any = d
    for p in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(p)
    return cur


def _g(x: float | None) -> str:
    return "?" if x is None else f"{x:.4g}"


def _missing(c: _Ctx, rule: str, threshold: float, what: str) -> None:
    c.add(
        rule,
        RuleStatus.FAILED,
        None,
        threshold,
        f"{what} was not measured by this evaluation, so the policy's rule cannot be met; "
        "evaluate the dataset with every metric",
    )


def _ceiling(
    c: _Ctx,
    rule: str,
    value: float | None,
    limit: float,
    what: str,
    harm: str,
    point: float | None = None,
) -> None:
    """A risk ceiling on an interval's upper end (`point`: the estimate itself, for the message)."""
    level = _num(_dig(c.result, "options", "confidence")) or 0.95
    bound = f"({level * 100:g} % upper bound)"
    if value is None:
        _missing(c, rule, limit, what)
    elif value <= limit:
        c.add(
            rule,
            RuleStatus.PASSED,
            value,
            limit,
            f"{what} up to {_g(value)} {bound} is within the ceiling {_g(limit)}",
        )
    else:
        c.add(
            rule,
            RuleStatus.FAILED,
            value,
            limit,
            f"{what} up to {_g(value)} {bound} is above the ceiling {_g(limit)}: {harm}"
            if point is None or point > limit
            else f"{what} up to {_g(value)} {bound} is above the ceiling {_g(limit)}: that {harm} "
            f"cannot be ruled out (the estimate itself is {_g(point)}, but the interval is too "
            "wide to show the risk is low: more holdout rows or attacks narrow it)",
        )


def _floor(c: _Ctx, rule: str, value: float | None, floor: float, what: str) -> None:
    if value is None:
        _missing(c, rule, floor, what)
    elif value >= floor:
        c.add(
            rule, RuleStatus.PASSED, value, floor, f"{what} {_g(value)} meets the floor {_g(floor)}"
        )
    else:
        c.add(
            rule,
            RuleStatus.FAILED,
            value,
            floor,
            f"{what} {_g(value)} is below the floor {_g(floor)}: the synthetic rows are too "
            "unlike the real ones",
        )


def _with_size(m: ModelSpend) -> str:
    return f" (with ε = {_g(m.size_epsilon)} for the source's size)" if m.size_epsilon else ""


def _privacy(c: _Ctx) -> None:
    p, m = c.policy, c.model
    if p.max_epsilon is not None:
        if m.epsilon is None:
            c.add(
                "max_epsilon",
                RuleStatus.FAILED,
                math.inf,
                p.max_epsilon,
                "the model was trained without differential privacy (ε unbounded), above the "
                f"ceiling ε ≤ {_g(p.max_epsilon)}: nothing limits what it learnt of one person",
            )
        elif m.epsilon <= p.max_epsilon:
            c.add(
                "max_epsilon",
                RuleStatus.PASSED,
                m.epsilon,
                p.max_epsilon,
                f"the model spent ε = {_g(m.epsilon)}{_with_size(m)}, within the ceiling "
                f"{_g(p.max_epsilon)}",
            )
        else:
            c.add(
                "max_epsilon",
                RuleStatus.FAILED,
                m.epsilon,
                p.max_epsilon,
                f"the model spent ε = {_g(m.epsilon)}{_with_size(m)}, above the ceiling "
                f"{_g(p.max_epsilon)}: its privacy guarantee is too weak",
            )
    limits: list[tuple[str, float, str]] = []
    if p.max_delta is not None:
        limits.append(("max_delta", p.max_delta, f"{_g(p.max_delta)}"))
    if p.max_delta_times_rows is not None:
        n = max(1, m.train_rows)
        limits.append(
            (
                "max_delta_times_rows",
                p.max_delta_times_rows / n,
                f"{_g(p.max_delta_times_rows)}/n = {_g(p.max_delta_times_rows / n)} (n = {n:,})",
            )
        )
    for rule, limit, shown in limits:
        if m.epsilon is None:
            c.add(
                rule,
                RuleStatus.FAILED,
                1.0,
                limit,
                f"the model was trained without differential privacy, above the ceiling δ ≤ {shown}",
            )
        elif (m.delta or 0.0) <= limit:
            c.add(
                rule,
                RuleStatus.PASSED,
                m.delta or 0.0,
                limit,
                f"the model spent δ = {_g(m.delta or 0.0)}, within the ceiling {shown}",
            )
        else:
            c.add(
                rule,
                RuleStatus.FAILED,
                m.delta,
                limit,
                f"the model spent δ = {_g(m.delta)}, above the ceiling {shown}: the chance that "
                "the guarantee fails outright is too high for this many people",
            )


def _fidelity(c: _Ctx) -> None:
    p, fid = c.policy, c.result.get("fidelity")
    if p.min_quality is not None:
        _floor(c, "min_quality", _num(_dig(fid, "overall")), p.min_quality, "overall quality")
    if p.min_column_shape is not None:
        scores = [
            _num(s.get("score")) for s in (_dig(fid, "shapes") or []) if isinstance(s, Mapping)
        ]
        known = [s for s in scores if s is not None]
        _floor(
            c,
            "min_column_shape",
            min(known) if known else None,
            p.min_column_shape,
            "the worst column shape score",
        )
    if (
        p.min_pair_trends is not None
        and isinstance(fid, Mapping)
        and (_num(fid.get("column_pair_trends")) is None)
    ):
        c.add(
            "min_pair_trends",
            RuleStatus.NOT_APPLICABLE,
            None,
            p.min_pair_trends,
            "not applicable: no pair of columns is related strongly enough in the real rows "
            "for its trend to count",
        )
    elif p.min_pair_trends is not None:
        _floor(
            c,
            "min_pair_trends",
            _num(_dig(fid, "column_pair_trends")),
            p.min_pair_trends,
            "column pair trends",
        )
    if p.min_efficacy_ratio is not None:
        if not c.target:
            c.add(
                "min_efficacy_ratio",
                RuleStatus.NOT_APPLICABLE,
                None,
                p.min_efficacy_ratio,
                "not applicable: the evaluation named no target column, so ML efficacy was not scored",
            )
        else:
            _floor(
                c,
                "min_efficacy_ratio",
                _num(_dig(c.result, "efficacy", "ratio")),
                p.min_efficacy_ratio,
                f"ML efficacy ratio (synthetic/real, target {c.target!r})",
            )


def _risks(c: _Ctx) -> None:
    p, r = c.policy, c.result
    if p.exact_match_margin is not None:
        em = r.get("exact_matches")
        hold = _num(_dig(em, "share_holdout", "high"))
        chance = _num(_dig(em, "chance_train"))
        value = _num(_dig(em, "share_train", "high"))
        if hold is None or value is None:
            _missing(c, "exact_match_share", p.exact_match_margin, "the exact-match share")
        else:
            _ceiling(
                c,
                "exact_match_share",
                value,
                max(hold, chance or 0.0) + p.exact_match_margin,
                "share of synthetic rows copying a train row",
                "more rows copy real training rows than chance (the holdout's share) explains",
                _num(_dig(em, "share_train", "value")),
            )
    if p.dcr_margin is not None:
        base = _num(_dig(r, "distance", "dcr_baseline"))
        value = _num(_dig(r, "distance", "dcr_share", "high"))
        if base is None:
            _missing(c, "dcr_share", p.dcr_margin, "the DCR share")
        else:
            _ceiling(
                c,
                "dcr_share",
                value,
                base + p.dcr_margin,
                f"share of synthetic rows closer to train than to holdout (chance {_g(base)})",
                "the synthetic rows sit closer to the training rows than chance explains",
                _num(_dig(r, "distance", "dcr_share", "value")),
            )
    if p.max_membership_auc is not None:
        _ceiling(
            c,
            "membership_auc",
            _num(_dig(r, "membership", "auc", "high")),
            p.max_membership_auc,
            "membership-inference AUC",
            "the synthetic rows let an attacker tell members apart",
            _num(_dig(r, "membership", "auc", "value")),
        )
    attacks = [a for a in (r.get("attacks") or []) if isinstance(a, Mapping)]
    for rule, kind, field_name, what, harm in _ATTACKS:
        limit: float | None = getattr(p, field_name)
        if limit is None:
            continue
        found = [a for a in attacks if a.get("attack") == kind]
        highs = [_num(_dig(a, "risk", "high")) for a in found]
        if found and all(h is None for h in highs) and all(a.get("n_attacks") == 0 for a in found):
            c.add(
                rule,
                RuleStatus.FAILED,
                None,
                limit,
                f"{what} could not be measured (the attack found no query to try), so it cannot "
                "be shown to be low",
            )
            continue
        known = [h for h in highs if h is not None]
        worst = max(known) if known and len(known) == len(highs) else None
        points = [_num(_dig(a, "risk", "value")) for a in found]
        point = max((x for x in points if x is not None), default=None)
        _ceiling(c, rule, worst, limit, what, harm, point)


#: (rule, attack name in the evaluation, policy field, what it measures, the harm when too high)
_ATTACKS = (
    (
        "singling_out_risk",
        "singling_out",
        "max_singling_out_risk",
        "singling-out risk",
        "an attacker can isolate single real people",
    ),
    (
        "linkability_risk",
        "linkability",
        "max_linkability_risk",
        "linkability risk",
        "an attacker can link records of the same real person",
    ),
    (
        "inference_risk",
        "inference",
        "max_inference_risk",
        "attribute-inference risk",
        "an attacker can infer real people's secret values",
    ),
)


def _subgroups(c: _Ctx) -> None:
    p = c.policy
    floors = [
        ("min_subgroup_quality", p.min_subgroup_quality, "quality"),
        ("min_subgroup_tstr_ratio", p.min_subgroup_tstr_ratio, "tstr_ratio"),
    ]
    for rule, floor, key in floors:
        if floor is None:
            continue
        if not p.protected_columns:
            c.add(
                rule,
                RuleStatus.NOT_APPLICABLE,
                None,
                floor,
                "not applicable: the policy names no protected column",
            )
            continue
        if key == "tstr_ratio" and not c.target:
            c.add(
                rule,
                RuleStatus.NOT_APPLICABLE,
                None,
                floor,
                "not applicable: the evaluation named no target column, so no group's TSTR "
                "accuracy was scored",
            )
            continue
        groups = _dig(c.result, "subgroups", "columns") or {}
        if key == "tstr_ratio" and groups and _dig(c.result, "subgroups", "target") is None:
            c.add(
                rule,
                RuleStatus.NOT_APPLICABLE,
                None,
                floor,
                f"not applicable: the target {c.target!r} is not categorical, so there is no "
                "accuracy to compare within groups",
            )
            continue
        for column in p.protected_columns:
            entry = groups.get(column) if isinstance(groups, Mapping) else None
            if not isinstance(entry, Mapping):
                _missing(
                    c,
                    f"{rule}[{column}]",
                    floor,
                    f"per-group scores of protected column {column!r}",
                )
                continue
            worst, worst_group = None, ""
            for g in entry.get("groups") or []:
                v = _num(g.get(key)) if isinstance(g, Mapping) else None
                if v is not None and (worst is None or v < worst):
                    worst, worst_group = v, str(g.get("group", ""))
            what = (
                f"the worst group's {'quality' if key == 'quality' else 'TSTR accuracy ratio'} "
                f"in {column!r} ({worst_group or 'none scored'}"
                + (
                    f"; {entry['withheld']} groups under min_group_rows real rows not scored)"
                    if entry.get("withheld")
                    else ")"
                )
            )
            _floor(c, f"{rule}[{column}]", worst, floor, what)


_CHECKS: tuple[Callable[[_Ctx], None], ...] = (_privacy, _fidelity, _risks, _subgroups)


def verdict_of(
    policy: ReleasePolicy,
    result: Mapping[str, Any],
    model: ModelSpend,
    *,
    target: str = "",
    version: int = 0,
    evaluation: str = "",
    dataset: str = "",
    source: str = "",
) -> Verdict:
    """The verdict of `policy` (version `version`) on an evaluation's JSON `result`."""
    c = _Ctx(policy, result, model, target)
    for check in _CHECKS:
        check(c)
    rules = tuple(c.out)
    return Verdict(
        all(r.passed for r in rules),
        rules,
        version,
        policy.approvals_required,
        evaluation,
        dataset,
        source,
    )


def evaluate_policy(
    policy: ReleasePolicy,
    evaluation: EvaluationRecord,
    model: ModelRecord,
    source: SourceRecord,
    *,
    version: int = 0,
    size_epsilon: float = 0.0,
) -> Verdict:
    """The verdict of `policy` (version `version`) on a stored evaluation (with its result).

    `size_epsilon`: what the source's DP size cost (the model rests on it), added to
    the model's own ε for the ε ceiling.
    """
    unknown = [c for c in policy.protected_columns if c not in source.schema.names]
    if unknown:
        raise InvalidArgument(
            f"protected columns {unknown} are not columns of sources/{source.id}; columns are "
            + ", ".join(source.schema.names),
            violations=[FieldViolation("protected_columns", "unknown column")],
        )
    return verdict_of(
        policy,
        evaluation.result,
        ModelSpend(
            None if model.epsilon is None else model.epsilon + size_epsilon,
            model.delta,
            model.train_rows,
            size_epsilon,
        ),
        target=evaluation.target,
        version=version,
        evaluation=f"evaluations/{evaluation.id}",
        dataset=f"datasets/{evaluation.dataset_id}",
        source=f"sources/{source.id}",
    )
