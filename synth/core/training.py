"""Train: plan the privacy spend, charge the ledger with the job, then fit in the background."""

from __future__ import annotations

import json
import math
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from generators import create_generator, generator_class
from generators.base import Generator, default_delta
from synth.core import ledger as ledger_ops
from synth.core.names import name_of, new_id
from synth.core.pages import Page, decode_token, encode_token
from synth.core.records import JobKind, JobRecord, ModelRecord, SourceRecord
from synth.errors import FieldViolation, InvalidArgument, NotFound, PrivacyError
from synth.jobs.context import JobContext
from synth.schema import TableSchema
from synth.store.tables import models

#: Set by the request's own fields or by the server (never a client-chosen server path).
_RESERVED = {"epsilon", "delta", "allow_non_private", "checkpoint_dir"}


@dataclass(frozen=True)
class TrainRequest:
    source_id: str
    generator: str = "auto"
    epsilon: float | None = None
    delta: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str = ""
    display_name: str = ""


def choose_kind(requested: str, source: SourceRecord, epsilon: float | None) -> str:
    """Resolve "auto" with the documented rule (generators.auto), when it is installed."""
    if requested and requested != "auto":
        return requested
    try:
        from generators.auto import choose_generator
    except ImportError:
        return "dp_marginals"
    import torch

    kind, _reason = choose_generator(
        source.schema, source.train_rows, epsilon, gpu_available=torch.cuda.is_available()
    )
    return kind


def build_generator(
    kind: str, req: TrainRequest, source: SourceRecord
) -> tuple[Generator, dict[str, Any]]:
    """The generator and the cleaned params; every error here is the caller's to fix."""
    params = dict(req.params)
    bad = sorted(_RESERVED & set(params))
    if bad:
        raise InvalidArgument(
            f"{', '.join(bad)} cannot be set in params: epsilon and delta are the request's own "
            "fields, and the server decides where checkpoints live",
            violations=[FieldViolation(f"params.{b}", "reserved") for b in bad],
        )
    if req.epsilon is not None and not (math.isfinite(req.epsilon) and req.epsilon > 0):
        raise InvalidArgument(
            f"epsilon must be a positive number, got {req.epsilon}",
            violations=[FieldViolation("epsilon", "must be > 0")],
        )
    if req.delta is not None and not 0 < req.delta < 1:
        raise InvalidArgument(
            f"delta must be in (0, 1), got {req.delta}",
            violations=[FieldViolation("delta", "must be in (0, 1)")],
        )
    if req.epsilon is None and not source.allow_non_private:
        raise PrivacyError(
            f"source 'sources/{source.id}' was not registered as allowing non-private models; "
            "give an epsilon, or register internal test data with allow_non_private"
        )
    seed = params.pop("seed", None)
    if seed is not None and not isinstance(seed, int | float):
        raise InvalidArgument("params.seed must be an integer")
    cls = generator_class(kind)
    extra: dict[str, Any] = {}
    if "allow_non_private" in cls.__init__.__code__.co_varnames:
        extra["allow_non_private"] = source.allow_non_private
    delta = req.delta if req.delta is not None else service_default_delta(req.epsilon, source)
    gen = create_generator(kind, epsilon=req.epsilon, delta=delta, **extra, **params)
    if seed is not None:
        params["seed"] = int(seed)
    return gen, params


def service_default_delta(epsilon: float | None, source: SourceRecord) -> float | None:
    """δ when the request gives none: below 1/(10n), and no larger a share of the δ cap than ε's share.

    So a source whose budget allows k trainings at ε each also has the δ for them.
    """
    if epsilon is None:
        return None
    share = source.delta_cap * min(1.0, epsilon / source.epsilon_cap)
    d = min(default_delta(source.train_rows), share)
    exp = math.floor(math.log10(d))
    return math.floor(d / 10**exp) * 10**exp


