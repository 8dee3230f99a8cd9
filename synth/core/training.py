"""Train: plan the privacy spend, charge the ledger with the job, then fit in the background."""

from __future__ import annotations

import json
import math
import os
import secrets
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from generators import create_generator, generator_class
from generators.base import Generator, default_delta
from synth.base.errors import FieldViolation, Interrupted, InvalidArgument, NotFound, PrivacyError
from synth.base.progress import Progress
from synth.base.schema import TableSchema
from synth.core import ledger as ledger_ops
from synth.core.names import name_of, new_id
from synth.core.pages import Page, fetch_page
from synth.core.records import JobKind, JobRecord, ModelRecord, SourceRecord
from synth.jobs.context import JobContext
from synth.store.sqltables import models

#: Set by the request's own fields or by the server (never a client-chosen server path).
CHECKPOINT_INDEX = "checkpoint.json"  # the commit point of a generator's checkpoint folder
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


def supports_checkpoints(cls: type[Generator]) -> bool:
    """Generators with `checkpoint_dir` and a `resume` classmethod can pick up after a crash."""
    return hasattr(cls, "resume") and "checkpoint_dir" in cls.__init__.__code__.co_varnames


def build_generator(
    kind: str,
    req: TrainRequest,
    source: SourceRecord,
    *,
    server_params: dict[str, Any] | None = None,
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
    gen = create_generator(
        kind, epsilon=req.epsilon, delta=delta, **extra, **(server_params or {}), **params
    )
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


def limit_torch_threads(config: Any) -> None:
    """Give each job worker its share of the cores (torch's setting is process-wide)."""
    import torch

    threads = config.torch_threads or max(1, (os.cpu_count() or 1) // max(1, config.job_workers))
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


class TrainingService:
    def __init__(self, svc: Any) -> None:
        self.svc = svc  # the SynthService facade (sources, jobs, meta, artifacts, executor)
        self._torch_configured = False

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
        self.submit_to_executor(job)
        return job

    def submit_to_executor(self, job: JobRecord, *, resume: bool = False) -> None:
        self.svc.executor.submit(
            job.id,
            lambda ctx: self._run(ctx, job.request, resume=resume),
            resumable=lambda: self.has_checkpoint(job.id),
            running=resume,
        )

    # --- checkpoints: a crashed or shut-down training picks up where it stopped -------

    def checkpoint_dir(self, job_id: str) -> Path:
        return self.svc.artifacts.path(f"checkpoints/{job_id}")

    def has_checkpoint(self, job_id: str) -> bool:
        return (self.checkpoint_dir(job_id) / CHECKPOINT_INDEX).is_file()

    def resumable(self, job: JobRecord) -> bool:
        return job.kind is JobKind.TRAIN and self.has_checkpoint(job.id)

    def _run(self, ctx: JobContext, request: dict[str, Any], *, resume: bool = False) -> str:
        try:
            return self._train(ctx, request, resume=resume)
        except Interrupted:
            raise  # the checkpoint stays for the next start
        except BaseException:
            shutil.rmtree(self.checkpoint_dir(ctx.job_id), ignore_errors=True)
            raise

    def _train(self, ctx: JobContext, request: dict[str, Any], *, resume: bool) -> str:
        source = self.svc.sources.get(request["source"])
        params = dict(request["params"])
        cls = generator_class(request["generator"])
        if "torch" in sys.modules and not self._torch_configured:
            limit_torch_threads(self.svc.config)
            self._torch_configured = True
        checkpoints = supports_checkpoints(cls)
        if checkpoints:
            params.setdefault("checkpoint_every", 1)
        treq = TrainRequest(
            source_id=source.id,
            generator=request["generator"],
            epsilon=request["epsilon"],
            delta=request["delta"],
            params=params,
        )
        ckpt = self.checkpoint_dir(ctx.job_id)
        gen, params = build_generator(
            request["generator"],
            treq,
            source,
            server_params={"checkpoint_dir": str(ckpt)} if checkpoints else {},
        )
        schema = TableSchema.from_json_dict(request["schema"])
        seed = params.get("seed", secrets.randbits(62))
        ctx.touch_data()
        table = self.svc.sources.read_part(source, "train")
        if resume and self.has_checkpoint(ctx.job_id):
            ctx.progress(Progress("resuming", 0.0, message="resuming from the last checkpoint"))
            gen = cls.resume(ckpt, table, schema, progress=ctx.progress)  # type: ignore[attr-defined]
            assert gen.privacy is not None
            report = gen.privacy
        else:
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
            # Never the seed itself: whoever knows it can replay the DP noise and
            # subtract it from the model. Only whether the caller fixed one.
            params={
                **{k: v for k, v in gen.params().items() if k != "checkpoint_dir"},
                "seeded": "seed" in params,
            },
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
        shutil.rmtree(ckpt, ignore_errors=True)
        return name_of("models", model_id)

    # --- reads ----------------------------------------------------------------------

    def get(self, model_id: str) -> ModelRecord:
        with self.svc.meta.transaction() as conn:
            row = conn.execute(select(models).where(models.c.id == model_id)).first()
        if row is None:
            raise NotFound(f"model 'models/{model_id}' does not exist")
        return ModelRecord.from_row(row)

    def list(self, *, page_size: int, token: str, source_id: str = "") -> Page[ModelRecord]:
        q = select(models).order_by(models.c.create_time, models.c.id)
        if source_id:
            q = q.where(models.c.source_id == source_id)
        return fetch_page(
            self.svc.meta, q, page_size=page_size, token=token, make=ModelRecord.from_row
        )
