"""Release policies as callers see them: set and read a source's policy, judge a dataset by it.

Access follows `synth.core.access`: setting a policy needs the owner role and a
source the caller may see (a stranger's source is the NotFound of an absent
id). A verdict shows numbers computed from real rows, so judging is the source
owner's alone, like reading evaluations. Every threshold is checked before
anything is written; each change is a new immutable version.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from synth.base.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from synth.base.names import name_of
from synth.base.principal import SYSTEM, Principal, Role
from synth.base.schema import ColumnKind
from synth.core.access import evaluation_filter, require, sees_evaluations_of
from synth.core.evaluation import EvaluationService
from synth.core.policy import DEFAULT_POLICY, ReleasePolicy, Verdict
from synth.core.policy_rules import evaluate_policy
from synth.core.sources import SourceService
from synth.core.stores import Stores
from synth.core.training import TrainingService
from synth.store.policies import PolicyRows
from synth.store.records import EvaluationRecord, SourceRecord

_CONTINUOUS = (ColumnKind.NUMERICAL, ColumnKind.DATETIME)


@dataclass(frozen=True)
class StoredPolicy:
    """A policy version of a source; version 0 is the server default (no policy set)."""

    source_id: str
    version: int
    policy: ReleasePolicy
    author: str = ""
    create_time: float = 0.0

    @property
    def is_default(self) -> bool:
        return self.version == 0


class ReleaseService:
    def __init__(
        self,
        stores: Stores,
        sources: SourceService,
        training: TrainingService,
        evaluation: EvaluationService,
    ) -> None:
        self.stores = stores
        self.policies = PolicyRows(stores.meta)
        self.sources = sources
        self.training = training
        self.evaluation = evaluation

    def set_policy(self, who: Principal, source_id: str, overrides: dict[str, Any]) -> StoredPolicy:
        """Store a new version: the server default with `overrides` (field → value) applied."""
        require(who, Role.OWNER, "setting a release policy")
        source = self.sources.get(who, source_id)
        known = {f.name for f in dataclasses.fields(ReleasePolicy)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise InvalidArgument(f"unknown release policy fields {unknown}")
        policy = dataclasses.replace(DEFAULT_POLICY, **overrides).validate()
        missing = [c for c in policy.protected_columns if c not in source.schema.names]
        if missing:
            raise InvalidArgument(
                f"protected columns {missing} are not columns of {name_of('sources', source.id)}; "
                f"columns are {', '.join(source.schema.names)}",
                violations=[FieldViolation("protected_columns", "unknown column")],
            )
        continuous = [c for c in policy.protected_columns if source.schema[c].kind in _CONTINUOUS]
        if continuous:
            raise InvalidArgument(
                f"protected columns {continuous} are continuous: subgroups need categorical "
                "columns (group a numeric column into categories in the schema first)",
                violations=[FieldViolation("protected_columns", "not categorical")],
            )
        body = policy.to_json_dict()
        row = self.policies.append(
            source.id,
            body,
            who.subject,
            also=lambda conn, version: self.stores.audit.append(
                who.subject,
                "SetReleasePolicy",
                name_of("sources", source.id),
                {"version": version, "policy": body},
                conn=conn,
            ),
        )
        return StoredPolicy(source.id, row.version, policy, row.author, row.create_time)

    def get_policy(
        self, who: Principal, source_id: str, version: int | None = None
    ) -> StoredPolicy:
        """The given version (the latest when None; version 0: the server default)."""
        source = self.sources.get(who, source_id)
        return self._policy(source.id, version)

    def _policy(self, source_id: str, version: int | None) -> StoredPolicy:
        if version is not None and version < 0:
            raise InvalidArgument("policy version must be 0 (the server default) or more")
        if version == 0:
            return StoredPolicy(source_id, 0, DEFAULT_POLICY)
        try:
            row = self.policies.get(source_id, version)
        except NotFound:
            if version is not None:
                raise
            return StoredPolicy(source_id, 0, DEFAULT_POLICY)
        return StoredPolicy(
            source_id,
            row.version,
            ReleasePolicy.from_json_dict(row.policy),
            row.author,
            row.create_time,
        )

    def evaluate(self, who: Principal, name: str, version: int | None = None) -> Verdict:
        """The verdict of the source's policy on a dataset's latest evaluation (or the named
        evaluation). Writes nothing."""
        require(who, Role.OWNER, "checking a release policy")
        evaluation = self._evaluation(who, name)
        source = self.sources.get(SYSTEM, evaluation.source_id)
        stored = self._policy(source.id, version)
        model = self.training.get(SYSTEM, evaluation.model_id)
        p = stored.policy
        if p.protected_columns and (
            p.min_subgroup_quality is not None or p.min_subgroup_tstr_ratio is not None
        ):
            evaluation = dataclasses.replace(
                evaluation,
                result={**evaluation.result, "subgroups": self._subgroups(evaluation, source, p)},
            )
        size = sum(r.epsilon for r in self.stores.sizes.of_source(source.id))
        return evaluate_policy(
            p, evaluation, model, source, version=stored.version, size_epsilon=size
        )

    def _subgroups(
        self, evaluation: EvaluationRecord, source: SourceRecord, policy: ReleasePolicy
    ) -> dict[str, Any]:
        """Per-group scores of the policy's protected columns (computed now, from the rows the
        evaluation scored; the same rows and seed give the same scores)."""
        import numpy as np
        import pyarrow.parquet as pq

        from evaluators.subgroups import subgroup_scores

        dataset = self.evaluation.datasets.get(SYSTEM, evaluation.dataset_id)
        return subgroup_scores(
            pq.read_table(self.stores.artifacts.path(dataset.artifact)),
            self.sources.read_part(source, "train"),
            self.sources.read_part(source, "holdout"),
            columns=policy.protected_columns,
            schema=source.schema,
            target=evaluation.target or None,
            min_group_rows=self.stores.config.min_group_rows,
            rng=np.random.default_rng(0),
        )

    def _evaluation(self, who: Principal, name: str) -> EvaluationRecord:
        coll, _, rid = name.partition("/")
        if coll == "evaluations" and rid:
            return self.evaluation.get(who, rid)
        if coll != "datasets" or not rid:
            raise InvalidArgument(
                f"name must be 'datasets/ID' or 'evaluations/ID', got {name[:80]!r}"
            )
        dataset = self.evaluation.datasets.get(who, rid)  # NotFound for a stranger
        source = self.sources.get(SYSTEM, dataset.source_id)
        if not sees_evaluations_of(who, source.owner):
            raise PermissionDenied(
                "a verdict shows evaluation scores, which are the source owner's alone: ask the "
                f"owner of {name_of('sources', source.id)} to check it"
            )
        latest: EvaluationRecord | None = None
        token = ""
        while True:
            page = self.stores.evaluations.list(
                page_size=100,
                token=token,
                parent=f"datasets/{dataset.id}",
                owner=evaluation_filter(who),
            )
            if page.items:
                latest = page.items[-1]
            token = page.next_token
            if not token:
                break
        if latest is None:
            raise FailedPrecondition(
                f"{name_of('datasets', dataset.id)} has no evaluation yet: evaluate it first "
                "(synth evaluate), then check the policy"
            )
        return self.evaluation.get(who, latest.id)
