"""Records and schemas to protos and back."""

from __future__ import annotations

import json

from google.protobuf import struct_pb2, timestamp_pb2
from google.protobuf.json_format import MessageToDict

from synth.base.errors import FieldViolation, InvalidArgument
from synth.base.names import name_of
from synth.jobs.plan import JobPlan
from synth.jobs.record import JobRecord
from synth.schema_proto import schema_from_proto, schema_to_proto
from synth.store.records import (
    BudgetStatus,
    DatasetRecord,
    EvaluationRecord,
    ModelRecord,
    SourceRecord,
)
from synth.v1 import (
    common_pb2,
    datasets_pb2,
    evaluations_pb2,
    jobs_pb2,
    models_pb2,
    sources_pb2,
)


def ts(seconds: float | None) -> timestamp_pb2.Timestamp | None:
    if seconds is None:
        return None
    t = timestamp_pb2.Timestamp()
    t.FromNanoseconds(int(seconds * 1e9))
    return t


schema_to_pb = schema_to_proto
schema_from_pb = schema_from_proto


def source_to_pb(r: SourceRecord) -> sources_pb2.Source:
    return sources_pb2.Source(
        name=name_of("sources", r.id),
        display_name=r.display_name,
        fingerprint=r.fingerprint,
        schema=schema_to_pb(r.schema),
        row_count=r.row_count,
        train_rows=r.train_rows,
        holdout_rows=r.holdout_rows,
        holdout_fraction=r.holdout_fraction,
        split_seed=r.split_seed,
        budget_cap=common_pb2.PrivacyBudget(epsilon=r.epsilon_cap, delta=r.delta_cap),
        allow_non_private=r.allow_non_private,
        size_bytes=r.size_bytes,
        create_time=ts(r.create_time),
        schema_version=r.schema_version,
        version_id=r.version_id,
        schema_state=(
            sources_pb2.SCHEMA_APPROVED if r.schema_approved else sources_pb2.SCHEMA_PENDING
        ),
        approved_schema_version=r.approved_schema_version,
        inferred_fields=[f"columns.{name}.{part}" for name, part in r.inferred_parts()],
        owner=r.owner,
    )


def budget_to_pb(b: BudgetStatus) -> sources_pb2.Budget:
    return sources_pb2.Budget(
        source=name_of("sources", b.source_id),
        cap=common_pb2.PrivacyBudget(epsilon=b.epsilon_cap, delta=b.delta_cap),
        spent=common_pb2.PrivacyBudget(epsilon=b.epsilon_spent, delta=b.delta_spent),
        remaining=common_pb2.PrivacyBudget(epsilon=b.epsilon_remaining, delta=b.delta_remaining),
        entries=[
            sources_pb2.LedgerEntry(
                name=f"sources/{e.source_id}/ledger/{e.id}",
                # A source's size is measured once, for no one job: it names none.
                job="" if e.purpose == "size" else name_of("jobs", e.job_id),
                model=name_of("models", e.model_id) if e.model_id else "",
                spend=common_pb2.PrivacySpend(
                    purpose=e.purpose, mechanism=e.mechanism, epsilon=e.epsilon, delta=e.delta
                ),
                refunded=e.refunded,
                create_time=ts(e.create_time),
            )
            for e in b.entries
        ],
    )


def struct(d: dict) -> struct_pb2.Struct:  # type: ignore[type-arg]
    s = struct_pb2.Struct()
    s.update({k: v for k, v in d.items() if v is not None})
    return s


def struct_to_dict(s: struct_pb2.Struct) -> dict:  # type: ignore[type-arg]
    try:
        d = MessageToDict(s)
    except ValueError as exc:  # NaN or infinity in a number value
        raise InvalidArgument(
            "params must hold finite numbers (no NaN or infinity)",
            violations=[FieldViolation("params", "not finite")],
        ) from exc
    # JSON numbers arrive as floats; integral values are meant as integers (epochs, sizes).
    return {k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in d.items()}


def model_to_pb(m: ModelRecord) -> models_pb2.Model:
    pb = models_pb2.Model(
        name=name_of("models", m.id),
        source=name_of("sources", m.source_id),
        source_version=m.source_version,
        generator=m.generator,
        generator_version=m.generator_version,
        params=struct(m.params),
        accountant=m.accountant,
        spends=[
            common_pb2.PrivacySpend(
                purpose=s["purpose"],
                mechanism=s["mechanism"],
                epsilon=s["epsilon"],
                delta=s["delta"],
            )
            for s in m.spends
        ],
        train_rows=m.train_rows,
        job=name_of("jobs", m.job_id),
        display_name=m.display_name,
        create_time=ts(m.create_time),
        privacy_details=m.details,
    )
    if m.epsilon is not None:
        pb.epsilon = m.epsilon
    if m.delta is not None:
        pb.delta = m.delta
    return pb


def dataset_to_pb(d: DatasetRecord) -> datasets_pb2.Dataset:
    return datasets_pb2.Dataset(
        name=name_of("datasets", d.id),
        model=name_of("models", d.model_id),
        source=name_of("sources", d.source_id),
        rows=d.rows,
        seed=d.seed,
        size_bytes=d.size_bytes,
        lineage=d.lineage,
        job=name_of("jobs", d.job_id),
        display_name=d.display_name,
        create_time=ts(d.create_time),
    )


def job_to_pb(j: JobRecord) -> jobs_pb2.Job:
    pb = jobs_pb2.Job(
        name=name_of("jobs", j.id) if j.id else "",  # a validate_only answer has no name
        kind=jobs_pb2.JobKind.Value(j.kind.value),
        state=jobs_pb2.JobState.Value(j.state.value),
        progress=jobs_pb2.JobProgress(
            phase=j.phase,
            fraction=j.fraction,
            epsilon_spent=j.epsilon_spent,
            message=j.message,
            metrics=j.metrics,
        ),
        result=j.result,
        target=j.target,
        idempotency_key=j.idempotency_key or "",
        create_time=ts(j.create_time),
        start_time=ts(j.start_time),
        end_time=ts(j.end_time),
    )
    if j.error_code:
        pb.error.CopyFrom(
            jobs_pb2.JobError(code=j.error_code, reason=j.error_reason, message=j.error_message)
        )
    if j.plan is not None:
        pb.plan.CopyFrom(plan_to_pb(j.plan))
    return pb


def plan_to_pb(p: JobPlan) -> jobs_pb2.JobPlan:
    pb = jobs_pb2.JobPlan(
        memory_mb=p.memory_mb,
        seconds=p.seconds,
        memory_limit_mb=p.memory_limit_mb,
        seconds_limit=p.seconds_limit,
        basis=p.basis,
        generator=p.generator,
        generator_reason=p.generator_reason,
        charges=[
            common_pb2.PrivacySpend(
                purpose=s.purpose, mechanism=s.mechanism, epsilon=s.epsilon, delta=s.delta
            )
            for s in p.charges
        ],
    )
    if p.epsilon is not None:
        pb.epsilon = p.epsilon
    if p.delta is not None:
        pb.delta = p.delta
    return pb


def evaluation_to_pb(e: EvaluationRecord) -> evaluations_pb2.Evaluation:
    return evaluations_pb2.Evaluation(
        name=name_of("evaluations", e.id),
        dataset=name_of("datasets", e.dataset_id),
        model=name_of("models", e.model_id),
        source=name_of("sources", e.source_id),
        flagged=e.flagged,
        scores=e.scores,
        result_json=json.dumps(e.result) if e.result else "",
        report_size=e.report_size,
        job=name_of("jobs", e.job_id),
        target=e.target,
        create_time=ts(e.create_time),
    )
