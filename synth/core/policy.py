"""Release policies: the thresholds a dataset must meet before it leaves, and a verdict's shape.

A `ReleasePolicy` is a set of thresholds, checked against bounds before it is
stored (`validate`); `DEFAULT_POLICY` is the strict server-wide one. The rules
themselves, which read an evaluation's stored JSON, the model's privacy spend
and the source, live in `synth.core.policy_rules` (`evaluate_policy`); they
answer a `Verdict` of one `RuleResult` per rule. Nothing here touches gRPC or
the stores.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from synth.base.errors import FieldViolation, InvalidArgument
from synth.base.names import MAX_COLUMN_NAME, MAX_EPSILON

#: The most approvals a policy may ask for, and the most protected columns it may name.
MAX_APPROVALS = 10
MAX_PROTECTED_COLUMNS = 64

#: (field, lower, upper, lower_open) of every numeric threshold: checked before anything is stored.
_BOUNDS: dict[str, tuple[float, float, bool]] = {
    "max_epsilon": (0.0, MAX_EPSILON, True),
    "max_delta": (0.0, 1.0, True),
    "max_delta_times_rows": (0.0, 1.0, True),
    "min_quality": (0.0, 1.0, False),
    "min_column_shape": (0.0, 1.0, False),
    "min_pair_trends": (0.0, 1.0, False),
    "min_efficacy_ratio": (0.0, 1.0, False),
    "exact_match_margin": (0.0, 1.0, False),
    "dcr_margin": (0.0, 1.0, False),
    "max_membership_auc": (0.0, 1.0, False),
    "max_singling_out_risk": (0.0, 1.0, False),
    "max_linkability_risk": (0.0, 1.0, False),
    "max_inference_risk": (0.0, 1.0, False),
    "min_subgroup_quality": (0.0, 1.0, False),
    "min_subgroup_tstr_ratio": (0.0, 1.0, False),
}


@dataclass(frozen=True, kw_only=True)
class ReleasePolicy:
    """The thresholds a dataset must meet before it may leave. None: that rule is off.

    Defaults are the server-wide DEFAULT (docs/design.md, "Release policy").
    """

    #: Most ε the model may have spent (a model trained without DP has spent ∞).
    max_epsilon: float | None = 3.0
    #: Most δ the model may have spent, absolutely.
    max_delta: float | None = None
    #: Most δ·n, n the model's train_rows (a DP count of privacy units): 0.1 is δ ≤ 1/(10n).
    max_delta_times_rows: float | None = 0.1
    #: Floors of fidelity: overall quality, the worst column's shape score, pair trends.
    min_quality: float | None = 0.8
    min_column_shape: float | None = None
    min_pair_trends: float | None = None
    #: Floor of ML efficacy (synthetic score / real score), when the evaluation named a target.
    min_efficacy_ratio: float | None = None
    #: Upper bound of the share of synthetic rows copying a train row ≤ the holdout's + margin.
    exact_match_margin: float | None = 0.0
    #: Upper bound of the DCR share ≤ its chance level (n_train / (n_train + n_holdout)) + margin.
    dcr_margin: float | None = 0.03
    #: Upper bound of the membership-inference AUC.
    max_membership_auc: float | None = 0.55
    #: Upper bounds of each attack's residual risk (inference: the worst secret column).
    max_singling_out_risk: float | None = 0.05
    max_linkability_risk: float | None = 0.05
    max_inference_risk: float | None = 0.05
    #: Columns whose groups must each keep their fidelity (and, with a target, TSTR accuracy).
    protected_columns: tuple[str, ...] = ()
    min_subgroup_quality: float | None = None
    #: Floor of each group's TSTR accuracy over its TRTR accuracy.
    min_subgroup_tstr_ratio: float | None = None
    #: Reviewers other than the requester who must approve a release.
    approvals_required: int = 1

    def validate(self) -> ReleasePolicy:
        """Raise InvalidArgument (naming every bad field) unless each number is in bounds."""
        bad: list[FieldViolation] = []
        for name, (lo, hi, open_lo) in _BOUNDS.items():
            v = getattr(self, name)
            if v is None:
                continue
            ok = isinstance(v, int | float) and math.isfinite(v) and v <= hi
            ok = ok and (v > lo if open_lo else v >= lo)
            if not ok:
                bad.append(FieldViolation(name, f"in {'(' if open_lo else '['}{lo:g}, {hi:g}]"))
        if not (
            isinstance(self.approvals_required, int)
            and 0 <= self.approvals_required <= MAX_APPROVALS
        ):
            bad.append(FieldViolation("approvals_required", f"in [0, {MAX_APPROVALS}]"))
        if len(self.protected_columns) > MAX_PROTECTED_COLUMNS:
            bad.append(FieldViolation("protected_columns", f"at most {MAX_PROTECTED_COLUMNS}"))
        if any(not c or len(c) > MAX_COLUMN_NAME for c in self.protected_columns):
            bad.append(
                FieldViolation("protected_columns", f"names of 1 to {MAX_COLUMN_NAME} characters")
            )
        if len(set(self.protected_columns)) != len(self.protected_columns):
            bad.append(FieldViolation("protected_columns", "each column once"))
        if bad:
            raise InvalidArgument(
                "release policy out of bounds: "
                + "; ".join(f"{v.field} {v.description}" for v in bad),
                violations=bad,
            )
        return self

    def to_json_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["protected_columns"] = list(self.protected_columns)
        return d

    @classmethod
    def from_json_dict(cls, d: Mapping[str, Any]) -> ReleasePolicy:
        known = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        kw["protected_columns"] = tuple(kw.get("protected_columns", ()))
        return cls(**kw)


#: The strict server-wide policy of a source whose owner set none.
DEFAULT_POLICY = ReleasePolicy()


class RuleStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    NOT_APPLICABLE = "not_applicable"


@dataclass(frozen=True)
class RuleResult:
    """One rule's outcome. `observed` is the interval's upper end where the score is one."""

    rule: str
    status: RuleStatus
    observed: float | None
    threshold: float | None
    message: str

    @property
    def passed(self) -> bool:
        return self.status is not RuleStatus.FAILED

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "status": self.status.value,
            "observed": self.observed,
            "threshold": self.threshold,
            "message": self.message,
        }


@dataclass(frozen=True)
class Verdict:
    """Whether a dataset meets a policy version, rule by rule; never changes once made."""

    passed: bool
    rules: tuple[RuleResult, ...]
    policy_version: int
    approvals_required: int
    evaluation: str = ""
    dataset: str = ""
    source: str = ""

    @property
    def failed(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.rules if r.status is RuleStatus.FAILED)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "policy_version": self.policy_version,
            "approvals_required": self.approvals_required,
            "evaluation": self.evaluation,
            "dataset": self.dataset,
            "source": self.source,
            "rules": [r.to_json_dict() for r in self.rules],
        }


@dataclass(frozen=True)
class ModelSpend:
    """What the policy reads of the model: its privacy spend and its public train size."""

    epsilon: float | None  # None: trained without DP
    delta: float | None
    train_rows: int
    #: The source's size measurements (ε, δ = 0) the model's public train_rows, δ and
    #: sampling rates rest on: part of what releasing it spends. Included in `epsilon`.
    size_epsilon: float = 0.0