class TrainingService:
    def __init__(self, svc: Any) -> None:
        self.svc = svc  # the SynthService facade (sources, jobs, meta, artifacts, executor)

    def submit(self, req: TrainRequest) -> JobRecord:
        source = self.svc.sources.get(req.source_id)
        kind = choose_kind(req.generator, source, req.epsilon)
        gen, params = build_generator(kind, req, source)
        spends = gen.plan(source.schema, source.train_rows)
        request = {
            "source": source.id,
            "generator": kind,
            "epsilon": req.epsilon,
            "delta": req.delta,
            "params": params,
            "display_name": req.display_name,
            # The schema the plan was made with: the fit must use exactly it, even if
            # the owner edits the source's schema while the job waits.
            "schema": source.schema.to_json_dict(),
        }
        try:
            with self.svc.meta.transaction() as conn:
                existing = self.svc.jobs.find_idempotent(
                    conn, JobKind.TRAIN, req.idempotency_key, request
                )
                if existing is not None:
                    return existing
                job = self.svc.jobs.create(
                    conn, JobKind.TRAIN, name_of("sources", source.id), request, req.idempotency_key
                )
                ledger_ops.charge(conn, source.id, job.id, spends)
        except IntegrityError:
            # Another call with the same key won the race; answer as it did.
            with self.svc.meta.transaction() as conn:
                existing = self.svc.jobs.find_idempotent(
                    conn, JobKind.TRAIN, req.idempotency_key, request
                )
            if existing is None:
                raise
            return existing
        self.svc.executor.submit(job.id, lambda ctx: self._run(ctx, request))
        return job

    def _run(self, ctx: JobContext, request: dict[str, Any]) -> str:
        source = self.svc.sources.get(request["source"])
        treq = TrainRequest(
            source_id=source.id,
            generator=request["generator"],
            epsilon=request["epsilon"],
            delta=request["delta"],
            params=dict(request["params"]),
        )
        gen, params = build_generator(request["generator"], treq, source)
        schema = TableSchema.from_json_dict(request["schema"])
        seed = params.get("seed", secrets.randbits(62))
        ctx.touch_data()
        table = self.svc.sources.read_part(source, "train")
        report = gen.fit(table, schema, rng=np.random.default_rng(seed), progress=ctx.progress)
        ctx.check()
        model_id = new_id("m")
        rel = self.svc.artifacts.model_dir(model_id)
        with self.svc.artifacts.staged_dir(rel) as staging:
            gen.save(staging)
        record = ModelRecord(
            id=model_id,
            source_id=source.id,
            source_fingerprint=source.fingerprint,
            generator=gen.kind,
            generator_version=gen.version,
            params={**gen.params(), "seed": seed},
            epsilon=report.epsilon,
            delta=report.delta,
            accountant=report.accountant,
            spends=[s.__dict__ for s in report.spends],
            details={k: float(v) for k, v in report.details.items()},
            train_rows=table.num_rows,
            job_id=ctx.job_id,
            display_name=request.get("display_name", ""),
            artifact=rel,
            create_time=time.time(),
        )
        try:
            with self.svc.meta.transaction() as conn:
                row = record.__dict__.copy()
                conn.execute(
                    models.insert().values(
                        params_json=json.dumps(row.pop("params"), default=str),
                        spends_json=json.dumps(row.pop("spends")),
                        details_json=json.dumps(row.pop("details")),
                        **row,
                    )
                )
                ledger_ops.attach_model(conn, ctx.job_id, model_id)
        except BaseException:
            self.svc.artifacts.remove(rel)
            raise
        return name_of("models", model_id)

    # --- reads ----------------------------------------------------------------------

    def get(self, model_id: str) -> ModelRecord:
        with self.svc.meta.transaction() as conn:
            row = conn.execute(select(models).where(models.c.id == model_id)).first()
        if row is None:
            raise NotFound(f"model 'models/{model_id}' does not exist")
        return ModelRecord.from_row(row)

    def list(self, *, page_size: int, token: str, source_id: str = "") -> Page[ModelRecord]:
        offset = decode_token(token)
        q = select(models).order_by(models.c.create_time, models.c.id)
        if source_id:
            q = q.where(models.c.source_id == source_id)
        with self.svc.meta.transaction() as conn:
            rows = conn.execute(q.offset(offset).limit(page_size + 1)).all()
        items = [ModelRecord.from_row(r) for r in rows[:page_size]]
        return Page(items, encode_token(offset + page_size) if len(rows) > page_size else "")
