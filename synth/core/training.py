"""Train: plan the privacy spend, charge the ledger with the job, then fit in the background."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Any

from generators import generator_class
from generators.base import Generator, PrivacyReport
from synth.base.errors import Interrupted
from synth.base.names import name_of, new_id
from synth.base.principal import SYSTEM, Principal, Role
from synth.base.progress import Progress
from synth.base.randomness import RandomStreams
from synth.base.schema import TableSchema
from synth.base.spend import Spend
from synth.core import estimates, submission
from synth.core.access import owner_filter, require
from synth.core.source_size import PlanSize, SourceSizes
from synth.core.sources import SourceService
from synth.core.stores import Stores
from synth.core.training_plan import (
    GeneratorPlan,
    TrainRequest,
    auto_reason,
    build_generator,
    choose_kind,
    limit_torch_threads,
)
from synth.jobs.context import JobContext
from synth.jobs.plan import JobPlan
from synth.jobs.record import JobRecord
from synth.jobs.state import JobKind
from synth.store.pages import Page
from synth.store.records import ModelRecord, SourceRecord

CHECKPOINT_INDEX = "checkpoint.json"  # the commit point of a generator's checkpoint folder


def _constructor(request: dict[str, Any], source: SourceRecord) -> dict[str, Any]:
    """The generator's constructor arguments frozen at submission.

    Jobs queued by a version before the plan was frozen stored the request's
    params instead; those are checked and resolved once more.
    """
    if "constructor" in request:
        return dict(request["constructor"])
    old = TrainRequest(
        source_id=source.id,
        generator=request["generator"],
        epsilon=request["epsilon"],
        delta=request["delta"],
        params=dict(request["params"]),
    )
    return build_generator(request["generator"], old, source, source.train_rows).constructor


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


class TrainingService:
    kind = JobKind.TRAIN

    def __init__(self, stores: Stores, sources: SourceService) -> None:
        self.stores = stores
        self.sources = sources
        self.sizes = SourceSizes(stores, lambda source: sources.read_part(source, "train"))
        self._torch_configured = False

    def submit(self, who: Principal, req: TrainRequest) -> JobRecord:
        require(who, Role.OWNER, "training")
        submission.check_quota(self.stores, who.subject)
        source = self.sources.get(who, req.source_id)
        self.sources.require_approved_schema(source)  # before anything is planned or charged
        size = self.sizes.for_plan(source, private=req.epsilon is not None)
        kind, plan, spends = self._plan(req, source, size)  # every refusal, before any charge
        self.admit(req, kind, plan, spends, source, size.units)  # the limits, before any charge
        if size.pending is not None and not req.validate_only:
            # The size is a DP release of its own, made once: only when the whole
            # training is affordable, then the plan again with the measured size.
            self.sizes.affordable(source, [size.pending, *spends])
            size = self.sizes.measure(source, subject=who.subject)
            kind, plan, spends = self._plan(req, source, size)
        shown = spends if size.pending is None else [size.pending, *spends]
        job_plan = self.admit(req, kind, plan, shown, source, size.units)
        request = {
            "source": source.id,
            "generator": kind,
            "epsilon": req.epsilon,
            "delta": req.delta,
            "constructor": plan.constructor,
            "seed": plan.seed,
            "display_name": req.display_name,
            # The schema the plan was made with: the fit must use exactly it, even if
            # the owner edits the source's schema while the job waits (its unit's
            # contribution bound resolved), and the public size it was made with.
            "schema": size.schema.to_json_dict(),
            "size": size.units if size.private else None,
        }
        return submission.submit(
            self.stores,
            self,
            target=name_of("sources", source.id),
            request=request,
            idempotency_key=req.idempotency_key,
            charge=(source.id, spends),
            plan=job_plan,
            validate_only=req.validate_only,
            owner=who.subject,
        )

    def _plan(
        self, req: TrainRequest, source: SourceRecord, size: PlanSize
    ) -> tuple[str, GeneratorPlan, list[Spend]]:
        """The generator, its constructor and its charges, from public facts only."""
        kind = choose_kind(req.generator, source, req.epsilon, size.units)
        plan = build_generator(kind, req, source, size.units)
        return kind, plan, plan.generator.plan(size.schema, size.units)

    def admit(
        self,
        req: TrainRequest,
        kind: str,
        plan: GeneratorPlan,
        spends: list[Spend],
        source: SourceRecord,
        n_rows: int,
    ) -> JobPlan:
        """The job's plan: why this generator, its charges and estimates; refused
        (RESOURCE_EXHAUSTED) when an estimate passes the server's limits."""
        gpu = "torch" in sys.modules and _cuda_available()
        estimate = estimates.training(kind, plan.constructor, source.schema, n_rows, gpu=gpu)
        estimates.check(estimate, self.stores.config, f"training {kind} on {n_rows:,} rows")
        return JobPlan(
            memory_mb=estimate.memory_mb,
            seconds=estimate.seconds,
            memory_limit_mb=self.stores.config.max_job_memory_mb,
            seconds_limit=self.stores.config.max_job_seconds,
            basis=estimate.basis,
            generator=kind,
            generator_reason=auto_reason(req.generator, kind, source.schema, n_rows, req.epsilon),
            charges=tuple(spends),
            epsilon=sum(s.epsilon for s in spends) if req.epsilon is not None else None,
            delta=sum(s.delta for s in spends) if req.epsilon is not None else None,
        )

    # --- checkpoints: a crashed or shut-down training picks up where it stopped -------

    def checkpoint_dir(self, job_id: str) -> Path:
        return self.stores.artifacts.path(f"checkpoints/{job_id}")

    def has_checkpoint(self, job_id: str) -> bool:
        return (self.checkpoint_dir(job_id) / CHECKPOINT_INDEX).is_file()

    def resumable(self, job: JobRecord) -> bool:
        return job.kind is JobKind.TRAIN and self.has_checkpoint(job.id)

    def run(self, ctx: JobContext, job: JobRecord, *, resume: bool = False) -> str:
        try:
            return self._train(ctx, job.request, resume=resume)
        except Interrupted:
            raise  # the checkpoint stays for the next start
        except BaseException:
            shutil.rmtree(self.checkpoint_dir(ctx.job_id), ignore_errors=True)
            raise

    def _train(self, ctx: JobContext, request: dict[str, Any], *, resume: bool) -> str:
        source = self.sources.get(SYSTEM, request["source"])
        cls = generator_class(request["generator"])
        if "torch" in sys.modules and not self._torch_configured:
            limit_torch_threads(self.stores.config)
            self._torch_configured = True
        constructor = _constructor(request, source)
        ckpt = self.checkpoint_dir(ctx.job_id)
        if cls.checkpointing:
            constructor.setdefault("checkpoint_every", 1)
            constructor["checkpoint_dir"] = str(ckpt)
        gen = cls(**constructor)
        schema = TableSchema.from_json_dict(request["schema"])
        caller_seed = request.get("seed", request.get("params", {}).get("seed"))
        seeded = caller_seed is not None
        # Every random number of the fit comes from streams keyed by the server secret,
        # the job and the caller's seed: the seed alone replays nothing, and the same
        # job on the same server (a resume, a retry) draws the same numbers.
        streams = RandomStreams.for_job(
            self.stores.secret, ctx.job_id, int(caller_seed) if seeded else None
        )
        ctx.touch_data()
        table = self.sources.read_part(source, "train")
        if resume and self.has_checkpoint(ctx.job_id):
            ctx.progress(Progress("resuming", 0.0, message="resuming from the last checkpoint"))
            gen = cls.resume(  # type: ignore[attr-defined]
                ckpt,
                table,
                schema,
                size=request.get("size"),
                streams=streams,
                progress=ctx.progress,
            )
            assert gen.privacy is not None
            report = gen.privacy
        else:
            report = gen.fit(
                table, schema, size=request.get("size"), streams=streams, progress=ctx.progress
            )
        ctx.check()
        # The public size, never the table's own count: the model is released.
        model_id = self._store_model(ctx, request, source, gen, report, seeded, gen.n_train_rows)
        shutil.rmtree(ckpt, ignore_errors=True)
        return name_of("models", model_id)

    def _store_model(
        self,
        ctx: JobContext,
        request: dict[str, Any],
        source: SourceRecord,
        gen: Generator,
        report: PrivacyReport,
        seeded: bool,
        train_rows: int,
    ) -> str:
        """Save the fitted generator and its record together; the model's id."""
        model_id = new_id("m")
        rel = self.stores.artifacts.model_dir(model_id)
        with self.stores.artifacts.staged_dir(rel) as staging:
            gen.save(staging)
        record = ModelRecord(
            id=model_id,
            source_id=source.id,
            source_version=source.version_id,
            generator=gen.kind,
            generator_version=gen.version,
            # Never the seed itself, only whether the caller fixed one. Without the server
            # secret the seed replays no noise; it is withheld all the same (defence in depth).
            params={
                **{k: v for k, v in gen.params().items() if k != "checkpoint_dir"},
                "seeded": seeded,
            },
            epsilon=report.epsilon,
            delta=report.delta,
            accountant=report.accountant,
            spends=[s.__dict__ for s in report.spends],
            details={k: float(v) for k, v in report.details.items()},
            train_rows=train_rows,
            job_id=ctx.job_id,
            display_name=request.get("display_name", ""),
            artifact=rel,
            create_time=time.time(),
        )
        try:
            self.stores.models.insert(record)
        except BaseException:
            self.stores.artifacts.remove(rel)
            raise
        return model_id

    # --- reads ----------------------------------------------------------------------

    def get(self, who: Principal, model_id: str) -> ModelRecord:
        """The model, if `who` may see its source; else the NotFound of an absent id."""
        return self.stores.models.get(model_id, owner=owner_filter(who))

    def list(
        self, who: Principal, *, page_size: int, token: str, source_id: str = ""
    ) -> Page[ModelRecord]:
        return self.stores.models.list(
            page_size=page_size, token=token, source_id=source_id, owner=owner_filter(who)
        )
