"""The ReleaseService servicer: release policies and verdicts, protos to core and back.

A verdict answers OK (it is an answer, not an error); its per-rule results come
as fields and, for pipelines that read `google.rpc` details, packed in
`PolicyVerdict.details` (`verdict_details`), which the release requests that
refuse a dataset can attach to their error status as they are.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2

from synth.base.errors import FieldViolation, InvalidArgument
from synth.base.names import name_of, parse_name
from synth.core.policy import ReleasePolicy, RuleStatus, Verdict
from synth.core.releases import ReleaseService, StoredPolicy
from synth.core.service import SynthService
from synth.server.auth import caller
from synth.server.convert import ts
from synth.server.errors import DOMAIN
from synth.v1 import releases_pb2, releases_pb2_grpc

#: The optional float thresholds, named alike in the proto and in `ReleasePolicy`.
_THRESHOLDS = tuple(
    f.name
    for f in dataclasses.fields(ReleasePolicy)
    if f.name not in ("protected_columns", "approvals_required")
)
_STATUS = {
    RuleStatus.PASSED: releases_pb2.RuleResult.PASSED,
    RuleStatus.FAILED: releases_pb2.RuleResult.FAILED,
    RuleStatus.NOT_APPLICABLE: releases_pb2.RuleResult.NOT_APPLICABLE,
}
#: Policy and verdict versions fit a signed 32-bit integer in the store.
_MAX_VERSION = 2**31 - 1


def policy_to_pb(s: StoredPolicy) -> releases_pb2.ReleasePolicy:
    p = s.policy
    msg = releases_pb2.ReleasePolicy(
        source=name_of("sources", s.source_id),
        version=s.version,
        protected_columns=list(p.protected_columns),
        approvals_required=p.approvals_required,
        author=s.author,
        create_time=ts(s.create_time) if s.create_time else None,
    )
    for name in _THRESHOLDS:
        value = getattr(p, name)
        if value is not None:
            setattr(msg, name, value)
    return msg


def overrides_from_pb(request: Any) -> dict[str, Any]:
    """The fields the request sets, as `ReleasePolicy` overrides (unset: the default's)."""
    p = request.policy
    out: dict[str, Any] = {n: getattr(p, n) for n in _THRESHOLDS if p.HasField(n)}
    if p.protected_columns:
        out["protected_columns"] = tuple(p.protected_columns)
    if request.approvals_required_set or p.approvals_required:
        out["approvals_required"] = p.approvals_required
    return out


def verdict_details(v: Verdict) -> list[any_pb2.Any]:
    """One ErrorInfo per rule, and a PreconditionFailure naming each failed rule."""
    out = []
    for r in v.rules:
        info = error_details_pb2.ErrorInfo(
            reason=r.rule.upper().replace("[", "_").replace("]", ""),
            domain=DOMAIN,
            metadata={
                "rule": r.rule,
                "status": r.status.value,
                "observed": "" if r.observed is None else repr(r.observed),
                "threshold": "" if r.threshold is None else repr(r.threshold),
                "message": r.message,
                "policy_version": str(v.policy_version),
            },
        )
        packed = any_pb2.Any()
        packed.Pack(info)
        out.append(packed)
    if not v.passed:
        failure = error_details_pb2.PreconditionFailure(
            violations=[
                error_details_pb2.PreconditionFailure.Violation(
                    type="RELEASE_POLICY", subject=r.rule, description=r.message
                )
                for r in v.failed
            ]
        )
        packed = any_pb2.Any()
        packed.Pack(failure)
        out.append(packed)
    return out


def verdict_to_pb(v: Verdict) -> releases_pb2.PolicyVerdict:
    rules = []
    for r in v.rules:
        m = releases_pb2.RuleResult(rule=r.rule, status=_STATUS[r.status], message=r.message)
        if r.observed is not None:
            m.observed = r.observed if math.isfinite(r.observed) else math.inf
        if r.threshold is not None:
            m.threshold = r.threshold
        rules.append(m)
    return releases_pb2.PolicyVerdict(
        passed=v.passed,
        rules=rules,
        policy_version=v.policy_version,
        source=v.source,
        dataset=v.dataset,
        evaluation=v.evaluation,
        approvals_required=v.approvals_required,
        details=verdict_details(v),
    )


def _version(request: Any, field: str) -> int | None:
    if not request.HasField(field):
        return None
    value = getattr(request, field)
    if not 0 <= value <= _MAX_VERSION:
        raise InvalidArgument(
            f"{field} must be 0 (the server default) or a version number",
            violations=[FieldViolation(field, f"in [0, {_MAX_VERSION}]")],
        )
    return int(value)


class ReleaseServicer(releases_pb2_grpc.ReleaseServiceServicer):
    def __init__(self, svc: SynthService) -> None:
        self.svc = svc
        self.releases = ReleaseService(svc.stores, svc.sources, svc.training, svc.evaluation)

    def SetReleasePolicy(self, request: Any, context: grpc.ServicerContext) -> Any:
        source_id = parse_name(request.policy.source, "sources", field="policy.source")
        stored = self.releases.set_policy(caller(), source_id, overrides_from_pb(request))
        return policy_to_pb(stored)

    def GetReleasePolicy(self, request: Any, context: grpc.ServicerContext) -> Any:
        source_id = parse_name(request.source, "sources", field="source")
        return policy_to_pb(
            self.releases.get_policy(caller(), source_id, _version(request, "version"))
        )

    def EvaluatePolicy(self, request: Any, context: grpc.ServicerContext) -> Any:
        name = request.name
        if name.startswith("evaluations/"):
            name = "evaluations/" + parse_name(name, "evaluations")
        else:
            name = "datasets/" + parse_name(name, "datasets")
        verdict = self.releases.evaluate(caller(), name, _version(request, "policy_version"))
        return verdict_to_pb(verdict)
