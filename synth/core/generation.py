"""Generate: sample a model into a Parquet file with lineage, in the background."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select

import synth
from generators import load_generator
from synth.base.atomic import write_parquet_atomic
from synth.base.errors import FieldViolation, InvalidArgument, NotFound
from synth.base.progress import Progress
from synth.core.names import name_of, new_id
from synth.core.pages import Page, fetch_page
from synth.core.records import DatasetRecord, JobKind, JobRecord, ModelRecord
from synth.jobs.context import JobContext
from synth.store.sqltables import datasets

BATCH_ROWS = 100_000


@dataclass(frozen=True)
class GenerateRequest:
    model_id: str
    rows: int
    seed: int | None = None
    idempotency_key: str = ""
    display_name: str = ""


def lineage(
    model: ModelRecord, source_fingerprint: str, dataset_id: str, rows: int, seed: int
) -> dict[str, str]:
    """The Parquet key-value metadata that traces a file back to its source, model and budget."""
    return {
        "synth.dataset": name_of("datasets", dataset_id),
        "synth.source": name_of("sources", model.source_id),
        "synth.source_fingerprint": source_fingerprint,
        "synth.model": name_of("models", model.id),
        "synth.generator": model.generator,
        "synth.generator_version": model.generator_version,
        "synth.epsilon": "none" if model.epsilon is None else repr(model.epsilon),
        "synth.delta": "none" if model.delta is None else repr(model.delta),
        "synth.accountant": model.accountant,
        "synth.rows": str(rows),
        "synth.seed": str(seed),
        "synth.version": synth.__version__,
        "synth.created": datetime.now(UTC).isoformat(),
    }


class GenerationService:
    def __init__(self, svc: Any) -> None:
        self.svc = svc

    def submit(self, req: GenerateRequest) -> JobRecord:
        model = self.svc.training.get(req.model_id)
        if not 0 < req.rows <= self.svc.config.max_generate_rows:
            raise InvalidArgument(
                f"rows must be between 1 and {self.svc.config.max_generate_rows:,}, got {req.rows:,}",
                violations=[FieldViolation("rows", "out of range")],
            )
        if req.seed is not None and not 0 <= req.seed < 2**63:
            raise InvalidArgument(
                "seed must be in [0, 2^63)", violations=[FieldViolation("seed", "out of range")]
            )
        seed = req.seed if req.seed is not None else secrets.randbits(62)
        request = {
            "model": model.id,
            "rows": req.rows,
            "seed": req.seed,
            "display_name": req.display_name,
        }
        with self.svc.meta.transaction() as conn:
            existing = self.svc.jobs.find_idempotent(
                conn, JobKind.GENERATE, req.idempotency_key, request
            )
            if existing is not None:
                return existing
            job = self.svc.jobs.create(
                conn, JobKind.GENERATE, name_of("models", model.id), request, req.idempotency_key
            )
        self.svc.executor.submit(job.id, lambda ctx: self._run(ctx, request, seed))
        return job

    def _run(self, ctx: JobContext, request: dict[str, Any], seed: int) -> str:
        model = self.svc.training.get(request["model"])
        gen = load_generator(self.svc.artifacts.path(model.artifact))
        rows = int(request["rows"])
        dataset_id = new_id("d")
        rel = self.svc.artifacts.dataset_file(dataset_id)
        meta = lineage(model, model.source_fingerprint, dataset_id, rows, seed)

        def batches():  # type: ignore[no-untyped-def]
            done = 0
            for batch in gen.sample(rows, seed=seed, batch_rows=BATCH_ROWS):
                done += batch.num_rows
                ctx.progress(
                    Progress("sampling", done / rows, message=f"{done:,} of {rows:,} rows")
                )
                yield batch

        assert gen.schema is not None
        path = self.svc.artifacts.path(rel)
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
            with self.svc.meta.transaction() as conn:
                row = record.__dict__.copy()
                conn.execute(
                    datasets.insert().values(lineage_json=json.dumps(row.pop("lineage")), **row)
                )
        except BaseException:
            self.svc.artifacts.remove(rel)
            raise
        return name_of("datasets", dataset_id)

    def get(self, dataset_id: str) -> DatasetRecord:
        with self.svc.meta.transaction() as conn:
            row = conn.execute(select(datasets).where(datasets.c.id == dataset_id)).first()
        if row is None:
            raise NotFound(f"dataset 'datasets/{dataset_id}' does not exist")
        return DatasetRecord.from_row(row)

    def list(self, *, page_size: int, token: str, parent: str = "") -> Page[DatasetRecord]:
        q = select(datasets).order_by(datasets.c.create_time, datasets.c.id)
        if parent:
            coll, _, rid = parent.partition("/")
            if coll == "models":
                q = q.where(datasets.c.model_id == rid)
            elif coll == "sources":
                q = q.where(datasets.c.source_id == rid)
            else:
                q = q.where(or_(datasets.c.model_id == parent, datasets.c.source_id == parent))
        return fetch_page(
            self.svc.meta, q, page_size=page_size, token=token, make=DatasetRecord.from_row
        )
