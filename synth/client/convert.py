"""Conversions between the wire messages and the SDK's values, in one place.

Schemas cross the wire as `synth.v1.TableSchema`; the SDK hands out
`synth.base.schema.TableSchema` so an owner can export it to JSON, edit it and send
it back. Tables the caller passes in (pyarrow, polars, pandas or anything with
the Arrow C stream interface) travel as Parquet bytes.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from google.protobuf import json_format, struct_pb2, timestamp_pb2

from synth.base.errors import InvalidArgument
from synth.base.schema import TableSchema
from synth.client.resources import (
    Budget,
    BudgetStatus,
    Dataset,
    Job,
    JobError,
    JobKind,
    JobPlan,
    JobProgress,
    JobState,
    LedgerEntry,
    Model,
    PlannedCharge,
    Source,
    Spend,
)
from synth.schema_proto import schema_from_proto
from synth.v1 import common_pb2, datasets_pb2, jobs_pb2, models_pb2, sources_pb2

# ---- names -----------------------------------------------------------------


def resource_name(obj: Any, collection: str) -> str:
    """ "sources/adult" from a `Source`, a name, or a bare id ("adult")."""
    name = getattr(obj, "name", obj)
    if not isinstance(name, str) or not name:
        raise InvalidArgument(f"expected a {collection[:-1]} or its name, got {obj!r}")
    if "/" not in name:
        return f"{collection}/{name}"
    if not name.startswith(f"{collection}/"):
        raise InvalidArgument(f"{name!r} is not a {collection[:-1]} name ({collection}/...)")
    return name


# ---- schema ----------------------------------------------------------------


def coerce_schema(schema: TableSchema | str | Any) -> TableSchema:
    """A `TableSchema`, or one read from a JSON file path or JSON text."""
    if isinstance(schema, TableSchema):
        return schema
    text = str(schema)
    if text.lstrip().startswith("{"):
        return TableSchema.from_json(text)
    try:
        with open(text, encoding="utf-8") as fh:
            return TableSchema.from_json(fh.read())
    except OSError as exc:
        raise InvalidArgument(f"cannot read the schema file {text!r}: {exc.strerror}") from exc


# ---- tables ----------------------------------------------------------------


def to_arrow(data: Any) -> pa.Table:
    """A pyarrow Table from pyarrow, polars, pandas or any Arrow C stream exporter."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    module = type(data).__module__
    if module.startswith("polars"):
        return data.to_arrow()  # type: ignore[no-any-return]
    if module.startswith("pandas"):
        return pa.Table.from_pandas(data, preserve_index=False)
    if hasattr(data, "__arrow_c_stream__"):
        return pa.table(data)
    raise InvalidArgument(
        f"cannot send a {type(data).__name__}: pass a file path, a pyarrow Table, "
        "a polars or a pandas DataFrame"
    )


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


# ---- values ----------------------------------------------------------------


def _time(ts: timestamp_pb2.Timestamp) -> datetime | None:
    if not ts.seconds and not ts.nanos:
        return None
    return ts.ToDatetime(tzinfo=UTC)


def budget_to_proto(b: Budget) -> common_pb2.PrivacyBudget:
    return common_pb2.PrivacyBudget(epsilon=b.epsilon, delta=b.delta)


def budget_from_proto(msg: common_pb2.PrivacyBudget) -> Budget:
    return Budget(epsilon=max(msg.epsilon, 0.0), delta=min(max(msg.delta, 0.0), 0.999999))


def _spend(msg: common_pb2.PrivacySpend) -> Spend:
    return Spend(purpose=msg.purpose, mechanism=msg.mechanism, epsilon=msg.epsilon, delta=msg.delta)


def params_to_struct(params: dict[str, Any] | None) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    if params:
        try:
            s.update(params)
        except (ValueError, TypeError) as exc:
            raise InvalidArgument(
                f"params must be JSON-like (numbers, strings, lists): {exc}"
            ) from exc
    return s


def params_from_struct(s: struct_pb2.Struct) -> dict[str, Any]:
    """Struct numbers are doubles; whole ones come back as ints (epochs=10, not 10.0)."""
    out = json_format.MessageToDict(s)
    return {k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in out.items()}


