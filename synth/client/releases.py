"""The SDK's release-policy verbs: set and read a source's policy, check a dataset against it.

A policy is versioned on the server: each `set_release_policy` makes a new
version and old ones never change, so a `PolicyVerdict` (which names the
version it used) can always be checked again. Verdicts show evaluation scores:
they are for the source's owner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from synth.base.errors import InvalidArgument
from synth.client import convert
from synth.v1 import releases_pb2, releases_pb2_grpc

RuleStatus = Literal["passed", "failed", "not_applicable"]
_STATUS: dict[int, RuleStatus] = {
    releases_pb2.RuleResult.PASSED: "passed",
    releases_pb2.RuleResult.FAILED: "failed",
    releases_pb2.RuleResult.NOT_APPLICABLE: "not_applicable",
}
#: The optional float thresholds of a policy, by field name.
THRESHOLDS = (
    "max_epsilon",
    "max_delta",
    "max_delta_times_rows",
    "min_quality",
    "min_column_shape",
    "min_pair_trends",
    "min_efficacy_ratio",
    "exact_match_margin",
    "dcr_margin",
    "max_membership_auc",
    "max_singling_out_risk",
    "max_linkability_risk",
    "max_inference_risk",
    "min_subgroup_quality",
    "min_subgroup_tstr_ratio",
)


@dataclass(frozen=True)
class ReleasePolicy:
    """One version of a source's release policy (version 0: the server default).

    A threshold of None is a rule that is off. Risk ceilings apply to the upper
    end of each interval the evaluation reports.
    """

    source: str
    version: int
    max_epsilon: float | None = None
    max_delta: float | None = None
    #: δ·n ceiling, n the model's train_rows: 0.1 is δ ≤ 1/(10n).
    max_delta_times_rows: float | None = None
    min_quality: float | None = None
    min_column_shape: float | None = None
    min_pair_trends: float | None = None
    min_efficacy_ratio: float | None = None
    exact_match_margin: float | None = None
    dcr_margin: float | None = None
    max_membership_auc: float | None = None
    max_singling_out_risk: float | None = None
    max_linkability_risk: float | None = None
    max_inference_risk: float | None = None
    protected_columns: tuple[str, ...] = ()
    min_subgroup_quality: float | None = None
    min_subgroup_tstr_ratio: float | None = None
    approvals_required: int = 0
    author: str = ""
    create_time: datetime | None = None

    @property
    def is_default(self) -> bool:
        return self.version == 0

    def __str__(self) -> str:
        which = "server default" if self.is_default else f"version {self.version} by {self.author}"
        lines = [f"release policy of {self.source}: {which}"]
        for name in THRESHOLDS:
            value = getattr(self, name)
            lines.append(f"  {name}: {'off' if value is None else f'{value:g}'}")
        lines.append(f"  protected_columns: {', '.join(self.protected_columns) or '(none)'}")
        lines.append(f"  approvals_required: {self.approvals_required}")
        return "\n".join(lines)


@dataclass(frozen=True)
class RuleResult:
    rule: str
    status: RuleStatus
    #: The value read (an interval's upper end where it is one); None when not measured.
    observed: float | None
    threshold: float | None
    message: str

    @property
    def passed(self) -> bool:
        return self.status != "failed"


@dataclass(frozen=True)
class PolicyVerdict:
    """Whether a dataset meets a policy version, rule by rule."""

    passed: bool
    policy_version: int
    source: str
    dataset: str
    evaluation: str
    approvals_required: int
    rules: tuple[RuleResult, ...] = field(default=())

    @property
    def failed(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.rules if r.status == "failed")

    def __str__(self) -> str:
        head = "PASSED" if self.passed else "FAILED"
        lines = [
            f"{head}: {self.dataset} against policy version {self.policy_version} of {self.source}"
        ]
        mark = {"passed": "ok  ", "failed": "FAIL", "not_applicable": "n/a "}
        lines += [f"  {mark[r.status]} {r.rule}: {r.message}" for r in self.rules]
        return "\n".join(lines)


def policy_from_proto(msg: releases_pb2.ReleasePolicy) -> ReleasePolicy:
    kw: dict[str, Any] = {n: getattr(msg, n) for n in THRESHOLDS if msg.HasField(n)}  # type: ignore[arg-type]
    return ReleasePolicy(
        source=msg.source,
        version=msg.version,
        protected_columns=tuple(msg.protected_columns),
        approvals_required=msg.approvals_required,
        author=msg.author,
        create_time=convert._time(msg.create_time) if msg.HasField("create_time") else None,
        **kw,
    )


def verdict_from_proto(msg: releases_pb2.PolicyVerdict) -> PolicyVerdict:
    return PolicyVerdict(
        passed=msg.passed,
        policy_version=msg.policy_version,
        source=msg.source,
        dataset=msg.dataset,
        evaluation=msg.evaluation,
        approvals_required=msg.approvals_required,
        rules=tuple(
            RuleResult(
                rule=r.rule,
                status=_STATUS.get(r.status, "failed"),
                observed=r.observed if r.HasField("observed") else None,
                threshold=r.threshold if r.HasField("threshold") else None,
                message=r.message,
            )
            for r in msg.rules
        ),
    )


class ReleaseVerbs:
    """Mixed into `synth.Client`; uses its channel and `_call`."""

    _channel: Any
    _call: Any

    @property
    def _releases(self) -> releases_pb2_grpc.ReleaseServiceStub:
        return releases_pb2_grpc.ReleaseServiceStub(self._channel)

    def set_release_policy(
        self,
        source: Any,
        *,
        protected_columns: tuple[str, ...] | list[str] = (),
        approvals_required: int | None = None,
        **thresholds: float,
    ) -> ReleasePolicy:
        """Make a new version of `source`'s policy: the server default with these thresholds
        (e.g. `max_epsilon=1.0, max_membership_auc=0.52`); others keep the default's value."""
        unknown = sorted(set(thresholds) - set(THRESHOLDS))
        if unknown:
            raise InvalidArgument(
                f"unknown policy thresholds {unknown}; known are {list(THRESHOLDS)}"
            )
        pb = releases_pb2.ReleasePolicy(
            source=convert.resource_name(source, "sources"),
            protected_columns=list(protected_columns),
            approvals_required=approvals_required or 0,
        )
        for name, value in thresholds.items():
            setattr(pb, name, float(value))
        request = releases_pb2.SetReleasePolicyRequest(
            policy=pb, approvals_required_set=approvals_required is not None
        )
        return policy_from_proto(self._call(self._releases.SetReleasePolicy, request))

    def get_release_policy(self, source: Any, *, version: int | None = None) -> ReleasePolicy:
        """The latest version of `source`'s policy (or `version`; 0 is the server default)."""
        request = releases_pb2.GetReleasePolicyRequest(
            source=convert.resource_name(source, "sources")
        )
        if version is not None:
            request.version = version
        return policy_from_proto(self._call(self._releases.GetReleasePolicy, request))

    def evaluate_policy(
        self, dataset_or_evaluation: Any, *, policy_version: int | None = None
    ) -> PolicyVerdict:
        """The verdict of the source's policy on a dataset's latest evaluation (or on the named
        evaluation). Releases nothing."""
        name = str(getattr(dataset_or_evaluation, "name", dataset_or_evaluation))
        request = releases_pb2.EvaluatePolicyRequest(name=name)
        if policy_version is not None:
            request.policy_version = policy_version
        return verdict_from_proto(self._call(self._releases.EvaluatePolicy, request))


__all__ = ["PolicyVerdict", "ReleasePolicy", "ReleaseVerbs", "RuleResult"]
