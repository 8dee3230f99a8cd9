"""Generate: sample a model into a Parquet file with lineage, in the background."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from generators import load_generator
from synth.base.atomic import write_parquet_atomic
from synth.base.errors import FieldViolation, InvalidArgument
from synth.base.names import name_of, new_id
from synth.base.principal import SYSTEM, Principal, Role
from synth.base.progress import Progress
from synth.base.version import __version__
from synth.core import estimates, submission
from synth.core.access import owner_filter, require
from synth.core.stores import Stores
from synth.core.training import TrainingService
from synth.jobs.context import JobContext
from synth.jobs.plan import JobPlan
from synth.jobs.record import JobRecord
from synth.jobs.state import JobKind
from synth.store.pages import Page
from synth.store.records import DatasetRecord, ModelRecord

BATCH_ROWS = 100_000


@dataclass(frozen=True)
class GenerateRequest:
    model_id: str
    rows: int
    seed: int | None = None
    idempotency_key: str = ""
    display_name: str = ""
    #: A dry run (AIP-163): check and estimate, but create and write nothing.
    validate_only: bool = False


def lineage(model: ModelRecord, dataset_id: str, rows: int, seed: int) -> dict[str, str]:
    """The Parquet key-value metadata that traces a file back to its source, model and budget.

    The source is named by its random version id, never by a hash of its rows:
    a released file must not let whoever knows all rows but one test the last.
    """
    return {
        "synth.dataset": name_of("datasets", dataset_id),
        "synth.source": name_of("sources", model.source_id),
        "synth.source_version": model.source_version,
        "synth.model": name_of("models", model.id),
        "synth.generator": model.generator,
        "synth.generator_version": model.generator_version,
        "synth.epsilon": "none" if model.epsilon is None else repr(model.epsilon),
        "synth.delta": "none" if model.delta is None else repr(model.delta),
        "synth.accountant": model.accountant,
        "synth.rows": str(rows),
        "synth.seed": str(seed),
        "synth.version": __version__,
        "synth.created": datetime.now(UTC).isoformat(),
    }


class GenerationService:
    kind = JobKind.GENERATE

    def __init__(self, stores: Stores, models: TrainingService) -> None:
        self.stores = stores
        self.models = models

    def submit(self, who: Principal, req: GenerateRequest) -> JobRecord:
        require(who, Role.OWNER, "generating a dataset")
        submission.check_quota(self.stores, who.subject)  # rows: as the job is made
        model = self.models.get(who, req.model_id)
        if not 0 < req.rows <= self.stores.config.max_generate_rows:
            raise InvalidArgument(
                f"rows must be between 1 and {self.stores.config.max_generate_rows:,}, got {req.rows:,}",
                violations=[FieldViolation("rows", "out of range")],
            )
        if req.seed is not None and not 0 <= req.seed < 2**63:
            raise InvalidArgument(
                "seed must be in [0, 2^63)", violations=[FieldViolation("seed", "out of range")]
            )
        job_plan = self.admit(req, model)
        request = {
            "model": model.id,
            "rows": req.rows,
            "seed": req.seed,
            # Drawn once here, so a job resumed or retried samples the same rows.
            "_sampling_seed": req.seed if req.seed is not None else secrets.randbits(62),
            "display_name": req.display_name,
        }
        return submission.submit(
            self.stores,
            self,
            target=name_of("models", model.id),
            request=request,
            idempotency_key=req.idempotency_key,
            plan=job_plan,
            validate_only=req.validate_only,
            owner=who.subject,
            rows=req.rows,
        )

    def admit(self, req: GenerateRequest, model: ModelRecord) -> JobPlan:
        """The job's estimates; refused (RESOURCE_EXHAUSTED) past the server's limits."""
        folder = self.stores.artifacts.path(model.artifact)
        size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
        saved = json.loads((folder / "config.json").read_text())  # the model's own schema
        columns = len(saved["schema"]["columns"])
        estimate = estimates.generation(model.generator, columns, size, req.rows)
        estimates.check(estimate, self.stores.config, f"generating {req.rows:,} rows")
        return JobPlan(
            memory_mb=estimate.memory_mb,
            seconds=estimate.seconds,
            memory_limit_mb=self.stores.config.max_job_memory_mb,
            seconds_limit=self.stores.config.max_job_seconds,
            basis=estimate.basis,
            generator=model.generator,
        )

    def resumable(self, job: JobRecord) -> bool:
        return False

    def run(self, ctx: JobContext, job: JobRecord, *, resume: bool = False) -> str:
        request = job.request
        seed = int(request["_sampling_seed"])
        model = self.models.get(SYSTEM, request["model"])
        gen = load_generator(self.stores.artifacts.path(model.artifact))
        rows = int(request["rows"])
        dataset_id = new_id("d")
        rel = self.stores.artifacts.dataset_file(dataset_id)
        meta = lineage(model, dataset_id, rows, seed)

        def batches():  # type: ignore[no-untyped-def]
            done = 0
            for batch in gen.sample(rows, seed=seed, batch_rows=BATCH_ROWS):
                done += batch.num_rows
                ctx.progress(
                    Progress("sampling", done / rows, message=f"{done:,} of {rows:,} rows")
                )
                yield batch

        assert gen.schema is not None
        path = self.stores.artifacts.path(rel)
        write_parquet_atomic(path, batches(), gen.schema.arrow_schema(), metadata=meta)
        record = DatasetRecord(
            id=dataset_id,
            model_id=model.id,
            source_id=model.source_id,
            rows=rows,
            seed=seed,
            size_bytes=path.stat().st_size,
            lineage=meta,
            job_id=ctx.job_id,
            display_name=request.get("display_name", ""),
            artifact=rel,
            create_time=time.time(),
        )
        try:
            self.stores.datasets.insert(record)
        except BaseException:
            self.stores.artifacts.remove(rel)
            raise
        return name_of("datasets", dataset_id)

    def get(self, who: Principal, dataset_id: str) -> DatasetRecord:
        """The dataset, if `who` may see its source; else the NotFound of an absent id."""
        return self.stores.datasets.get(dataset_id, owner=owner_filter(who))

    def list(
        self, who: Principal, *, page_size: int, token: str, parent: str = ""
    ) -> Page[DatasetRecord]:
        return self.stores.datasets.list(
            page_size=page_size, token=token, parent=parent, owner=owner_filter(who)
        )

    def dataset_path(self, who: Principal, dataset_id: str) -> Path:
        """The dataset's Parquet file, for streaming it to the caller."""
        return self.stores.artifacts.path(self.get(who, dataset_id).artifact)