def source_from_proto(msg: sources_pb2.Source) -> Source:
    return Source(
        name=msg.name,
        display_name=msg.display_name,
        fingerprint=msg.fingerprint,
        schema=schema_from_proto(msg.schema),
        row_count=msg.row_count,
        train_rows=msg.train_rows,
        holdout_rows=msg.holdout_rows,
        holdout_fraction=msg.holdout_fraction,
        split_seed=msg.split_seed,
        budget_cap=budget_from_proto(msg.budget_cap),
        allow_non_private=msg.allow_non_private,
        size_bytes=msg.size_bytes,
        create_time=_time(msg.create_time),
        schema_version=msg.schema_version,
        version_id=msg.version_id,
        schema_state="approved" if msg.schema_state == sources_pb2.SCHEMA_APPROVED else "pending",
        approved_schema_version=msg.approved_schema_version,
        inferred_fields=tuple(msg.inferred_fields),
        owner=msg.owner,
    )


def budget_status_from_proto(msg: sources_pb2.Budget) -> BudgetStatus:
    entries = tuple(
        LedgerEntry(
            name=e.name,
            job=e.job,
            model=e.model,
            spend=_spend(e.spend),
            refunded=e.refunded,
            create_time=_time(e.create_time),
        )
        for e in msg.entries
    )
    return BudgetStatus(
        source=msg.source,
        cap=budget_from_proto(msg.cap),
        spent=budget_from_proto(msg.spent),
        remaining=budget_from_proto(msg.remaining),
        entries=entries,
    )


def model_from_proto(msg: models_pb2.Model) -> Model:
    return Model(
        name=msg.name,
        source=msg.source,
        generator=msg.generator,
        epsilon=msg.epsilon if msg.HasField("epsilon") else None,
        delta=msg.delta if msg.HasField("delta") else None,
        source_version=msg.source_version,
        generator_version=msg.generator_version,
        params=params_from_struct(msg.params),
        accountant=msg.accountant,
        spends=tuple(_spend(s) for s in msg.spends),
        train_rows=msg.train_rows,
        job=msg.job,
        display_name=msg.display_name,
        create_time=_time(msg.create_time),
        privacy_details=dict(msg.privacy_details),
    )


def dataset_from_proto(msg: datasets_pb2.Dataset) -> Dataset:
    return Dataset(
        name=msg.name,
        model=msg.model,
        source=msg.source,
        rows=msg.rows,
        seed=msg.seed,
        size_bytes=msg.size_bytes,
        lineage=dict(msg.lineage),
        job=msg.job,
        display_name=msg.display_name,
        create_time=_time(msg.create_time),
    )


def job_from_proto(msg: jobs_pb2.Job) -> Job:
    p = msg.progress
    error = None
    if msg.HasField("error") and (msg.error.code or msg.error.reason or msg.error.message):
        error = JobError(code=msg.error.code, reason=msg.error.reason, message=msg.error.message)
    return Job(
        name=msg.name,
        kind=_enum(JobKind, jobs_pb2.JobKind, msg.kind),
        state=_enum(JobState, jobs_pb2.JobState, msg.state),
        progress=JobProgress(
            phase=p.phase,
            fraction=p.fraction,
            epsilon_spent=p.epsilon_spent,
            message=p.message,
            metrics=dict(p.metrics),
        ),
        result=msg.result,
        error=error,
        target=msg.target,
        idempotency_key=msg.idempotency_key,
        create_time=_time(msg.create_time),
        start_time=_time(msg.start_time),
        end_time=_time(msg.end_time),
        plan=plan_from_proto(msg) if msg.HasField("plan") else None,
    )


def plan_from_proto(msg: jobs_pb2.Job) -> JobPlan:
    p = msg.plan
    return JobPlan(
        memory_mb=p.memory_mb,
        seconds=p.seconds,
        memory_limit_mb=p.memory_limit_mb,
        seconds_limit=p.seconds_limit,
        basis=p.basis,
        generator=p.generator,
        generator_reason=p.generator_reason,
        charges=tuple(PlannedCharge(c.purpose, c.mechanism, c.epsilon, c.delta) for c in p.charges),
        epsilon=p.epsilon if p.HasField("epsilon") else None,
        delta=p.delta if p.HasField("delta") else None,
    )


def _enum(cls: Any, proto_enum: Any, value: int) -> Any:
    """A newer server may send a value this SDK does not know: it reads as UNSPECIFIED."""
    try:
        return cls(proto_enum.Name(value))
    except ValueError:
        return cls.UNSPECIFIED


def job_state_to_proto(state: JobState | str | None) -> int:
    if state is None:
        return jobs_pb2.JOB_STATE_UNSPECIFIED
    value = state.value if isinstance(state, JobState) else str(state).upper()
    try:
        return jobs_pb2.JobState.Value(value)
    except ValueError as exc:
        names = ", ".join(s.value for s in JobState if s is not JobState.UNSPECIFIED)
        raise InvalidArgument(f"unknown job state {state!r}; use one of {names}") from exc
